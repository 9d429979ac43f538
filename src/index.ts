/** The package's public API. */
export { Tensor } from './tensor/tensor.js';
export type { GradFn } from './tensor/tensor.js';
export type { DType, TypedArray } from './tensor/dtype.js';
export type { Device } from './tensor/storage.js';
export { Random, manualSeed } from './tensor/random.js';
export { initWebGPU, webgpu, setNanCheck } from './tensor/engine.js';
export { tidy, keep, dispose, memory } from './tensor/scope.js';
export { noGrad, detach, grad } from './autograd/index.js';
export * from './ops/creation.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export { matmul } from './ops/matmul.js';
export { to, toSync } from './ops/device.js';
