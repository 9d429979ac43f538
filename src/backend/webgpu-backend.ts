/** The WebGPU backend: each primitive builds its WGSL from a template and records one dispatch (or a few). */
import { BINARY, UNARY, elementwiseFor } from '../kernels/elementwise-ops.js';
import type { Program } from '../kernels/program.js';
import { elementwiseKernel } from '../kernels/wgsl/elementwise.js';
import { copyRowsKernel, indexAddKernel, indexSelectKernel } from '../kernels/wgsl/index-select.js';
import { gemmTarget } from '../kernels/wgsl/gemm.js';
import { matmulKernel } from '../kernels/wgsl/matmul.js';
import { reduceKernel } from '../kernels/wgsl/reduce.js';
import { windowKernel } from '../kernels/wgsl/window.js';
import { bytesPerElement, isFloat, wgslType, type DType, type TypedArray } from '../tensor/dtype.js';
import { webgpu } from '../tensor/engine.js';
import { sizeOf, splitAtAxis, type Shape } from '../tensor/shape.js';
import { Storage } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import type { Backend } from './backend.js';
import { gpuDevice, launch } from './launch.js';
import { cachedProgram, specialisedProgram } from './program-cache.js';

/** A fresh, uninitialised GPU tensor. */
export function emptyGpu(shape: Shape, dtype: DType, op: string): Tensor {
  wgslType(dtype); // rejects float64 with a clear message
  const rt = webgpu();
  const buffer = rt.allocate(sizeOf(shape) * bytesPerElement(dtype));
  return new Tensor(Storage.gpu(buffer, () => rt.release(buffer)), shape, dtype, op);
}

function elementwise(label: string, inputs: { t: Tensor; name: string }[], outShape: Shape, outDtype: DType, expr: string): Tensor {
  const out = emptyGpu(outShape, outDtype, label);
  const operands = inputs.map(({ t, name }) => ({ name, dtype: t.dtype, shape: t.shape }));
  const key = `elementwise ${label}|${operands.map((o) => `${o.name}:${o.dtype}:${o.shape.join('×')}`).join(',')}|${outShape.join('×')}:${outDtype}|${expr}`;
  const device = gpuDevice();
  launch(cachedProgram(device, key, () => elementwiseKernel(label, operands, outShape, outDtype, expr, device)), [...inputs.map((i) => i.t), out]);
  return out;
}

/** A new tensor of op `op` and `outShape` that `program` writes, reading `inputs`. */
function into(op: string, outShape: Shape, dtype: DType, program: Program, inputs: Tensor[]): Tensor {
  const out = emptyGpu(outShape, dtype, op);
  launch(program, [...inputs, out]);
  return out;
}

