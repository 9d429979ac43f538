/**
 * Pooling kernels over [planes, H, W]: one template for the forward pass and one for the backward, each
 * instanced for max and average pooling. Every kernel is one invocation per element written (`kernel1d`: on CPU adapters each loops over several).
 *   forward  — one invocation per output scans its window clipped to the input; max keeps the maximum and its
 *              plane index, average the sum, divided by kh·kw at the end (padded positions count as zeros);
 *   backward — gather form: one invocation per input pixel visits the outputs whose windows contain it (at most
 *              ⌈kh/sh⌉·⌈kw/sw⌉) and sums what each sends it: max, the gradient of an output that chose this
 *              pixel; average, every output's gradient over kh·kw. Every pixel is written exactly once, so
 *              overlapping windows need no atomics (WGSL has no float atomics).
 * The max-pooling kernels come in two forms (program-cache.ts's `specialisedProgram` picks): the shape as
 * parameters, one pipeline for all shapes; or as constants, as the convolutions' GEMMs have it. An invocation finds
 * its pixel and its windows by dividing by the sizes and strides, and an integer division by a runtime value is a
 * loop of its own on a CPU adapter (lavapipe's SIMD lanes divide one at a time), where a constant divisor compiles
 * to a multiply and a shift. The backward visits a fixed ⌈k/s⌉ × ⌈k/s⌉ outputs per pixel (the most whose windows can hold it),
 * skipping those past the edge, so that with constants its loops unroll. The tiny model's stem max-pool at batch
 * 8 (3×3, stride 2, over 8×32×64²) on lavapipe went from 4.0 to 2.4 ms forward and from 14.9 to 5.3 ms backward
 * (one dispatch each, fastest of nine), parameters against constants.
 */
