/**
 * Reverse-mode differentiation over the graph recorded in `Tensor.gradFn`.
 *
 * Nodes are visited in topological order of that graph, whose edges run from a result to its inputs: each node
 * after all its consumers, so its gradient is complete before its rule runs. Gradients of leaves that
 * `requiresGrad` accumulate into `.grad`, which no tidy scope frees (the caller owns it, e.g. the optimizer clears
 * it). Intermediate gradients are disposed as soon as they are consumed, so backward's peak memory is the
 * activations plus one wave of gradients.
 *
 * Rules are written with the engine's own ops. Without `createGraph` they run under no-grad; with it they are
 * recorded like any forward op, so the gradient can itself be differentiated (double backward).
 */
import { add, addN } from '../ops/elementwise.js';
import { onesLike } from '../ops/creation.js';
import { keep, tidy } from '../tensor/scope.js';
import { withGradDisabled, withGradEnabled } from '../tensor/engine.js';
import { shapeStr, shapesEqual } from '../tensor/shape.js';
import { checkTensor, describeValue, installBackwardPass, type Tensor } from '../tensor/tensor.js';
import { PendingGradients } from './pending-gradients.js';

/** The nodes that need a gradient, each after every node that consumes it: a DFS post-order, reversed. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>([root]);
  // Iterative DFS: deep networks would overflow the call stack with recursion.
  const stack = [{ node: root, nextInput: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const inputs = top.node.gradFn?.inputs ?? [];
    if (top.nextInput < inputs.length) {
      const input = inputs[top.nextInput++];
      if (!seen.has(input) && input.requiresGrad) {
        seen.add(input);
        stack.push({ node: input, nextInput: 0 });
      }
    } else {
      order.push(top.node);
      stack.pop();
    }
  }
  return order.reverse();
}

/** `root.backward()`: accumulates into the `.grad` of every leaf that requires one. */
export function backward(root: Tensor, seed?: Tensor, createGraph = false): void {
  propagate(root, seed, createGraph, null);
}
installBackwardPass(backward);

/**
 * Gradients of `root` with respect to `inputs`, returned rather than accumulated (torch.autograd.grad).
 * Inputs that `root` does not depend on get null. With `createGraph` the results are differentiable.
 */
export function grad(root: Tensor, inputs: Tensor[], options: { seed?: Tensor; createGraph?: boolean } = {}): (Tensor | null)[] {
  // A number among the inputs is no node of the graph, so its gradient came back null as if it were unused.
  checkTensor('grad', 'the output to differentiate', root);
  if (!Array.isArray(inputs)) throw new Error(`grad: inputs must be an array of tensors, got ${describeValue(inputs)}`);
  inputs.forEach((t, i) => checkTensor('grad', `inputs[${i}]`, t));
  const wanted = new Map<Tensor, Tensor | null>(inputs.map((t) => [t, null]));
  propagate(root, options.seed, options.createGraph ?? false, wanted);
  return inputs.map((t) => wanted.get(t) ?? null);
}

/**
 * The backward pass: in topological order, each node's complete gradient goes through its rule, and what the rule
 * returns accumulates into the node's inputs. With `wanted` null, leaf gradients accumulate into `.grad`; otherwise
 * the gradients of the wanted tensors are stored in the map (and propagation still continues past them to other
 * wanted ones).
 */
function propagate(root: Tensor, seed: Tensor | undefined, createGraph: boolean, wanted: Map<Tensor, Tensor | null> | null): void {
  checkRoot(root, seed);
  const run = <T>(fn: () => T): T => (createGraph ? withGradEnabled(fn) : withGradDisabled(fn));
  const sum = (parts: Tensor[]) => run(() => addN(parts));
  const pending = new PendingGradients(seed, createGraph);
  pending.accumulate(root, seed ?? run(() => onesLike(root)));

  for (const node of topologicalOrder(root)) {
    const g = pending.take(node, sum);
    if (!g) continue;
    // A copy for the caller: `g` may be shared, and the pass may dispose it once consumed.
    if (wanted?.has(node)) wanted.set(node, keep(tidy(() => run(() => clone(g)))));
    if (!node.gradFn) {
      if (!wanted) {
        // Nobody else holds this gradient: hand it to the leaf instead of copying it.
        if (!node.grad && pending.handOver(g)) {
          node.grad = keep(g);
          continue;
        }
        accumulateLeaf(node, g, run);
      }
      pending.release(g);
      continue;
    }
    for (const [input, gi] of applyRule(node, g, createGraph, run)) pending.accumulate(input, gi);
    pending.release(g);
  }
}

