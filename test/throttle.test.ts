// A training loop that never reads back, run for hundreds of steps while another thread keeps a core busy: with
// `throttle()` once per step the GPU stays at most about one step behind, and memory stays flat. (Without the
// bound, runs like this one queued submits without limit and died with SIGSEGV on a loaded lavapipe.)
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mean, memory, randn, relu, square, tidy, Random } from '../src/index.js';
import { conv2d } from '../src/ops/conv2d.js';
import { groupNorm } from '../src/ops/group-norm.js';
import { clipScale } from '../src/ops/multi-tensor.js';
import { webgpu } from '../src/tensor/engine.js';
import { SGD } from '../src/train/optimizer.js';

let burner: Worker;
beforeAll(() => {
  // Busy for as long as the test runs: the machine is loaded, as it was when the crash happened.
  burner = new Worker('for (;;) {}', { eval: true });
});
afterAll(() => burner.terminate());

test('300 steps without a readback keep the GPU at most about one step behind, with flat memory', async () => {
  const random = new Random(7);
  const w1 = randn([8, 3, 3, 3], { device: 'webgpu', requiresGrad: true, random });
  const w2 = randn([8, 8, 3, 3], { device: 'webgpu', requiresGrad: true, random });
  const x = randn([2, 3, 24, 24], { device: 'webgpu', random });
  const params = [w1, w2].map((tensor, i) => ({ name: `w${i}`, group: 'weight' as const, tensor }));
  const sgd = new SGD(params, { lr: 1e-3 });
  const step = () =>
    tidy(() => {
      const h = relu(groupNorm(conv2d(x, w1, null, { padding: 1 }), 4));
      mean(square(conv2d(h, w2, null, { padding: 1 }))).backward();
      sgd.step(clipScale(params.map((p) => p.tensor.grad!), 1));
      sgd.zeroGrad();
    });

  step();
  await webgpu().throttle();
  const start = memory();
  let perStep = 0;
  let worstAhead = 0;
  for (let i = 0; i < 300; i++) {
    const before = memory().submits;
    step();
    await webgpu().throttle();
    perStep = Math.max(perStep, memory().submits - before);
    worstAhead = Math.max(worstAhead, memory().submitsInFlight);
  }
  const end = memory();
  expect(end.readbacks, 'the loop read back').toBe(start.readbacks);
  // After throttle() returns, only the step just submitted may still be running.
  expect(worstAhead).toBeLessThanOrEqual(perStep);
  expect(end.buffersInUse).toBe(start.buffersInUse);
  expect(end.bytesInUse).toBe(start.bytesInUse);
  sgd.dispose();
  for (const t of [w1, w2, x]) t.dispose();
}, 120_000);
