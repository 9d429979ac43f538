/**
 * The gradients that backward has produced but not yet consumed, and when each one's GPU memory is freed.
 *
 * A rule may return the same tensor for several inputs, or hand its incoming gradient straight through, so one
 * tensor can sit in several entries at once: each tensor counts the entries that hold it and is disposed when the
 * last one lets go. What the pass does not own is never disposed here: the caller's seed, and every gradient when
 * the backward pass is itself recorded (`createGraph`), since then the gradients are part of the new graph.
 */
import type { Tensor } from '../tensor/tensor.js';

export class PendingGradients {
  /** Each node's contributions so far, in arrival order: summed once, when the node is taken. */
  private readonly byNode = new Map<Tensor, Tensor[]>();
  /** How many hold each tensor: the entries of `byNode` it sits in, plus the caller once it is taken. */
  private readonly holders = new Map<Tensor, number>();

  constructor(
    private readonly seed: Tensor | undefined,
    private readonly keepAll: boolean,
  ) {}

  /**
   * Removes and returns `node`'s gradient: its one contribution, or `sum` of all of them (one kernel, where adding
   * each as it arrived took one per contribution after the first). The caller now holds it, until `release`.
   */
  take(node: Tensor, sum: (parts: Tensor[]) => Tensor): Tensor | undefined {
    const parts = this.byNode.get(node);
    if (!parts) return undefined;
    this.byNode.delete(node);
    if (parts.length === 1) return parts[0];
    const total = sum(parts);
    this.holders.set(total, 1);
    for (const part of parts) this.release(part);
    return total;
  }

  /** Adds `g` to what `node` has received so far. */
  accumulate(node: Tensor, g: Tensor): void {
    const parts = this.byNode.get(node);
    if (parts) parts.push(g);
    else this.byNode.set(node, [g]);
    this.holders.set(g, (this.holders.get(g) ?? 0) + 1);
  }

  /** Lets go of a tensor taken from the table. */
  release(g: Tensor): void {
    const n = this.holders.get(g)! - 1;
    this.holders.set(g, n);
    if (n === 0 && this.owns(g)) g.dispose();
  }

  /**
   * Gives a taken tensor away without copying it, when the caller is its only holder and it may be freed at all;
   * returns whether it did (the new owner then disposes it).
   */
  handOver(g: Tensor): boolean {
    if (this.holders.get(g) !== 1 || !this.owns(g)) return false;
    this.holders.set(g, 0);
    return true;
  }

  /** Whether the pass may dispose `g`: not the caller's seed, and nothing when the gradients form a new graph. */
  private owns(g: Tensor): boolean {
    return !this.keepAll && g !== this.seed;
  }
}
