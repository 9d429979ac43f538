/**
 * Memory management for GPU tensors, which the garbage collector cannot see.
 *
 * `tidy(fn)` disposes every tensor created while `fn` runs, except those it returns (anywhere inside an array
 * or object) and those passed to `keep`. Scopes nest. `memory()` reports the GPU pool, so a test can check that
 * a training step returns to where it started.
 */
import { hasWebGPU, popScope, pushScope, untrackFromScopes, webgpu } from './engine.js';
import { Tensor, checkTensor, describeValue } from './tensor.js';
import type { MemoryStats } from '../backend/webgpu-runtime.js';

/**
 * The tensors `tidy`'s result holds. Unlike `dispose`, this walks the fields of any object, class instances too: sparing
 * too much only keeps a tensor alive, while missing one would free it under its holder.
 */
function collectTensors(value: unknown, into: Set<Tensor>, seen = new Set<unknown>()): Set<Tensor> {
  if (value instanceof Tensor) into.add(value);
  else if (value && typeof value === 'object' && !seen.has(value)) {
    seen.add(value);
    for (const v of Object.values(value)) collectTensors(v, into, seen);
  }
  return into;
}

export function tidy<T>(fn: () => T): T {
  pushScope();
  let result: T;
  try {
    result = fn();
  } catch (error) {
    popScope(new Set());
    throw error;
  }
  if (result instanceof Promise) {
    popScope(new Set());
    throw new Error('tidy: the function returned a Promise; tidy scopes are synchronous (await outside, or dispose by hand)');
  }
  popScope(collectTensors(result, new Set()));
  return result;
}

/** Takes a tensor out of every enclosing tidy scope: the caller now disposes it. */
export function keep<T extends Tensor>(t: T): T {
  checkTensor('keep', 'its argument', t);
  untrackFromScopes(t);
  return t;
}

const isPlainObject = (value: object): boolean => [Object.prototype, null].includes(Object.getPrototypeOf(value) as object | null);

/**
 * Disposes a tensor, or every tensor in arrays and plain objects, nested; null and undefined (an absent `.grad`)
 * are skipped. Anything else is refused, where it was passed over: a number freed nothing, and the tensors in a
 * Map or a class instance, not walked, stayed in memory.
 */
export function dispose(value: unknown): void {
  for (const t of tensorsToDispose(value, '', new Set(), new Set())) t.dispose();
}

function tensorsToDispose(value: unknown, path: string, into: Set<Tensor>, seen: Set<unknown>): Set<Tensor> {
  if (value instanceof Tensor) into.add(value);
  else if (Array.isArray(value) || (value && typeof value === 'object' && isPlainObject(value))) {
    if (seen.has(value)) return into;
    seen.add(value);
    for (const [key, v] of Object.entries(value)) tensorsToDispose(v, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`, into, seen);
  } else if (value !== null && value !== undefined) {
    throw new Error(`dispose: expected tensors, alone or in arrays and plain objects, got ${describeValue(value)}${path ? ` at ${path}` : ''}`);
  }
  return into;
}

const NO_GPU: MemoryStats = { bytesInUse: 0, peakBytesInUse: 0, buffersInUse: 0, bytesPooled: 0, dispatches: 0, submits: 0, readbacks: 0, pipelines: 0, pipelinesCompiled: 0, bindGroups: 0, submitsInFlight: 0 };

/** GPU memory and dispatch counters (zeros before WebGPU is initialised). */
export function memory(): MemoryStats {
  return hasWebGPU() ? webgpu().memory() : { ...NO_GPU };
}
