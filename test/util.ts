// Shared test helpers: tolerant comparison, tensors from golden cases, float64 finite-difference gradchecks, a
// chart's y axis read back from its pixels, and the kernels a piece of code dispatches.
import { expect } from 'vitest';
import { tensor, tidy, webgpu, type Device, type Tensor, type TypedArray } from '../src/index.js';
import type { GoldenTensor } from './golden.js';
import { SPECIALISE_AFTER } from '../src/backend/program-cache.js';
import { drawText, textHeight, textWidth } from '../src/data/draw.js';
import { createImage, type Image } from '../src/data/image.js';

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

/**
 * The y axis of a chart drawn by src/data/plot.ts at font scale `s`: the rows of its tick marks from top to bottom,
 * the label beside each (the one of `labels` drawn there, or null), and the rows where the axis starts and ends.
 */
export function readYAxis(image: Image, s: number, labels: readonly string[]): { rows: number[]; labels: (string | null)[]; top: number; bottom: number } {
  const black = (x: number, y: number) => [0, 1, 2].every((c) => image.data[(y * image.width + x) * 3 + c] === 0);
  const count = (n: number, f: (i: number) => boolean) => Array.from({ length: n }, (_, i) => i).filter(f).length;
  const longest = (n: number, m: number, f: (i: number, j: number) => boolean) =>
    Array.from({ length: n }, (_, i) => count(m, (j) => f(i, j))).reduce((best, c, i, all) => (c > all[best]! ? i : best), 0);
  const left = longest(image.width, image.height, (x, y) => black(x, y)); // the y axis: the longest black column
  const bottom = longest(image.height, image.width, (y, x) => black(x, y)); // the x axis: the longest black row
  let top = 0;
  while (!black(left, top)) top++;
  const rows = Array.from({ length: bottom - top + 1 }, (_, i) => top + i).filter((y) => black(left - 3 * s, y)); // tick marks (their left end: a line's round cap may cover the right)
  const h = textHeight(s);
  const band = (img: Image, y: number) => {
    const out: number[] = [];
    for (let r = y - Math.floor(h / 2); r < y - Math.floor(h / 2) + h; r++) out.push(...img.data.subarray(r * img.width * 3, (r * img.width + left - 3 * s) * 3));
    return out.join();
  };
  const labelAt = (y: number) => labels.find((label) => {
    const drawn = createImage(image.width, image.height, [255, 255, 255]);
    drawText(drawn, label, left - 5 * s - textWidth(label, s), y - Math.floor(h / 2), [0, 0, 0], s);
    return band(drawn, y) === band(image, y);
  }) ?? null;
  return { rows, labels: rows.map(labelAt), top, bottom };
}

/**
 * Runs `f` until its kernels have passed from their general to their specialised programs (program-cache.ts),
 * and expects every run's arrays to have the first run's bits.
 */
export async function expectSameBitsEveryUse(f: () => Promise<Record<string, ArrayLike<number> | readonly number[]>>): Promise<void> {
  const first = await f();
  for (let use = 2; use <= SPECIALISE_AFTER + 1; use++) {
    const run = await f();
    for (const [name, values] of Object.entries(first)) expect(Array.from(run[name]!), `${name}, use ${use}`).toEqual(Array.from(values));
  }
}

/** The kernels (label and WGSL) that `f` dispatches, in order, and what `f` returns. */
export function dispatchedKernels<T>(f: () => T): { kernels: { label: string; code: string }[]; result: T } {
  const rt = webgpu();
  const kernels: { label: string; code: string }[] = [];
  const dispatch = rt.dispatch.bind(rt);
  rt.dispatch = (kernel, args) => {
    kernels.push({ label: kernel.label, code: kernel.code });
    dispatch(kernel, args);
  };
  try {
    return { kernels, result: f() };
  } finally {
    rt.dispatch = dispatch;
  }
}
