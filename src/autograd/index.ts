/** Public autograd controls. Gradient rules live beside their ops in src/ops. */
export { backward, grad } from './backward.js';
import { view } from '../ops/shape.js';
import { withGradDisabled } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';

/** Runs `fn` without recording gradients (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const result = withGradDisabled(fn);
  // Gradients are off only until the first await: the rest of an async function would record a graph after all.
  if (result instanceof Promise) throw new Error('noGrad: the function returned a Promise; noGrad is synchronous (await outside, or call noGrad inside)');
  return result;
}

/**
 * The same values (shared storage), cut from the graph: no gradient flows back through the result. `view` is the
 * bare tensor constructor behind `reshape`, not an op, so its result is a leaf with no `gradFn`.
 */
export const detach = (x: Tensor): Tensor => view(x, x.shape);
