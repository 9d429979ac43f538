// The benchmark report's arithmetic (bench/report.ts): the medians every timing goes through, the speed-up over a
// baseline and the table's column for it. Timings themselves are not tested; what is done with them is.
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { emit, median, printTable, withBaseline } from '../bench/report.js';
import { UserError } from '../src/errors.js';

describe('bench report', () => {
  test('the median of an even count is the mean of the middle two, of an odd count the middle one, whatever the order', () => {
    // A median that took the upper middle value would report 3 here: a 50% error with four repetitions.
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, 1, 9])).toBe(5);
    expect(median([7])).toBe(7);
  });

  test('a speed-up is the baseline\'s time over ours, so that > 1 says we are faster; no baseline, no column', () => {
    const ours = { suite: 'matmul', name: 'matmul 512³', ms: 2 };
    expect(withBaseline(ours, 'tfjs-webgpu', 5).baseline).toEqual({ name: 'tfjs-webgpu', ms: 5, speedup: 2.5 });
    expect(withBaseline(ours, 'tfjs-webgpu', 1).baseline!.speedup).toBe(0.5);
    expect(withBaseline(ours, 'tfjs-webgpu', null)).toEqual(ours);
  });

  test("the table prints a row's speed-up over its baseline as given, to 2 decimals with ×", () => {
    const table = printTable([{ suite: 'matmul', name: 'matmul 512³', ms: 2, gflops: 134.2, baseline: { name: 'tfjs-webgpu', ms: 5, speedup: 2.5 } }]);
    const row = table.split('\n')[2]!.split('|').map((cell) => cell.trim());
    expect(row.slice(1, -1)).toEqual(['matmul', 'matmul 512³', '2.00', '134.2', '', 'tfjs-webgpu', '5.00', '2.50×', '']);
  });

  test('the JSON file is written whole, and a write that fails names the file', () => {
    // /dev/full fails every write with ENOSPC, as a full disk does: the error once named no file, and a real disk kept a cut-off JSON.
    const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
    symlinkSync('/dev/full', join(dir, 'full.json'));
    const rows = [{ suite: 'matmul', name: 'matmul 512³', ms: 2 }];
    expect(() => emit(rows, {}, join(dir, 'full.json'))).toThrow(UserError);
    expect(() => emit(rows, {}, join(dir, 'full.json'))).toThrow(/cannot write .*full\.json: ENOSPC/);
    emit(rows, { device: 'test' }, join(dir, 'bench.json'));
    expect(JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')).results).toEqual(rows);
  });
});
