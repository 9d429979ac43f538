/** Public autograd controls. Gradient rules live beside their ops in src/ops. */
export { backward, grad } from './backward.js';
import { view } from '../ops/shape.js';
import { withGradDisabled } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';

/** Runs `fn` without recording gradients (inference, optimizer updates). */
export const noGrad = <T>(fn: () => T): T => withGradDisabled(fn);

/** The same values (shared storage), cut from the graph: no gradient flows back through the result. */
export const detach = (x: Tensor): Tensor => view(x, x.shape);
