// The browser build loads dist/src/browser.js and the page's modules as plain ES modules: one `node:` or npm import
// anywhere in their graph and the page fails to load. These tests walk the graphs from the sources.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { importGraph } from './import-graph.js';

const root = resolve(import.meta.dirname, '..');

/** The one dynamic import the browser graph may hold: Dawn, loaded only where there is no navigator.gpu. */
const ALLOWED_DYNAMIC = ['src/backend/webgpu-device.ts → ../node/dawn.js'];

describe('the browser import graph', () => {
  for (const entry of ['src/browser.ts', 'web/app.ts', 'web/op-checks.ts', 'web/finetune.ts']) {
    it(`${entry} imports nothing Node-only`, () => {
      const graph = importGraph(resolve(root, entry), root);
      expect(graph.external).toEqual([]);
      expect(graph.dynamic.filter((d) => !ALLOWED_DYNAMIC.includes(d))).toEqual([]);
      expect(graph.files.some((f) => f.startsWith('src/node/'))).toBe(false);
    });
  }

  it('reaches the engine, nn, SMPR and the model formats', () => {
    const { files } = importGraph(resolve(root, 'src/browser.ts'), root);
    for (const f of ['src/tensor/engine.ts', 'src/backend/webgpu-runtime.ts', 'src/nn/index.ts', 'src/smpr/model.ts', 'src/smpr/predict.ts', 'src/data/synth/dataset.ts', 'src/train/checkpoint-format.ts']) {
      expect(files).toContain(f);
    }
  });

  it('finds a Node import two files away, and ignores type-only imports', () => {
    const graph = importGraph(resolve(root, 'test/fixtures/import-graph/entry.ts'), root);
    expect(graph.external).toEqual(['test/fixtures/import-graph/leaf.ts → node:fs']);
    expect(graph.dynamic).toEqual(['test/fixtures/import-graph/leaf.ts → webgpu']);
  });

  it('finds the Node imports of the package root (the Node entry)', () => {
    const graph = importGraph(resolve(root, 'src/index.ts'), root);
    expect(graph.external).toContain('src/io/read-file.ts → node:fs');
    expect(graph.external).toContain('src/data/png.ts → pngjs');
  });
});
