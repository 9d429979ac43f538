/**
 * The package's public API, for Node: the isomorphic core (src/browser.ts: the engine, ops, `nn`, SMPR, COCO, the
 * optimizers and the file formats on bytes) and, beside it, what needs Node — files, PNG/JPEG decoding, the .pth
 * reader, evaluation over a dataset folder, the training loop with its worker pool, and Dawn.
 */
export * from './browser.js';

// The model summary (`smpr info`) and the authors' parameter counts.
export { authorsParameters } from './smpr/model.js';
export { modelSummary, formatModelSummary } from './smpr/summary.js';
export type { ModelSummary } from './smpr/summary.js';

// Data, checkpoints and training on files.
export { evaluateDataset } from './smpr/evaluate.js';
export { loadCocoDataset, writeCocoDataset } from './data/coco.js';
export { writeSynthDataset } from './data/synth/write.js';
export { decodeImage, readImage, readImageSize } from './data/image-file.js';
export { decodePng, encodePng, writePng } from './data/png.js';
export { loadSafetensors, saveSafetensors } from './io/safetensors.js';
export { loadPth, parsePth, stateDictOf, PthTensor } from './io/pth.js';
export type { PthCheckpoint } from './io/pth.js';
export { loadTensorFile } from './io/tensor-file.js';
export { unpickle } from './io/pickle.js';
export { readCheckpoint, readModelWeights, saveCheckpoint } from './train/checkpoint.js';
export { REFERENCE_SGD } from './train/optimizer.js';
export { train } from './train/trainer.js';
export { RECIPES } from './train/recipes.js';
