/**
 * safetensors files on disk (Node): reading one whole, writing one atomically. The format itself — parsing and
 * encoding bytes in memory — is `safetensors-format.ts`, re-exported here.
 */
import { writeFileAtomic } from './atomic.js';
import { readUserFile } from './read-file.js';
import { encodeSafetensors, parseSafetensors, type SafetensorsFile, type TensorData } from './safetensors-format.js';

export * from './safetensors-format.js';

export function loadSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readUserFile(path), path);
}

/**
 * Writes `tensors` (and string `metadata`) to `path`, atomically. Tensors are laid out widest dtype first, then
 * by name, so every tensor starts at a multiple of its element size; the header is padded with spaces to a
 * multiple of 8 bytes so that the data section is 8-byte aligned too.
 */
export function saveSafetensors(path: string, tensors: Record<string, TensorData>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata, path));
}

