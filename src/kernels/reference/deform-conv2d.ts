/**
 * Reference deformable convolution (torchvision.ops.deform_conv2d; DCNv2 when a mask is given), written as the
 * plain definition: every output is a sum over input channels and kernel taps of weight × mask × a bilinear
 * sample of the input at the tap's position moved by its offset. The backward pass is the same loop nest,
 * differentiated by hand. Bias is left to the op (an ordinary broadcast add).
 *
 * Sampling follows torchvision exactly, because its choices show up in the gradients:
 * - a sample with y ≤ −1, y ≥ H, x ≤ −1 or x ≥ W is 0; otherwise the four corners around (y, x) are weighted
 *   (1−ly)(1−lx), (1−ly)lx, ly(1−lx), ly·lx with ly = y − ⌊y⌋, and corners outside the image count as 0 —
 *   so a sample in (−1, 0) or (H−1, H) still gets the part of its weight that lands inside;
 * - the offset gradient is torchvision's "coordinate weight": the derivative of the four-corner interpolation
 *   along y or x with out-of-image corners as 0, but WITHOUT the cut-off above (at y = −1 exactly the sample
 *   is 0 while this derivative is the one from the right).
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';
import type { ConvGeometry } from '../conv-geometry.js';

/** Everything a deformable convolution's loops need; output sizes are derived by the op. */
/** A convolution's window, and how its input channels share offsets. */
export interface DeformConvGeometry extends ConvGeometry {
  /** Input channels [g·C/G, (g+1)·C/G) share offset group g's offsets (and mask). */
  offsetGroups: number;
}

/** The four bilinear corners of a sample: flat indices within one channel plane, and the two weightings. */
interface Sample {
  /** Corner (y0, x0), (y0, x0+1), (y0+1, x0), (y0+1, x0+1); −1 where the corner is outside the image. */
  index: [number, number, number, number];
  /** Interpolation weights, 0 for a sample past the cut-off. */
  weight: [number, number, number, number];
  /** Corner weights of ∂/∂y and ∂/∂x of the interpolation (torchvision's coordinate weight, no cut-off). */
  dy: [number, number, number, number];
  dx: [number, number, number, number];
}

function sampleAt(height: number, width: number, y: number, x: number): Sample {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const ly = y - y0;
  const lx = x - x0;
  const hy = 1 - ly;
  const hx = 1 - lx;
  const inRows = [y0 >= 0 && y0 < height, y0 + 1 >= 0 && y0 + 1 < height];
  const inCols = [x0 >= 0 && x0 < width, x0 + 1 >= 0 && x0 + 1 < width];
  const index: Sample['index'] = [-1, -1, -1, -1];
  for (let r = 0; r < 2; r++) {
    for (let s = 0; s < 2; s++) if (inRows[r] && inCols[s]) index[2 * r + s] = (y0 + r) * width + x0 + s;
  }
  const inside = y > -1 && y < height && x > -1 && x < width;
  const weight: Sample['weight'] = inside ? [hy * hx, hy * lx, ly * hx, ly * lx] : [0, 0, 0, 0];
  return { index, weight, dy: [-hx, -lx, hx, lx], dx: [-hy, hy, -ly, ly] };
}

const dot4 = (w: readonly number[], plane: TypedArray, base: number, index: readonly number[]): number => {
  let acc = 0;
  for (let k = 0; k < 4; k++) if (index[k] >= 0) acc += w[k] * plane[base + index[k]];
  return acc;
};

/**
 * Visits every sample (image, offset group, tap, output pixel) with its position resolved, the mask value and
 * the flat positions of its offsets and mask entry.
 */
function forEachSample(
  g: DeformConvGeometry, offset: TypedArray, mask: TypedArray | null,
  visit: (n: number, group: number, tap: number, pixel: number, s: Sample, m: number, offsetAt: number, maskAt: number) => void,
): void {
  const taps = g.kernelH * g.kernelW;
  const plane = g.outH * g.outW;
  for (let n = 0; n < g.batch; n++) {
    for (let group = 0; group < g.offsetGroups; group++) {
      for (let tap = 0; tap < taps; tap++) {
        const i = Math.floor(tap / g.kernelW);
        const j = tap % g.kernelW;
        for (let oy = 0; oy < g.outH; oy++) {
          for (let ox = 0; ox < g.outW; ox++) {
            const pixel = oy * g.outW + ox;
            const offsetAt = ((n * g.offsetGroups + group) * 2 * taps + 2 * tap) * plane + pixel;
            const maskAt = ((n * g.offsetGroups + group) * taps + tap) * plane + pixel;
            const y = oy * g.strideH - g.padH + i * g.dilationH + offset[offsetAt];
            const x = ox * g.strideW - g.padW + j * g.dilationW + offset[offsetAt + plane];
            visit(n, group, tap, pixel, sampleAt(g.height, g.width, y, x), mask ? mask[maskAt] : 1, offsetAt, maskAt);
          }
        }
      }
    }
  }
}

