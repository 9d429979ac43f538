// Loads the PyTorch/pycocotools reference vectors vendored in test/golden (format: test/golden/README.md; they are
// the team's ../shared/golden, copied so that a bare clone tests itself). SMPR_GOLDEN_DIR points elsewhere.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/** The vendored copy beside this file, unless SMPR_GOLDEN_DIR names another. */
export function goldenDir(): string {
  const dir = process.env.SMPR_GOLDEN_DIR ?? join(dirname(fileURLToPath(import.meta.url)), 'golden');
  if (!existsSync(join(dir, 'README.md'))) throw new Error(`golden vectors not found in ${dir} (test/golden is part of the repository)`);
  return dir;
}

export function loadGolden<T = { op: string; cases: GoldenCase[] }>(file: string): T {
  return JSON.parse(readFileSync(join(goldenDir(), file), 'utf8')) as T;
}
