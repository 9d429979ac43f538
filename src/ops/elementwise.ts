/**
 * Elementwise ops with NumPy broadcasting, and their gradients. A gradient flowing into a broadcast operand is
 * summed back to the operand's shape (`sumTo`). Plain numbers are accepted wherever a tensor is, and take the
 * other operand's dtype and device (as tensors of their own, hence `composite`: record.ts; `where` gives two numbers
 * a dtype of their own); a number that dtype cannot hold (1.5 or NaN for int32, −1 for uint32) is an error rather
 * than truncated, as nothing promotes here.
 */
import { BINARY, UNARY, elementwiseFor, type BinaryOp, type UnaryOp } from '../kernels/elementwise-ops.js';
import { checkHolds, isFloat, type DType } from '../tensor/dtype.js';
import { broadcastShapes, shapeStr, shapesEqual } from '../tensor/shape.js';
import type { Device } from '../tensor/storage.js';
import { Tensor, describeValue } from '../tensor/tensor.js';
import { full, scalarLike } from './creation.js';
import { composite, record } from './record.js';
import { operandGrad } from './reduce.js';

export type Operand = Tensor | number;

function checkDtypes(op: string, a: Tensor, b: Tensor): DType {
  if (a.dtype !== b.dtype) throw new Error(`${op}: dtypes differ (${a.dtype} and ${b.dtype}); cast one with \`cast\``);
  return a.dtype;
}

const tensorsAmong = (...operands: Operand[]): Tensor[] => operands.filter((x): x is Tensor => x instanceof Tensor);

/** The dtype and device of numbers with no tensor beside them, and where that dtype came from, for errors. */
interface NumbersAlone {
  dtype: DType;
  device: Device;
  dtypeFrom: string;
}

/** The operands as tensors; a number takes the dtype and device of the other operand, or `alone` when both are numbers. */
function operands(op: string, a: Operand, b: Operand, alone?: NumbersAlone): [Tensor, Tensor] {
  const other = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
  const source = other ? { dtype: other.dtype, device: other.device, dtypeFrom: 'the dtype of the tensor it meets; cast that tensor first' } : alone;
  if (!source) throw new Error(`${op}: at least one operand must be a tensor`);
  const asTensor = (x: Operand): Tensor => {
    if (typeof x !== 'number') {
      if (!(x instanceof Tensor)) throw new Error(`${op}: operands must be tensors or numbers, got ${x === null ? 'null' : typeof x}`);
      return x;
    }
    // The number must fit that dtype as it is: in an integer one, 1.5 would silently become 1 (PyTorch promotes to float).
    checkHolds(op, x, source.dtype, source.dtypeFrom);
    return full([], x, { dtype: source.dtype, device: source.device });
  };
  return [asTensor(a), asTensor(b)];
}

/**
 * Each side's gradient as a function, called only for a side that requires one (the other is often a constant);
 * null where the op is flat in that side.
 */
