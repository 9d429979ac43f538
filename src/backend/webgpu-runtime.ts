/**
 * The WebGPU runtime: everything between "run this WGSL over these buffers" and Dawn.
 *
 * - Dispatches are recorded into one open compute pass; nothing is submitted until someone reads a result
 *   (or a batch grows past `maxDispatchesPerSubmit`), so a training step costs a handful of submits, not one per op.
 * - Pipelines are compiled once per distinct WGSL source and cached.
 * - Buffers come from a pool bucketed by size class. A released buffer is parked until the next submit: the
 *   queue executes submits in order, so once the commands that read it are submitted any later command (or
 *   `writeBuffer`) that reuses it is ordered after them. Reusing it earlier would let a `writeBuffer` for a new
 *   tensor overwrite data a recorded-but-unsubmitted dispatch still has to read.
 * - Per-dispatch parameters are packed into one uniform arena per submit (256-byte slots, one `writeBuffer`).
 * - Bind groups are cached by pipeline, buffers and uniform slot: a training step's dispatches repeat step after
 *   step with the same pooled buffers in the same slots, and Dawn's Node binding takes longer to make a bind group
 *   (10–45 µs on lavapipe's host) than to record the rest of a dispatch.
 * - `memory()` reports live bytes and buffers so leaks show up in tests, and the peak since `resetPeakMemory()`.
 * - `startGpuTimer()` / `stopGpuTimer()` measure the GPU's own execution time (gpu-timer.ts), for benchmarks.
 * - `throttle()` bounds the work in flight for loops that never read back (a training step reads nothing).
 */
import { acquireDevice } from './webgpu-device.js';
import type { DeviceInfo } from '../kernels/program.js';
import { finiteCheckKernel } from '../kernels/wgsl/finite-check.js';
import { bufferUsage, mapMode } from './gpu-constants.js';
import { GpuTimer, type GpuTime } from './gpu-timer.js';
import { awaitSleeping } from './sleeping-wait.js';

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we know
/** Parameter slots per submit; a batch that needs more is submitted early. */
const UNIFORM_ARENA_SLOTS = 512;
/** Bind groups kept; past this the cache starts again (an SMPR-R50 training step makes about 1700). */
export const MAX_BIND_GROUPS = 8192;
/**
 * Compiled pipelines kept, the least recently dispatched out first past this. A training run of the tiny SMPR
 * compiles about 180 and SMPR-R50 about 240; a long-lived process that meets shapes without end (inference over
 * images of ever new sizes) would otherwise keep them all, each up to ~1.5 MiB of machine code on lavapipe.
 */
export const MAX_PIPELINES = 1024;
/** How long a wait for a CPU adapter's work sleeps between Dawn's polls (sleeping-wait.ts). */
const CPU_ADAPTER_POLL_MS = 1;

export interface MemoryStats {
  /** Bytes held by live tensors (rounded up to the pool's size classes). */
  bytesInUse: number;
  /** The most `bytesInUse` has been since the runtime started or `resetPeakMemory()` was called. */
  peakBytesInUse: number;
  buffersInUse: number;
  /** Bytes parked in the pool for reuse. */
  bytesPooled: number;
  dispatches: number;
  submits: number;
  /** GPU → CPU copies: the synchronisation points. A training step should have none. */
  readbacks: number;
  /** Compiled pipelines kept, and compiled since the runtime started (more than kept once some were evicted). */
  pipelines: number;
  pipelinesCompiled: number;
  /** Bind groups kept for reuse (a repeated training step adds none). */
  bindGroups: number;
  /** Submits not yet known to have finished on the GPU (an upper bound: learnt at reads, syncs and throttles). */
  submitsInFlight: number;
}

/** A compiled kernel: the WGSL text is the cache key. */
export interface Kernel {
  label: string;
  code: string;
}

export interface DispatchArgs {
  /** Storage buffers in binding order 0..n-1, as the WGSL declares them. */
  buffers: GPUBuffer[];
  /** Raw 32-bit words of the `Params` uniform (binding n), if the kernel has one. */
  params?: Uint32Array;
  workgroups: [number, number?, number?];
}

/** A buffer the pool made: its size class, and a number naming it (in bind-group keys, and for the pool's order). */
interface PooledBuffer {
  buffer: GPUBuffer;
  size: number;
  id: number;
}

interface Pipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Names the pipeline in bind-group keys (never reused: a bind group made for an evicted one is never hit again). */
  id: number;
  /** The dispatch count at its last use, to find the least recently used. */
  lastUse: number;
}

