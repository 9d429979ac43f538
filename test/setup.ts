// Every test process gets the WebGPU device up front. No adapter is a failure, not a skip: the GPU path is
// the product, and CI runs on lavapipe.
import { beforeAll } from 'vitest';
import { initWebGPU } from '../src/index.js';

beforeAll(async () => {
  await initWebGPU();
});
