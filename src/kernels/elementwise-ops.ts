/**
 * The elementwise op table: each op once, with its scalar definition for the CPU reference and its WGSL
 * expression for the GPU template. Adding an op here makes it available on both backends.
 */
import type { DType, TypedArray } from '../tensor/dtype.js';

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sign' | 'relu' | 'sigmoid' | 'tanh' | 'floor' | 'round' | 'step';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne' | 'reluBackward' | 'addRelu';

interface ElementwiseDef<F> {
  cpu: F;
  /** WGSL expression over the operand names; `T` is the element type (f32, i32, u32), a WGSL alias the template declares. */
  wgsl: string;
  /** The dtypes it is defined for besides the floats: every integer type, only the signed one, or none. */
  integers: 'all' | 'signed' | 'none';
  /** Where WGSL's integer arithmetic differs from `cpu` on integral doubles: its definition for integer dtypes. */
  cpuInteger?: F;
  /** Where floats need more than `wgsl`: their WGSL expression (`isNan` is defined beside it). */
  wgslFloat?: string;
}

/**
 * A NaN operand gives NaN, as in PyTorch: WGSL's max/min leave it undefined (lavapipe drops it), and a NaN that
 * vanishes in a relu or a clamp would hide a diverging run. NaN is told by its bits, since WGSL lets a compiler
 * assume that no value is NaN (and fold `x != x` to false).
 */
export const IS_NAN_WGSL = 'fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }';
const nanPropagating = (expr: string, operands: string[]): string =>
  `select(${expr}, ${operands.join(' + ')}, ${operands.map((o) => `isNan(${o})`).join(' || ')})`;

