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
  private readonly isMax: boolean;
  /**
   * The entries as (value, ts, end) triples in one ring buffer (one array rather than three: a
   * quote touches two deques per instrument, and each array is a cache line of its own). `end`
   * is when the entry stops counting: its own ts (points) or the next push's ts (step; +Inf while
   * newest).
   */
  private buf: Float64Array;
  /** Capacity in entries (a power of two). */
  private cap: number;
  private head = 0;
  private n = 0;

  constructor(mode: 'max' | 'min', opts: { step?: boolean; capacity?: number } = {}) {
    this.mode = mode;
    this.isMax = mode === 'max';
    this.step = opts.step ?? false;
    let cap = 8;
    while (cap < (opts.capacity ?? 8)) cap *= 2;
    this.cap = cap;
    this.buf = new Float64Array(cap * 3);
  }

  /** Number of entries held (candidates for the extreme). */
  get size(): number {
    return this.n;
  }

  /** The extreme over the window (NaN when empty). */
  get extreme(): number {
    return this.n === 0 ? Number.NaN : (this.buf[this.head * 3] as number);
  }

  /** The ts of the newest value equal to the extreme (NaN when empty). */
  get extremeTs(): number {
    return this.n === 0 ? Number.NaN : (this.buf[this.head * 3 + 1] as number);
  }

  /** Adds the value at `ts` (ts must not decrease). */
  push(ts: number, value: number): void {
    const b = this.buf;
    const mask = this.cap - 1;
    let n = this.n;
    if (n > 0 && this.step) b[((this.head + n - 1) & mask) * 3 + 2] = ts;
    // Dominated entries at the back can never be the extreme again.
    const isMax = this.isMax;
    while (n > 0) {
      const back = b[((this.head + n - 1) & mask) * 3] as number;
      if (isMax ? back <= value : back >= value) n--;
      else break;
    }
    this.n = n;
    if (n === this.cap) this.grow();
    const i = ((this.head + n) & (this.cap - 1)) * 3;
    const buf = this.buf;
    buf[i] = value;
    buf[i + 1] = ts;
    buf[i + 2] = this.step ? Number.POSITIVE_INFINITY : ts;
    this.n = n + 1;
  }

  /** Drops entries that stopped counting at or before `cutoff` (see the class comment). */
  evict(cutoff: number): void {
    const b = this.buf;
    const mask = this.cap - 1;
    while (this.n > 0 && (b[this.head * 3 + 2] as number) <= cutoff) {
      this.head = (this.head + 1) & mask;
      this.n--;
    }
  }

  clear(): void {
    this.head = 0;
    this.n = 0;
  }

  snapshot(): MonotonicDequeSnapshot {
    const pick = (field: number): Float64Array => {
      const out = new Float64Array(this.n);
      const mask = this.cap - 1;
      for (let k = 0; k < this.n; k++) out[k] = this.buf[((this.head + k) & mask) * 3 + field] as number;
      return out;
    };
    return { mode: this.mode, step: this.step, value: pick(0), ts: pick(1), end: pick(2) };
  }

  /** A deque from its snapshot. */
  static restore(s: MonotonicDequeSnapshot): MonotonicDeque {
    const d = new MonotonicDeque(s.mode, { step: s.step, capacity: s.value.length });
    for (let k = 0; k < s.value.length; k++) {
      d.buf[k * 3] = s.value[k] as number;
      d.buf[k * 3 + 1] = s.ts[k] as number;
      d.buf[k * 3 + 2] = s.end[k] as number;
    }
    d.n = s.value.length;
    return d;
  }

  private grow(): void {
    const cap = this.cap;
    const mask = cap - 1;
    const b = new Float64Array(cap * 2 * 3);
    for (let k = 0; k < this.n; k++) {
      const from = ((this.head + k) & mask) * 3;
      b[k * 3] = this.buf[from] as number;
      b[k * 3 + 1] = this.buf[from + 1] as number;
      b[k * 3 + 2] = this.buf[from + 2] as number;
    }
    this.buf = b;
    this.cap = cap * 2;
    this.head = 0;
  }
}
