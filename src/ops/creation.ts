/** Creating tensors: from data, constant fills, ranges and seeded random values, on either device. */
import { backendFor } from '../backend/index.js';
import { checkHolds, dtypeOf, isFloat, toTypedArray, typedArrayFor, type DType, type TypedArray } from '../tensor/dtype.js';
import { defaultRandom, type Random } from '../tensor/random.js';
import { checkShape, shapeStr, sizeOf, type Shape } from '../tensor/shape.js';
import type { Device } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

let defaultDevice: Device = 'cpu';

/** The device tensors are created on when none is named ('cpu' until changed). */
export function setDefaultDevice(device: Device): void {
  backendFor(device); // an unknown device is refused here, not at the next op
  defaultDevice = device;
}

export const getDefaultDevice = (): Device => defaultDevice;

type Nested = number | Nested[];

/** The numbers of nested arrays in order, and their shape in `shape`; every number must sit at the same depth. */
function flatten(values: Nested, shape: number[], depth = 0, out: number[] = [], leaf = { depth: -1 }): number[] {
  if (typeof values === 'number') {
    if (leaf.depth === -1) leaf.depth = depth;
    if (depth !== leaf.depth) throw new Error(`tensor: ragged nested array (a number at depth ${depth}, others at ${leaf.depth})`);
    out.push(values);
    return out;
  }
  if (!Array.isArray(values)) throw new Error(`tensor: values must be numbers in nested arrays, got ${typeof values} ${JSON.stringify(values)?.slice(0, 20)}`);
  if (leaf.depth !== -1 && depth >= leaf.depth) throw new Error(`tensor: ragged nested array (an array at depth ${depth}, numbers at ${leaf.depth})`);
  if (shape.length === depth) shape.push(values.length);
  else if (shape[depth] !== values.length) throw new Error(`tensor: ragged nested array (length ${values.length} where ${shape[depth]} was seen)`);
  for (const v of values) flatten(v, shape, depth + 1, out, leaf);
  return out;
}

function finish(data: TypedArray, shape: Shape, dtype: DType, options: CreateOptions, op: string): Tensor {
  const t = backendFor(options.device ?? defaultDevice).fromArray(data, shape, dtype, op);
  if (options.requiresGrad) {
    if (!isFloat(dtype)) throw new Error(`${op}: only floating-point tensors can require gradients (dtype ${dtype})`);
    t.requiresGrad = true;
  }
  return t;
}

/**
 * A tensor from nested arrays or a flat typed array (with `shape`). The dtype defaults to the typed array's,
 * or float32 for plain numbers.
 */
export function tensor(values: Nested | TypedArray, shapeOrOptions?: Shape | CreateOptions, options: CreateOptions = {}): Tensor {
  let shape: number[];
  let flat: ArrayLike<number>;
  if (Array.isArray(shapeOrOptions)) {
    shape = [...shapeOrOptions];
  } else {
    options = (shapeOrOptions as CreateOptions | undefined) ?? options;
    shape = [];
  }
  const typed = ArrayBuffer.isView(values);
  if (typed) {
    flat = values as TypedArray;
    if (!Array.isArray(shapeOrOptions)) shape = [flat.length];
  } else {
    const inferred: number[] = [];
    flat = flatten(values as Nested, inferred);
    if (!Array.isArray(shapeOrOptions)) shape = inferred;
  }
  checkShape('tensor', shape);
  if (sizeOf(shape) !== flat.length) {
    throw new Error(`tensor: ${flat.length} values do not fill shape ${shapeStr(shape)} (${sizeOf(shape)} elements)`);
  }
  const dtype = options.dtype ?? (typed ? dtypeOf(values as TypedArray) : 'float32');
  // A tensor never shares the caller's memory. The CPU backend keeps the array it is given, so it gets a copy;
  // the GPU backend copies the values into its buffer, so a typed array of the right dtype goes there as it is
  // (a training batch: 1.5 MB that was copied twice per step).
  const device = options.device ?? defaultDevice;
  const data = typed && device !== 'cpu' && dtypeOf(values as TypedArray) === dtype ? (values as TypedArray) : toTypedArray(dtype, flat);
  return finish(data, shape, dtype, options, 'tensor');
}

