/**
 * The layer base class: named parameters, buffers and submodules, with PyTorch's state-dict naming.
 *
 * A module registers its tensors in slots (`ModuleBuffer`, `Parameter`) that also carry the flags (frozen, optimizer
 * group). Loading a checkpoint keeps each tensor and swaps its storage (`Tensor.assign`), and an optimizer step updates it in place;
 * moving to another device puts a new tensor in the slot, which layers read at every forward. Names are dotted paths
 * built from registration names, exactly as `torch.nn.Module.state_dict()` builds them (`layer1.0.conv1.weight`),
 * and iteration order is PyTorch's too: a module's own parameters, then its buffers, then its children in order.
 *
 * Parameter and buffer tensors are taken out of every tidy scope: the module owns them until `dispose()`.
 */
import { backendFor } from '../backend/index.js';
import { toTypedArray, type TypedArray } from '../tensor/dtype.js';
import { keep } from '../tensor/scope.js';
import { shapeStr, shapesEqual } from '../tensor/shape.js';
import type { Device } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';

/** A hint for the optimizer: mmdet gives non-norm biases 2× lr and no weight decay, and treats the rest alike. */
export type ParamGroup = 'weight' | 'bias' | 'norm';

/** A slot holding a tensor the module owns but does not train (e.g. batch-norm running statistics). */
export class ModuleBuffer {
  constructor(private current: Tensor) {
    keep(current);
  }

  get tensor(): Tensor {
    return this.current;
  }

  get shape(): readonly number[] {
    return this.current.shape;
  }

  /** Puts another tensor in the slot (a device move) and disposes the old one. */
  replace(tensor: Tensor): void {
    if (tensor === this.current) return;
    keep(tensor);
    this.current.dispose();
    this.current = tensor;
  }

  dispose(): void {
    this.current.dispose();
  }
}

/** A slot holding a leaf tensor that requires a gradient unless the parameter is frozen. */
export class Parameter extends ModuleBuffer {
  private isFrozen: boolean;

  constructor(tensor: Tensor, readonly group: ParamGroup, frozen = false) {
    super(tensor);
    this.isFrozen = frozen;
    tensor.requiresGrad = !frozen;
  }

  get frozen(): boolean {
    return this.isFrozen;
  }

  /** Freezing also drops the gradient: a frozen parameter neither receives nor keeps one. */
  set frozen(on: boolean) {
    this.isFrozen = on;
    this.tensor.requiresGrad = !on;
    if (on) this.zeroGrad();
  }

  get grad(): Tensor | null {
    return this.tensor.grad;
  }

  zeroGrad(): void {
    this.tensor.grad?.dispose();
    this.tensor.grad = null;
  }

  /** The new tensor becomes the leaf: it requires a gradient as the slot says; the old one and its gradient go. */
  override replace(tensor: Tensor): void {
    if (tensor === this.tensor) return;
    this.zeroGrad();
    tensor.requiresGrad = !this.isFrozen;
    super.replace(tensor);
  }

  override dispose(): void {
    this.zeroGrad();
    super.dispose();
  }
}

/** A trainable parameter as an optimizer takes it (`Module.trainableParameters()` hands these to src/train/optimizer.ts). */
export interface NamedParameter {
  readonly name: string;
  readonly tensor: Tensor;
  readonly group: ParamGroup;
}

/** A module whose forward maps one tensor to one tensor, so that it can sit in a `Sequential`. */
export interface Layer {
  forward(x: Tensor): Tensor;
}

export type LayerModule = Module & Layer;

export interface ParameterCount {
  /** Elements of all parameters, frozen or not: PyTorch's sum(p.numel() for p in model.parameters()). */
  parameters: number;
  /** Elements of the parameters that receive gradients. */
  trainable: number;
  /** Elements of the buffers (not trained, but saved in the state dict). */
  buffers: number;
}

export interface LoadOptions {
  /** When true (default), a key the model lacks or a model key the checkpoint lacks is an error. */
  strict?: boolean;
}

export interface LoadResult {
  missing: string[];
  unexpected: string[];
}

export abstract class Module {
  /** Train/eval mode. Layers here behave alike in both; the SMPR head skips its heatmap branch in eval. */
  training = true;
  private readonly ownParameters = new Map<string, Parameter>();
  private readonly ownBuffers = new Map<string, ModuleBuffer>();
  private readonly children = new Map<string, Module>();
  /** Keys of this module that checkpoints may carry and loading drops (BN's num_batches_tracked). */
  protected readonly ignoredStateKeys: readonly string[] = [];

