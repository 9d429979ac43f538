/**
 * The one seedable generator of the project (mulberry32): weight initialisation, data order, augmentation,
 * the synthetic dataset and tests all draw from it, so a seed fixes a whole run. Normal samples use
 * Box–Muller. Not cryptographic.
 */
export class Random {
  private state: number;

  constructor(seed = 0) {
    // Any integer is a seed (taken mod 2³²); NaN and 1.5 silently were the seeds 0 and 1.
    if (!Number.isInteger(seed)) throw new Error(`Random: the seed must be an integer, got ${String(seed)}`);
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.next();
  }

  normal(mean = 0, std = 1): number {
    const u = 1 - this.next(); // (0, 1], so log(u) is finite
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Uniform integer in [low, high], both ends included (numpy's randint(low, high + 1)). */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Random.pick: empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Fisher–Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** A fresh generator whose stream is independent of this one's later draws (for per-item sub-streams). */
  fork(): Random {
    return new Random(Math.floor(this.next() * 4294967296));
  }
}

let globalRandom = new Random(0);

/** Seeds the generator that `randn`/`rand` and layer initialisers use when none is passed. */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`manualSeed: the seed must be an integer in [0, 2^32), got ${String(seed)}`);
  globalRandom = new Random(seed);
}

export const defaultRandom = (): Random => globalRandom;