import { IS_NAN_WGSL } from '../elementwise-ops.js';
import type { Pool2dDims } from '../reference/pool.js';
import type { DeviceInfo, Program, ProgramForm } from '../program.js';
import { gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

/** The bindings, then `p`, the shape, read the same way (p.height, …) in either form: a uniform, or a constant. */
function declarations(bindings: string[], n: number, d: Pool2dDims, form: ProgramForm): { code: string; params?: Uint32Array } {
  const values = { n, height: d.height, width: d.width, outHeight: d.outHeight, outWidth: d.outWidth, kh: d.kernel[0], kw: d.kernel[1], sh: d.stride[0], sw: d.stride[1], ph: d.padding[0], pw: d.padding[1] };
  const struct = `struct Params { ${Object.keys(values).map((k) => `${k}: u32`).join(', ')} }`;
  if (form === 'general') {
    return { code: [...bindings, struct, uniform(bindings.length)].join('\n'), params: new ParamWriter().u32(...Object.values(values)).finish() };
  }
  return { code: [...bindings, struct, `const p = Params(${Object.values(values).map((v) => `${v}u`).join(', ')});`].join('\n') };
}

/** What a pooling kind adds to the templates: its bindings, and the WGSL around and inside the loops. */
interface PoolKind {
  forwardBindings: string[];
  /** Before the window loop; `first` is the window's first pixel within the plane. */
  start: string;
  /** Per pixel `v` at plane index `at`. */
  visit: string;
  finish: string;
  backwardBindings: string[];
  /** Per output `o` whose window holds this pixel (`me`, its plane index): adds to `acc`. */
  gather: string;
}

const MAX: PoolKind = {
  forwardBindings: [storage(0, 'x', 'float32'), storage(1, 'y', 'float32', true), storage(2, 'indices', 'int32', true)],
  start: `var arg = first;
  var best = x[base + first];`,
  visit: `if (v > best || isNan(v)) {
        best = v;
        arg = at;
      }`,
  finish: `y[i] = best;
  indices[i] = i32(arg);`,
  backwardBindings: [storage(0, 'g', 'float32'), storage(1, 'indices', 'int32'), storage(2, 'dx', 'float32', true)],
  gather: 'if (indices[o] == i32(me)) { acc += g[o]; }',
};

const AVERAGE: PoolKind = {
  forwardBindings: [storage(0, 'x', 'float32'), storage(1, 'y', 'float32', true)],
  start: 'var sum = 0.0;',
  visit: 'sum += v;',
  finish: 'y[i] = sum / f32(p.kh * p.kw);',
  backwardBindings: [storage(0, 'g', 'float32'), storage(1, 'dx', 'float32', true)],
  gather: 'acc += g[o];',
};

function forwardKernel(label: string, kind: PoolKind, dims: Pool2dDims, device: DeviceInfo, form: ProgramForm): Program {
  const n = dims.planes * dims.outHeight * dims.outWidth;
  const { code: head, params } = declarations(kind.forwardBindings, n, dims, form);
  const code = `
${head}
${IS_NAN_WGSL}
${kernel1d('p.n', `  let ow = i % p.outWidth;
  let oh = (i / p.outWidth) % p.outHeight;
  let base = (i / (p.outWidth * p.outHeight)) * p.height * p.width;
  let h0 = i32(oh * p.sh) - i32(p.ph);
  let w0 = i32(ow * p.sw) - i32(p.pw);
  let hs = u32(max(h0, 0));
  let ws = u32(max(w0, 0));
  let he = u32(min(h0 + i32(p.kh), i32(p.height)));
  let we = u32(min(w0 + i32(p.kw), i32(p.width)));
  let first = hs * p.width + ws;
  ${kind.start}
  for (var h = hs; h < he; h++) {
    for (var w = ws; w < we; w++) {
      let at = h * p.width + w;
      let v = x[base + at];
      ${kind.visit}
    }
  }
  ${kind.finish}`)}`;
  return { label, code, params, workgroups: gridStride1d(n, device) };
}

function backwardKernel(label: string, kind: PoolKind, dims: Pool2dDims, scale: string, device: DeviceInfo, form: ProgramForm): Program {
  const n = dims.planes * dims.height * dims.width;
  const { code: head, params } = declarations(kind.backwardBindings, n, dims, form);
  // The first output along one axis whose window reaches coordinate c: ⌈(c + pad − k + 1) / s⌉, at least 0.
  const first = (c: string, pad: string, k: string, s: string) =>
    `u32(max(i32(${c} + ${pad}) - i32(${k}) + i32(${s}), 0)) / ${s}`;
  const code = `
${head}
${kernel1d('p.n', `  let w = i % p.width;
  let h = (i / p.width) % p.height;
  let outBase = (i / (p.width * p.height)) * p.outHeight * p.outWidth;
  let me = h * p.width + w;
  let ohEnd = min((h + p.ph) / p.sh + 1u, p.outHeight);
  let owEnd = min((w + p.pw) / p.sw + 1u, p.outWidth);
  let oh0 = ${first('h', 'p.ph', 'p.kh', 'p.sh')};
  let ow0 = ${first('w', 'p.pw', 'p.kw', 'p.sw')};
  var acc = 0.0;
  for (var a = 0u; a < (p.kh + p.sh - 1u) / p.sh; a++) {
    for (var b = 0u; b < (p.kw + p.sw - 1u) / p.sw; b++) {
      let oh = oh0 + a;
      let ow = ow0 + b;
      if (oh < ohEnd && ow < owEnd) {
        let o = outBase + oh * p.outWidth + ow;
        ${kind.gather}
      }
    }
  }
  dx[i] = acc${scale};`)}`;
  return { label, code, params, workgroups: gridStride1d(n, device) };
}

/** Bindings: x, y, indices (int32). */
export const maxPool2dForwardKernel = (dims: Pool2dDims, device: DeviceInfo, form: ProgramForm) => forwardKernel('maxPool2d', MAX, dims, device, form);

/** Bindings: g, indices, dx. */
export const maxPool2dBackwardKernel = (dims: Pool2dDims, device: DeviceInfo, form: ProgramForm) => backwardKernel('maxPool2dBackward', MAX, dims, '', device, form);

// Average pooling has the general form only: it divides by kh·kw, and a compiler may turn a division by a
// constant into a multiplication by its reciprocal, whose rounding differs, so the two forms' bits could too.

/** Bindings: x, y. */
export const avgPool2dForwardKernel = (dims: Pool2dDims, device: DeviceInfo) => forwardKernel('avgPool2d', AVERAGE, dims, device, 'general');

/** The adjoint of the average (its gradient). Bindings: g, dx. */
export const avgPool2dAdjointKernel = (dims: Pool2dDims, device: DeviceInfo) =>
  backwardKernel('avgPool2dBackward', AVERAGE, dims, ' / f32(p.kh * p.kw)', device, 'general');