type SideGrad = (() => Tensor) | null;
type BinaryGrads = (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [SideGrad, SideGrad];

const sideGrad = (t: Tensor, grad: SideGrad): Tensor | null => (grad ? operandGrad(t, grad) : null);

function binary(op: BinaryOp, a: Operand, b: Operand, grads?: BinaryGrads): Tensor {
  return composite(tensorsAmong(a, b), () => {
    const [ta, tb] = operands(op, a, b);
    const dtype = checkDtypes(op, ta, tb);
    elementwiseFor(op, BINARY[op], dtype); // an op undefined for the dtype is an error here, before any kernel
    const outShape = broadcastShapes(op, ta.shape, tb.shape);
    return record(op, [ta, tb], (be) => be.binary(op, ta, tb, outShape), (g, out) => {
      if (!grads) return [null, null];
      const [ga, gb] = grads(g, ta, tb, out);
      return [sideGrad(ta, ga), sideGrad(tb, gb)];
    });
  });
}

function unary(op: UnaryOp, x: Tensor, grad?: (g: Tensor, x: Tensor, out: Tensor) => Tensor): Tensor {
  elementwiseFor(op, UNARY[op], x.dtype);
  return record(op, [x], (be) => be.unary(op, x), (g, out) => [grad ? grad(g, x, out) : null]);
}

export const add = (a: Operand, b: Operand): Tensor => binary('add', a, b, (g) => [() => g, () => g]);
export const sub = (a: Operand, b: Operand): Tensor => binary('sub', a, b, (g) => [() => g, () => neg(g)]);
export const mul = (a: Operand, b: Operand): Tensor => binary('mul', a, b, (g, a, b) => [() => mul(g, b), () => mul(g, a)]);
/** d(a/b)/db = −a/b² = −out/b. */
export const div = (a: Operand, b: Operand): Tensor =>
  binary('div', a, b, (g, _a, b, out) => [() => div(g, b), () => neg(mul(g, div(out, b)))]);
/** d(aᵇ)/da = b·aᵇ⁻¹; d(aᵇ)/db = aᵇ·ln a (only meaningful for a > 0). */
export const pow = (a: Operand, b: Operand): Tensor =>
  binary('pow', a, b, (g, a, b, out) => [() => mul(g, mul(b, pow(a, sub(b, 1)))), () => mul(g, mul(out, log(a)))]);
/**
 * A side's share of the gradient of maximum or minimum, PyTorch's rule: all of it where that side won, none where
 * it lost, half at a tie (and all of it beside a NaN, which neither wins nor loses).
 */
const share = (g: Tensor, lost: Tensor, tie: Tensor): Tensor => mul(g, sub(1, add(lost, mul(tie, 0.5))));
export const maximum = (a: Operand, b: Operand): Tensor =>
  binary('maximum', a, b, (g, a, b) => {
    const tie = eq(a, b);
    return [() => share(g, lt(a, b), tie), () => share(g, gt(a, b), tie)];
  });
export const minimum = (a: Operand, b: Operand): Tensor =>
  binary('minimum', a, b, (g, a, b) => {
    const tie = eq(a, b);
    return [() => share(g, gt(a, b), tie), () => share(g, lt(a, b), tie)];
  });

/** relu's gradient: g where x > 0 or x is NaN, else 0 (torch's threshold_backward); linear in g, so twice differentiable. */
export const reluBackward = (g: Operand, x: Operand): Tensor => binary('reluBackward', g, x, (gg, _g, x) => [() => reluBackward(gg, x), null]);

/** relu(a + b) in one kernel, bit for bit; both sides get relu's gradient rule applied to the output. */
export const addRelu = (a: Operand, b: Operand): Tensor =>
  binary('addRelu', a, b, (g, _a, _b, out) => {
    let masked: Tensor | undefined;
    const grad = () => (masked ??= reluBackward(g, out));
    return [grad, grad];
  });

// Comparisons return 0/1 in the operands' dtype and have no gradient.
export const gt = (a: Operand, b: Operand): Tensor => binary('gt', a, b);
export const ge = (a: Operand, b: Operand): Tensor => binary('ge', a, b);
export const lt = (a: Operand, b: Operand): Tensor => binary('lt', a, b);
export const le = (a: Operand, b: Operand): Tensor => binary('le', a, b);
export const eq = (a: Operand, b: Operand): Tensor => binary('eq', a, b);
export const ne = (a: Operand, b: Operand): Tensor => binary('ne', a, b);

export const neg = (x: Tensor): Tensor => unary('neg', x, (g) => neg(g));
export const exp = (x: Tensor): Tensor => unary('exp', x, (g, _x, out) => mul(g, out));
export const log = (x: Tensor): Tensor => unary('log', x, (g, x) => div(g, x));
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x, (g, _x, out) => div(g, mul(out, 2)));
export const abs = (x: Tensor): Tensor => unary('abs', x, (g, x) => mul(g, sign(x)));
export const relu = (x: Tensor): Tensor => unary('relu', x, (g, x) => reluBackward(g, x));
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x, (g, _x, s) => mul(g, mul(s, sub(1, s))));
export const tanh = (x: Tensor): Tensor => unary('tanh', x, (g, _x, t) => mul(g, sub(1, mul(t, t))));
// Piecewise-constant: zero gradient, so none is recorded.
export const sign = (x: Tensor): Tensor => unary('sign', x);
export const floor = (x: Tensor): Tensor => unary('floor', x);
export const round = (x: Tensor): Tensor => unary('round', x);
/** 1 where x > 0, else 0. */
export const step = (x: Tensor): Tensor => unary('step', x);

