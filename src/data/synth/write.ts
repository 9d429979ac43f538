/** The synthetic dataset written to disk as a COCO dataset folder (Node only: the generator itself is dataset.ts). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { writeCocoDataset } from '../coco.js';
import { SYNTH_DESCRIPTION, generateSynthDataset, type SynthDataset, type SynthOptions } from './dataset.js';

/** Whether `dir` holds a dataset that writeSynthDataset wrote: its annotations' description says so. */
function isSynthDataset(dir: string): boolean {
  try {
    const description: unknown = JSON.parse(readFileSync(join(dir, 'annotations.json'), 'utf8'))?.info?.description;
    return typeof description === 'string' && description.startsWith(SYNTH_DESCRIPTION);
  } catch {
    return false; // no annotations.json, or not one this generator wrote
  }
}

/**
 * Whether writeSynthDataset may write to `dir`: it holds no dataset, or a synthetic one. `smpr synth --out` and the
 * demo once replaced a project's own data.
 */
export function synthMayReplace(dir: string): boolean {
  return !existsSync(join(dir, 'annotations.json')) || isSynthDataset(dir);
}

/**
 * Generates the dataset and writes it as a COCO dataset folder: `images/*.png` and `annotations.json`, replacing
 * only what `synthMayReplace` allows.
 */
export function writeSynthDataset(outDir: string, options: SynthOptions): SynthDataset {
  if (!synthMayReplace(outDir)) {
    throw new UserError(`${outDir}: holds a dataset that is not synthetic (its annotations.json was not written by smpr synth), which this would replace; write to another folder`);
  }
  const dataset = generateSynthDataset(options);
  writeCocoDataset(outDir, dataset.coco, dataset.images);
  return dataset;
}
