// Shared test helpers: tolerant comparison, tensors from golden cases, and float64 finite-difference gradchecks.
import { expect } from 'vitest';
import { tensor, tidy, type Device, type Tensor, type TypedArray } from '../src/index.js';
import type { GoldenTensor } from './golden.js';

/** |a − b| ≤ atol + rtol·|b| elementwise, reporting the worst element on failure. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { atol: number; rtol: number }, label = ''): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const b = expected[i];
    const excess = Math.abs(a - b) - (tol.atol + tol.rtol * Math.abs(b));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${tol.atol}, rtol ${tol.rtol}; ${countBad(actual, expected, tol)} of ${expected.length} out of tolerance)`);
  }
}

function countBad(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { atol: number; rtol: number }): number {
  let n = 0;
  for (let i = 0; i < expected.length; i++) if (!(Math.abs(actual[i] - expected[i]) <= tol.atol + tol.rtol * Math.abs(expected[i]))) n++;
  return n;
}

/** A golden tensor on a device (float32 unless float64 is asked for). */
export function fromGolden(t: GoldenTensor, device: Device, dtype: 'float32' | 'float64' = 'float32', requiresGrad = false): Tensor {
  return tensor(Float64Array.from(t.data), t.shape, { device, dtype, requiresGrad });
}

/**
 * Central finite differences in float64 on the CPU: for f(inputs) → scalar, compares autograd's gradient of each
 * input with (f(x + h) − f(x − h)) / 2h. The inputs must be float64 CPU tensors with requiresGrad.
 */
export function gradcheck(f: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], tol = { atol: 1e-6, rtol: 1e-5 }, h = 1e-6): void {
  for (const x of inputs) x.grad = null;
  const out = f(...inputs);
  out.backward();
  inputs.forEach((x, k) => {
    if (!x.requiresGrad) return;
    const data = x.storage().data as TypedArray;
    const numeric = new Float64Array(x.size);
    for (let i = 0; i < x.size; i++) {
      const saved = data[i];
      data[i] = saved + h;
      const plus = tidy(() => f(...inputs).toArraySync()[0]);
      data[i] = saved - h;
      const minus = tidy(() => f(...inputs).toArraySync()[0]);
      data[i] = saved;
      numeric[i] = (plus - minus) / (2 * h);
    }
    expect(x.grad, `input ${k} got no gradient`).not.toBeNull();
    expectClose(x.grad!.toArraySync(), numeric, tol, `gradient of input ${k}`);
  });
}

/** Reads a tensor on any device. */
export const read = (t: Tensor): Promise<TypedArray> => t.toArray();