/** A dispatch's parameters: where they lie in the uniform arena. */
interface UniformSlot {
  offset: number;
  size: number;
}

/** Size classes: multiples of a quarter of the enclosing power of two, so at most 25% is wasted. */
function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  const quarter = 2 ** Math.max(6, Math.floor(Math.log2(b)) - 2);
  return Math.ceil(b / quarter) * quarter;
}

export class WebGPURuntime {
  readonly limits: GPUSupportedLimits;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly pipelines = new Map<string, Pipeline>();
  /** The most compiled pipelines kept (MAX_PIPELINES): fewer trades compile time for memory. */
  maxPipelines = MAX_PIPELINES;
  /** Free buffers by size class, highest number first (see flush). */
  private readonly pool = new Map<number, PooledBuffer[]>();
  private parked: PooledBuffer[] = [];
  private readonly buffers = new WeakMap<GPUBuffer, PooledBuffer>();
  private buffersMade = 0;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly uniformArena: GPUBuffer;
  private readonly uniformStaging: Uint32Array;
  private uniformSlots = 0;
  private dispatchesInBatch = 0;
  private firstError: string | null = null;
  private currentLabel = '';
  private stats = { bytesInUse: 0, peakBytesInUse: 0, buffersInUse: 0, bytesPooled: 0, dispatches: 0, submits: 0, readbacks: 0, pipelinesCompiled: 0 };
  /** Submits known to have finished, and the marker `throttle()` waits on next. */
  private submitsDone = 0;
  private throttleMark: Promise<void> | null = null;
  private info: DeviceInfo | null = null;
  private timer: GpuTimer | null = null;

  /**
   * Submit after this many recorded dispatches. Batches amortise the submit cost, while submitting before the
   * whole step is recorded lets the GPU start working as JavaScript records the rest (see bench/batching.ts).
   */
  maxDispatchesPerSubmit = 64;

