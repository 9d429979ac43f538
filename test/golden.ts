// Loads the PyTorch/pycocotools reference vectors from ../shared/golden (see its README for the format).
// A missing golden directory is a test failure, never a skip: set SMPR_GOLDEN_DIR if it lives elsewhere.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GoldenTensor {
  shape: number[];
  data: number[];
}

export interface GoldenCase {
  name: string;
  params: Record<string, any>;
  inputs: Record<string, GoldenTensor>;
  outputs: Record<string, GoldenTensor>;
  grads: Record<string, GoldenTensor>;
}

export function goldenDir(): string {
  if (process.env.SMPR_GOLDEN_DIR) return process.env.SMPR_GOLDEN_DIR;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const candidate of [join(dir, 'shared', 'golden'), join(dir, '..', 'shared', 'golden')]) {
      if (existsSync(join(candidate, 'README.md'))) return resolve(candidate);
    }
    dir = dirname(dir);
  }
  throw new Error('golden vectors not found: expected ../shared/golden beside the repository, or set SMPR_GOLDEN_DIR');
}

export function loadGolden<T = { op: string; cases: GoldenCase[] }>(file: string): T {
  return JSON.parse(readFileSync(join(goldenDir(), file), 'utf8')) as T;
}