export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  checkShape('full', shape);
  const dtype = options.dtype ?? 'float32';
  if (typeof value !== 'number') throw new Error(`full: the value must be a number, got ${typeof value}`);
  // An integer dtype stored NaN as 0 and −1 as 4294967295 without a word. Stricter than torch.full, which refuses
  // NaN but wraps −1 and truncates 1.5: an integer tensor of a value it cannot hold is a mistake here.
  checkHolds('full', value, dtype, 'the dtype asked for');
  const data = typedArrayFor(dtype, sizeOf(shape));
  data.fill(value);
  return finish(data, shape, dtype, options, 'full');
}

export const zeros = (shape: Shape, options: CreateOptions = {}): Tensor => full(shape, 0, options);
export const ones = (shape: Shape, options: CreateOptions = {}): Tensor => full(shape, 1, options);

const like = (t: Tensor, options: CreateOptions): CreateOptions => ({ dtype: t.dtype, device: t.device, ...options });
export const zerosLike = (t: Tensor, options: CreateOptions = {}): Tensor => full(t.shape, 0, like(t, options));
export const onesLike = (t: Tensor, options: CreateOptions = {}): Tensor => full(t.shape, 1, like(t, options));
export const fullLike = (t: Tensor, value: number, options: CreateOptions = {}): Tensor => full(t.shape, value, like(t, options));

/** [start, start+step, ...) up to `end` (exclusive), as NumPy's arange. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if ([start, end ?? 0, step].some((v) => typeof v !== 'number')) throw new Error('arange: start, end and step are numbers; options come fourth: arange(start, end, step, options)');
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new Error('arange: step must not be 0');
  // A NaN bound made a [NaN]-shaped tensor, an infinite one a RangeError from the typed array.
  if (![start, end, step].every(Number.isFinite)) throw new Error(`arange: start, end and step must be finite, got ${start}, ${end}, ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  checkShape('arange', [n]);
  const dtype = options.dtype ?? (Number.isInteger(start) && Number.isInteger(step) ? 'int32' : 'float32');
  const data = typedArrayFor(dtype, n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return finish(data, [n], dtype, options, 'arange');
}

/** Random samples are real numbers: an integer dtype would truncate them silently (torch.randn refuses it too). */
function floatDtype(op: string, dtype: DType = 'float32'): DType {
  if (!isFloat(dtype)) throw new Error(`${op}: samples need a floating-point dtype, got ${dtype}; cast the result if integers are wanted`);
  return dtype;
}

export interface RandomOptions extends CreateOptions {
  random?: Random;
}

/** Standard normal samples (mean 0, std 1) from a seeded generator. */
export function randn(shape: Shape, options: RandomOptions = {}): Tensor {
  checkShape('randn', shape);
  const random = options.random ?? defaultRandom();
  const dtype = floatDtype('randn', options.dtype);
  const data = typedArrayFor(dtype, sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = random.normal();
  return finish(data, shape, dtype, options, 'randn');
}

/** Uniform samples in [low, high). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  checkShape('rand', shape);
  const random = options.random ?? defaultRandom();
  const dtype = floatDtype('rand', options.dtype);
  const { low = 0, high = 1 } = options;
  if (!(Number.isFinite(low) && Number.isFinite(high) && low <= high)) throw new Error(`rand: needs finite low ≤ high, got low ${low}, high ${high}`);
  const data = typedArrayFor(dtype, sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = random.uniform(low, high);
  return finish(data, shape, dtype, options, 'rand');
}

/** A one-element tensor on the same device and dtype as `like` (how ops accept plain numbers). */
export function scalarLike(value: number, like: Tensor): Tensor {
  return full([], value, { dtype: like.dtype, device: like.device });
}
