/**
 * Batched matrix product over the last two axes, broadcasting the leading (batch) axes. Optional transposes
 * are folded into the kernel's indexing, so gradients need no transposed copies:
 *   C = A·B   : dA = G·Bᵀ,  dB = Aᵀ·G        C = Aᵀ·B  : dA = B·Gᵀ,  dB = A·G
 *   C = A·Bᵀ  : dA = G·B,   dB = Gᵀ·A        C = Aᵀ·Bᵀ : dA = Bᵀ·Gᵀ, dB = Gᵀ·Aᵀ
 * Every rule is itself a matmul, so double backward works.
 */
import { isFloat } from '../tensor/dtype.js';
import { broadcastShapes, shapeStr, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { record } from './record.js';
import { operandGrad } from './reduce.js';
import { broadcastTo, reshape } from './shape.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: operands need rank ≥ 2, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  if (a.dtype !== b.dtype || !isFloat(a.dtype)) throw new Error(`matmul: needs two float tensors of one dtype, got ${a.dtype} and ${b.dtype}`);
  const [m, k] = transA ? [a.shape[a.rank - 1], a.shape[a.rank - 2]] : [a.shape[a.rank - 2], a.shape[a.rank - 1]];
  const [kb, n] = transB ? [b.shape[b.rank - 1], b.shape[b.rank - 2]] : [b.shape[b.rank - 2], b.shape[b.rank - 1]];
  if (k !== kb) {
    throw new Error(`matmul: inner dimensions differ: ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} · ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''} (${k} vs ${kb})`);
  }
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = sizeOf(batchShape);
  const outShape = [...batchShape, m, n];
  return record('matmul', [a, b], (be) => {
    // An operand without a batch of its own is one matrix that every entry reads in place; a batched one is
    // broadcast (copied) to the whole batch.
    const asBatch = (t: Tensor): Tensor => {
      const matrix = t.shape.slice(-2);
      return sizeOf(t.shape.slice(0, -2)) === 1 ? reshape(t, [1, ...matrix]) : reshape(broadcastTo(t, [...batchShape, ...matrix]), [batch, ...matrix]);
    };
    const [a3, b3] = [asBatch(a), asBatch(b)];
    return be.matmul(a3, b3, { batch, m, n, k, transA, transB, sharedA: a3.shape[0] !== batch, sharedB: b3.shape[0] !== batch }, outShape);
  }, (g) => {
    const [ga, gb] = !transA && !transB ? [() => matmul(g, b, { transB: true }), () => matmul(a, g, { transA: true })]
      : transA && !transB ? [() => matmul(b, g, { transB: true }), () => matmul(a, g)]
      : !transA && transB ? [() => matmul(g, b), () => matmul(g, a, { transA: true })]
      : [() => matmul(b, g, { transA: true, transB: true }), () => matmul(g, a, { transA: true, transB: true })];
    return [operandGrad(a, ga), operandGrad(b, gb)];
  });
}
