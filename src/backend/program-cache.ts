/**
 * Programs already built, by what they were built from. Kernel builders are pure functions of shapes, dtypes and
 * the device (kernels/program.ts), so a builder called again with the same arguments would build the same
 * Program. A tiny-SMPR training step calls builders about 800 times with a few hundred distinct arguments; a
 * GEMM's WGSL text takes ~150 µs to build, and the runtime's pipeline cache then hashes the whole text again.
 * Handing back the Program built before skips both: its code is the same string, whose hash V8 keeps.
 *
 * Kernels that come in a general and a specialised form (the window gather, max pooling, the convolutions) get the
 * one a key's use count calls for from `specialisedProgram`.
 *
 * One cache per device description (a new runtime starts empty), least recently used first out past MAX_PROGRAMS,
 * so that it stays bounded, as the runtime's compiled pipelines are (MAX_PIPELINES, one per distinct WGSL text).
 */
import type { DeviceInfo, Program } from '../kernels/program.js';

export const MAX_PROGRAMS = 4096;
const caches = new WeakMap<DeviceInfo, Map<string, Program>>();

/** The program `build` makes, built once per `key` and device; the key must name everything the program depends on. */
export function cachedProgram(device: DeviceInfo, key: string, build: () => Program): Program {
  let cache = caches.get(device);
  if (!cache) caches.set(device, (cache = new Map()));
  let program = cache.get(key);
  if (program) {
    cache.delete(key); // to the back of the queue: most recently used
  } else {
    program = build();
    if (cache.size >= MAX_PROGRAMS) cache.delete(cache.keys().next().value!);
  }
  cache.set(key, program);
  return program;
}

/** The uses of a key after which `specialisedProgram` hands out the specialised program. */
export const SPECIALISE_AFTER = 3;
const uses = new WeakMap<DeviceInfo, Map<string, number>>();

/**
 * A kernel in two forms: `general`, its shape passed as parameters, one pipeline for every shape; and
 * `specialised`, the shape written in as constants, faster (a CPU adapter divides by a runtime value one lane at a
 * time) but one pipeline to compile per shape. A key's first uses get the general program, so that a shape seen
 * once or twice (a test over random shapes, an image of a new size) compiles nothing new; from the
 * SPECIALISE_AFTER-th on (every step of a training loop) the specialised one. The two must give the same values,
 * so only kernels whose float arithmetic is moves, comparisons, adds and explicit fma() have both (a compiler may
 * compile a division by a constant as a multiplication, and contract a product and a sum differently once it sees
 * constants); the sign of a zero may still differ, once the compiler folds 0 + x to x. That fma() stays fused is
 * the shading language's promise on Vulkan and Metal; Tint writes it for D3D12 as HLSL's mad(), which a driver may
 * fuse or not, so there the two forms could round differently.
 */
export function specialisedProgram(device: DeviceInfo, key: string, general: () => Program, specialised: () => Program): Program {
  let counts = uses.get(device);
  if (!counts) uses.set(device, (counts = new Map()));
  const n = (counts.get(key) ?? 0) + 1;
  if (n <= SPECIALISE_AFTER) {
    if (counts.size >= MAX_PROGRAMS) counts.clear();
    counts.set(key, n);
  }
  return n < SPECIALISE_AFTER ? cachedProgram(device, key, general) : cachedProgram(device, `${key}|specialised`, specialised);
}
