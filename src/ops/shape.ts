/**
 * Shape ops. `reshape` shares storage; the rest are one affine gather (`window`, see kernels/reference/window.ts)
 * or a row-block copy (`concat`), and their gradients are each other: slice ↔ pad, permute ↔ inverse permute,
 * broadcast ↔ sum, concat ↔ slices, indexSelect ↔ indexAdd.
 */
import type { WindowSpec } from '../kernels/reference/window.js';
import { checkHolds } from '../tensor/dtype.js';
import { broadcastShapes, broadcastStrides, checkShape, normalizeAxis, normalizeAxes, shapeStr, shapesEqual, sizeOf, stridesOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { composite, needs, record } from './record.js';
import { sumTo } from './reduce.js';

/** Effectively unbounded, for dimensions that never leave the input (permute, broadcast). */
const NO_BOUND = 0x7fffffff;

/** The same storage under another shape, with no autograd history (for use inside ops). */
export function view(x: Tensor, shape: Shape): Tensor {
  return new Tensor(x.storage('reshape').retain(), shape, x.dtype, 'reshape');
}

/** Reshape without copying; one dimension may be -1 and is inferred. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const resolved = [...shape];
  const unknown = resolved.indexOf(-1);
  if (unknown >= 0) {
    const known = sizeOf(resolved.filter((_, i) => i !== unknown));
    if (known === 0 || x.size % known !== 0) throw new Error(`reshape: cannot infer -1 reshaping ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
    resolved[unknown] = x.size / known;
  }
  if (sizeOf(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.size} elements) to ${shapeStr(shape)}`);
  }
  return record('reshape', [x], () => view(x, resolved), (g) => [reshape(g, x.shape)]);
}

export const flatten = (x: Tensor): Tensor => reshape(x, [x.size]);

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis('unsqueeze', axis, x.rank + 1);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  if (x.rank === 0 && (axis === 0 || axis === -1)) return reshape(x, []); // torch.squeeze(scalar, 0) is the scalar
  if (x.rank === 0) throw new Error(`squeeze: a scalar has no axis ${axis} to squeeze`);
  const a = normalizeAxis('squeeze', axis, x.rank);
  if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${axis} of shape ${shapeStr(x.shape)} has size ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

function gather(op: string, x: Tensor, outShape: Shape, spec: WindowSpec, grad: (g: Tensor) => Tensor): Tensor {
  return record(op, [x], (be) => be.window(x, outShape, spec), (g) => [grad(g)]);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const axes = perm.map((a) => normalizeAxis('permute', a, x.rank));
  if (axes.length !== x.rank || new Set(axes).size !== x.rank) {
    throw new Error(`permute: [${perm}] is not a permutation of the ${x.rank} axes of ${shapeStr(x.shape)}`);
  }
  const outShape = axes.map((a) => x.shape[a]);
  // Moving only axes of size 1 leaves every element where it was: a view, as reshape is (cls maps [N, 1, H, W] to
  // [N, H, W, 1] in the loss), not a copy.
  const moved = axes.filter((a) => x.shape[a] !== 1);
  if (moved.every((a, i) => i === 0 || a > moved[i - 1]!)) return reshape(x, outShape);
  const strides = stridesOf(x.shape);
  const inverse = axes.map((_, i) => axes.indexOf(i));
  const spec: WindowSpec = { coef: axes.map((a) => strides[a]), shift: axes.map(() => 0), step: axes.map(() => 1), bound: axes.map(() => NO_BOUND), fill: 0 };
  return gather('permute', x, outShape, spec, (g) => permute(g, inverse));
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normalizeAxis('transpose', dim0, x.rank);
  const b = normalizeAxis('transpose', dim1, x.rank);
  const perm = [...x.shape.keys()];
  [perm[a], perm[b]] = [perm[b], perm[a]];
  return permute(x, perm);
}

/**
 * Pads each dimension with `pads[d] = [before, after]` elements of `value` (missing trailing entries: no pad).
 * Negative amounts crop, which is how `slice` is written.
 */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  if (pads.length > x.rank) throw new Error(`pad: ${pads.length} pad pairs for a tensor of rank ${x.rank}`);
  const bad = pads.findIndex((p) => !Array.isArray(p) || p.length !== 2 || !p.every(Number.isInteger));
  if (bad >= 0) throw new Error(`pad: pads[${bad}] must be a pair [before, after] of integers, got ${JSON.stringify(pads[bad])}`);
  // As full's: 1.5 became 1 in an int32 tensor and −1 became 4294967295 in a uint32 one.
  checkHolds('pad', value, x.dtype, 'the dtype of the tensor padded');
  const full = x.shape.map((_, d) => pads[d] ?? [0, 0]);
  const outShape = x.shape.map((n, d) => n + full[d][0] + full[d][1]);
  if (outShape.some((n) => n < 0)) throw new Error(`pad: pads [${pads.map((p) => `[${p}]`)}] crop more than shape ${shapeStr(x.shape)} holds`);
  const spec: WindowSpec = { coef: stridesOf(x.shape), shift: full.map(([before]) => -before), step: full.map(() => 1), bound: [...x.shape], fill: value };
  return gather('pad', x, outShape, spec, (g) => pad(g, full.map(([b, a]) => [-b, -a] as [number, number])));
}

/**
 * Slices `ranges[d] = [start, end)` per dimension (negative indices count from the end, null keeps the whole
 * dimension; missing trailing entries keep everything).
 */
