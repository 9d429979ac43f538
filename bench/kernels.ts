/**
 * The kernel suite at SMPR's shapes (or scaled-down ones lavapipe can run): conv2d forward and input gradient,
 * matmul, deformable conv forward+backward, GroupNorm forward+backward, focal loss forward+backward. Each is
 * timed end to end (record, submit, drain the queue) and, where tfjs-backend-webgpu has the op, tfjs is timed
 * on the same device in the same run.
 */
import * as T from '../src/index.js';
import { conv2d, conv2dGeometry, conv2dOutputSize } from '../src/ops/conv2d.js';
import { conv2dInputGradGpu } from '../src/ops/conv2d-gpu.js';
import { deformConv2d } from '../src/ops/deform-conv2d.js';
import { groupNorm } from '../src/ops/group-norm.js';
import { sigmoidFocalLoss } from '../src/ops/losses.js';
import { webgpu } from '../src/tensor/engine.js';
import { timeGpu, withBaseline, type BenchRow } from './report.js';
import { timeTfjs, type Tf } from './tfjs.js';

export type SizePreset = 'small' | 'smpr';

interface ConvShape { name: string; n: number; cin: number; cout: number; h: number; w: number; k: number; stride: number; pad: number }

const SHAPES = {
  smpr: {
    convs: [
      { name: 'conv3x3 256→256 @100²', n: 1, cin: 256, cout: 256, h: 100, w: 100, k: 3, stride: 1, pad: 1 },
      { name: 'stem 7×7/2 3→64 @800²', n: 1, cin: 3, cout: 64, h: 800, w: 800, k: 7, stride: 2, pad: 3 },
      { name: 'conv1x1 1024→256 @50²', n: 1, cin: 1024, cout: 256, h: 50, w: 50, k: 1, stride: 1, pad: 0 },
    ] as ConvShape[],
    matmul: 4096,
    dcn: { c: 256, h: 100, w: 100 },
    gn: { c: 256, h: 100, w: 100 },
    focal: [13343, 17 * 100 * 100],
  },
  small: {
    convs: [
      { name: 'conv3x3 64→64 @32²', n: 1, cin: 64, cout: 64, h: 32, w: 32, k: 3, stride: 1, pad: 1 },
      { name: 'stem 7×7/2 3→16 @128²', n: 1, cin: 3, cout: 16, h: 128, w: 128, k: 7, stride: 2, pad: 3 },
      { name: 'conv1x1 256→64 @16²', n: 1, cin: 256, cout: 64, h: 16, w: 16, k: 1, stride: 1, pad: 0 },
    ] as ConvShape[],
    matmul: 512,
    dcn: { c: 64, h: 25, w: 25 },
    gn: { c: 256, h: 25, w: 25 },
    focal: [13343, 17 * 25 * 25],
  },
};

const outSize = (s: ConvShape, side: number) => conv2dOutputSize(side, s.k, s.stride, s.pad);

