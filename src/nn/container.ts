/**
 * Containers that name their children '0', '1', ..., as torch.nn.ModuleList and nn.Sequential do, so that
 * checkpoint keys such as `layer1.0.conv1.weight` or `downsample.1.running_var` come out the same.
 */
import type { Tensor } from '../tensor/tensor.js';
import { Module, type LayerModule } from './module.js';

export class ModuleList<M extends Module> extends Module {
  readonly items: readonly M[];

  constructor(items: readonly M[]) {
    super();
    this.items = items.map((m, i) => this.addModule(String(i), m));
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new Error(`ModuleList: index ${i} is out of range for ${this.items.length} modules`);
    return m;
  }
}

/** Applies its layers in order. */
export class Sequential extends ModuleList<LayerModule> {
  forward(x: Tensor): Tensor {
    return this.items.reduce((h, layer) => layer.forward(h), x);
  }
}
