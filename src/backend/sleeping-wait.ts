/**
 * Awaiting the GPU without spinning a CPU core, for CPU adapters in Node.
 *
 * Dawn's Node binding learns that GPU work has finished by polling from setImmediate for as long as any promise of
 * it is pending (its AsyncRunner; crbug.com/dawn/1127), so a thread awaiting `onSubmittedWorkDone` or `mapAsync`
 * runs busy: 80–120 ms of CPU in a 225–380 ms wait, measured here. With a real GPU that is a core with nothing
 * else to do. With a CPU adapter (lavapipe) it is taken from the threads executing the GPU work. So there the
 * waiting thread lets Dawn poll once, and if the work is not done yet, sleeps for `pollMs` before the next poll
 * (Atomics.wait: a real sleep, which Node allows on its main thread; a browser's main thread does not).
 */
// Made at the first wait: a page that is not cross-origin isolated has no SharedArrayBuffer at all.
let sleeper: Int32Array | null = null;
/** Node's setImmediate (typed here: this file is also in the page's program, which has no Node types). */
const nextTurn = (resolve: () => void): void => (globalThis as unknown as { setImmediate(callback: () => void): void }).setImmediate(resolve);

export async function awaitSleeping<T>(promise: Promise<T>, pollMs: number): Promise<T> {
  let settled = false;
  const settle = () => void (settled = true);
  promise.then(settle, settle);
  for (;;) {
    // One turn of the event loop: Dawn's queued poll runs, and settles the promise if the work is done.
    await new Promise<void>(nextTurn);
    if (settled) return promise;
    sleeper ??= new Int32Array(new SharedArrayBuffer(4));
    Atomics.wait(sleeper, 0, 0, pollMs);
  }
}
