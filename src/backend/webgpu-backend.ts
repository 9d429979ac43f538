/** The WebGPU backend: each primitive builds its WGSL from a template and records one dispatch (or a few). */
import { BINARY, UNARY } from '../kernels/elementwise-ops.js';
import { gridStride1d } from '../kernels/wgsl/common.js';
import { elementwiseKernel } from '../kernels/wgsl/elementwise.js';
import { copyRowsKernel, indexAddKernel, indexSelectKernel } from '../kernels/wgsl/index-select.js';
import { matmulKernel } from '../kernels/wgsl/matmul.js';
import { reduceKernel } from '../kernels/wgsl/reduce.js';
import { windowKernel } from '../kernels/wgsl/window.js';
import { bytesPerElement, wgslType, type DType, type TypedArray } from '../tensor/dtype.js';
import { webgpu } from '../tensor/engine.js';
import { sizeOf, type Shape } from '../tensor/shape.js';
import { Storage } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import type { Backend } from './backend.js';

/** A fresh, uninitialised GPU tensor. */
export function emptyGpu(shape: Shape, dtype: DType, op: string): Tensor {
  wgslType(dtype); // rejects float64 with a clear message
  const rt = webgpu();
  const buffer = rt.allocate(sizeOf(shape) * bytesPerElement(dtype));
  return new Tensor(Storage.gpu(buffer, () => rt.release(buffer)), shape, dtype, op);
}

const buf = (t: Tensor): GPUBuffer => t.storage().buffer;

/** Runs a generated 1-D kernel over `n` outputs into a new tensor. */
function run1d(label: string, kernel: { code: string; params: Uint32Array }, inputs: Tensor[], out: Tensor): Tensor {
  webgpu().dispatch({ label, code: kernel.code }, { buffers: [...inputs.map(buf), buf(out)], params: kernel.params, workgroups: gridStride1d(out.size) });
  return out;
}

function elementwise(label: string, inputs: { t: Tensor; name: string }[], outShape: Shape, outDtype: DType, expr: string): Tensor {
  const out = emptyGpu(outShape, outDtype, label);
  const kernel = elementwiseKernel(inputs.map(({ t, name }) => ({ name, dtype: t.dtype, shape: t.shape })), outShape, outDtype, expr);
  return run1d(label, kernel, inputs.map((i) => i.t), out);
}

export const webgpuBackend: Backend = {
  device: 'webgpu',
  fromArray(values: TypedArray, shape, dtype, op = 'tensor') {
    wgslType(dtype);
    const rt = webgpu();
    const buffer = rt.upload(values);
    return new Tensor(Storage.gpu(buffer, () => rt.release(buffer)), shape, dtype, op);
  },
  unary: (op, x) => elementwise(op, [{ t: x, name: 'x' }], x.shape, x.dtype, UNARY[op].wgsl),
  binary: (op, a, b, outShape, outDtype) =>
    elementwise(op, [{ t: a, name: 'a' }, { t: b, name: 'b' }], outShape, outDtype, BINARY[op].wgsl),
  where: (c, a, b, outShape) =>
    elementwise('where', [{ t: c, name: 'c' }, { t: a, name: 'a' }, { t: b, name: 'b' }], outShape, a.dtype, `select(b, a, c != ${wgslType(c.dtype)}(0))`),
  cast: (x, dtype) => elementwise('cast', [{ t: x, name: 'x' }], x.shape, dtype, 'T(x)'),
  reduce(op, x, axis) {
    const outer = sizeOf(x.shape.slice(0, axis));
    const inner = sizeOf(x.shape.slice(axis + 1));
    const shape = x.shape.map((d, i) => (i === axis ? 1 : d));
    const out = emptyGpu(shape, op === 'argmax' ? 'int32' : x.dtype, op);
    const plan = reduceKernel(op, x.dtype, outer, x.shape[axis], inner);
    webgpu().dispatch({ label: op, code: plan.code }, { buffers: [buf(x), buf(out)], params: plan.params, workgroups: plan.workgroups });
    return out;
  },
  window: (x, outShape, spec) => run1d('window', windowKernel(outShape, spec, x.dtype), [x], emptyGpu(outShape, x.dtype, 'window')),
  concat(xs, axis, outShape) {
    const out = emptyGpu(outShape, xs[0].dtype, 'concat');
    const outer = sizeOf(outShape.slice(0, axis));
    const inner = sizeOf(outShape.slice(axis + 1));
    let offset = 0;
    for (const x of xs) {
      const kernel = copyRowsKernel(x.dtype, outer, x.shape[axis], outShape[axis], inner, offset);
      webgpu().dispatch({ label: 'concat', code: kernel.code }, { buffers: [buf(x), buf(out)], params: kernel.params, workgroups: gridStride1d(x.size) });
      offset += x.shape[axis];
    }
    return out;
  },
  indexSelect: (x, outer, rows, inner, index, outShape) =>
    run1d('indexSelect', indexSelectKernel(x.dtype, outer, rows, inner, index.size), [x, index], emptyGpu(outShape, x.dtype, 'indexSelect')),
  indexAdd: (src, outer, rows, inner, index, outShape) =>
    run1d('indexAdd', indexAddKernel(src.dtype, outer, rows, inner, index.size), [src, index], emptyGpu(outShape, src.dtype, 'indexAdd')),
  matmul(a, b, dims, outShape) {
    const out = emptyGpu(outShape, a.dtype, 'matmul');
    const kernel = matmulKernel(dims);
    webgpu().dispatch({ label: 'matmul', code: kernel.code }, { buffers: [buf(a), buf(b), buf(out)], params: kernel.params, workgroups: kernel.workgroups });
    return out;
  },
};
