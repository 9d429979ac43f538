/** A learnable scalar multiplier (mmdet's Scale): one per pyramid level lets a shared head emit level-sized values. */
import { mul } from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { constant, initTensor, type InitOptions } from './init.js';
import { Module, type Parameter } from './module.js';

export class Scale extends Module {
  /** Shape [] like mmdet's `nn.Parameter(torch.tensor(1.0))`, so checkpoints load as they are. */
  readonly scale: Parameter;

  constructor(initial = 1, options: InitOptions = {}) {
    super();
    // mmdet's optimizer treats Scale like an ordinary weight (lr×1, weight decay on).
    this.scale = this.addParameter('scale', initTensor([], constant(initial), options), 'weight');
  }

  forward(x: Tensor): Tensor {
    return mul(x, this.scale.tensor);
  }
}
