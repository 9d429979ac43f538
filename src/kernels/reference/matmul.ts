/**
 * Reference batched matrix product: out[b] = op(A[b]) · op(B[b]) where op transposes when asked.
 * A is [batch, M, K] (or [batch, K, M] transposed), B is [batch, K, N] (or [batch, N, K]); a shared operand is
 * one matrix that every batch entry uses (an operand without batch dimensions, broadcast without a copy).
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';

export interface MatmulDims {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  /** A (B) is a single matrix for every batch entry. */
  sharedA?: boolean;
  sharedB?: boolean;
}

export function matmul(a: TypedArray, b: TypedArray, d: MatmulDims, dtype: DType): TypedArray {
  const { batch, m, n, k, transA, transB } = d;
  const out = typedArrayFor(dtype, batch * m * n);
  for (let p = 0; p < batch; p++) {
    const aBase = (d.sharedA ? 0 : p) * m * k;
    const bBase = (d.sharedB ? 0 : p) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let t = 0; t < k; t++) {
          const av = a[aBase + (transA ? t * m + i : i * k + t)];
          const bv = b[bBase + (transB ? j * k + t : t * n + j)];
          acc += av * bv;
        }
        out[p * m * n + i * n + j] = acc;
      }
    }
  }
  return out;
}