  private checkName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`${this.constructor.name}: invalid name '${name}' (non-empty, no dots)`);
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new Error(`${this.constructor.name}: the name '${name}' is already registered`);
    }
  }

  protected addParameter(name: string, value: Tensor, group: ParamGroup, frozen = false): Parameter {
    this.checkName(name);
    const p = new Parameter(value, group, frozen);
    this.ownParameters.set(name, p);
    return p;
  }

  protected addBuffer(name: string, value: Tensor): ModuleBuffer {
    this.checkName(name);
    const b = new ModuleBuffer(value);
    this.ownBuffers.set(name, b);
    return b;
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this.children.set(name, module);
    return module;
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.children) yield* child.namedModules(join(prefix, name));
  }

  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, p] of m.ownParameters) yield [join(path, name), p];
    }
  }

  *namedBuffers(prefix = ''): Generator<[string, ModuleBuffer]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, b] of m.ownBuffers) yield [join(path, name), b];
    }
  }

  parameters(): Parameter[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  /**
   * The parameters that train, by name, for an optimizer. Their tensors keep their identity through optimizer
   * steps (in place) and `loadStateDict` (`Tensor.assign`), but not through `to(device)`: build the optimizer after.
   */
  trainableParameters(): NamedParameter[] {
    return [...this.namedParameters()].filter(([, p]) => !p.frozen).map(([name, p]) => ({ name, tensor: p.tensor, group: p.group }));
  }

  /** Every slot by its state-dict key, in PyTorch's order (per module: parameters, then buffers). */
  private namedSlots(): Map<string, ModuleBuffer> {
    const slots = new Map<string, ModuleBuffer>();
    for (const [path, m] of this.namedModules()) {
      for (const [name, p] of m.ownParameters) slots.set(join(path, name), p);
      for (const [name, b] of m.ownBuffers) slots.set(join(path, name), b);
    }
    return slots;
  }

  /** The module's tensors by key. The tensors are the module's own (not copies): do not dispose them. */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedSlots()].map(([k, slot]) => [k, slot.tensor]));
  }

  /**
   * Copies a checkpoint's tensors into the module (onto the module's devices and dtypes; the checkpoint's tensors
   * are left alone). Everything is checked before anything is copied, so a failed load changes nothing.
   * Shape mismatches are always errors; missing and unexpected keys are errors when `strict` (the default).
   */
  async loadStateDict(state: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>, options: LoadOptions = {}): Promise<LoadResult> {
    if (state === null || typeof state !== 'object') throw new Error(`loadStateDict (${this.constructor.name}): expected a Map or record of tensors, got ${state === null ? 'null' : typeof state}`);
    const entries = state instanceof Map ? new Map(state) : new Map(Object.entries(state));
    // A typed array or a number where a tensor belongs has no shape to compare: named here, not a TypeError below.
    const notTensors = [...entries].filter(([, t]) => !(t instanceof Tensor)).map(([k, t]) => `'${k}' (${t?.constructor?.name ?? String(t)})`);
    if (notTensors.length) throw new Error(`loadStateDict (${this.constructor.name}): not tensors: ${listKeys(notTensors)}`);
    const slots = this.namedSlots();
    const ignored = new Set<string>();
    for (const [path, m] of this.namedModules()) for (const k of m.ignoredStateKeys) ignored.add(join(path, k));

    const missing = [...slots.keys()].filter((k) => !entries.has(k));
    const unexpected = [...entries.keys()].filter((k) => !slots.has(k) && !ignored.has(k));
    const mismatched = [...slots].filter(([k, slot]) => entries.has(k) && !shapesEqual(entries.get(k)!.shape, slot.shape));
    const problems: string[] = mismatched.slice(0, 3).map(
      ([k, slot]) => `shape mismatch for '${k}': checkpoint has ${shapeStr(entries.get(k)!.shape)}, model has ${shapeStr(slot.shape)}`,
    );
    if (mismatched.length > 3) problems.push(`${mismatched.length - 3} more shape mismatches`);
    if (options.strict ?? true) {
      if (missing.length) problems.push(`${missing.length} missing key(s): ${listKeys(missing)}`);
      if (unexpected.length) problems.push(`${unexpected.length} unexpected key(s): ${listKeys(unexpected)}`);
    }
    if (problems.length) throw new Error(`loadStateDict (${this.constructor.name}): ${problems.join('; ')}`);

    const loaded: [ModuleBuffer, TypedArray][] = [];
    for (const [k, slot] of slots) {
      const source = entries.get(k);
      if (source) loaded.push([slot, await source.toArray()]);
    }
    for (const [slot, data] of loaded) {
      const { device, dtype, shape } = slot.tensor;
      const copy = backendFor(device).fromArray(toTypedArray(dtype, data), shape, dtype, 'loadStateDict');
      slot.tensor.assign(copy);
      copy.dispose();
    }
    return { missing, unexpected };
  }

  /** The device of the module's tensors (that of the first one; `to` keeps them together). */
  get device(): Device {
    const first = this.namedSlots().values().next();
    if (first.done) throw new Error(`${this.constructor.name}: the module has no tensors, so no device`);
    return first.value.tensor.device;
  }

  /** Moves every parameter and buffer to `device` (gradients are dropped). Async: leaving the GPU needs a readback. */
  async to(device: Device): Promise<this> {
    for (const slot of this.namedSlots().values()) {
      const t = slot.tensor;
      if (t.device === device) continue;
      slot.replace(backendFor(device).fromArray(await t.toArray(), t.shape, t.dtype, 'to'));
    }
    return this;
  }

  parameterCount(): ParameterCount {
    let parameters = 0;
    let trainable = 0;
    let buffers = 0;
    for (const [, p] of this.namedParameters()) {
      parameters += p.tensor.size;
      if (!p.frozen) trainable += p.tensor.size;
    }
    for (const [, b] of this.namedBuffers()) buffers += b.tensor.size;
    return { parameters, trainable, buffers };
  }

  /** Freezes every parameter of this module and its children. */
  freeze(): this {
    for (const p of this.parameters()) p.frozen = true;
    return this;
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Frees every tensor the module holds (GPU memory is not garbage-collected). The module is unusable after. */
  dispose(): void {
    for (const [, m] of this.namedModules()) m.disposeOwn();
  }

  /** Frees this module's own tensors (not its children's); layers that cache derived tensors extend it. */
  protected disposeOwn(): void {
    for (const p of this.ownParameters.values()) p.dispose();
    for (const b of this.ownBuffers.values()) b.dispose();
  }
}

const join = (prefix: string, name: string): string => (prefix ? `${prefix}.${name}` : name);

const listKeys = (keys: string[]): string => (keys.length > 8 ? `${keys.slice(0, 8).join(', ')}, …` : keys.join(', '));
