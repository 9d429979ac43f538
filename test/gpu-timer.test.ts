// The GPU's own clock (timestamp queries, src/backend/gpu-timer.ts) and the peak-memory counter, which the
// benchmarks use to tell recording time from execution time and to report a step's memory.
import { describe, expect, test } from 'vitest';
import * as T from '../src/index.js';
import { webgpu } from '../src/tensor/engine.js';

const gpu = { device: 'webgpu' as const };

describe('GPU timer', () => {
  test('times the work recorded while it runs: a big matmul takes far longer than a tiny add', async () => {
    const rt = webgpu();
    const small = T.ones([16], gpu);
    const a = T.randn([512, 512], gpu);
    await rt.sync();

    const tinies = [];
    for (let i = 0; i < 3; i++) {
      rt.startGpuTimer();
      T.tidy(() => T.add(small, 1));
      tinies.push(await rt.stopGpuTimer());
    }
    const tiny = tinies.reduce((a, b) => (a.ms < b.ms ? a : b)); // the first run may include a driver's compile

    rt.startGpuTimer();
    const wallStart = performance.now();
    T.tidy(() => T.matmul(a, a));
    const big = await rt.stopGpuTimer();
    const wall = performance.now() - wallStart;

    expect(tiny.passes).toBe(1);
    expect(big.passes).toBeGreaterThanOrEqual(1);
    expect(tiny.ms).toBeGreaterThanOrEqual(0);
    // 268 MFLOP against 16 additions. Timestamps are not rounded (Dawn's quantization is off: src/node/dawn.ts).
    expect(big.ms).toBeGreaterThan(10 * tiny.ms);
    expect(Math.round(big.ms * 1e6) % 65536, 'nanoseconds rounded to 65536').not.toBe(0);
    // The GPU's spans lie inside the wall-clock time from recording to the readings' arrival.
    expect(big.ms).toBeLessThanOrEqual(wall);
    T.dispose([small, a]);
  });

  test('counts every pass, also when one encoder has more passes than a query set holds', async () => {
    const rt = webgpu();
    // A kernel without parameters, so that no uniform-arena limit submits before the query set is full.
    const increment = { label: 'increment', code: '@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n@compute @workgroup_size(1) fn main() { a[0] = a[0] + 1.0; }' };
    const x = T.zeros([64], gpu);
    const copyTarget = T.zeros([64], gpu);
    await rt.sync();
    rt.maxDispatchesPerSubmit = 10_000;
    try {
      const before = rt.memory().submits;
      rt.startGpuTimer();
      // A copy ends the open compute pass, so each dispatch runs in a pass of its own: 1500 passes, 3000 queries.
      for (let i = 0; i < 1500; i++) {
        rt.dispatch(increment, { buffers: [x.storage().buffer], workgroups: [1] });
        rt.copy(x.storage().buffer, 0, copyTarget.storage().buffer, 0, 256);
      }
      const time = await rt.stopGpuTimer();
      expect(time.passes).toBe(1500);
      expect(rt.memory().submits - before, 'the full query set forced a submit of its own').toBe(2);
      expect((await x.toArray())[0]).toBe(1500);
    } finally {
      rt.maxDispatchesPerSubmit = 64;
      T.dispose([x, copyTarget]);
    }
  });

  test('stopping a timer that is not running, or starting a second, is an error', async () => {
    const rt = webgpu();
    await expect(rt.stopGpuTimer()).rejects.toThrow(/no GPU timer is running/);
    rt.startGpuTimer();
    expect(() => rt.startGpuTimer()).toThrow(/already running/);
    await rt.stopGpuTimer();
  });
});

test('peakBytesInUse keeps the high-water mark of live tensors until it is reset', () => {
  const rt = webgpu();
  rt.resetPeakMemory();
  const base = T.memory().bytesInUse;
  expect(T.memory().peakBytesInUse).toBe(base);
  const big = T.zeros([1 << 18], gpu); // 1 MiB
  big.dispose();
  const after = T.memory();
  expect(after.bytesInUse).toBe(base);
  expect(after.peakBytesInUse).toBe(base + (1 << 20));
  rt.resetPeakMemory();
  expect(T.memory().peakBytesInUse).toBe(base);
});
