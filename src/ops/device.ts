/** Moving tensors between devices. GPU → CPU needs a readback, hence async. */
import { backendFor } from '../backend/index.js';
import type { Device } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';

/** A copy of `x` on `device` (no autograd history). */
export async function to(x: Tensor, device: Device): Promise<Tensor> {
  return backendFor(device).fromArray(await x.toArray(), x.shape, x.dtype, 'to');
}

/** CPU → any device, synchronously. */
export function toSync(x: Tensor, device: Device): Tensor {
  const storage = x.storage('toSync');
  if (storage.device !== 'cpu') throw new Error(`toSync: tensor is on '${storage.device}'; use \`await to(tensor, device)\``);
  return backendFor(device).fromArray(storage.data.slice(), x.shape, x.dtype, 'to');
}