export const square = (x: Tensor): Tensor => mul(x, x);
/** The gradient passes where low ≤ x ≤ high, bounds included (torch.clamp), and not at a NaN. */
export function clamp(x: Tensor, low: number, high: number): Tensor {
  // Checked here so that the error names clamp, not the maximum and minimum it is made of.
  for (const bound of [low, high]) {
    if (typeof bound !== 'number') throw new Error(`clamp: the bounds must be numbers, got ${describeValue(bound)}`);
    checkHolds('clamp', bound, x.dtype, 'the dtype of the tensor clamped');
  }
  return record('clamp', [x], () => minimum(maximum(x, low), high), (g) => [mul(g, mul(ge(x, low), le(x, high)))]);
}

/**
 * cond ? a : b elementwise (cond nonzero means true), broadcasting all three. A number takes the dtype of the tensor
 * beside it; two numbers, as in PyTorch, take float32 if either is not an integer, else int32 (PyTorch's int64, which
 * is not here). cond's dtype has no say: an int32 mask made the numbers int32, and refused where(mask, 1.5, 0).
 */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  return composite([cond, ...tensorsAmong(a, b)], () => {
    const dtype = Number.isInteger(a) && Number.isInteger(b) ? 'int32' : 'float32';
    // float32 holds any number: only two integers can be refused (one beyond int32's range).
    const alone: NumbersAlone = { dtype, device: cond.device, dtypeFrom: "the dtype of two integers (PyTorch's int64 is not here)" };
    const [ta, tb] = operands('where', a, b, alone);
    checkDtypes('where', ta, tb);
    const outShape = broadcastShapes('where', broadcastShapes('where', cond.shape, ta.shape), tb.shape);
    return record('where', [cond, ta, tb], (be) => be.where(cond, ta, tb, outShape), (g) => {
      const zero = scalarLike(0, g);
      return [null, operandGrad(ta, () => where(cond, g, zero)), operandGrad(tb, () => where(cond, zero, g))];
    });
  });
}

/**
 * x₀ + x₁ + … for tensors of one shape and dtype (tf.addN), in list order, so that it equals a chain of `add`s
 * bit for bit; one kernel for up to as many tensors as the adapter binds. Each input's gradient is g.
 */
export function addN(xs: readonly Tensor[]): Tensor {
  if (xs.length === 0) throw new Error('addN: needs at least one tensor');
  const [first] = xs;
  xs.forEach((x, i) => {
    if (!shapesEqual(x.shape, first!.shape) || x.dtype !== first!.dtype) {
      throw new Error(`addN: tensors must share one shape and dtype; tensor 0 is ${first!.dtype} ${shapeStr(first!.shape)}, tensor ${i} ${x.dtype} ${shapeStr(x.shape)}`);
    }
  });
  if (xs.length === 1) return add(first!, 0);
  const inputs = [...xs]; // the graph keeps its own list: the caller may change theirs later
  return record('addN', inputs, (be) => be.addN(inputs), (g) => inputs.map(() => g));
}

/** Converts the dtype. The gradient passes through between float types. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return add(x, 0);
  return record('cast', [x], (be) => be.cast(x, dtype), (g) => [isFloat(dtype) ? cast(g, x.dtype) : null]);
}
