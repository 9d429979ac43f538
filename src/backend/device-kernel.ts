/**
 * Fused neural-network kernels (conv2d, deformable conv, GroupNorm, losses, ...) do not widen the `Backend`
 * interface: each lives in its own file as a pair — a plain-TypeScript reference and a WGSL implementation —
 * and its op picks the half that matches the inputs' device.
 */
import type { Device } from '../tensor/storage.js';

export interface DeviceKernel<Args extends unknown[], Result> {
  cpu: (...args: Args) => Result;
  webgpu: (...args: Args) => Result;
}

export function runKernel<Args extends unknown[], Result>(device: Device, kernel: DeviceKernel<Args, Result>, ...args: Args): Result {
  return device === 'cpu' ? kernel.cpu(...args) : kernel.webgpu(...args);
}
