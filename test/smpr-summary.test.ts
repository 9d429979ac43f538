// The model summary behind `smpr info`: parameter counts per part against the authors' architectures (worked
// out by arithmetic in src/smpr/model.ts, and for HRNet also counted by PyTorch in test/fixtures), the level
// table, and the text form.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { Random } from '../src/index.js';
import { smprConfig } from '../src/smpr/config.js';
import { SmprModel, authorsHrnetHrfpnParameters, authorsParameters, authorsR50PafpnParameters } from '../src/smpr/model.js';
import { formatModelSummary, modelSummary, type ModelSummary } from '../src/smpr/summary.js';

const fixture = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hrnet_w32_keys.json'), 'utf8'));

describe('the authors\' counts', () => {
  test('HRNet + HRFPN by arithmetic equal PyTorch\'s count of the rendering of mmdet\'s code', () => {
    const w32 = authorsHrnetHrfpnParameters([32, 64, 128, 256]);
    expect([w32.backbone, w32.neck]).toEqual([fixture.counts.backbone.parameters, fixture.counts.neck.parameters]);
    expect(w32.head).toBe(authorsR50PafpnParameters().head);
    // `python3 test/fixtures/hrnet_reference.py --counts` prints W48: backbone 65,325,120, neck 3,134,976.
    const w48 = authorsHrnetHrfpnParameters([48, 96, 192, 384]);
    expect([w48.backbone, w48.neck]).toEqual([65_325_120, 3_134_976]);
  });

  test('only the authors\' architectures have them', () => {
    expect(authorsParameters(smprConfig('r50'))).toEqual(authorsR50PafpnParameters());
    expect(authorsParameters(smprConfig('r50', { inputSize: 512 }))).toEqual(authorsR50PafpnParameters());
    expect(authorsParameters(smprConfig('r50', { width: 128, gnGroups: 32 }))).toBeNull();
    expect(authorsParameters(smprConfig('hrnet_w48'))).toEqual(authorsHrnetHrfpnParameters([48, 96, 192, 384]));
    expect(authorsParameters(smprConfig('hrnet_w32', { hrnetWidths: [4, 8, 16, 32] }))).toBeNull();
    expect(authorsParameters(smprConfig('tiny'))).toBeNull();
    expect(authorsParameters(smprConfig('r18'))).toBeNull();
  });
});

describe('modelSummary', () => {
  test('hrnet_w32 at 256²: parts, BN layers, levels; the text form', () => {
    const model = new SmprModel(smprConfig('hrnet_w32'), { random: new Random(1) });
    const s = modelSummary(model, 256, 256);
    model.dispose();
    expect(s.parts.backbone).toEqual({ parameters: 29_305_536, trainable: 29_305_536, frozen: 0, buffers: 57_344 });
    expect(s.parts.neck).toEqual({ parameters: 3_073_536, trainable: 3_073_536, frozen: 0, buffers: 0 });
    expect(s.parts.total.parameters).toBe(s.parts.backbone.parameters + s.parts.neck.parameters + s.parts.head.parameters);
    expect(s.authors).toEqual(authorsHrnetHrfpnParameters([32, 64, 128, 256]));
    expect(s.batchNorms).toBe(fixture.counts.backbone.num_batches_tracked);
    expect(s.levels.map((l) => [l.name, l.stride, l.features, l.locations])).toEqual([
      ['P3', 8, [256, 32, 32], 1024],
      ['P4', 16, [256, 16, 16], 256],
      ['P5', 32, [256, 8, 8], 64],
      ['P6', 64, [256, 4, 4], 16],
      ['P7', 128, [256, 2, 2], 4],
    ]);
    expect(s.heatmap).toEqual([17, 32, 32]);
    const text = formatModelSummary(s);
    expect(text.split('\n').slice(0, 7)).toEqual([
      'hrnet_w32, input 256×256',
      '',
      '          parameters   trainable  frozen  buffers    authors\'',
      'backbone  29,305,536  29,305,536       0   57,344  29,305,536',
      'neck       3,073,536   3,073,536       0        0   3,073,536',
      'head       6,528,625   6,528,625       0        0   6,528,625',
      'total     38,907,697  38,907,697       0   57,344  38,907,697',
    ]);
    expect(text).toContain('305 here; authors\': worked out from their architecture, equal part by part)');
    expect(text).toContain('P7        128    256×2×2          4');
  });

  test('r50: frozen stage 1 and BN affines count as frozen; the authors\' column agrees', () => {
    const model = new SmprModel(smprConfig('r50'), { random: new Random(2) });
    const s = modelSummary(model, 800, 1216);
    model.dispose();
    expect(s.parts.backbone.parameters).toBe(23_508_032);
    expect(s.parts.backbone.frozen).toBeGreaterThan(0);
    expect(s.parts.backbone.trainable + s.parts.backbone.frozen).toBe(s.parts.backbone.parameters);
    expect(s.parts.neck.frozen + s.parts.head.frozen).toBe(0);
    expect(s.authors?.total).toBe(s.parts.total.parameters);
    expect(s.levels.map((l) => l.features.slice(1))).toEqual([[100, 152], [50, 76], [25, 38], [13, 19], [7, 10]]);
  });

  test("a part whose count differs from the authors' is flagged DIFFERENT, not 'equal part by part'", () => {
    // The check info exists for: a model that drifted from the authors' architecture must not read as matching it.
    // One parameter too many in the head is enough.
    const count = (parameters: number) => ({ parameters, trainable: parameters, frozen: 0, buffers: 0 });
    const summary: ModelSummary = {
      config: 'hrnet_w32', input: [64, 64], parts: { backbone: count(10), neck: count(20), head: count(31), total: count(61) },
      authors: { backbone: 10, neck: 20, head: 30, total: 60 }, batchNorms: 2,
      levels: [{ name: 'P3', stride: 8, features: [4, 8, 8], locations: 64 }], heatmap: [17, 8, 8],
    };
    expect(formatModelSummary(summary)).toContain("2 here; authors': worked out from their architecture, DIFFERENT)");
    const equal = { ...summary, authors: { backbone: 10, neck: 20, head: 31, total: 61 } };
    expect(formatModelSummary(equal)).toContain("2 here; authors': worked out from their architecture, equal part by part)");
  });

  test('a non-square input: each level and the heatmap are height × width, and "all" sums every level', () => {
    const model = new SmprModel(smprConfig('tiny'), { random: new Random(4) });
    const s = modelSummary(model, 64, 128);
    model.dispose();
    expect(s.input).toEqual([64, 128]);
    expect(s.levels.map((l) => [l.features, l.locations])).toEqual([[[32, 8, 16], 128], [[32, 4, 8], 32], [[32, 2, 4], 8]]);
    expect(s.heatmap).toEqual([17, 8, 16]);
    const text = formatModelSummary(s);
    expect(text).toMatch(/^all +168$/m);
    expect(text).toContain('heatmap 17×8×16 on P3 in training');
  });

  test('tiny has no authors\' column', () => {
    const model = new SmprModel(smprConfig('tiny'), { random: new Random(3) });
    const s = modelSummary(model, 128, 128);
    model.dispose();
    expect(s.authors).toBeNull();
    expect(s.parts.total.parameters).toBe(469_133);
    expect(formatModelSummary(s).split('\n')[2]).toBe('          parameters  trainable  frozen  buffers');
  });
});
