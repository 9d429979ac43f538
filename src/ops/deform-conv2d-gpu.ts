/**
 * Deformable convolution on WebGPU as an op composition: sampling kernels (kernels/wgsl/deform-sampling.ts) and
 * matmuls:
 *
 *   forward   col  = im2col(x, offset, mask)            [N, Cin·KH·KW, OH·OW]
 *             y    = weight · col                       (matmul, batched over images and weight groups)
 *   backward  col  = im2col(x, offset, mask)            recomputed: keeping it from the forward pass would
 *                                                       hold Cin·KH·KW/Cout times the output's memory per layer
 *             gW   = Σ_n grad · colᵀ                    (matmul)
 *             gcol = weightᵀ · grad                     (matmul)
 *             gx, gOffset, gMask = the `backward` sampling pass over gcol (gx as an exact fixed-point sum,
 *                                  between a `bound` and a `resolve` pass: the same bits on every run)
 *
 * The column matrix is KH·KW times the input's size (92 MB for 256 channels, 3×3 taps, 100×100 outputs), so
 * the work is split into chunks — several images, or a range of output rows of one image — whose column matrix
 * (or output/gradient block, whichever is larger) stays under `deformChunking.maxBytes` and under the device's
 * binding limit. Between chunks the queue is flushed so that the pool can hand the freed column buffer to the
 * next chunk instead of allocating another.
 */
import { flushQueue, gpuDevice, launch } from '../backend/launch.js';
import { cachedProgram } from '../backend/program-cache.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import type { DeviceInfo, Program } from '../kernels/program.js';
import type { DeformConvGeometry, DeformConvGrads, DeformConvOperands } from '../kernels/reference/deform-conv2d.js';
import {
  deformGradBoundKernel,
  deformGradResolveKernel,
  deformSamplingKernel,
  zeroFillKernel,
  type DeformChunk,
  type DeformPass,
} from '../kernels/wgsl/deform-sampling.js';
import type { Tensor } from '../tensor/tensor.js';
import { zeros } from './creation.js';
import { add } from './elementwise.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';
import { concat, narrow, view } from './shape.js';

/** The largest column matrix one chunk may use; tests lower it to exercise the chunking. */
export const deformChunking = { maxBytes: 256 * 2 ** 20 };

/** Chunks in order (images ascending, then rows), whole images together when one fits. */
function planChunks(g: DeformConvGeometry): DeformChunk[] {
  // The pool rounds sizes up by at most 25%, and an allocation must fit one binding.
  const limit = Math.min(deformChunking.maxBytes, 0.8 * gpuDevice().limits.maxStorageBufferBindingSize);
  const rowBytes = 4 * g.outW * Math.max(g.inChannels * g.kernelH * g.kernelW, g.outChannels);
  const imageBytes = rowBytes * g.outH;
  const chunks: DeformChunk[] = [];
  if (imageBytes <= limit) {
    const per = Math.floor(limit / imageBytes);
    for (let n0 = 0; n0 < g.batch; n0 += per) chunks.push({ n0, nc: Math.min(per, g.batch - n0), r0: 0, rc: g.outH });
  } else {
    const per = Math.max(1, Math.floor(limit / rowBytes));
    for (let n0 = 0; n0 < g.batch; n0++) {
      for (let r0 = 0; r0 < g.outH; r0 += per) chunks.push({ n0, nc: 1, r0, rc: Math.min(per, g.outH - r0) });
    }
  }
  return chunks;
}

/** A program of this file, built once for what its builder is given (`args`: plain data, which names it whole). */
function deformProgram(name: string, args: unknown[], build: (device: DeviceInfo) => Program): Program {
  const device = gpuDevice();
  return cachedProgram(device, `deformConv2d ${name}|${JSON.stringify(args)}`, () => build(device));
}

function sample(pass: DeformPass, a: DeformConvOperands<Tensor>, g: DeformConvGeometry, chunk: DeformChunk, outputs: Tensor[]): void {
  const inputs = [a.x, a.offset, ...(a.mask ? [a.mask] : [])];
  const hasMask = a.mask !== null;
  launch(deformProgram('sampling', [pass, hasMask, g, chunk], (device) => deformSamplingKernel(pass, hasMask, g, chunk, device)), [...inputs, ...outputs]);
}

/** The chunk's column matrix, viewed as [nc, weight groups, Cin/groups·KH·KW, rows·OW] for the GEMMs. */
function im2col(a: DeformConvOperands<Tensor>, g: DeformConvGeometry, chunk: DeformChunk): Tensor {
  const col = emptyGpu([chunk.nc, g.groups, (g.inChannels / g.groups) * g.kernelH * g.kernelW, chunk.rc * g.outW], 'float32', 'deformConv2d.im2col');
  sample('im2col', a, g, chunk, [col]);
  return col;
}

