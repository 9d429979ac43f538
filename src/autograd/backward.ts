/**
 * Reverse-mode differentiation over the graph recorded in `Tensor.gradFn`.
 *
 * Nodes are visited in reverse topological order; each node's gradient is complete (all consumers have
 * contributed) before its rule runs. Gradients of leaves that `requiresGrad` accumulate into `.grad`, which
 * leaves the tidy scope (the caller owns it, e.g. the optimizer clears it). Intermediate gradients are disposed
 * as soon as they are consumed, so backward's peak memory is the activations plus one wave of gradients.
 *
 * Rules are written with the engine's own ops. Without `createGraph` they run under no-grad; with it they are
 * recorded like any forward op, so the gradient can itself be differentiated (double backward).
 */
import { add } from '../ops/elementwise.js';
import { onesLike } from '../ops/creation.js';
import { tidy } from '../tensor/scope.js';
import { untrackFromScopes, withGradDisabled, withGradEnabled } from '../tensor/engine.js';
import { shapeStr, shapesEqual } from '../tensor/shape.js';
import { installBackwardPass, type Tensor } from '../tensor/tensor.js';

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: deep networks would overflow the call stack with recursion.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const inputs = top[0].gradFn?.inputs ?? [];
    if (top[1] < inputs.length) {
      const next = inputs[top[1]++];
      if (!seen.has(next) && next.requiresGrad) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(top[0]);
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
  const wanted = new Map<Tensor, Tensor | null>(inputs.map((t) => [t, null]));
  propagate(root, options.seed, options.createGraph ?? false, wanted);
  return inputs.map((t) => wanted.get(t) ?? null);
}

/**
 * The backward pass. With `wanted` null, leaf gradients accumulate into `.grad`; otherwise the gradients of
 * the wanted tensors are stored in the map (and propagation still continues past them to other wanted ones).
 */
function propagate(root: Tensor, seed: Tensor | undefined, createGraph: boolean, wanted: Map<Tensor, Tensor | null> | null): void {
  if (!root.requiresGrad) {
    throw new Error(`backward: tensor (${root.op}, shape ${shapeStr(root.shape)}) does not require grad; no parameter it depends on has requiresGrad`);
  }
  if (!seed && root.size !== 1) {
    throw new Error(`backward: a seed gradient is required for a non-scalar tensor of shape ${shapeStr(root.shape)}`);
  }
  if (seed && !shapesEqual(seed.shape, root.shape)) {
    throw new Error(`backward: seed shape ${shapeStr(seed.shape)} does not match tensor shape ${shapeStr(root.shape)}`);
  }
  const run = <T>(fn: () => T): T => (createGraph ? withGradEnabled(fn) : withGradDisabled(fn));
  const grads = new Map<Tensor, Tensor>();
  // How many map entries hold each gradient tensor: a rule may return the same tensor for several inputs.
  const holders = new Map<Tensor, number>();
  const hold = (t: Tensor) => holders.set(t, (holders.get(t) ?? 0) + 1);
  const drop = (t: Tensor) => {
    const n = holders.get(t)! - 1;
    holders.set(t, n);
    if (n === 0 && !createGraph && t !== seed) t.dispose();
  };

  const start = seed ?? run(() => onesLike(root));
  grads.set(root, start);
  hold(start);

  for (const node of topologicalOrder(root)) {
    const g = grads.get(node);
    if (!g) continue;
    grads.delete(node);
    if (wanted?.has(node)) {
      const own = tidy(() => run(() => add(g, 0)));
      untrackFromScopes(own);
      wanted.set(node, own);
    }
    if (!node.gradFn) {
      const soleHolder = holders.get(g) === 1 && g !== seed && !createGraph;
      if (!wanted && !node.grad && soleHolder) {
        // Nobody else holds this gradient: hand it to the leaf instead of copying it.
        node.grad = g;
        untrackFromScopes(g);
        holders.set(g, 0);
        continue;
      }
      if (!wanted) accumulateLeaf(node, g, run);
      drop(g);
      continue;
    }
    // A rule's intermediates (views, broadcasts) die with it; with createGraph they are part of the new graph.
    const rule = () => run(() => node.gradFn!.backward(g));
    const inputGrads = createGraph ? rule() : tidy(rule);
    node.gradFn.inputs.forEach((input, k) => {
      const gi = inputGrads[k];
      if (!gi || !input.requiresGrad) return;
      if (!shapesEqual(gi.shape, input.shape)) {
        throw new Error(`backward: the rule of '${node.gradFn!.op}' gave a gradient of shape ${shapeStr(gi.shape)} for an input of shape ${shapeStr(input.shape)}`);
      }
      const prev = grads.get(input);
      if (prev) {
        const sum = run(() => add(prev, gi));
        drop(prev);
        grads.set(input, sum);
        hold(sum);
        // gi itself was never held; dispose it unless someone else holds it.
        if (!holders.get(gi) && !createGraph && gi !== g) gi.dispose();
      } else {
        grads.set(input, gi);
        hold(gi);
      }
    });
    drop(g);
  }
}

/** The leaf gets a tensor of its own (a copy, or a new sum), since `g` may be shared and is disposed after use. */
function accumulateLeaf(leaf: Tensor, g: Tensor, run: <T>(fn: () => T) => T): void {
  const old = leaf.grad;
  // tidy: `add(g, 0)` makes a scalar tensor for the 0, which must not outlive this call.
  leaf.grad = tidy(() => run(() => add(g, old ?? 0)));
  old?.dispose();
  untrackFromScopes(leaf.grad);
}
