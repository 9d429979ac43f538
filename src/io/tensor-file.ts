/**
 * A file of named tensors in either format the project reads — safetensors, or a PyTorch checkpoint (`.pth`) —
 * told apart by its first bytes, not by its name: a `.bin` or an extension-less download works as well.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { isFsError } from './atomic.js';
import { loadPth, looksLikePth } from './pth.js';
import { loadSafetensors, type TensorData } from './safetensors.js';

export interface TensorFile {
  format: 'safetensors' | 'pth';
  tensors: Record<string, TensorData>;
  /** safetensors' string metadata; for an mmdetection checkpoint, its `meta` as JSON under `meta`. */
  metadata: Record<string, string>;
  /** Tensors read as another dtype than the file's: {'float16 → float32': 3} (see src/io/pth.ts). */
  converted: Record<string, number>;
}

/** Which format `path` is in, from its first bytes; null for neither. */
function tensorFileFormat(path: string): 'safetensors' | 'pth' | null {
  const head = new Uint8Array(8);
  let fd: number | null = null;
  let size = 0;
  try {
    fd = openSync(path, 'r');
    const stat = fstatSync(fd);
    // A run folder given for its checkpoint (`--weights runs/x`) otherwise reads as "EISDIR: illegal operation".
    if (stat.isDirectory()) {
      const inside = join(path, 'last.safetensors');
      throw new UserError(`${path}: is a folder, expected a safetensors or .pth file${existsSync(inside) ? ` (its run's checkpoint is ${inside})` : ''}`);
    }
    size = stat.size;
    readSync(fd, head, 0, head.length, 0);
  } catch (error) {
    if (isFsError(error)) throw new UserError(`cannot read ${path}: ${error.message}`);
    throw error;
  } finally {
    if (fd !== null) closeSync(fd);
  }
  if (looksLikePth(head)) return 'pth';
  // safetensors starts with its header's length, a little-endian u64 whose top bytes are zero in any real file
  // (a PNG's or a JPEG's first bytes are not); the safetensors reader says what else is wrong, truncation included.
  if (size < 8) return 'safetensors';
  return new DataView(head.buffer).getBigUint64(0, true) < 2n ** 40n ? 'safetensors' : null;
}

export function loadTensorFile(path: string): TensorFile {
  const format = tensorFileFormat(path);
  if (format === 'pth') {
    const file = loadPth(path);
    return { format, tensors: file.tensors, metadata: file.meta !== undefined ? { meta: file.meta } : {}, converted: file.converted };
  }
  if (format === null) {
    throw new UserError(`${path}: neither a safetensors file nor a PyTorch checkpoint (expected a safetensors header, a zip archive or a pickle)`);
  }
  const file = loadSafetensors(path);
  return { format, tensors: file.tensors, metadata: file.metadata, converted: {} };
}
