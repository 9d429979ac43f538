// fast-check generators shared by the engine tests: shapes, broadcast-compatible shape pairs, and values.
import fc from 'fast-check';

export const shapeArb = (maxRank = 4, maxDim = 5) => fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: 0, maxLength: maxRank });

/** A pair of shapes that broadcast: b is a with some dims set to 1 and some leading dims dropped (either way round). */
export const broadcastPairArb = (maxRank = 4, maxDim = 5) =>
  fc
    .tuple(shapeArb(maxRank, maxDim), fc.array(fc.boolean(), { minLength: maxRank, maxLength: maxRank }), fc.nat(maxRank), fc.boolean())
    .map(([shape, ones, drop, swap]) => {
      const other = shape.map((d, i) => (ones[i] ? 1 : d)).slice(Math.min(drop, shape.length));
      return swap ? ([other, shape] as const) : ([shape, other] as const);
    });

/**
 * A pooling window case: 1–2 leading dims, a kernel and stride per spatial dim, padding 0 or ⌊k/2⌋ per dim, and
 * spatial sizes from "just fits the padded kernel" upwards.
 */
export const poolCaseArb = (maxKernel: number, maxStride: number) =>
  fc
    .record({
      lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
      kernel: fc.tuple(fc.integer({ min: 1, max: maxKernel }), fc.integer({ min: 1, max: maxKernel })),
      stride: fc.tuple(fc.integer({ min: 1, max: maxStride }), fc.integer({ min: 1, max: maxStride })),
      padFraction: fc.tuple(fc.boolean(), fc.boolean()),
      extra: fc.tuple(fc.nat(6), fc.nat(6)),
      seed: fc.nat(),
    })
    .map(({ lead, kernel, stride, padFraction, extra, seed }) => {
      const padding = kernel.map((k, d) => (padFraction[d] ? Math.floor(k / 2) : 0)) as [number, number];
      const spatial = kernel.map((k, d) => Math.max(1, k - 2 * padding[d]!) + extra[d]!);
      return { shape: [...lead, ...spatial], options: { kernelSize: kernel, stride, padding }, seed };
    });

export const valuesArb = (n: number, min = -4, max = 4) =>
  fc.array(fc.double({ min, max, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n });

export const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Deterministic pseudo-random values for a shape (fast-check picks the seed). */
export function valuesFor(shape: readonly number[], seed: number, min = -3, max = 3): Float32Array {
  const n = sizeOf(shape);
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = min + ((s >>> 0) / 4294967296) * (max - min);
  }
  return out;
}
