/**
 * Dawn, the WebGPU implementation in the `webgpu` npm package: Node's way to a GPU. Only this file imports it, and
 * only `acquireDevice` (backend/webgpu-device.ts) imports this file, dynamically and only where no `navigator.gpu`
 * exists, so that the engine's import graph stays loadable in a browser.
 */
import { create, globals } from 'webgpu';

/** Dawn's GPU object, with WebGPU's constants (GPUBufferUsage, GPUMapMode, …) installed as globals, as a browser has them. */
export function createDawnGpu(): GPU {
  Object.assign(globalThis, globals);
  // lavapipe complains on stderr without a writable runtime directory. (Node's process, typed here: this file is
  // also in the page's program through acquireDevice's dynamic import, and tsconfig.web.json has no Node types.)
  (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env.XDG_RUNTIME_DIR ??= '/tmp';
  // Dawn rounds timestamp queries down to 65.5 µs unless told otherwise, a browser's defence against timing
  // attacks between pages that a Node process does not need; benchmarks time single kernels in microseconds.
  return create(['disable-dawn-features=timestamp_quantization']);
}
