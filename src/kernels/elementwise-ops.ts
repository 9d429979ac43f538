/**
 * The elementwise op table: each op once, with its scalar definition for the CPU reference and its WGSL
 * expression for the GPU template. Adding an op here makes it available on both backends.
 */
export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sign' | 'relu' | 'sigmoid' | 'tanh' | 'floor' | 'round' | 'step';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne';

interface ElementwiseDef<F> {
  cpu: F;
  /** WGSL expression over the operand names; `T` is replaced by the element type (f32, i32, u32). */
  wgsl: string;
  /** Defined for integer dtypes too. */
  integer: boolean;
}

/** Sigmoid computed from exp(−|x|) so that neither branch can overflow. */
function sigmoid(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/** To the nearest integer, ties to the even one: as WGSL's round(), NumPy and torch.round. */
export function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export const UNARY: Record<UnaryOp, ElementwiseDef<(x: number) => number>> = {
  neg: { cpu: (x) => -x, wgsl: '-x', integer: true },
  exp: { cpu: Math.exp, wgsl: 'exp(x)', integer: false },
  log: { cpu: Math.log, wgsl: 'log(x)', integer: false },
  sqrt: { cpu: Math.sqrt, wgsl: 'sqrt(x)', integer: false },
  abs: { cpu: Math.abs, wgsl: 'abs(x)', integer: true },
  sign: { cpu: Math.sign, wgsl: 'sign(x)', integer: true },
  relu: { cpu: (x) => (x > 0 ? x : 0), wgsl: 'max(x, T(0))', integer: true },
  /** 1 where x > 0, else 0: the derivative of relu. */
  step: { cpu: (x) => (x > 0 ? 1 : 0), wgsl: 'T(x > T(0))', integer: true },
  sigmoid: {
    cpu: sigmoid,
    wgsl: 'select(exp(-abs(x)) / (1.0 + exp(-abs(x))), 1.0 / (1.0 + exp(-abs(x))), x >= 0.0)',
    integer: false,
  },
  tanh: {
    cpu: Math.tanh,
    wgsl: 'sign(x) * (1.0 - exp(-2.0 * abs(x))) / (1.0 + exp(-2.0 * abs(x)))',
    integer: false,
  },
  floor: { cpu: Math.floor, wgsl: 'floor(x)', integer: false },
  round: {
    cpu: roundHalfToEven,
    wgsl: 'round(x)',
    integer: false,
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
  add: { cpu: (a, b) => a + b, wgsl: 'a + b', integer: true },
  sub: { cpu: (a, b) => a - b, wgsl: 'a - b', integer: true },
  mul: { cpu: (a, b) => a * b, wgsl: 'a * b', integer: true },
  div: { cpu: (a, b) => a / b, wgsl: 'a / b', integer: true },
  pow: { cpu: Math.pow, wgsl: POW_WGSL, integer: false },
  maximum: { cpu: Math.max, wgsl: 'max(a, b)', integer: true },
  minimum: { cpu: Math.min, wgsl: 'min(a, b)', integer: true },
  gt: { cpu: (a, b) => +(a > b), wgsl: 'T(a > b)', integer: true },
  ge: { cpu: (a, b) => +(a >= b), wgsl: 'T(a >= b)', integer: true },
  lt: { cpu: (a, b) => +(a < b), wgsl: 'T(a < b)', integer: true },
  le: { cpu: (a, b) => +(a <= b), wgsl: 'T(a <= b)', integer: true },
  eq: { cpu: (a, b) => +(a === b), wgsl: 'T(a == b)', integer: true },
  ne: { cpu: (a, b) => +(a !== b), wgsl: 'T(a != b)', integer: true },
};
