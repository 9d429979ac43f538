/**
 * Weight initialisers, as PyTorch defines them, drawing from a seeded `Random` so that a model built twice from
 * the same seed is the same model. An initialiser maps a shape to values; `initTensor` puts them on a device.
 *
 * Fans follow torch.nn.init: for a conv weight [Cout, Cin/groups, KH, KW], fan_in = Cin/groups·KH·KW and
 * fan_out = Cout·KH·KW (PyTorch ignores groups in fan_out too).
 */
import { getDefaultDevice, tensor } from '../ops/creation.js';
import { defaultRandom, type Random } from '../tensor/random.js';
import { shapeStr, sizeOf, type Shape } from '../tensor/shape.js';
import type { Device } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';

export type Initializer = (shape: Shape, random: Random) => Float64Array;

/** Where and how a layer creates its tensors. */
export interface InitOptions {
  device?: Device;
  /** float64 is for CPU gradient checks; WebGPU holds float32 only. */
  dtype?: 'float32' | 'float64';
  /** The generator initialisers draw from (default: the global one, see `manualSeed`). */
  random?: Random;
}

export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`init: fan in/out needs a weight of rank ≥ 2, got shape ${shapeStr(shape)}`);
  const receptive = sizeOf(shape.slice(2));
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

function fill(shape: Shape, sample: () => number): Float64Array {
  const out = new Float64Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = sample();
  return out;
}

export const constant = (value: number): Initializer => (shape) => fill(shape, () => value);

export const normal = (std: number, mean = 0): Initializer => (shape, random) => fill(shape, () => random.normal(mean, std));

export const uniform = (low: number, high: number): Initializer => (shape, random) => fill(shape, () => random.uniform(low, high));

/** U(−a, a) with a = gain·√(6 / (fan_in + fan_out)): mmcv's xavier_init(distribution='uniform'). */
export const xavierUniform = (gain = 1): Initializer => (shape, random) => {
  const { fanIn, fanOut } = fans(shape);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(-a, a)(shape, random);
};

/**
 * U(−a, a) with a = √(3 / fan_in): mmcv's caffe2_xavier_init (kaiming_uniform with a = 1, leaky-ReLU gain 1),
 * Caffe2's "XavierFill", which HRFPN initialises its convs with (biases 0).
 */
export const caffe2Xavier = (): Initializer => (shape, random) => {
  const a = Math.sqrt(3 / fans(shape).fanIn);
  return uniform(-a, a)(shape, random);
};

/**
 * N(0, gain / √fan) with gain √2 for ReLU. torchvision's ResNet uses mode 'fan_out', so a conv's output
 * variance, not its input's, is preserved through the backward pass.
 */
export const kaimingNormal = (options: { mode?: 'fan_in' | 'fan_out'; nonlinearity?: 'relu' | 'linear' } = {}): Initializer =>
  (shape, random) => {
    const { fanIn, fanOut } = fans(shape);
    const gain = (options.nonlinearity ?? 'relu') === 'relu' ? Math.SQRT2 : 1;
    const fan = (options.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
    return normal(gain / Math.sqrt(fan))(shape, random);
  };

/** The bias that makes sigmoid(bias) = p, as mmcv's bias_init_with_prob: −log((1 − p) / p); p = 0.01 gives −4.595. */
export const biasForPrior = (p: number): number => -Math.log((1 - p) / p);

/** A tensor of `shape` filled by `init`, on the options' device and dtype. */
export function initTensor(shape: Shape, init: Initializer, options: InitOptions = {}): Tensor {
  const values = init(shape, options.random ?? defaultRandom());
  return tensor(values, shape, { dtype: options.dtype ?? 'float32', device: options.device ?? getDefaultDevice() });
}
