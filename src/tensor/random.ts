/**
 * A small seedable generator (mulberry32) so that initialisation, data order and tests are reproducible.
 * Normal samples use Box–Muller. Not cryptographic; good enough for weights and augmentations.
 */
export class Random {
  private state: number;

  constructor(seed = 0) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.next();
  }

  normal(mean = 0, std = 1): number {
    const u = 1 - this.next(); // (0, 1], so log(u) is finite
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

let globalRandom = new Random(0);

/** Seeds the generator that `randn`/`rand` and layer initialisers use when none is passed. */
export function manualSeed(seed: number): void {
  globalRandom = new Random(seed);
}

export const defaultRandom = (): Random => globalRandom;