/** weight as [1, groups, Cout/groups, Cin/groups·KH·KW], broadcast over the images of a chunk. */
const groupedWeight = (a: DeformConvOperands<Tensor>, g: DeformConvGeometry): Tensor =>
  view(a.weight, [1, g.groups, g.outChannels / g.groups, a.weight.size / g.outChannels]);

/** The block of an [N, Cout, OH, OW] tensor that a chunk covers, as [nc, groups, Cout/groups, rows·OW]. */
function chunkOf(t: Tensor, g: DeformConvGeometry, chunk: DeformChunk): Tensor {
  let block = chunk.nc === g.batch ? t : narrow(t, 0, chunk.n0, chunk.nc);
  if (chunk.rc !== g.outH) block = narrow(block, 2, chunk.r0, chunk.rc);
  return view(block, [chunk.nc, g.groups, g.outChannels / g.groups, chunk.rc * g.outW]);
}

function flushBetween(chunks: DeformChunk[], k: number): void {
  if (k < chunks.length - 1) flushQueue();
}

/** y without bias, [N, Cout, OH, OW]. Call inside `tidy`: intermediates are left to it. */
export function deformConv2dGpu(a: DeformConvOperands<Tensor>, g: DeformConvGeometry): Tensor {
  const chunks = planChunks(g);
  const weight = groupedWeight(a, g);
  const images: Tensor[] = [];
  let rows: Tensor[] = [];
  for (const [k, chunk] of chunks.entries()) {
    const col = im2col(a, g, chunk);
    rows.push(view(matmul(weight, col), [chunk.nc, g.outChannels, chunk.rc, g.outW]));
    col.dispose();
    if (chunk.r0 + chunk.rc === g.outH) {
      images.push(rows.length === 1 ? rows[0] : concat(rows, 2));
      rows = [];
    }
    flushBetween(chunks, k);
  }
  // An empty batch has no chunks (the CPU kernel returns the empty result too).
  if (!images.length) return emptyGpu([0, g.outChannels, g.outH, g.outW], 'float32', 'deformConv2d');
  return images.length === 1 ? images[0] : concat(images, 0);
}

/** Gradients of sum(y · grad) for x, offset, weight and mask. Call inside `tidy`. */
export function deformConv2dGpuBackward(grad: Tensor, a: DeformConvOperands<Tensor>, g: DeformConvGeometry): DeformConvGrads<Tensor> {
  const gx = emptyGpu(a.x.shape, 'float32', 'deformConv2d.gradX');
  const gOffset = emptyGpu(a.offset.shape, 'float32', 'deformConv2d.gradOffset');
  const gMask = a.mask && emptyGpu(a.mask.shape, 'float32', 'deformConv2d.gradMask');
  const weight = groupedWeight(a, g);
  let gWeight: Tensor | null = null;
  const chunks = planChunks(g);
  for (const [k, chunk] of chunks.entries()) {
    const gy = chunkOf(grad, g, chunk);
    const col = im2col(a, g, chunk);
    const part = sum(matmul(gy, col, { transB: true }), 0);
    gWeight = gWeight ? add(gWeight, part) : part;
    col.dispose();
    const gcol = matmul(weight, gy, { transA: true });
    // The input gradient's exact fixed-point sum (kernels/wgsl/deform-sampling.ts): bound, scatter, resolve.
    const bound = emptyGpu([1], 'uint32', 'deformConv2d.gradBound');
    const acc = emptyGpu([chunk.nc, g.inChannels, g.height, g.width, 2], 'uint32', 'deformConv2d.gradAccumulator');
    const hasMask = a.mask !== null;
    const accumulate = chunk.r0 > 0;
    launch(deformProgram('zero', [1], (device) => zeroFillKernel(1, device)), [bound]);
    launch(deformProgram('zero', [acc.size], (device) => zeroFillKernel(acc.size, device)), [acc]);
    launch(deformProgram('bound', [hasMask, g, chunk], (device) => deformGradBoundKernel(hasMask, g, chunk, device)), [gcol, ...(a.mask ? [a.mask] : []), bound]);
    sample('backward', a, g, chunk, [gcol, bound, acc, gOffset, ...(gMask ? [gMask] : [])]);
    launch(deformProgram('resolve', [g, chunk, accumulate], (device) => deformGradResolveKernel(g, chunk, accumulate, device)), [acc, bound, gx]);
    gcol.dispose();
    acc.dispose();
    bound.dispose();
    flushBetween(chunks, k);
  }
  return { x: gx, offset: gOffset, weight: gWeight ? view(gWeight, a.weight.shape) : zeros(a.weight.shape, { device: 'webgpu' }), mask: gMask };
}