/** Sigmoid computed from exp(−|x|) so that neither branch can overflow. */
export function sigmoid(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/** To the nearest integer, ties to the even one: as WGSL's round(), NumPy and torch.round. */
export function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export const UNARY: Record<UnaryOp, ElementwiseDef<(x: number) => number>> = {
  neg: { cpu: (x) => -x, wgsl: '-x', integers: 'signed' },
  exp: { cpu: Math.exp, wgsl: 'exp(x)', integers: 'none' },
  log: { cpu: Math.log, wgsl: 'log(x)', integers: 'none' },
  sqrt: { cpu: Math.sqrt, wgsl: 'sqrt(x)', integers: 'none' },
  abs: { cpu: Math.abs, wgsl: 'abs(x)', integers: 'all' },
  // torch.sign(NaN) is 0, and so abs's gradient g·sign(x) is 0 there (JavaScript's Math.sign gives NaN).
  sign: { cpu: (x) => (Number.isNaN(x) ? 0 : Math.sign(x)), wgsl: 'sign(x)', wgslFloat: 'select(sign(x), T(0), isNan(x))', integers: 'signed' },
  relu: { cpu: (x) => (x > 0 || Number.isNaN(x) ? x : 0), wgsl: 'max(x, T(0))', wgslFloat: nanPropagating('max(x, 0.0)', ['x']), integers: 'all' },
  /** 1 where x > 0, else 0. */
  step: { cpu: (x) => (x > 0 ? 1 : 0), wgsl: 'T(x > T(0))', integers: 'all' },
  sigmoid: {
    cpu: sigmoid,
    wgsl: 'select(exp(-abs(x)) / (1.0 + exp(-abs(x))), 1.0 / (1.0 + exp(-abs(x))), x >= 0.0)',
    integers: 'none',
  },
  // From e^(−2|x|), which cannot overflow; below |x| = 0.1, where 1 − e^(−2|x|) would cancel, its series to x⁷
  // (truncation error < 3e-10 relative there).
  tanh: {
    cpu: Math.tanh,
    wgsl: 'select(sign(x) * (1.0 - exp(-2.0 * abs(x))) / (1.0 + exp(-2.0 * abs(x))), x * (1.0 - x * x * (1.0 / 3.0 - x * x * (2.0 / 15.0 - x * x * (17.0 / 315.0)))), abs(x) < 0.1)',
    integers: 'none',
  },
  floor: { cpu: Math.floor, wgsl: 'floor(x)', integers: 'none' },
  round: {
    cpu: roundHalfToEven,
    wgsl: 'round(x)',
    integers: 'none',
  },
};

/**
 * pow for a negative base is real only for integral exponents: there it is |a|^b with the sign of an odd b, and NaN
 * otherwise, as in JavaScript and NumPy. WGSL's pow() is undefined for a < 0, so its kernel builds both cases by hand.
 */
// The NaN is built from a runtime value: WGSL rejects a NaN constant expression.
const POW_WGSL =
  'select(select(bitcast<f32>(0x7fc00000u | (bitcast<u32>(b) & 0u)), pow(abs(a), b) * select(1.0, -1.0, fract(b * 0.5) != 0.0), b == floor(b)), pow(a, b), a >= 0.0)';

export const BINARY: Record<BinaryOp, ElementwiseDef<(a: number, b: number) => number>> = {
  add: { cpu: (a, b) => a + b, wgsl: 'a + b', integers: 'all' },
  sub: { cpu: (a, b) => a - b, wgsl: 'a - b', integers: 'all' },
  // Integers: the low 32 bits of the exact product, as WGSL wraps (a double would round past 2^53 first).
  mul: { cpu: (a, b) => a * b, cpuInteger: Math.imul, wgsl: 'a * b', integers: 'all' },
  // Integers: toward zero, and a / 0 = a, as WGSL defines it.
  div: { cpu: (a, b) => a / b, cpuInteger: (a, b) => (b === 0 ? a : Math.trunc(a / b)), wgsl: 'a / b', integers: 'all' },
  pow: { cpu: Math.pow, wgsl: POW_WGSL, integers: 'none' },
  maximum: { cpu: Math.max, wgsl: 'max(a, b)', wgslFloat: nanPropagating('max(a, b)', ['a', 'b']), integers: 'all' },
  minimum: { cpu: Math.min, wgsl: 'min(a, b)', wgslFloat: nanPropagating('min(a, b)', ['a', 'b']), integers: 'all' },
  gt: { cpu: (a, b) => +(a > b), wgsl: 'T(a > b)', integers: 'all' },
  ge: { cpu: (a, b) => +(a >= b), wgsl: 'T(a >= b)', integers: 'all' },
  lt: { cpu: (a, b) => +(a < b), wgsl: 'T(a < b)', integers: 'all' },
  le: { cpu: (a, b) => +(a <= b), wgsl: 'T(a <= b)', integers: 'all' },
  eq: { cpu: (a, b) => +(a === b), wgsl: 'T(a == b)', integers: 'all' },
  ne: { cpu: (a, b) => +(a !== b), wgsl: 'T(a != b)', integers: 'all' },
  /**
   * relu's gradient g = a at x = b, torch's threshold_backward: 0 where x ≤ 0, whatever g is (an infinite or NaN g
   * too), and g elsewhere, a NaN x included (relu passed the NaN on). One kernel, where g·step(x) took two.
   */
  reluBackward: { cpu: (g, x) => (x <= 0 ? 0 : g), wgsl: 'select(a, T(0), b <= T(0) && !isNan(b))', integers: 'none' },
  /**
   * relu(a + b), a residual block's end: one kernel and one pass where add then relu took two. On int32 the sum
   * wraps before the ReLU, as add's does (uint32 has no use for a ReLU).
   */
  addRelu: {
    cpu: (a, b) => UNARY.relu.cpu(a + b),
    cpuInteger: (a, b) => Math.max((a + b) | 0, 0),
    wgsl: 'max(a + b, T(0))',
    wgslFloat: nanPropagating('max(a + b, 0.0)', ['(a + b)']),
    integers: 'signed',
  },
};

/**
 * `relu(x)` and `reluBackward(g, y)` as f32 WGSL functions, from the table's expressions: for kernels that fuse a
 * ReLU into their output (conv2dRelu, groupNormRelu) and must agree with the elementwise ops bit for bit.
 */
export const RELU_WGSL = `${IS_NAN_WGSL}
// The table's expressions name the element type T (the elementwise template's alias).
alias T = f32;
fn relu(x: f32) -> f32 { return ${UNARY.relu.wgslFloat}; }
fn reluBackward(a: f32, b: f32) -> f32 { return ${BINARY.reluBackward.wgsl}; }`;

/** The CPU half of the same fusion: relu applied in place to a reference kernel's output. */
export function reluInPlace(values: TypedArray): void {
  for (let i = 0; i < values.length; i++) values[i] = UNARY.relu.cpu(values[i]!);
}

/** The op's definition for a dtype: its scalar function and WGSL expression, or why it has none. */
export function elementwiseFor<F>(op: string, def: ElementwiseDef<F>, dtype: DType): { cpu: F; wgsl: string } {
  const float = dtype === 'float32' || dtype === 'float64';
  if (!float && (def.integers === 'none' || (def.integers === 'signed' && dtype !== 'int32'))) {
    throw new Error(`${op}: needs a ${def.integers === 'none' ? 'floating-point' : 'signed'} dtype, got ${dtype}`);
  }
  return float ? { cpu: def.cpu, wgsl: def.wgslFloat ?? def.wgsl } : { cpu: def.cpuInteger ?? def.cpu, wgsl: def.wgsl };
}
