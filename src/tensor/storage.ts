/**
 * The memory behind a tensor: a typed array on the CPU, a GPU buffer on WebGPU. Reference-counted, because
 * several tensors can share one: `view` (ops/shape.ts: `reshape`, `detach`) and `Tensor.assign`.
 */
import type { TypedArray } from './dtype.js';

export type Device = 'cpu' | 'webgpu';

export class Storage {
  private refs = 1;

  private constructor(
    readonly device: Device,
    private readonly cpuData: TypedArray | null,
    private readonly gpuBuffer: GPUBuffer | null,
    private readonly onFree: (() => void) | null,
  ) {}

  static cpu(data: TypedArray): Storage {
    return new Storage('cpu', data, null, null);
  }

  static gpu(buffer: GPUBuffer, onFree: () => void): Storage {
    return new Storage('webgpu', null, buffer, onFree);
  }

  get data(): TypedArray {
    return this.cpuData!;
  }

  get buffer(): GPUBuffer {
    return this.gpuBuffer!;
  }

  retain(): this {
    this.refs += 1;
    return this;
  }

  release(): void {
    this.refs -= 1;
    if (this.refs === 0) this.onFree?.();
  }
}
