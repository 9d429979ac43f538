/**
 * The bridge between ops and autograd: validates inputs (alive, same device), runs the forward computation and,
 * when gradients are on and some input requires one, records the backward rule on the result.
 *
 * Ops make tensors the caller never sees: reshaped views of the inputs, the tensor a plain number becomes, the
 * pieces of an op composed of others. With a graph, the backward rules may hold them, and the enclosing `tidy`
 * frees them with the graph. Without one nothing does, so they are freed when the op returns: disposing the
 * inputs and the result then frees everything, as it would in a program that never heard of `tidy`.
 */
import { backendFor, type Backend } from '../backend/index.js';
import { gradEnabled, nanCheckEachOp, webgpu, withGradDisabled } from '../tensor/engine.js';
import { isFloat } from '../tensor/dtype.js';
import { tidy } from '../tensor/scope.js';
import { shapeStr } from '../tensor/shape.js';
import type { Device } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';

/** The device all inputs live on, or an error naming the op and the devices. */
export function commonDevice(op: string, inputs: readonly Tensor[]): Device {
  const devices = inputs.map((t) => t.storage(op).device);
  if (devices.some((d) => d !== devices[0])) {
    const listed = inputs.map((t, i) => `${shapeStr(t.shape)} on ${devices[i]}`).join(', ');
    throw new Error(`${op}: all inputs must be on one device; got ${listed}. Move them with \`to(tensor, device)\``);
  }
  return devices[0];
}

/** Whether an op on these inputs records a backward rule: gradients are on and some input requires one. */
function recordsGraph(inputs: readonly Tensor[]): boolean {
  return gradEnabled() && inputs.some((t) => t.requiresGrad);
}

/**
 * Runs `forward` on the inputs' backend and attaches `backward` to the result when a gradient is needed.
 * `backward(g)` returns one gradient per input (null for inputs that need none). Tensors `forward` makes besides
 * its result live on only if the backward rule may need them (a graph is recorded).
 */
export function record(
  op: string,
  inputs: readonly Tensor[],
  forward: (backend: Backend) => Tensor,
  backward: (g: Tensor, out: Tensor) => (Tensor | null)[],
): Tensor {
  const backend = backendFor(commonDevice(op, inputs));
  const graph = recordsGraph(inputs);
  // Helper ops a forward pass uses internally (reshapes, broadcasts) need no history of their own.
  const out = withGradDisabled(() => (graph ? forward(backend) : tidy(() => forward(backend))));
  if (nanCheckEachOp() && isFloat(out.dtype)) checkOutput(op, out);
  if (graph) {
    out.requiresGrad = true;
    out.gradFn = { op, inputs, backward: (g) => backward(g, out) };
  }
  return out;
}

/**
 * Runs an op written with other ops (or with plain numbers made tensors); without a graph, what it made on the
 * way is freed when it returns.
 */
export function composite<T extends Tensor>(inputs: readonly Tensor[], op: () => T): T {
  return recordsGraph(inputs) ? op() : tidy(op);
}

/** An input's gradient, computed only when the input requires one: a rule's other inputs may be constants. */
export const needs = (t: Tensor, grad: () => Tensor): Tensor | null => (t.requiresGrad ? grad() : null);

/** `setNanCheck('each-op')`: on the CPU the op's output is checked at once; on the GPU a kernel notes it for the next read. */
function checkOutput(op: string, out: Tensor): void {
  const storage = out.storage(op);
  if (storage.device === 'webgpu') {
    webgpu().checkFinite(storage.buffer, out.size, op);
    return;
  }
  const data = storage.data;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) throw new Error(`nan check: op '${op}' produced ${data[i]} at flat index ${i} of its output ${shapeStr(out.shape)}`);
  }
}
