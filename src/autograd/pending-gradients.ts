/**
 * The gradients that backward has produced but not yet consumed, and when each one's GPU memory is freed.
 *
 * A rule may return the same tensor for several inputs, or hand its incoming gradient straight through, so one
 * tensor can sit in several entries at once: each tensor counts the entries that hold it and is disposed when the
 * last one lets go. Two tensors are never disposed here: the caller's seed, and anything at all when the backward
 * pass is itself recorded (`createGraph`), since then the gradients are part of the new graph.
 */
import type { Tensor } from '../tensor/tensor.js';

export class PendingGradients {
  private readonly byNode = new Map<Tensor, Tensor>();
  private readonly holders = new Map<Tensor, number>();

  constructor(
    private readonly seed: Tensor | undefined,
    private readonly keepAll: boolean,
  ) {}

  /** Removes and returns `node`'s gradient. The caller now holds it, until `release`. */
  take(node: Tensor): Tensor | undefined {
    const g = this.byNode.get(node);
    this.byNode.delete(node);
    return g;
  }

  /** Adds `g` to what `node` has received so far; `sum` makes the new total. */
  accumulate(node: Tensor, g: Tensor, sum: (a: Tensor, b: Tensor) => Tensor): void {
    const previous = this.byNode.get(node);
    if (!previous) {
      this.put(node, g);
      return;
    }
    this.put(node, sum(previous, g));
    this.release(previous);
    // g went into the sum and was never held itself: free it unless another entry holds it.
    if (!this.holders.get(g)) this.free(g);
  }

  /** Lets go of a tensor taken from the table. */
  release(g: Tensor): void {
    const n = this.holders.get(g)! - 1;
    this.holders.set(g, n);
    if (n === 0) this.free(g);
  }

  /**
   * Gives a taken tensor away without copying it, when the caller is its only holder and it may be freed at all;
   * returns whether it did (the new owner then disposes it).
   */
  handOver(g: Tensor): boolean {
    if (this.holders.get(g) !== 1 || g === this.seed || this.keepAll) return false;
    this.holders.set(g, 0);
    return true;
  }

  private put(node: Tensor, g: Tensor): void {
    this.byNode.set(node, g);
    this.holders.set(g, (this.holders.get(g) ?? 0) + 1);
  }

  private free(g: Tensor): void {
    if (!this.keepAll && g !== this.seed) g.dispose();
  }
}
