/**
 * The bridge between ops and autograd: validates inputs (alive, same device), runs the forward computation and,
 * when gradients are on and some input requires one, records the backward rule on the result.
 */
import { backendFor, type Backend } from '../backend/index.js';
import { gradEnabled, nanCheckEachOp, webgpu, withGradDisabled } from '../tensor/engine.js';
import { isFloat } from '../tensor/dtype.js';
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

export function backendOf(op: string, inputs: readonly Tensor[]): Backend {
  return backendFor(commonDevice(op, inputs));
}

/**
 * Runs `forward` on the inputs' backend and attaches `backward` to the result when a gradient is needed.
 * `backward(g)` returns one gradient per input (null for inputs that need none).
 */
export function record(
  op: string,
  inputs: readonly Tensor[],
  forward: (backend: Backend) => Tensor,
  backward: (g: Tensor, out: Tensor) => (Tensor | null)[],
): Tensor {
  // Helper ops a forward pass uses internally (reshapes, broadcasts) need no history of their own.
  const backend = backendOf(op, inputs);
  const out = withGradDisabled(() => forward(backend));
  if (nanCheckEachOp() && isFloat(out.dtype)) checkOutput(op, out);
  if (gradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { op, inputs, backward: (g) => backward(g, out) };
  }
  return out;
}

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
