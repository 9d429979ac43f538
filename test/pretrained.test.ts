// Pretrained backbone weights with torchvision's names load into SMPR's backbone, and anything that does not fit
// is a user error naming the keys, with nothing half-loaded.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { Random } from '../src/index.js';
import { saveSafetensors, type TensorData } from '../src/io/safetensors.js';
import { smprConfig } from '../src/smpr/config.js';
import { SmprModel } from '../src/smpr/model.js';
import { loadBackboneWeights } from '../src/train/pretrained.js';

const dir = mkdtempSync(join(tmpdir(), 'smpr-pretrained-'));
// The tiny layout with frozen batch norm: torchvision's key set (conv1, bn1.running_mean, layer1.0.conv1, ...).
const config = smprConfig('tiny', { backboneNorm: 'frozen-bn' });
const model = (seed: number) => new SmprModel(config, { device: 'cpu', random: new Random(seed) });

/** A torchvision-style file: the backbone's tensors under their bare names, plus a classifier. */
function torchvisionFile(source: SmprModel, transform: (key: string) => string | null = (k) => k): string {
  const tensors: Record<string, TensorData> = {};
  for (const [key, t] of source.backbone.stateDict()) {
    const name = transform(key);
    if (name) tensors[name] = { dtype: t.dtype, shape: t.shape, data: t.toArraySync() };
  }
  tensors['fc.weight'] = { dtype: 'float32', shape: [10, 128], data: new Float32Array(1280) };
  tensors['fc.bias'] = { dtype: 'float32', shape: [10], data: new Float32Array(10) };
  const path = join(dir, `weights-${Object.keys(tensors).length}-${Math.random().toString(36).slice(2)}.safetensors`);
  saveSafetensors(path, tensors);
  return path;
}

const backboneValues = (m: SmprModel) => [...m.backbone.stateDict()].map(([k, t]) => [k, Array.from(t.toArraySync())]);

test('torchvision names load into the backbone; fc.* is skipped; the rest of the model is untouched', async () => {
  const source = model(1);
  const target = model(2);
  const neckBefore = [...target.neck.stateDict()].map(([k, t]) => [k, Array.from(t.toArraySync())]);
  const { loaded, skipped } = await loadBackboneWeights(target, torchvisionFile(source));
  expect(loaded).toBe(source.backbone.stateDict().size);
  expect([...skipped].sort()).toEqual(['fc.bias', 'fc.weight']);
  expect(backboneValues(target)).toEqual(backboneValues(source));
  expect(backboneValues(target)).not.toEqual(backboneValues(model(2)));
  expect([...target.neck.stateDict()].map(([k, t]) => [k, Array.from(t.toArraySync())])).toEqual(neckBefore);
});

test("mmdet's backbone.* prefix is accepted", async () => {
  const source = model(3);
  const target = model(4);
  await loadBackboneWeights(target, torchvisionFile(source, (k) => `backbone.${k}`));
  expect(backboneValues(target)).toEqual(backboneValues(source));
});

test('a file that does not fit names the keys and loads nothing', async () => {
  const target = model(5);
  const before = backboneValues(target);
  const path = torchvisionFile(model(6), (k) => (k === 'layer3.0.conv2.weight' ? null : k));
  await expect(loadBackboneWeights(target, path)).rejects.toThrow(/does not fit the tiny backbone.*missing key\(s\): layer3\.0\.conv2\.weight/);
  expect(backboneValues(target)).toEqual(before);
  // The GroupNorm backbone of the default tiny preset has no batch-norm statistics to take.
  const groupNormModel = new SmprModel(smprConfig('tiny'), { device: 'cpu', random: new Random(7) });
  await expect(loadBackboneWeights(groupNormModel, torchvisionFile(model(8)))).rejects.toThrow(/unexpected key\(s\):.*running_mean/);
});
