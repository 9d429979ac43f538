/**
 * Reductions over any set of axes. Runs of adjacent reduced axes are merged first (a contiguous tensor can be
 * reshaped for free), so reducing N, H and W of an NCHW tensor is two single-axis kernels, not three.
 */
import { isFloat } from '../tensor/dtype.js';
import { normalizeAxes, shapeStr, shapesEqual, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Backend } from '../backend/backend.js';
import type { ReduceOp } from '../kernels/reference/reduce.js';
import { div, eq, mul } from './elementwise.js';
import { composite, needs, record } from './record.js';
import { broadcastTo, reshape, view } from './shape.js';

export interface ReduceOptions {
  keepdims?: boolean;
}

/** Merges adjacent dimensions that are all reduced or all kept; returns the merged shape and reduced positions. */
function coalesce(shape: Shape, axes: number[]): { shape: number[]; reduced: number[] } {
  const merged: number[] = [];
  const reduced: number[] = [];
  let last: boolean | null = null;
  shape.forEach((d, i) => {
    const isReduced = axes.includes(i);
    if (isReduced === last) merged[merged.length - 1] *= d;
    else {
      merged.push(d);
      if (isReduced) reduced.push(merged.length - 1);
    }
    last = isReduced;
  });
  return { shape: merged, reduced };
}

function reduceOnBackend(be: Backend, op: ReduceOp, x: Tensor, axes: number[], outShape: Shape): Tensor {
  const { shape, reduced } = coalesce(x.shape, axes);
  let cur = view(x, shape);
  for (const axis of [...reduced].reverse()) {
    const next = be.reduce(op, cur, axis);
    cur.dispose();
    cur = next;
  }
  const out = view(cur, outShape);
  cur.dispose();
  return out;
}

function reducedShape(shape: Shape, axes: number[], keepdims: boolean): number[] {
  return keepdims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

function reduceOp(op: ReduceOp, x: Tensor, axis: number | number[] | undefined, options: ReduceOptions,
  grad?: (g: Tensor, out: Tensor, kept: Shape) => Tensor): Tensor {
  const axes = normalizeAxes(op, axis, x.rank);
  if (op !== 'sum' && axes.some((a) => x.shape[a] === 0)) throw new Error(`${op}: cannot reduce an empty axis of shape ${shapeStr(x.shape)}`);
  const kept = reducedShape(x.shape, axes, true);
  const outShape = reducedShape(x.shape, axes, options.keepdims ?? false);
  if (op === 'argmax' && axes.length !== 1) throw new Error(`argmax: takes exactly one axis, got [${axes}]`);
  return record(op, [x], (be) => reduceOnBackend(be, op, x, axes, outShape), (g, out) => [grad ? grad(g, out, kept) : null]);
}

export function sum(x: Tensor, axis?: number | number[], options: ReduceOptions = {}): Tensor {
  return reduceOp('sum', x, axis, options, (g, _out, kept) => broadcastTo(reshape(g, kept), x.shape));
}

export function mean(x: Tensor, axis?: number | number[], options: ReduceOptions = {}): Tensor {
  // The division would truncate an integer mean (mean([1, 2]) was 1); torch.mean refuses integer dtypes too.
  if (!isFloat(x.dtype)) throw new Error(`mean: needs a floating-point dtype, got ${x.dtype}; cast the tensor first`);
  const axes = normalizeAxes('mean', axis, x.rank);
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  return composite([x], () => div(sum(x, axes, options), count));
}

/** Max over axes. The gradient is shared equally among tied maxima (like torch.amax). */
export function max(x: Tensor, axis?: number | number[], options: ReduceOptions = {}): Tensor {
  return reduceOp('max', x, axis, options, (g, out, kept) => extremumGrad(x, g, out, kept, axis));
}

export function min(x: Tensor, axis?: number | number[], options: ReduceOptions = {}): Tensor {
  return reduceOp('min', x, axis, options, (g, out, kept) => extremumGrad(x, g, out, kept, axis));
}

function extremumGrad(x: Tensor, g: Tensor, out: Tensor, kept: Shape, axis: number | number[] | undefined): Tensor {
  const isExtremum = eq(x, reshape(out, kept));
  const ties = sum(isExtremum, axis, { keepdims: true });
  return mul(div(isExtremum, ties), reshape(g, kept));
}

/** Index of the first maximum along one axis (int32). */
export function argmax(x: Tensor, axis: number, options: ReduceOptions = {}): Tensor {
  return reduceOp('argmax', x, axis, options);
}

/**
 * A broadcast operand's gradient: `grad()` summed back down to `t`'s shape, computed only when `t` requires one
 * (the other operand of a rule is often a constant).
 */
export const operandGrad = (t: Tensor, grad: () => Tensor): Tensor | null => needs(t, () => sumTo(grad(), t.shape));

/** Sums a broadcast gradient back down to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const offset = g.rank - shape.length;
  const axes = g.shape.map((_, i) => i).filter((i) => i < offset || (shape[i - offset] === 1 && g.shape[i] !== 1));
  return composite([g], () => reshape(sum(g, axes, { keepdims: true }), shape));
}
