// Every test process gets the WebGPU device up front. No adapter is a failure, not a skip: the GPU path is
// the product, and CI runs on lavapipe. At the end the device is drained and released, so that Dawn is not
// torn down by process exit while work is still in flight.
import { afterAll, beforeAll } from 'vitest';
import { initWebGPU } from '../src/index.js';

beforeAll(async () => {
  await initWebGPU();
});

afterAll(async () => {
  const rt = await initWebGPU();
  await rt.sync();
  rt.destroy();
});
