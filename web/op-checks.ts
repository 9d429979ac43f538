/**
 * A handful of op checks that run in the page: each op on WebGPU against the same op on the CPU (the plain
 * TypeScript reference kernels), forward and, where the op has one, backward. They exercise the kernels whose
 * shapes depend on the adapter's limits — the GEMM tiles (invocations per workgroup), the fused optimizer packs
 * (storage buffers per stage), the subgroup schedules — on the browser's adapter, which is not the one `npm test`
 * runs on (Chromium's SwiftShader: 256 invocations, 10 storage buffers, 4 subgroup lanes; lavapipe: 1024, 16, 8).
 *
 * The Node test suite holds the full property tests; these are the same comparisons on fixed random shapes.
 */
import * as T from '../src/browser.js';

export interface OpCheckResult {
  name: string;
  /** The worst |webgpu − cpu| / (atol + rtol·|cpu|) over all outputs and gradients: ≤ 1 passes. */
  worst: number;
  ok: boolean;
  /** Values compared. */
  values: number;
}

type Device = 'cpu' | 'webgpu';

/** Reproducible inputs: the same numbers on both devices. */
function values(n: number, seed: number, scale = 1): Float32Array {
  const rng = new T.Random(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

interface Built {
  /** The forward output; backward is seeded with fixed random weights of its shape. */
  y: T.Tensor;
  /** Leaves whose gradients are compared too. */
  leaves: T.Tensor[];
  /** Extra tensors compared as they are (an optimizer's updated parameters). */
  extra?: T.Tensor[];
}

/** Runs `build` on both devices and compares everything it returns. */
async function check(name: string, tolerance: { atol: number; rtol: number }, build: (device: Device, leaf: (shape: number[], seed: number, scale?: number) => T.Tensor) => Built, backward = true): Promise<OpCheckResult> {
  const results: Float32Array[][] = [];
  for (const device of ['webgpu', 'cpu'] as const) {
    const owned: T.Tensor[] = [];
    const leaf = (shape: number[], seed: number, scale = 1): T.Tensor => {
      const t = T.tensor(values(shape.reduce((a, b) => a * b, 1), seed, scale), shape, { device, requiresGrad: backward });
      owned.push(t);
      return t;
    };
    const built = T.tidy(() => {
      const b = build(device, leaf);
      if (backward) b.y.backward(T.tensor(values(b.y.size, 999), [...b.y.shape], { device }));
      return b;
    });
    const outputs = [built.y, ...(backward ? built.leaves.map((l) => l.grad!) : []), ...(built.extra ?? [])];
    const read: Float32Array[] = [];
    for (const t of outputs) read.push(Float32Array.from(await t.toArray()));
    results.push(read);
    for (const t of new Set([...outputs, ...owned])) t.dispose();
  }
  const [gpu, cpu] = results as [Float32Array[], Float32Array[]];
  let worst = 0;
  let count = 0;
  gpu.forEach((a, i) => {
    const b = cpu[i]!;
    if (a.length !== b.length) worst = Infinity;
    for (let j = 0; j < b.length; j++) {
      const ratio = Math.abs(a[j]! - b[j]!) / (tolerance.atol + tolerance.rtol * Math.abs(b[j]!));
      worst = Number.isNaN(ratio) ? Infinity : Math.max(worst, ratio);
    }
    count += b.length;
  });
  return { name, worst, ok: worst <= 1, values: count };
}

/** Tolerances for float32 against float32: a relative 1e-4 and an absolute term that grows with the reduction length. */
const tol = (terms: number) => ({ atol: 2e-6 * Math.sqrt(terms) * 4, rtol: 1e-4 });

export async function runOpChecks(): Promise<OpCheckResult[]> {
  await T.initWebGPU();
  const out: OpCheckResult[] = [];
  out.push(await check('matmul 256×256 · 256×256', tol(256 * 4), (_, leaf) => {
    const a = leaf([256, 256], 1);
    const b = leaf([256, 256], 2);
    return { y: T.matmul(a, b), leaves: [a, b] };
  }));
  out.push(await check('conv2d 2×8×15×17, 16×8×3×3, stride 2, padding 1', tol(2 * 8 * 8 * 9), (_, leaf) => {
    const x = leaf([2, 8, 15, 17], 3);
    const w = leaf([16, 8, 3, 3], 4, 0.3);
    const b = leaf([16], 5);
    return { y: T.conv2d(x, w, b, { stride: 2, padding: 1 }), leaves: [x, w, b] };
  }));
  out.push(await check('conv2d 1×64×16×16, 64×64×3×3 (large GEMM tiles)', tol(64 * 9 * 16 * 16), (_, leaf) => {
    const x = leaf([1, 64, 16, 16], 6);
    const w = leaf([64, 64, 3, 3], 7, 0.1);
    return { y: T.conv2d(x, w, null, { padding: 1 }), leaves: [x, w] };
  }));
  out.push(await check('deformConv2d with mask 1×8×9×9, 8×8×3×3', tol(8 * 9 * 81 * 4), (_, leaf) => {
    const x = leaf([1, 8, 9, 9], 8);
    const offset = leaf([1, 18, 9, 9], 9, 1.5);
    const mask = leaf([1, 9, 9, 9], 10);
    const w = leaf([8, 8, 3, 3], 11, 0.3);
    const b = leaf([8], 12);
    return { y: T.deformConv2d(x, offset, w, b, { padding: 1, mask: T.sigmoid(mask) }), leaves: [x, offset, mask, w, b] };
  }));
  out.push(await check('groupNorm 2×64×9×9, 32 groups', tol(2 * 81 * 64), (_, leaf) => {
    const x = leaf([2, 64, 9, 9], 13, 3);
    const w = leaf([64], 14);
    const b = leaf([64], 15);
    return { y: T.groupNorm(x, 32, w, b), leaves: [x, w, b] };
  }));
  out.push(await check('maxPool2d 3×3 stride 2 + avgPool2d 2×2 + bilinear ×2', tol(64), (_, leaf) => {
    const x = leaf([2, 4, 13, 11], 16);
    const pooled = T.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
    const averaged = T.avgPool2d(T.upsampleBilinear2d(pooled, { scaleFactor: 2 }), { kernelSize: 2 });
    return { y: averaged, leaves: [x] };
  }));
  out.push(await check('sum and mean over 300×1000', tol(300_000), (_, leaf) => {
    const x = leaf([300, 1000], 17);
    // Both reductions feed one output: a row sum per row, plus the sum of the column means (broadcast).
    return { y: T.add(T.sum(x, 1), T.sum(T.mean(x, 0))), leaves: [x] };
  }));
  out.push(await check('sigmoidFocalLoss 4×1000', tol(4000), (device, leaf) => {
    const logits = leaf([4, 1000], 18, 2);
    const targets = T.tensor(Float32Array.from({ length: 4000 }, (_, i) => (i % 7 === 0 ? 1 : 0)), [4, 1000], { device });
    return { y: T.reshape(T.sigmoidFocalLoss(logits, targets, { reduction: 'sum' }), [1]), leaves: [logits] };
  }));
  out.push(await check('AdamW, 2 steps over 12 tensors (packs sized by maxStorageBuffersPerShaderStage)', tol(4), (device) => {
    const params = Array.from({ length: 12 }, (_, i) => ({ name: `p${i}`, tensor: T.tensor(values(37 * (i + 1), 100 + i), [37 * (i + 1)], { device, requiresGrad: true }), group: 'weight' as const }));
    const optimizer = new T.AdamW(params, { lr: 0.01, weightDecay: 0.05 });
    for (let step = 0; step < 2; step++) {
      params.forEach((p, i) => (p.tensor.grad = T.tensor(values(p.tensor.size, 200 + 10 * step + i), [p.tensor.size], { device })));
      const clip = T.clipScale(params.map((p) => p.tensor.grad!), 5);
      optimizer.step(clip);
      optimizer.zeroGrad();
    }
    optimizer.dispose();
    const all = T.concat(params.map((p) => p.tensor));
    return { y: all, leaves: [], extra: params.map((p) => p.tensor) };
  }, false));
  return out;
}
