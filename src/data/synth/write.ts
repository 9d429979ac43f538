/** The synthetic dataset written to disk as a COCO dataset folder (Node only: the generator itself is dataset.ts). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { writeCocoDataset } from '../coco.js';
import { SYNTH_DESCRIPTION, generateSynthDataset, type SynthDataset, type SynthOptions } from './dataset.js';

/** Whether `dir` holds a dataset that writeSynthDataset wrote: its annotations' description says so. */
export function isSynthDataset(dir: string): boolean {
  try {
    const description: unknown = JSON.parse(readFileSync(join(dir, 'annotations.json'), 'utf8'))?.info?.description;
    return typeof description === 'string' && description.startsWith(SYNTH_DESCRIPTION);
  } catch {
    return false; // no annotations.json, or not one this generator wrote
  }
}

/**
 * Generates the dataset and writes it as a COCO dataset folder: `images/*.png` and `annotations.json`. A dataset
 * already in `outDir` is replaced only when it is synthetic too: `smpr synth --out` a project's own data replaced it.
 */
export function writeSynthDataset(outDir: string, options: SynthOptions): SynthDataset {
  if (existsSync(join(outDir, 'annotations.json')) && !isSynthDataset(outDir)) {
    throw new UserError(`${outDir}: holds a dataset that is not synthetic (its annotations.json was not written by smpr synth), which this would replace; write to another folder`);
  }
  const dataset = generateSynthDataset(options);
  writeCocoDataset(outDir, dataset.coco, dataset.images);
  return dataset;
}
