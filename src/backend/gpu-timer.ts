/**
 * GPU execution time from timestamp queries (the adapter's 'timestamp-query' feature), for benchmarks.
 *
 * Wall time of a training step mixes two clocks: JavaScript recording dispatches and the GPU running them. On a
 * fast GPU the step can be bound by either, and only the GPU's own clock tells them apart. While a timer runs,
 * every compute pass the runtime opens writes a timestamp when it begins and one when it ends; the sum of those
 * spans is the time the GPU spent executing our work, without the gaps in which it waited for the next submit.
 *
 * The queries of one command encoder go to one query set (two per pass). Before the encoder is finished, they
 * are resolved into a buffer and copied to a mappable one; the queue runs in order, so the next encoder may reuse
 * the query set and resolve buffer at once. Readings are mapped after their submit and summed when asked, in one
 * wait for all of them.
 */
import { bufferUsage, mapMode } from './gpu-constants.js';

export interface GpuTime {
  /** Milliseconds the GPU spent inside compute passes. */
  ms: number;
  passes: number;
}

/** Queries per query set: two per pass; the runtime submits early when an encoder has used them all. */
const QUERIES = 2048;

export class GpuTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  /** Queries written in the open encoder. */
  private used = 0;
  /** The mappable copy of the finished encoder's readings, waiting for its submit. */
  private copied: { buffer: GPUBuffer; count: number } | null = null;
  private readonly readings: Promise<GpuTime>[] = [];

  /** `wait`: how the runtime awaits GPU work (on a CPU adapter, without a busy core: sleeping-wait.ts). */
  constructor(private readonly device: GPUDevice, private readonly wait: <T>(work: Promise<T>) => Promise<T>) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: QUERIES });
    this.resolveBuffer = device.createBuffer({ size: QUERIES * 8, usage: bufferUsage().QUERY_RESOLVE | bufferUsage().COPY_SRC });
  }

  /** The open encoder has no queries left for another pass: submit before opening one. */
  get full(): boolean {
    return this.used + 2 > QUERIES;
  }

  /** The timestamp writes of the next compute pass of the open encoder. */
  nextPass(): GPUComputePassTimestampWrites {
    const writes = { querySet: this.querySet, beginningOfPassWriteIndex: this.used, endOfPassWriteIndex: this.used + 1 };
    this.used += 2;
    return writes;
  }

  /** Called with the open encoder just before it is finished: resolves its queries into a mappable buffer. */
  resolve(encoder: GPUCommandEncoder): void {
    if (this.used === 0) return;
    const bytes = this.used * 8;
    const buffer = this.device.createBuffer({ size: bytes, usage: bufferUsage().MAP_READ | bufferUsage().COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, this.used, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, buffer, 0, bytes);
    this.copied = { buffer, count: this.used };
    this.used = 0;
  }

  /** Called after the encoder's submit: its readings can be mapped once it has run. */
  submitted(): void {
    if (this.copied) this.readings.push(this.read(this.copied.buffer, this.copied.count));
    this.copied = null;
  }

  private async read(buffer: GPUBuffer, count: number): Promise<GpuTime> {
    try {
      await buffer.mapAsync(mapMode().READ);
      const stamps = new BigUint64Array(buffer.getMappedRange());
      let ns = 0n;
      for (let i = 0; i < count; i += 2) {
        // A pass whose end reads before its begin (a driver's reset clock) is left out rather than counted as huge.
        if (stamps[i + 1]! >= stamps[i]!) ns += stamps[i + 1]! - stamps[i]!;
      }
      buffer.unmap();
      return { ms: Number(ns) / 1e6, passes: count / 2 };
    } finally {
      buffer.destroy();
    }
  }

  /** The total over every submitted encoder, once all have run; then the timer's GPU objects are released. */
  async total(): Promise<GpuTime> {
    try {
      const readings = await this.wait(Promise.all(this.readings));
      return readings.reduce((sum, r) => ({ ms: sum.ms + r.ms, passes: sum.passes + r.passes }), { ms: 0, passes: 0 });
    } finally {
      await Promise.allSettled(this.readings); // each reading destroys its own buffer once it settles
      this.querySet.destroy();
      this.resolveBuffer.destroy();
    }
  }
}