/** Index helpers shared by forward and backward: which channels a sample feeds and which outputs a channel feeds. */
function layout(g: DeformConvGeometry) {
  const taps = g.kernelH * g.kernelW;
  const cPerOffsetGroup = g.inChannels / g.offsetGroups;
  const cPerWeightGroup = g.inChannels / g.groups;
  const oPerWeightGroup = g.outChannels / g.groups;
  return {
    taps,
    plane: g.outH * g.outW,
    cPerOffsetGroup,
    inputAt: (n: number, c: number) => (n * g.inChannels + c) * g.height * g.width,
    firstOutput: (c: number) => Math.floor(c / cPerWeightGroup) * oPerWeightGroup,
    oPerWeightGroup,
    weightAt: (o: number, c: number, tap: number) => (o * cPerWeightGroup + (c % cPerWeightGroup)) * taps + tap,
  };
}

/** The operands of a deformable convolution, as typed arrays here and as tensors in the op and on the GPU. */
export interface DeformConvOperands<T> {
  x: T;
  offset: T;
  /** DCNv2 modulation, or null for DCNv1. */
  mask: T | null;
  weight: T;
}

/** y[n, o] = Σ_c Σ_tap weight[o, c, tap] · mask · bilinear(x[n, c], position(tap) + offset). */
export function deformConv2dForward(
  { x, offset, mask, weight }: DeformConvOperands<TypedArray>, g: DeformConvGeometry, dtype: DType,
): TypedArray {
  const L = layout(g);
  const out = typedArrayFor(dtype, g.batch * g.outChannels * L.plane);
  const acc = new Float64Array(out.length);
  forEachSample(g, offset, mask, (n, group, tap, pixel, s, m) => {
    for (let c = group * L.cPerOffsetGroup; c < (group + 1) * L.cPerOffsetGroup; c++) {
      const value = m * dot4(s.weight, x, L.inputAt(n, c), s.index);
      const o0 = L.firstOutput(c);
      for (let o = o0; o < o0 + L.oPerWeightGroup; o++) {
        acc[(n * g.outChannels + o) * L.plane + pixel] += weight[L.weightAt(o, c, tap)] * value;
      }
    }
  });
  out.set(acc);
  return out;
}

export type DeformConvGrads<T> = DeformConvOperands<T>;

/** Gradients of sum(y · grad) for x, offset, weight and mask. */
export function deformConv2dBackward(
  grad: TypedArray, { x, offset, mask, weight }: DeformConvOperands<TypedArray>, g: DeformConvGeometry, dtype: DType,
): DeformConvGrads<TypedArray> {
  const L = layout(g);
  const gx = new Float64Array(x.length);
  const gOffset = new Float64Array(offset.length);
  const gWeight = new Float64Array(weight.length);
  const gMask = mask ? new Float64Array(mask.length) : null;
  forEachSample(g, offset, mask, (n, group, tap, pixel, s, m, offsetAt, maskAt) => {
    for (let c = group * L.cPerOffsetGroup; c < (group + 1) * L.cPerOffsetGroup; c++) {
      const base = L.inputAt(n, c);
      const value = dot4(s.weight, x, base, s.index);
      // The gradient reaching this sample of channel c, summed over the outputs it feeds.
      let gs = 0;
      const o0 = L.firstOutput(c);
      for (let o = o0; o < o0 + L.oPerWeightGroup; o++) {
        const go = grad[(n * g.outChannels + o) * L.plane + pixel];
        gs += go * weight[L.weightAt(o, c, tap)];
        gWeight[L.weightAt(o, c, tap)] += go * m * value;
      }
      for (let k = 0; k < 4; k++) if (s.index[k] >= 0) gx[base + s.index[k]] += m * s.weight[k] * gs;
      gOffset[offsetAt] += m * dot4(s.dy, x, base, s.index) * gs;
      gOffset[offsetAt + L.plane] += m * dot4(s.dx, x, base, s.index) * gs;
      if (gMask) gMask[maskAt] += value * gs;
    }
  });
  const typed = (a: Float64Array) => {
    const t = typedArrayFor(dtype, a.length);
    t.set(a);
    return t;
  };
  return { x: typed(gx), offset: typed(gOffset), weight: typed(gWeight), mask: gMask && typed(gMask) };
}
