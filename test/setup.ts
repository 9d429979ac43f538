// Every test process gets the WebGPU device up front. No adapter is a failure, not a skip: the GPU path is
// the product, and CI runs on lavapipe. At the end the device is drained and released, so that Dawn is not
// torn down by process exit while work is still in flight.
import { afterAll, beforeAll } from 'vitest';
// The engine alone, not the package's index: a module setup loads is loaded before a test file's vi.mock of what it
// imports (node:fs), and would keep the real one.
import { initWebGPU } from '../src/tensor/engine.js';

beforeAll(async () => {
  await initWebGPU();
});

afterAll(async () => {
  const rt = await initWebGPU();
  await rt.sync();
  rt.destroy();
});
