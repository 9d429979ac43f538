/** The synthetic dataset written to disk as a COCO dataset folder (Node only: the generator itself is dataset.ts). */
import { writeCocoDataset } from '../coco.js';
import { generateSynthDataset, type SynthDataset, type SynthOptions } from './dataset.js';

/** Generates the dataset and writes it as a COCO dataset folder: `images/*.png` and `annotations.json`. */
export function writeSynthDataset(outDir: string, options: SynthOptions): SynthDataset {
  const dataset = generateSynthDataset(options);
  writeCocoDataset(outDir, dataset.coco, dataset.images);
  return dataset;
}