function checkRoot(root: Tensor, seed: Tensor | undefined): void {
  if (!root.requiresGrad) {
    throw new Error(`backward: tensor (${root.op}, shape ${shapeStr(root.shape)}) does not require grad; no parameter it depends on has requiresGrad`);
  }
  if (!seed && root.size !== 1) {
    throw new Error(`backward: a seed gradient is required for a non-scalar tensor of shape ${shapeStr(root.shape)}`);
  }
  if (seed && !shapesEqual(seed.shape, root.shape)) {
    throw new Error(`backward: seed shape ${shapeStr(seed.shape)} does not match tensor shape ${shapeStr(root.shape)}`);
  }
}

/** Runs `node`'s rule on its gradient; returns the gradients of the inputs that need one, shapes checked. */
function applyRule(node: Tensor, g: Tensor, createGraph: boolean, run: <T>(fn: () => T) => T): [Tensor, Tensor][] {
  const gradFn = node.gradFn!;
  // A rule's intermediates (views, broadcasts) die with it; with createGraph they are part of the new graph.
  const rule = () => run(() => gradFn.backward(g));
  let inputGrads: (Tensor | null)[];
  try {
    inputGrads = createGraph ? rule() : tidy(rule);
  } catch (error) {
    throw explainDisposed(error, node);
  }
  const out: [Tensor, Tensor][] = [];
  gradFn.inputs.forEach((input, k) => {
    const gi = inputGrads[k];
    if (!gi || !input.requiresGrad) return;
    if (!shapesEqual(gi.shape, input.shape)) {
      throw new Error(`backward: the rule of '${gradFn.op}' gave a gradient of shape ${shapeStr(gi.shape)} for an input of shape ${shapeStr(input.shape)}`);
    }
    out.push([input, gi]);
  });
  // A gradient the rule made for an input that needs none (a fused kernel's dx for a constant x) is nobody's:
  // freed here, or it would outlive the rule's tidy.
  if (!createGraph) {
    const unwanted = new Set(inputGrads.filter((gi): gi is Tensor => gi !== null && gi !== g && !out.some(([, kept]) => kept === gi)));
    for (const gi of unwanted) gi.dispose();
  }
  return out;
}

/**
 * A rule that meets a disposed tensor names an op the user never called ('mul: tensor #16 (exp) was already
 * disposed'): the error to throw instead says which of the node's tensors it was, and why. Any other error is the
 * rule's own and comes back as it is.
 */
function explainDisposed(error: unknown, node: Tensor): unknown {
  const gradFn = node.gradFn!;
  const id = error instanceof Error ? /tensor #(\d+) .*was already disposed/.exec(error.message)?.[1] : undefined;
  const gone = [...gradFn.inputs, node].find((t) => t.disposed && String(t.id) === id);
  if (!gone) return error;
  return new Error(
    `backward: the gradient of '${gradFn.op}' needs tensor #${gone.id} (${gone.op}, shape ${shapeStr(gone.shape)}), which was disposed ` +
      '(a tidy scope frees the intermediates of a graph made in it: call backward() inside that scope)',
    { cause: error },
  );
}

/** A tensor of its own with `g`'s values: adding 0 writes a fresh copy (tidy: the 0 is a scalar tensor). */
const clone = (g: Tensor): Tensor => add(g, 0);

/** The leaf gets a tensor of its own (a copy, or a new sum), since `g` may be shared and is disposed after use. */
function accumulateLeaf(leaf: Tensor, g: Tensor, run: <T>(fn: () => T) => T): void {
  const old = leaf.grad;
  // tidy: adding a number makes a scalar tensor for it, which must not outlive this call.
  leaf.grad = keep(tidy(() => run(() => (old ? add(g, old) : clone(g)))));
  old?.dispose();
}
