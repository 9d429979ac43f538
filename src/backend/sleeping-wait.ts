/**
 * Awaiting the GPU without spinning a CPU core, for CPU adapters in Node.
 *
 * Dawn's Node binding learns that GPU work has finished by polling from setImmediate for as long as any promise of
 * it is pending (its AsyncRunner; crbug.com/dawn/1127), so a thread awaiting `onSubmittedWorkDone` or `mapAsync`
 * runs busy: 80–120 ms of CPU in a 225–380 ms wait, measured here. With a real GPU that is a core with nothing
 * else to do. With a CPU adapter (lavapipe) it is taken from the threads executing the GPU work. So there, while
 * any such wait is pending, one poller lets Dawn poll once per turn of the event loop and, if a wait is still
 * pending after it and the newest wait is older than 0.2 ms, sleeps: 20 µs, doubling up to `pollMs` (Atomics.wait:
 * a real sleep, which Node allows on its main thread; a browser's does not, and a browser's WebGPU does not poll
 * from JavaScript). One poller for all waits: a sleep per wait would stretch a turn to one `pollMs` per wait.
 */

/** Node's setImmediate (typed here: this file is also in the page's program, which has no Node types). */
const nextTurn = (resolve: () => void): void => (globalThis as unknown as { setImmediate(callback: () => void): void }).setImmediate(resolve);

const pending = new Set<Promise<unknown>>();
let polling = false;
// Made at the first wait: a page that is not cross-origin isolated has no SharedArrayBuffer at all.
let sleeper: Int32Array | null = null;

/**
 * A new wait first polls without sleeping for SPIN_MS: a small op's result is there within a few polls, and the
 * shortest sleep Atomics.wait gives here is about 90 µs. Then sleeps begin at FIRST_SLEEP_MS and double.
 */
const SPIN_MS = 0.2;
const FIRST_SLEEP_MS = 0.02;

/** When the newest wait began, and the next sleep: every new wait starts again with a spin and the first sleep. */
let newestWait = 0;
let sleepMs = FIRST_SLEEP_MS;

async function poll(pollMs: number): Promise<void> {
  polling = true;
  while (pending.size > 0) {
    // One turn of the event loop: Dawn's queued poll runs and settles what has finished.
    await new Promise<void>(nextTurn);
    if (pending.size === 0) break;
    if (performance.now() - newestWait < SPIN_MS) continue;
    sleeper ??= new Int32Array(new SharedArrayBuffer(4));
    Atomics.wait(sleeper, 0, 0, sleepMs);
    sleepMs = Math.min(pollMs, 2 * sleepMs); // doubling: a long wait soon polls only once per pollMs
  }
  polling = false;
}

export function awaitSleeping<T>(promise: Promise<T>, pollMs: number): Promise<T> {
  pending.add(promise);
  newestWait = performance.now();
  sleepMs = FIRST_SLEEP_MS;
  const done = () => void pending.delete(promise);
  promise.then(done, done);
  if (!polling) void poll(pollMs);
  return promise;
}
