/**
 * The one launcher: binds tensors to a kernel's program (kernels/program.ts) and records the dispatch. Every GPU
 * op goes through here; `gpuDevice()` is the description kernels are built for.
 */
import type { DeviceInfo, Program } from '../kernels/program.js';
import { webgpu } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';

/** Records `program` with `tensors` bound to storage bindings 0, 1, … in order. Nothing runs until a submit. */
export function launch(program: Program, tensors: readonly Tensor[]): void {
  const buffers = tensors.map((t) => t.storage(program.label).buffer);
  webgpu().dispatch(program, { buffers, params: program.params, workgroups: program.workgroups });
}

export const gpuDevice = (): DeviceInfo => webgpu().deviceInfo;

/** Submits what is recorded, so that buffers released since can be reused by what follows. */
export const flushQueue = (): void => webgpu().flush();
