/**
 * tfjs-backend-webgpu as a baseline, running on *our* Dawn device so that both engines share the adapter,
 * driver and process. tfjs checks for `navigator.gpu` and registers its kernels under the backend name
 * 'webgpu', so we expose Dawn's GPU object there and replace tfjs' own factory with one that uses our device.
 */
import type { WebGPURuntime } from '../src/backend/webgpu-runtime.js';

export type Tf = typeof import('@tensorflow/tfjs-core');

export async function loadTfjs(rt: WebGPURuntime): Promise<Tf> {
  const g = globalThis as any;
  g.navigator ??= {};
  g.navigator.gpu ??= rt.gpu;
  const tf = await import('@tensorflow/tfjs-core');
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(rt.device, rt.adapterInfo));
  await tf.setBackend('webgpu');
  return tf;
}

/**
 * Median ms of a tfjs computation, timed like ours (bench/report.ts): record, submit, wait for the queue to
 * drain. No readback, which would add a copy that our timings do not have.
 */
export async function timeTfjs(tf: Tf, rt: WebGPURuntime, run: () => import('@tensorflow/tfjs-core').Tensor, repeats = 7, warmup = 2): Promise<number> {
  // tfjs' own flush: end its compute pass, then submit its command encoder (both internal to WebGPUBackend).
  const backend = tf.backend() as unknown as { endComputePassEncoder(): void; submitQueue(): void; commandEncoder: unknown };
  const times: number[] = [];
  for (let i = 0; i < warmup + repeats; i++) {
    const start = performance.now();
    const out = run();
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
    await rt.sync(); // our wait for the queue (on a CPU adapter it sleeps between polls: backend/sleeping-wait.ts)
    const ms = performance.now() - start;
    out.dispose();
    if (i >= warmup) times.push(ms);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

/** Lets Node exit: Dawn stays alive while `navigator.gpu` references it. */
export function unloadTfjs(): void {
  delete (globalThis as any).navigator?.gpu;
}
