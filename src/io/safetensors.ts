/**
 * safetensors files on disk (Node): reading one whole, writing one atomically. The format itself — parsing and
 * encoding bytes in memory — is `safetensors-format.ts`, re-exported here.
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { isFsError, writeFileAtomic } from './atomic.js';
import { encodeSafetensors, parseSafetensors, type SafetensorsFile, type TensorData } from './safetensors-format.js';

export * from './safetensors-format.js';

export function loadSafetensors(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if (isFsError(error)) throw new UserError(`cannot read ${path}: ${error.message}`);
    throw error;
  }
  return parseSafetensors(bytes, path);
}

/**
 * Writes `tensors` (and string `metadata`) to `path`, atomically. Tensors are laid out widest dtype first, then
 * by name, so every tensor starts at a multiple of its element size; the header is padded with spaces to a
 * multiple of 8 bytes so that the data section is 8-byte aligned too.
 */
export function saveSafetensors(path: string, tensors: Record<string, TensorData>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata, path));
}