export function slice(x: Tensor, ranges: readonly (readonly [number, number] | null)[]): Tensor {
  if (ranges.length > x.rank) throw new Error(`slice: ${ranges.length} ranges for a tensor of rank ${x.rank}`);
  const pads = x.shape.map((n, d): [number, number] => {
    const r = ranges[d];
    if (!r) return [0, 0];
    if (!Number.isInteger(r[0]) || !Number.isInteger(r[1])) throw new Error(`slice: range [${r}] of dimension ${d} must be two integers`);
    const start = r[0] < 0 ? r[0] + n : r[0];
    const end = r[1] < 0 ? r[1] + n : r[1];
    if (!(0 <= start && start <= end && end <= n)) throw new Error(`slice: range [${r}] is out of bounds for dimension ${d} of shape ${shapeStr(x.shape)}`);
    return [-start, end - n];
  });
  return pad(x, pads);
}

/** Takes `length` elements from `start` along one axis. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normalizeAxis('narrow', axis, x.rank);
  if (!Number.isInteger(length) || length < 0) throw new Error(`narrow: length must be an integer ≥ 0, got ${length}`);
  return slice(x, x.shape.map((_, d) => (d === a ? [start, start + length] : null)));
}

/** Reverses the order along the given axes. */
export function flip(x: Tensor, axes: number | number[]): Tensor {
  const list = normalizeAxes('flip', axes, x.rank);
  const spec: WindowSpec = {
    coef: stridesOf(x.shape),
    shift: x.shape.map((n, d) => (list.includes(d) ? n - 1 : 0)),
    step: x.shape.map((_, d) => (list.includes(d) ? -1 : 1)),
    bound: x.shape.map(() => NO_BOUND),
    fill: 0,
  };
  return gather('flip', x, x.shape, spec, (g) => flip(g, list));
}

/** Repeats size-1 dimensions (and adds leading ones) to reach `shape`, by NumPy's broadcasting rules. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  // A size that broadcasting lets through but no tensor has (−2, 2.5) crashed the CPU and hung the GPU.
  checkShape('broadcastTo', shape);
  const target = broadcastShapes('broadcastTo', x.shape, shape);
  if (!shapesEqual(target, shape)) {
    throw new Error(`broadcastTo: cannot broadcast ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  }
  if (shapesEqual(target, x.shape)) return reshape(x, target);
  const spec: WindowSpec = { coef: broadcastStrides(x.shape, target), shift: target.map(() => 0), step: target.map(() => 1), bound: target.map(() => NO_BOUND), fill: 0 };
  return gather('broadcastTo', x, target, spec, (g) => sumTo(g, x.shape));
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown) || xs.length === 0) throw new Error('concat: needs an array of at least one tensor');
  // As torch.cat: a scalar has no axis to join along (the CPU returned one scalar, the GPU failed to dispatch).
  const scalar = xs.findIndex((x) => x.rank === 0);
  if (scalar >= 0) throw new Error(`concat: tensor ${scalar} is a scalar (shape []), which has no axis to concatenate along; stack scalars instead`);
  const a = normalizeAxis('concat', axis, xs[0].rank);
  for (const x of xs) {
    if (x.rank !== xs[0].rank || x.dtype !== xs[0].dtype || x.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw new Error(`concat: tensors must match in dtype and in every dimension but ${a}; got ${xs.map((t) => `${shapeStr(t.shape)} ${t.dtype}`).join(', ')}`);
    }
  }
  const outShape = xs[0].shape.map((d, i) => (i === a ? xs.reduce((n, x) => n + x.shape[a], 0) : d));
  const inputs = [...xs]; // the graph keeps its own list: the caller may change theirs later
  return record('concat', inputs, (be) => be.concat(inputs, a, outShape), (g) => {
    let offset = 0;
    return inputs.map((x) => {
      const start = offset;
      offset += x.shape[a];
      return needs(x, () => narrow(g, a, start, x.shape[a]));
    });
  });
}

export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown) || xs.length === 0) throw new Error('stack: needs an array of at least one tensor');
  const a = normalizeAxis('stack', axis, xs[0].rank + 1);
  return composite(xs, () => concat(xs.map((x) => unsqueeze(x, a)), a));
}

/** Picks entries along `axis` by an int32 index tensor (torch.index_select). */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normalizeAxis('indexSelect', axis, x.rank);
  if (index.dtype !== 'int32' || index.rank !== 1) {
    throw new Error(`indexSelect: index must be a 1-D int32 tensor, got ${index.dtype} of shape ${shapeStr(index.shape)}`);
  }
  const outer = sizeOf(x.shape.slice(0, a));
  const rows = x.shape[a];
  const inner = sizeOf(x.shape.slice(a + 1));
  // On the CPU the indices are at hand and checked; on the GPU that would cost a readback, so there an index
  // out of range picks all bits set (NaN for floats, which a NaN check or the trainer's divergence check then
  // reports; −1 for int32) rather than a neighbour's row, and the gradient (indexAdd) drops it.
  if (index.device === 'cpu') {
    const bad = index.toArraySync().find((i) => i < 0 || i >= rows);
    if (bad !== undefined) throw new Error(`indexSelect: index ${bad} is out of range for axis ${a} of size ${rows} (shape ${shapeStr(x.shape)})`);
  }
  const outShape = x.shape.map((d, i) => (i === a ? index.size : d));
  return record('indexSelect', [x, index], (be) => be.indexSelect(x, outer, rows, inner, index, outShape), (g) => [
    record('indexAdd', [g, index], (be) => be.indexAdd(g, outer, rows, inner, index, x.shape), (gg) => [indexSelect(gg, a, index), null]),
    null,
  ]);
}
