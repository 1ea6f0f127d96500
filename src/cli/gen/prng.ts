const TWO32 = 4294967296;

/** FNV-1a over a string, continuing from `h`: turns labels into seed material. */
function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A small, fast, seedable pseudo-random generator (xoshiro128**, seeded through splitmix32) with
 * the distributions the day generator needs. Every stream is named: `new Rng(seed, 'quotes:ACME')`
 * gives the same numbers whatever else the generator draws, so adding an instrument or an incident
 * does not reshuffle the rest of the day, and a seed always reproduces the same bytes.
 *
 * @example
 * const rng = new Rng(42, 'history');
 * rng.next();     // uniform in [0, 1)
 * rng.normal();   // standard normal (Box-Muller)
 * rng.int(1, 6);  // a die roll
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number, label = '') {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO32) >>> 0;
    let x = fnv1a(label, fnv1a(`${hi}.${lo}`));
    const words: number[] = [];
    for (let k = 0; k < 4; k++) {
      // splitmix32: decorrelates the four state words even for similar labels.
      x = (x + 0x9e3779b9) | 0;
      let t = x ^ (x >>> 16);
      t = Math.imul(t, 0x21f0aaad);
      t ^= t >>> 15;
      t = Math.imul(t, 0x735a2d97);
      t ^= t >>> 15;
      words.push(t >>> 0);
    }
    [this.s0, this.s1, this.s2, this.s3] = words as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / TWO32;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from an empty array');
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  /** Standard normal deviate (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    // (u32 + 1) / (2^32 + 1) is in (0, 1): log() never sees 0.
    const u = (this.u32() + 1) / (TWO32 + 1);
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    this.hasSpare = true;
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Exponential deviate with the given mean (inter-arrival gaps of a Poisson process). */
  exp(mean: number): number {
    return -Math.log((this.u32() + 1) / (TWO32 + 1)) * mean;
  }

  /** Log-normal deviate with the given median and log-standard-deviation. */
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
