/**
 * The Tensor: a shape, a dtype, a device and reference-counted storage, plus the autograd fields.
 *
 * Tensors are always contiguous and row-major. Ops that only reinterpret the shape (`reshape`) share storage;
 * everything else (permute, slice, pad, ...) writes a new tensor. That keeps every kernel simple — one index
 * formula, no stride bookkeeping — at the price of a copy where a view would do.
 *
 * GPU memory is not garbage-collected: call `dispose()`, or create tensors inside `tidy()`.
 */
import { bytesPerElement, isFloat, typedArrayFor, type DType, type TypedArray } from './dtype.js';
import { nanCheckEachOp, nanCheckEnabled, trackInScope, untrackFromScopes, webgpu } from './engine.js';
import { shapeStr, shapesEqual, sizeOf, type Shape } from './shape.js';
import { Storage, type Device } from './storage.js';

/** How a tensor was made, for reverse-mode differentiation. */
export interface GradFn {
  /** The op's name, for error messages. */
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Maps the gradient of the output to the gradients of `inputs` (null where an input needs none). */
  readonly backward: (grad: Tensor) => (Tensor | null)[];
}

/**
 * The backward pass. It is written with ops, which sit above the tensor, so `src/autograd` installs it when
 * it loads (the package root loads it) instead of this file importing it.
 */
export type BackwardPass = (root: Tensor, seed: Tensor | undefined, createGraph: boolean) => void;
let backwardPass: BackwardPass | null = null;

export function installBackwardPass(pass: BackwardPass): void {
  backwardPass = pass;
}

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  private store: Storage | null;
  /** Set on leaves by the user (parameters); `record` sets it on the results of ops on such tensors while gradients are on. */
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: GradFn | null = null;

  constructor(
    storage: Storage,
    shape: Shape,
    readonly dtype: DType,
    /** The op that produced this tensor, for error messages. */
    readonly op = 'tensor',
  ) {
    this.store = storage;
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    trackInScope(this);
  }

  get device(): Device {
    return this.storage().device;
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.store === null;
  }

  /** The storage, or an error naming the op that tried to use a disposed tensor. */
  storage(usedBy = 'use'): Storage {
    if (!this.store) throw new Error(`${usedBy}: tensor #${this.id} (${this.op}, shape ${shapeStr(this.shape)}) was already disposed`);
    return this.store;
  }

  get byteLength(): number {
    return this.size * bytesPerElement(this.dtype);
  }

  dispose(): void {
    if (!this.store) return;
    this.store.release();
    this.store = null;
    untrackFromScopes(this);
  }

  /**
   * Makes this tensor hold `source`'s values by sharing its storage (refcounted) and releasing its own: how
   * `loadStateDict` fills a parameter that keeps its identity (modules, optimizers and `.grad` refer to it). The
   * two then share one storage, so an in-place update of either (an optimizer step: ops/multi-tensor.ts) shows in
   * both; dispose `source` after. Only for tensors without history (leaves).
   */
  assign(source: Tensor): void {
    if (this.gradFn) throw new Error(`assign: tensor #${this.id} (${this.op}) is the result of an op; only leaves can be assigned`);
    if (source.dtype !== this.dtype || !shapesEqual(source.shape, this.shape)) {
      throw new Error(`assign: source ${shapeStr(source.shape)} ${source.dtype} does not match target ${shapeStr(this.shape)} ${this.dtype}`);
    }
    const from = source.storage('assign');
    const to = this.storage('assign');
    if (from.device !== to.device) throw new Error(`assign: source is on '${from.device}' but the target is on '${to.device}'`);
    from.retain();
    to.release();
    this.store = from;
  }

  /** Copies the data to the CPU. Submits pending GPU work; the only synchronisation point of the engine. */
  async toArray(): Promise<TypedArray> {
    const storage = this.storage('toArray');
    let out: TypedArray;
    if (storage.device === 'cpu') {
      out = storage.data.slice();
    } else {
      if (nanCheckEachOp()) {
        const op = await webgpu().firstNonFinite();
        if (op) throw new Error(`nan check: op '${op}' was the first to produce NaN or ±Inf (found when reading a tensor of op '${this.op}', shape ${shapeStr(this.shape)})`);
      }
      const bytes = await webgpu().read(storage.buffer, this.byteLength);
      // An empty array of the dtype lends its constructor, which wraps the read bytes without copying them.
      const ArrayOfDtype = typedArrayFor(this.dtype, 0).constructor as new (b: ArrayBuffer) => TypedArray;
      out = new ArrayOfDtype(bytes);
    }
    if (nanCheckEnabled()) checkFinite(this, out);
    return out;
  }

  /** Synchronous read, for CPU tensors only (tests and reference code). */
  toArraySync(): TypedArray {
    const storage = this.storage('toArraySync');
    if (storage.device !== 'cpu') throw new Error(`toArraySync: tensor is on '${storage.device}'; use \`await tensor.toArray()\``);
    const out = storage.data.slice();
    if (nanCheckEnabled()) checkFinite(this, out);
    return out;
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: expected a tensor with one element, got shape ${shapeStr(this.shape)}`);
    return (await this.toArray())[0];
  }

  /**
   * Reverse-mode differentiation from this tensor. `seed` defaults to ones for a one-element tensor.
   * With `createGraph`, the gradients are themselves differentiable (double backward).
   */
  backward(seed?: Tensor, options: { createGraph?: boolean } = {}): void {
    if (!backwardPass) throw new Error('backward: autograd is not loaded; import the engine from its package root (or src/autograd)');
    backwardPass(this, seed, options.createGraph ?? false);
  }

  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}, ${this.store ? this.store.device : 'disposed'}, ${this.op})`;
  }
}

/** A value as an error message names it: "the number 3", "the string \"x\"", "an array of 2", "a Map", "null". */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 30 ? value.slice(0, 30) + '…' : value)}`;
  if (typeof value !== 'object' && typeof value !== 'function') return `the ${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const name = typeof value === 'function' ? 'function' : (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name || 'object';
  return `${/^[AEIOU]/i.test(name) ? 'an' : 'a'} ${name}`;
}

/** Refuses anything but a tensor where one is needed: a number passed to grad or keep was taken without a word. */
export function checkTensor(op: string, what: string, value: unknown): asserts value is Tensor {
  if (!(value instanceof Tensor)) throw new Error(`${op}: ${what} must be a Tensor, got ${describeValue(value)}`);
}

/** The typed array behind a CPU tensor, as the CPU kernels read and write it. */
export function cpuData(t: Tensor, usedBy?: string): TypedArray {
  return t.storage(usedBy).data;
}

function checkFinite(t: Tensor, data: TypedArray): void {
  if (!isFloat(t.dtype)) return;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new Error(`nan check: tensor from op '${t.op}' (shape ${shapeStr(t.shape)}) holds ${data[i]} at flat index ${i}`);
    }
  }
}
