/**
 * Process-wide engine state: the WebGPU runtime (once initialised), the tidy-scope stack, the no-grad switch and
 * the opt-in NaN check. Kept in one small module so that every other file can import it without cycles.
 */
import { WebGPURuntime } from '../backend/webgpu-runtime.js';
import type { Tensor } from './tensor.js';

let runtime: WebGPURuntime | null = null;
let runtimePromise: Promise<WebGPURuntime> | null = null;

/** Acquires the GPU (`navigator.gpu`, or Dawn in Node). Idempotent; must be awaited before creating tensors on 'webgpu'. */
export function initWebGPU(): Promise<WebGPURuntime> {
  runtimePromise ??= WebGPURuntime.create().then((r) => (runtime = r));
  return runtimePromise;
}

export function webgpu(): WebGPURuntime {
  if (!runtime) throw new Error("webgpu: the device is not initialised; `await initWebGPU()` before using device 'webgpu'");
  return runtime;
}

export const hasWebGPU = (): boolean => runtime !== null;

// ---- scopes -------------------------------------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];

export function trackInScope(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

export function untrackFromScopes(t: Tensor): void {
  for (const scope of scopes) scope.delete(t);
}

export function pushScope(): void {
  scopes.push(new Set());
}

/** Closes the innermost scope: disposes what it tracked except `survivors`, which move to the enclosing scope. */
export function popScope(survivors: Set<Tensor>): void {
  const scope = scopes.pop()!;
  for (const t of scope) {
    if (survivors.has(t)) trackInScope(t);
    else t.dispose();
  }
}

// ---- autograd switch ------------------------------------------------------------------------------------------

/** How many `withGradDisabled` calls are running: a count, not a flag, so that a nested one ending turns nothing back on. */
let gradDisabledDepth = 0;

export const gradEnabled = (): boolean => gradDisabledDepth === 0;

export function withGradDisabled<T>(fn: () => T): T {
  gradDisabledDepth += 1;
  try {
    return fn();
  } finally {
    gradDisabledDepth -= 1;
  }
}

/** Records even inside `withGradDisabled` (a `createGraph` backward pass called under noGrad), then restores it. */
export function withGradEnabled<T>(fn: () => T): T {
  const saved = gradDisabledDepth;
  gradDisabledDepth = 0;
  try {
    return fn();
  } finally {
    gradDisabledDepth = saved;
  }
}

// ---- debugging ------------------------------------------------------------------------------------------------

let nanCheck: boolean | 'each-op' = false;

/**
 * `true`: reading a float tensor that holds NaN or ±Inf throws, naming the op that made the tensor read.
 * `'each-op'`: every op's float output is checked as it is made (on the GPU by a small kernel that notes the
 * first offending op, reported at the next read), so the error names the op where the non-finite value first
 * appeared, not a later one that only carried it along. Costs one extra dispatch per op.
 */
export function setNanCheck(mode: boolean | 'each-op'): void {
  // Any other value ('yes', 'each op') would silently turn on the plain check, not the one asked for.
  if (mode !== true && mode !== false && mode !== 'each-op') throw new Error(`setNanCheck: mode must be true, false or 'each-op', got ${JSON.stringify(mode)}`);
  nanCheck = mode;
}

export const nanCheckEnabled = (): boolean => nanCheck !== false;
export const nanCheckEachOp = (): boolean => nanCheck === 'each-op';
