/**
 * A monotonic deque: the maximum (or minimum) of a sliding time window in O(1) amortised per
 * update, on growable typed arrays (no object per entry).
 */

/**
 * Checkpoint form of a {@link MonotonicDeque} (structured-cloneable): the live entries in order.
 *
 * @example const d2 = MonotonicDeque.restore(structuredClone(d.snapshot()));
 */
export interface MonotonicDequeSnapshot {
  mode: 'max' | 'min';
  step: boolean;
  value: Float64Array;
  ts: Float64Array;
  end: Float64Array;
}

/**
 * The extreme (max or min) of a trailing time window, O(1) amortised per push and per eviction.
 *
 * Two kinds of series:
 * - points (`step: false`): each value is a sample at its `ts`; `evict(cutoff)` drops samples
 *   with `ts <= cutoff`, so the window after `evict(t - w)` is `(t - w, t]`.
 * - a step function (`step: true`): each value holds from its `ts` until the next push (a mark
 *   price is the mid of the latest quote); `evict(cutoff)` drops values that stopped holding at or
 *   before `cutoff`, so after `evict(t - w)` the extreme is that of the function over `[t - w, t]`,
 *   including the value carried in from before `t - w`.
 *
 * A value dominated by a newer one (not above it, for max) can never be the extreme again and is
 * dropped on push: ties keep the newest, so {@link extremeTs} is the latest time the extreme was set.
 *
 * @example
 * const hi = new MonotonicDeque('max', { step: true });
 * hi.push(0, 100); hi.push(10_000, 95); hi.push(20_000, 97);
 * hi.evict(70_000 - 60_000); // window [10s, 70s]: 100 stopped holding at 10s
 * hi.extreme; // 97
 */
export class MonotonicDeque {
  readonly mode: 'max' | 'min';
  readonly step: boolean;
  private value: Float64Array;
  private ts: Float64Array;
  /** When the entry stops counting: its own ts (points) or the next push's ts (step; +Inf while newest). */
  private end: Float64Array;
  private head = 0;
  private n = 0;

  constructor(mode: 'max' | 'min', opts: { step?: boolean; capacity?: number } = {}) {
    this.mode = mode;
    this.step = opts.step ?? false;
    let cap = 8;
    while (cap < (opts.capacity ?? 8)) cap *= 2;
    this.value = new Float64Array(cap);
    this.ts = new Float64Array(cap);
    this.end = new Float64Array(cap);
  }

  /** Number of entries held (candidates for the extreme). */
  get size(): number {
    return this.n;
  }

  /** The extreme over the window (NaN when empty). */
  get extreme(): number {
    return this.n === 0 ? Number.NaN : (this.value[this.head] as number);
  }

  /** The ts of the newest value equal to the extreme (NaN when empty). */
  get extremeTs(): number {
    return this.n === 0 ? Number.NaN : (this.ts[this.head] as number);
  }

  /** Adds the value at `ts` (ts must not decrease). */
  push(ts: number, value: number): void {
    const mask = this.value.length - 1;
    if (this.n > 0 && this.step) this.end[(this.head + this.n - 1) & mask] = ts;
    // Dominated entries at the back can never be the extreme again.
    const isMax = this.mode === 'max';
    while (this.n > 0) {
      const back = this.value[(this.head + this.n - 1) & mask] as number;
      if (isMax ? back <= value : back >= value) this.n--;
      else break;
    }
    if (this.n === this.value.length) this.grow();
    const m = this.value.length - 1;
    const i = (this.head + this.n) & m;
    this.value[i] = value;
    this.ts[i] = ts;
    this.end[i] = this.step ? Number.POSITIVE_INFINITY : ts;
    this.n++;
  }

  /** Drops entries that stopped counting at or before `cutoff` (see the class comment). */
  evict(cutoff: number): void {
    const mask = this.value.length - 1;
    while (this.n > 0 && (this.end[this.head] as number) <= cutoff) {
      this.head = (this.head + 1) & mask;
      this.n--;
    }
  }

  clear(): void {
    this.head = 0;
    this.n = 0;
  }

  snapshot(): MonotonicDequeSnapshot {
    const pick = (a: Float64Array): Float64Array => {
      const out = new Float64Array(this.n);
      const mask = a.length - 1;
      for (let k = 0; k < this.n; k++) out[k] = a[(this.head + k) & mask] as number;
      return out;
    };
    return { mode: this.mode, step: this.step, value: pick(this.value), ts: pick(this.ts), end: pick(this.end) };
  }

  /** A deque from its snapshot. */
  static restore(s: MonotonicDequeSnapshot): MonotonicDeque {
    const d = new MonotonicDeque(s.mode, { step: s.step, capacity: s.value.length });
    d.value.set(s.value);
    d.ts.set(s.ts);
    d.end.set(s.end);
    d.n = s.value.length;
    return d;
  }

  private grow(): void {
    const cap = this.value.length;
    const mask = cap - 1;
    const copy = (a: Float64Array): Float64Array => {
      const b = new Float64Array(cap * 2);
      for (let k = 0; k < this.n; k++) b[k] = a[(this.head + k) & mask] as number;
      return b;
    };
    this.value = copy(this.value);
    this.ts = copy(this.ts);
    this.end = copy(this.end);
    this.head = 0;
  }
}
