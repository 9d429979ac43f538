// test/golden is a copy of the team's reference vectors: every file parses and has cases, and where the team's
// ../shared/golden is beside the repository (CI, the developers' machines) the copy is byte-identical to it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { goldenDir } from './golden.js';

test('the vendored reference vectors are complete and up to date', () => {
  const dir = goldenDir();
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThanOrEqual(10);
  for (const file of files) {
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    expect(Array.isArray(json.cases) ? json.cases.length : Object.keys(json).length, file).toBeGreaterThan(0);
  }
  const shared = join(process.cwd(), '..', 'shared', 'golden');
  if (existsSync(shared)) {
    expect(readdirSync(dir).sort(), 'files of ../shared/golden').toEqual(readdirSync(shared).sort());
    for (const file of readdirSync(shared)) expect(readFileSync(join(dir, file)).equals(readFileSync(join(shared, file))), `${file} differs from ../shared/golden`).toBe(true);
  }
});