export const webgpuBackend: Backend = {
  device: 'webgpu',
  fromArray(values: TypedArray, shape, dtype, op = 'tensor') {
    wgslType(dtype);
    const rt = webgpu();
    const buffer = rt.upload(values);
    return new Tensor(Storage.gpu(buffer, () => rt.release(buffer)), shape, dtype, op);
  },
  unary: (op, x) => elementwise(op, [{ t: x, name: 'x' }], x.shape, x.dtype, elementwiseFor(op, UNARY[op], x.dtype).wgsl),
  binary: (op, a, b, outShape) =>
    elementwise(op, [{ t: a, name: 'a' }, { t: b, name: 'b' }], outShape, a.dtype, elementwiseFor(op, BINARY[op], a.dtype).wgsl),
  // A NaN condition is true (nonzero), as on the CPU; told by its bits, since a compiler may take c != 0 as false there.
  where: (c, a, b, outShape) =>
    elementwise('where', [{ t: c, name: 'c' }, { t: a, name: 'a' }, { t: b, name: 'b' }], outShape, a.dtype,
      `select(b, a, c != ${wgslType(c.dtype)}(0)${c.dtype === 'float32' ? ' || isNan(c)' : ''})`),
  addN(xs) {
    // As many operands per kernel as the adapter binds beside the output; past that, the running sum leads the next kernel.
    const perKernel = gpuDevice().limits.maxStorageBuffersPerShaderStage - 1;
    let total: Tensor | null = null;
    for (let start = 0; start < xs.length; ) {
      const operands = total ? [total, ...xs.slice(start, start + perKernel - 1)] : xs.slice(start, start + perKernel);
      start += total ? operands.length - 1 : operands.length;
      const inputs = operands.map((t, k) => ({ t, name: `x${k}` }));
      const next = elementwise('addN', inputs, xs[0]!.shape, xs[0]!.dtype, inputs.map((i) => i.name).join(' + '));
      total?.dispose();
      total = next;
    }
    return total!;
  },
  // NaN to an integer is 0, as on the CPU (WGSL leaves it indeterminate: lavapipe gave −2³¹ or 0).
  cast: (x, dtype) => elementwise('cast', [{ t: x, name: 'x' }], x.shape, dtype, x.dtype === 'float32' && !isFloat(dtype) ? 'select(T(x), T(0), isNan(x))' : 'T(x)'),
  reduce(op, x, axis) {
    const [outer, r, inner] = splitAtAxis(x.shape, axis);
    const shape = x.shape.map((d, i) => (i === axis ? 1 : d));
    const device = gpuDevice();
    const program = cachedProgram(device, `reduce ${op}|${x.dtype}|${outer},${r},${inner}`, () => reduceKernel(op, x.dtype, outer, r, inner, device));
    return into(op, shape, op === 'argmax' ? 'int32' : x.dtype, program, [x]);
  },
  window: (x, outShape, spec) => {
    const device = gpuDevice();
    // The fill as written (−0 and 0 differ in the program's bits; String() would print both as 0).
    const fill = Object.is(spec.fill, -0) ? '-0' : String(spec.fill);
    const key = `window|${x.dtype}|${outShape.join(',')}|${spec.coef.join(',')}|${spec.shift.join(',')}|${spec.step.join(',')}|${spec.bound.join(',')}|${fill}`;
    const program = specialisedProgram(device, key, () => windowKernel(outShape, spec, x.dtype, device, 'general'), () => windowKernel(outShape, spec, x.dtype, device, 'specialised'));
    return into('window', outShape, x.dtype, program, [x]);
  },
  concat(xs, axis, outShape) {
    const out = emptyGpu(outShape, xs[0].dtype, 'concat');
    const outer = sizeOf(outShape.slice(0, axis));
    const inner = sizeOf(outShape.slice(axis + 1));
    let offset = 0;
    const device = gpuDevice();
    for (const x of xs) {
      const args = [outer, x.shape[axis], outShape[axis], inner, offset] as const;
      launch(cachedProgram(device, `copyRows|${x.dtype}|${args.join(',')}`, () => copyRowsKernel(x.dtype, ...args, device)), [x, out]);
      offset += x.shape[axis];
    }
    return out;
  },
  indexSelect: (x, outer, rows, inner, index, outShape) =>
    into('indexSelect', outShape, x.dtype, indexSelectKernel(x.dtype, outer, rows, inner, index.size, gpuDevice()), [x, index]),
  indexAdd: (src, outer, rows, inner, index, outShape) =>
    into('indexAdd', outShape, src.dtype, indexAddKernel(src.dtype, outer, rows, inner, index.size, gpuDevice()), [src, index]),
  matmul: (a, b, dims, outShape) => {
    const device = gpuDevice();
    const key = `matmul|${dims.batch},${dims.m},${dims.n},${dims.k}|${dims.transA},${dims.transB}|${dims.sharedA ?? false},${dims.sharedB ?? false}`;
    const program = cachedProgram(device, key, () => matmulKernel(dims, gemmTarget(device)));
    return into('matmul', outShape, a.dtype, program, [a, b]);
  },
};