  constructor(
    /** Dawn's GPU object, held so that Dawn stays alive as long as this runtime (see webgpu-device.ts). */
    public gpu: GPU | null,
    readonly device: GPUDevice,
    readonly adapterInfo: GPUAdapterInfo,
    readonly features: readonly string[],
    /** The device is Dawn's, through its Node binding (src/node/dawn.ts), not a browser's. */
    readonly dawn: boolean,
  ) {
    this.limits = device.limits;
    this.uniformArena = this.newUniformArena();
    this.uniformStaging = new Uint32Array((UNIFORM_ARENA_SLOTS * UNIFORM_SLOT) / 4);
    device.addEventListener('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      this.firstError ??= `webgpu: ${this.currentLabel ? `kernel "${this.currentLabel}": ` : ''}${message}`;
    });
  }

  static async create(): Promise<WebGPURuntime> {
    const { gpu, device, adapterInfo, features, dawn } = await acquireDevice();
    return new WebGPURuntime(gpu, device, adapterInfo, features, dawn);
  }

  /** Releases the device. Node keeps running while Dawn is alive, so command-line tools call this to exit. */
  destroy(): void {
    this.device.destroy();
    this.gpu = null;
  }

  /** A software adapter (lavapipe, SwiftShader): kernels there are scheduled for SIMD CPU cores, not GPU warps. */
  get isCpuAdapter(): boolean {
    return this.adapterInfo.isFallbackAdapter || this.adapterInfo.architecture === 'software';
  }

  /** The device as kernel builders see it (kernels/program.ts). */
  get deviceInfo(): DeviceInfo {
    this.info ??= {
      cpu: this.isCpuAdapter,
      subgroups: this.features.includes('subgroups'),
      lanes: this.adapterInfo.subgroupMinSize ?? 0,
      architecture: this.adapterInfo.architecture,
      limits: this.limits,
    };
    return this.info;
  }

  get description(): string {
    const i = this.adapterInfo;
    return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ');
  }

  // ---- buffers -------------------------------------------------------------------------------------------

  /** A storage buffer of at least `byteLength` bytes, from the pool when one of its size class is free. */
  allocate(byteLength: number): GPUBuffer {
    const limit = this.limits.maxStorageBufferBindingSize;
    if (byteLength > limit) throw new Error(`webgpu: a buffer of ${byteLength} bytes exceeds this adapter's maxStorageBufferBindingSize (${limit})`);
    // A request that fits is never refused for its size class: the largest class is the limit itself.
    const size = Math.min(sizeClass(byteLength), limit);
    let pooled = this.pool.get(size)?.pop();
    if (pooled) {
      this.stats.bytesPooled -= size;
    } else {
      const usage = bufferUsage();
      const buffer = this.device.createBuffer({ size, usage: usage.STORAGE | usage.COPY_SRC | usage.COPY_DST });
      pooled = { buffer, size, id: this.buffersMade++ };
      this.buffers.set(buffer, pooled);
    }
    this.stats.bytesInUse += size;
    this.stats.peakBytesInUse = Math.max(this.stats.peakBytesInUse, this.stats.bytesInUse);
    this.stats.buffersInUse += 1;
    return pooled.buffer;
  }

  /** Gives a buffer back; it becomes reusable after the next submit (see the file comment). */
  release(buffer: GPUBuffer): void {
    const pooled = this.buffers.get(buffer)!;
    this.stats.bytesInUse -= pooled.size;
    this.stats.buffersInUse -= 1;
    this.parked.push(pooled);
  }

  /** A new buffer holding a copy of `data` (writeBuffer copies at the call: `data` may change after). */
  upload(data: ArrayBufferView): GPUBuffer {
    const buffer = this.allocate(data.byteLength);
    if (data.byteLength > 0) this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  /** Gives the pool's buffers back to the driver (buffers in use are untouched), as torch.cuda.empty_cache does. */
  trim(): void {
    this.flush();
    for (const list of this.pool.values()) for (const { buffer } of list) buffer.destroy();
    this.pool.clear();
    this.bindGroups.clear(); // those naming destroyed buffers would never be asked for again (numbers are not reused)
    this.stats.bytesPooled = 0;
  }

  memory(): MemoryStats {
    return { ...this.stats, pipelines: this.pipelines.size, bindGroups: this.bindGroups.size, submitsInFlight: this.stats.submits - this.submitsDone };
  }

  /** Starts a new peak: `memory().peakBytesInUse` becomes the bytes in use now. */
  resetPeakMemory(): void {
    this.stats.peakBytesInUse = this.stats.bytesInUse;
  }

  // ---- GPU time --------------------------------------------------------------------------------------------

  /** Starts timing, on the GPU's clock, the work recorded from now on. Needs the 'timestamp-query' feature. */
  startGpuTimer(): void {
    if (!this.features.includes('timestamp-query')) throw new Error(`webgpu: this adapter (${this.description}) has no 'timestamp-query' feature to time the GPU with`);
    if (this.timer) throw new Error('webgpu: a GPU timer is already running');
    this.flush(); // work recorded before the start is not timed
    this.timer = new GpuTimer(this.device, (work) => this.gpuWork(work));
  }

  /** Stops the timer; resolves, once the timed work has run, to the GPU time spent in its compute passes. */
  async stopGpuTimer(): Promise<GpuTime> {
    const timer = this.timer;
    if (!timer) throw new Error('webgpu: no GPU timer is running');
    try {
      this.flush();
    } finally {
      this.timer = null; // stopped even when the flush reports an error
    }
    const time = await timer.total();
    this.throwIfFailed();
    return time;
  }

  // ---- the per-op NaN check ------------------------------------------------------------------------------

  /** Ops checked since the last report, by sequence number; and the buffer whose first word is the first bad one. */
  private checkedOps: string[] = [];
  private firstBadOp: GPUBuffer | null = null;

  /** Records a check of a float32 buffer of `count` values that `op` produced (see kernels/wgsl/finite-check.ts). */
  checkFinite(buffer: GPUBuffer, count: number, op: string): void {
    if (count === 0) return;
    if (!this.firstBadOp) {
      this.firstBadOp = this.allocate(4);
      this.device.queue.writeBuffer(this.firstBadOp, 0, Uint32Array.of(0xffffffff));
    }
    const program = finiteCheckKernel(count, this.checkedOps.length, this.deviceInfo);
    this.checkedOps.push(op);
    this.dispatch(program, { buffers: [buffer, this.firstBadOp], params: program.params, workgroups: program.workgroups });
  }

  /** The first checked op whose output was not finite, or null; starts a new round of checks. */
  async firstNonFinite(): Promise<string | null> {
    if (!this.firstBadOp) return null;
    const flag = this.firstBadOp;
    const ops = this.checkedOps;
    this.firstBadOp = null;
    this.checkedOps = [];
    const first = new Uint32Array(await this.read(flag, 4))[0]!;
    this.release(flag);
    return first === 0xffffffff ? null : (ops[first] ?? `#${first}`);
  }

  // ---- kernels -------------------------------------------------------------------------------------------

  /** The pipeline of a kernel, and its bind group layout (asking Dawn for it costs ~4 µs a dispatch). */
  private pipeline(kernel: Kernel): Pipeline {
    let entry = this.pipelines.get(kernel.code);
    if (!entry) {
      while (this.pipelines.size >= Math.max(1, this.maxPipelines)) this.evictLeastRecentPipeline();
      const module = this.device.createShaderModule({ label: kernel.label, code: kernel.code });
      const pipeline = this.device.createComputePipeline({ label: kernel.label, layout: 'auto', compute: { module, entryPoint: 'main' } });
      entry = { pipeline, layout: pipeline.getBindGroupLayout(0), id: this.stats.pipelinesCompiled++, lastUse: 0 };
      this.pipelines.set(kernel.code, entry);
    }
    entry.lastUse = this.stats.dispatches;
    return entry;
  }

  /** A scan, not a queue kept in order: it runs only when a new pipeline is compiled past the bound, which costs far more. */
  private evictLeastRecentPipeline(): void {
    let oldest: string | undefined;
    let oldestUse = Infinity;
    for (const [code, { lastUse }] of this.pipelines) {
      if (lastUse < oldestUse) [oldest, oldestUse] = [code, lastUse];
    }
    this.pipelines.delete(oldest!);
  }

  /**
   * The storage buffers in binding order, then the uniform slot if any, bound for `pipeline`: made once, then
   * reused. A buffer the pool did not make has no number to key it by, and gets a bind group of its own.
   */
  private bindGroup(pipeline: Pipeline, buffers: readonly GPUBuffer[], uniform: UniformSlot | null): GPUBindGroup {
    const key = this.bindGroupKey(pipeline, buffers, uniform);
    const cached = key === null ? undefined : this.bindGroups.get(key);
    if (cached) return cached;
    const entries: GPUBindGroupEntry[] = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
    if (uniform) entries.push({ binding: buffers.length, resource: { buffer: this.uniformArena, ...uniform } });
    const group = this.device.createBindGroup({ layout: pipeline.layout, entries });
    if (key !== null) {
      if (this.bindGroups.size >= MAX_BIND_GROUPS) this.bindGroups.clear();
      this.bindGroups.set(key, group);
    }
    return group;
  }

  /** Pipeline, buffers and slot as the cache's key; null when a buffer is not the pool's. */
  private bindGroupKey(pipeline: Pipeline, buffers: readonly GPUBuffer[], uniform: UniformSlot | null): string | null {
    let key = String(pipeline.id);
    for (const buffer of buffers) {
      const pooled = this.buffers.get(buffer);
      if (!pooled) return null;
      key += `,${pooled.id}`;
    }
    return uniform ? `${key}@${uniform.offset}:${uniform.size}` : key;
  }

  /** Records one dispatch; nothing runs until the next submit. */
  dispatch(kernel: Kernel, args: DispatchArgs): void {
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim) {
      throw new Error(`webgpu: kernel "${kernel.label}" asks for ${x}×${y}×${z} workgroups; the limit per dimension is ${maxDim}`);
    }
    const timerFull = !this.pass && this.timer?.full; // a new pass would need queries this encoder has not left
    if (this.dispatchesInBatch >= this.maxDispatchesPerSubmit || (args.params && this.uniformSlots >= UNIFORM_ARENA_SLOTS) || timerFull) {
      this.flush();
    }
    // Dawn reports a shader's compile error while the pipeline is made: the label must already name this kernel.
    this.currentLabel = kernel.label;
    const pipeline = this.pipeline(kernel);
    let uniform: UniformSlot | null = null;
    if (args.params) {
      if (args.params.byteLength > UNIFORM_SLOT) throw new Error(`webgpu: kernel "${kernel.label}" has ${args.params.byteLength} bytes of params; at most ${UNIFORM_SLOT}`);
      uniform = { offset: this.uniformSlots * UNIFORM_SLOT, size: Math.max(16, Math.ceil(args.params.byteLength / 16) * 16) };
      this.uniformStaging.set(args.params, uniform.offset / 4);
      this.uniformSlots += 1;
    }
    const bindGroup = this.bindGroup(pipeline, args.buffers, uniform);
    const pass = this.openPass();
    pass.setPipeline(pipeline.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatchesInBatch += 1;
    this.stats.dispatches += 1;
  }

  /** Records a buffer-to-buffer copy (ends the open compute pass; the next dispatch opens a new one). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, byteLength: number): void {
    if (byteLength === 0) return;
    this.closePass();
    this.openEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, byteLength);
  }

  private openEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    this.pass ??= this.openEncoder().beginComputePass(this.timer ? { timestampWrites: this.timer.nextPass() } : undefined);
    return this.pass;
  }

  private closePass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private newUniformArena(): GPUBuffer {
    const usage = bufferUsage().UNIFORM | bufferUsage().COPY_DST;
    return this.device.createBuffer({ size: UNIFORM_ARENA_SLOTS * UNIFORM_SLOT, usage });
  }

  /** Submits everything recorded so far, then returns parked buffers to the pool. */
  flush(): void {
    this.closePass();
    if (this.encoder) {
      if (this.uniformSlots > 0) {
        this.device.queue.writeBuffer(this.uniformArena, 0, this.uniformStaging.buffer, 0, this.uniformSlots * UNIFORM_SLOT);
      }
      this.timer?.resolve(this.encoder);
      this.device.queue.submit([this.encoder.finish()]);
      this.timer?.submitted();
      this.encoder = null;
      this.uniformSlots = 0;
      this.dispatchesInBatch = 0;
      this.stats.submits += 1;
    }
    const touched = new Set<PooledBuffer[]>();
    for (const pooled of this.parked) {
      let list = this.pool.get(pooled.size);
      if (!list) this.pool.set(pooled.size, (list = []));
      list.push(pooled);
      touched.add(list);
      this.stats.bytesPooled += pooled.size;
    }
    // Lowest number first out: which buffers an op gets then depends on which are free, not on the order they were
    // freed in, so a training step takes the same buffers as the step before it and finds its bind groups made.
    for (const list of touched) list.sort((a, b) => b.id - a.id);
    this.parked = [];
    this.throwIfFailed();
  }

  /** Submits pending work and waits for the GPU to finish it (for benchmarks). */
  async sync(): Promise<void> {
    this.flush();
    await this.workDone();
    this.throwIfFailed();
  }

  /**
   * Keeps the GPU at most one call behind: submits what is recorded, then waits until the work submitted up to the
   * previous call has finished. A loop that never reads back would otherwise queue submits without bound, and with
   * them Dawn's staging copies of the uniforms, bind groups and command buffers; runs of ~50 such training steps
   * died with SIGSEGV on lavapipe on a loaded machine. Waiting for the step before, not this one, keeps the GPU
   * busy while JavaScript records the next step.
   */
  async throttle(): Promise<void> {
    this.flush();
    const previous = this.throttleMark;
    this.throttleMark = this.workDone();
    await previous;
    this.throwIfFailed();
  }

  /** Resolves when everything submitted so far has finished, and counts it done. */
  private workDone(): Promise<void> {
    const submitted = this.stats.submits;
    return this.gpuWork(this.device.queue.onSubmittedWorkDone()).then(() => {
      this.submitsDone = Math.max(this.submitsDone, submitted);
    });
  }

  /**
   * A promise of GPU work, awaited without a busy core where that core would run the work: Dawn's Node binding
   * polls busily while a promise is pending, and a CPU adapter runs the work on the same cores (sleeping-wait.ts).
   */
  private gpuWork<T>(promise: Promise<T>): Promise<T> {
    return this.dawn && this.isCpuAdapter ? awaitSleeping(promise, CPU_ADAPTER_POLL_MS) : promise;
  }

  /** Copies `byteLength` bytes of a buffer back to the CPU. Submits all pending work first. */
  async read(buffer: GPUBuffer, byteLength: number): Promise<ArrayBuffer> {
    if (byteLength === 0) return new ArrayBuffer(0);
    this.stats.readbacks += 1;
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.device.createBuffer({ size, usage: bufferUsage().MAP_READ | bufferUsage().COPY_DST });
    this.copy(buffer, 0, staging, 0, size);
    this.flush();
    const submitted = this.stats.submits;
    await this.gpuWork(staging.mapAsync(mapMode().READ));
    this.submitsDone = Math.max(this.submitsDone, submitted);
    const out = staging.getMappedRange().slice(0, byteLength);
    staging.unmap();
    staging.destroy();
    this.throwIfFailed();
    return out;
  }

  private throwIfFailed(): void {
    if (this.firstError) {
      const message = this.firstError;
      this.firstError = null;
      throw new Error(message);
    }
  }
}