export async function kernelSuite(size: SizePreset, tf: Tf | null): Promise<BenchRow[]> {
  const rt = webgpu();
  const shapes = SHAPES[size];
  const rows: BenchRow[] = [];
  const gpu = { device: 'webgpu' as const };
  const withTfjs = (row: BenchRow, baselineMs: number | null): BenchRow => withBaseline(row, 'tfjs-webgpu', baselineMs);

  for (const s of shapes.convs) {
    const oh = outSize(s, s.h);
    const ow = outSize(s, s.w);
    const flops = 2 * s.n * s.cout * oh * ow * s.cin * s.k * s.k;
    const x = T.randn([s.n, s.cin, s.h, s.w], gpu);
    const w = T.randn([s.cout, s.cin, s.k, s.k], gpu);
    const dy = T.randn([s.n, s.cout, oh, ow], gpu);
    const fwd = await timeGpu(() => void T.tidy(() => conv2d(x, w, null, { stride: s.stride, padding: s.pad })));
    // The input gradient alone, as the backward pass runs it (tfjs' row below is its conv2dTranspose, also alone).
    const geometry = conv2dGeometry(x.shape, w.shape, { stride: s.stride, padding: s.pad });
    const dgrad = await timeGpu(() => void T.tidy(() => conv2dInputGradGpu(dy, w, geometry)));
    let tfFwd: number | null = null;
    let tfDgrad: number | null = null;
    if (tf) {
      const tx = tf.randomNormal([s.n, s.h, s.w, s.cin]) as import('@tensorflow/tfjs-core').Tensor4D;
      const tw = tf.randomNormal([s.k, s.k, s.cin, s.cout]) as import('@tensorflow/tfjs-core').Tensor4D;
      const tdy = tf.randomNormal([s.n, oh, ow, s.cout]) as import('@tensorflow/tfjs-core').Tensor4D;
      const pad: [[0, 0], [number, number], [number, number], [0, 0]] = [[0, 0], [s.pad, s.pad], [s.pad, s.pad], [0, 0]];
      tfFwd = await timeTfjs(tf, rt, () => tf.conv2d(tx, tw, s.stride, pad));
      tfDgrad = await timeTfjs(tf, rt, () => tf.conv2dTranspose(tdy, tw, [s.n, s.h, s.w, s.cin], s.stride, pad as never));
      tf.dispose([tx, tw, tdy]);
    }
    rows.push(withTfjs({ suite: 'conv2d', name: `${s.name} forward`, ms: fwd, gflops: flops / fwd / 1e6 }, tfFwd));
    rows.push(withTfjs({ suite: 'conv2d', name: `${s.name} input grad`, ms: dgrad, gflops: flops / dgrad / 1e6 }, tfDgrad));
    T.dispose([x, w, dy]);
  }

  {
    const m = shapes.matmul;
    const a = T.randn([m, m], gpu);
    const b = T.randn([m, m], gpu);
    const ms = await timeGpu(() => void T.tidy(() => T.matmul(a, b)));
    let tfMs: number | null = null;
    if (tf) {
      const ta = tf.randomNormal([m, m]) as import('@tensorflow/tfjs-core').Tensor2D;
      const tb = tf.randomNormal([m, m]) as import('@tensorflow/tfjs-core').Tensor2D;
      tfMs = await timeTfjs(tf, rt, () => tf.matMul(ta, tb));
      tf.dispose([ta, tb]);
    }
    rows.push(withTfjs({ suite: 'matmul', name: `matmul ${m}³`, ms, gflops: (2 * m ** 3) / ms / 1e6 }, tfMs));
    T.dispose([a, b]);
  }

  {
    const { c, h, w } = shapes.dcn;
    const x = T.randn([1, c, h, w], { ...gpu, requiresGrad: true });
    const offset = T.randn([1, 4 * 18, h, w], { ...gpu, requiresGrad: true });
    const weight = T.randn([c, c, 3, 3], { ...gpu, requiresGrad: true });
    const fwd = await timeGpu(() => void T.tidy(() => deformConv2d(x, offset, weight, null, { padding: 1 })));
    const both = await timeGpu(() => void T.tidy(() => T.grad(T.sum(deformConv2d(x, offset, weight, null, { padding: 1 })), [x, offset, weight])));
    const flops = 2 * c * c * 9 * h * w;
    rows.push({ suite: 'deformConv2d', name: `DCN 3×3 ${c}→${c} @${h}², 4 offset groups, forward`, ms: fwd, gflops: flops / fwd / 1e6 });
    rows.push({ suite: 'deformConv2d', name: `DCN 3×3 ${c}→${c} @${h}², 4 offset groups, forward+backward`, ms: both, gflops: (3 * flops) / both / 1e6 });
    T.dispose([x, offset, weight]);
  }

  {
    const { c, h, w } = shapes.gn;
    const x = T.randn([1, c, h, w], { ...gpu, requiresGrad: true });
    const gamma = T.ones([c], { ...gpu, requiresGrad: true });
    const beta = T.zeros([c], { ...gpu, requiresGrad: true });
    const both = await timeGpu(() => void T.tidy(() => T.grad(T.sum(groupNorm(x, 32, gamma, beta)), [x, gamma, beta])));
    let tfMs: number | null = null;
    if (tf) {
      // tfjs has neither GroupNorm nor, in its Node bundle, gradients (tf.grads): composed of its ops, the forward
      // and the analytic backward, over each group of channels (NHWC), with dy = 1 as our T.sum gives.
      const tx = tf.randomNormal([1, h, w, c]);
      const tg = tf.ones([c]);
      const tb = tf.zeros([c]);
      const dy = tf.ones([1, h, w, c]);
      const axes = [1, 2, 4];
      const grouped = (v: import('@tensorflow/tfjs-core').Tensor) => tf.reshape(v, [1, h, w, 32, c / 32]);
      tfMs = await timeTfjs(tf, rt, () => tf.tidy(() => {
        const x5 = grouped(tx);
        const { mean, variance } = tf.moments(x5, axes, true);
        const rstd = tf.rsqrt(tf.add(variance, 1e-5));
        const xhat = tf.mul(tf.sub(x5, mean), rstd);
        const y = tf.add(tf.mul(tf.reshape(xhat, [1, h, w, c]), tg), tb);
        const dxhat = grouped(tf.mul(dy, tg));
        const dx = tf.mul(rstd, tf.sub(tf.sub(dxhat, tf.mean(dxhat, axes, true)), tf.mul(xhat, tf.mean(tf.mul(dxhat, xhat), axes, true))));
        const dgamma = tf.sum(tf.mul(dy, tf.reshape(xhat, [1, h, w, c])), [0, 1, 2]);
        const dbeta = tf.sum(dy, [0, 1, 2]);
        return tf.concat([tf.reshape(y, [-1]), tf.reshape(dx, [-1]), dgamma, dbeta]);
      }));
      tf.dispose([tx, tg, tb, dy]);
    }
    rows.push(withTfjs({ suite: 'groupNorm', name: `GroupNorm(32) ${c}×${h}×${w} forward+backward`, ms: both, gbps: (4 * 4 * c * h * w) / both / 1e6, note: 'GB/s: ≈4 passes over the tensor; tfjs: composed, analytic backward' }, tfMs));
    T.dispose([x, gamma, beta]);
  }

  for (const n of shapes.focal) {
    const logits = T.randn([n], { ...gpu, requiresGrad: true });
    const targets = T.tensor(Float32Array.from({ length: n }, (_, i) => +(i % 97 === 0)), [n], gpu);
    const both = await timeGpu(() => void T.tidy(() => T.grad(sigmoidFocalLoss(logits, targets, { reduction: 'sum' }), [logits])));
    rows.push({ suite: 'focalLoss', name: `sigmoid focal loss, ${n} logits, forward+backward`, ms: both });
    T.dispose([logits, targets]);
  }
  return rows;
}
