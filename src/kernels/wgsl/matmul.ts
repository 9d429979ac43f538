/**
 * Batched matrix product C[b] = op(A[b]) · op(B[b]), op = optional transpose: the plainest instance of the GEMM
 * template (gemm.ts), which owns tiling and scheduling. Transposes only change the index of an element, and a
 * shared operand (one matrix for the whole batch) drops the batch term of it.
 */
import type { MatmulDims } from '../reference/matmul.js';
import type { Program } from '../program.js';
import { chooseTile, gemmKernel, type GemmOperands, type GemmTarget } from './gemm.js';

export function matmulOperands(d: MatmulDims): GemmOperands {
  return {
    label: `matmul${d.transA ? 'ᵀ' : ''}·${d.transB ? 'ᵀ' : ''}`,
    buffers: ['a', 'b', 'c'],
    loadA: `  return a[${d.sharedA ? '' : 'z * p.m * p.k + '}${d.transA ? 'k * p.m + row' : 'row * p.k + k'}];`,
    loadB: `  return b[${d.sharedB ? '' : 'z * p.k * p.n + '}${d.transB ? 'col * p.k + k' : 'k * p.n + col'}];`,
    storeC: '  c[(z * p.m + row) * p.n + col] = v;',
    canonicalC: true,
  };
}

/** One dispatch writing C (no split-K: the backend's matmul is a single dispatch into C). */
export function matmulKernel(d: MatmulDims, target: GemmTarget): Program {
  const shape = { batch: d.batch, m: d.m, n: d.n, k: d.k };
  return gemmKernel(matmulOperands(d), shape, chooseTile(shape, false, target));
}
