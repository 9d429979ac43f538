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

/**
 * A ModuleList with holes, as torch's nn.ModuleList holding None: only the present modules are registered, under
 * their positions, so HRNet's `transition2.2.0.0.weight` or `fuse_layers.0.1.0.weight` come out the same.
 */
export class OptionalModuleList<M extends Module> extends Module {
  readonly items: readonly (M | null)[];

  constructor(items: readonly (M | null)[]) {
    super();
    this.items = items.map((m, i) => (m ? this.addModule(String(i), m) : null));
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M | null {
    if (i < 0 || i >= this.items.length) throw new Error(`OptionalModuleList: index ${i} is out of range for ${this.items.length} slots`);
    return this.items[i]!;
  }
}
