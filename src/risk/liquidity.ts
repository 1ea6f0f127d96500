import { windowStart } from '../windows/assigners.js';
import { grown, unwrapRing } from '../core/typed-arrays.js';
import { InstrumentSlots, instrumentAlert, instrumentId, numText, type AlertSink, type EventTimeDriven, type MarketQuote } from './market.js';

/**
 * Parameters of {@link LiquidityMonitor} (CONTRACTS.md 4, Liquidity).
 *
 * @example const p: LiquidityParams = { ...LIQUIDITY_DEFAULTS, minDepth: 500_000 };
 */
export interface LiquidityParams {
  /** Tumbling window, epoch-aligned (default 30 s). */
  windowMs: number;
  /** LIQUIDITY_SPREAD when the window's mean spread exceeds max(floorBps, multiple x baseline median). */
  spreadFloorBps: number;
  spreadMultiple: number;
  /** The baseline: the instrument's window means over this much before the window (default 30 min). */
  baselineMs: number;
  /** Previous windows with quotes needed in the baseline before the relative test applies (default 10). */
  minBaselineWindows: number;
  /** LIQUIDITY_DEPTH when the window's minimum depth at touch is below this (default 1,000,000). */
  minDepth: number;
}

/**
 * The defaults of CONTRACTS.md 4: 30 s windows, max(25 bps, 4x the 30-minute median) once 10
 * windows of baseline exist, depth at touch 1,000,000.
 *
 * @example new LiquidityMonitor(LIQUIDITY_DEFAULTS, sink)
 */
export const LIQUIDITY_DEFAULTS: LiquidityParams = {
  windowMs: 30_000,
  spreadFloorBps: 25,
  spreadMultiple: 4,
  baselineMs: 1_800_000,
  minBaselineWindows: 10,
  minDepth: 1_000_000,
};

/** An instrument in a {@link LiquiditySnapshot}. */
interface InstSnapshot {
  name: string;
  /** The open window's quotes: count, sum of spreads (bps), minimum depth. */
  n: number;
  sumBps: number;
  minDepth: number;
  /** Previous windows' (start, mean spread) within the baseline period, oldest first. */
  histStart: number[];
  histMean: number[];
  /** The same means, sorted: the median without a sort per window. */
  sorted: number[];
  spreadEpisode: boolean;
  depthEpisode: boolean;
}

/**
 * Every instrument's baseline in one typed array (the monitor's `hist`), instrument k at k * the
 * stride of {@link histStride}: a ring of (start, mean) pairs of its previous windows in the
 * baseline period, oldest first, then the same means in ascending order (the median without a
 * sort per window). The ring's head and length are in the monitor's `at` (integers). One array rather than
 * an object and two typed arrays per instrument: a window closes every 30 s, by when the quotes
 * have pushed every instrument's baseline out of the caches, and each object on the way to it was
 * a cache miss of its own. All instruments share the ring capacity; a ring that fills it doubles
 * it for all.
 */
const INITIAL_CAP = 128;

/** Doubles of one instrument's baseline with rings of `cap` windows: the ring, then the sorted means. */
function histStride(cap: number): number {
  return cap * 3;
}

/** The first index i < n with b[at + i] >= x among the ascending `n` values at `b[at..]` (n when none). */
function lowerBound(b: Float64Array, at: number, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((b[at + mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts `mean` into the ascending `n` values at `b[at..]`. */
function insertSorted(b: Float64Array, at: number, n: number, mean: number): void {
  const lo = lowerBound(b, at, n, mean);
  for (let j = n; j > lo; j--) b[at + j] = b[at + j - 1] as number;
  b[at + lo] = mean;
}

/** Removes one `x` from the ascending `n` values at `b[at..]`. */
/** Removes the entry at `lo` of the n at `at`. */
function removeAt(b: Float64Array, at: number, n: number, lo: number): void {
  for (let j = lo; j < n - 1; j++) b[at + j] = b[at + j + 1] as number;
}

/**
 * {@link lowerBound} over the n + 1 entries at `at` without the one at `hole`, read in place: the
 * same probes as on the array with that entry removed.
 */
function lowerBoundWithout(b: Float64Array, at: number, n: number, x: number, hole: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((b[at + mid + (mid >= hole ? 1 : 0)] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Removes the entry at `hole` of the n + 1 at `at` and inserts `mean` where {@link insertSorted}
 * would put it in the n left, in one move of the entries between the two places (what removeAt
 * then insertSorted do, entry for entry, with fewer moves).
 */
function replaceSorted(b: Float64Array, at: number, n: number, hole: number, mean: number): void {
  const q = lowerBoundWithout(b, at, n, mean, hole);
  if (q <= hole) for (let j = hole; j > q; j--) b[at + j] = b[at + j - 1] as number;
  else for (let j = hole; j < q; j++) b[at + j] = b[at + j + 1] as number;
  b[at + q] = mean;
}

/** An instrument's numbers in the monitor's `acc` array: k * ACC + offset. */
const ACC = 8;
const SUM_AT = 0;
const MIN_AT = 1;
const N_AT = 2;
/** 1 while a spread (depth) episode is open. */
const SPREAD_EP = 3;
const DEPTH_EP = 4;

/**
 * Checkpoint form of a {@link LiquidityMonitor} (structured-cloneable).
 *
 * @example monitor.restore(structuredClone(monitor.snapshot()))
 */
export interface LiquiditySnapshot {
  insts: InstSnapshot[];
  open: number;
  active: number[];
}

/**
 * One closed window of an instrument, as the monitor evaluated it (for tests and tools).
 *
 * @example new LiquidityMonitor(LIQUIDITY_DEFAULTS, sink, (w) => console.log(w.instrument, w.meanSpreadBps, w.spreadLimitBps))
 */
export interface LiquidityWindow {
  instrument: string;
  windowStart: number;
  windowEnd: number;
  quotes: number;
  meanSpreadBps: number;
  minDepth: number;
  /** Median of the previous windows' means in the baseline period (NaN when fewer than required). */
  baselineBps: number;
  baselineWindows: number;
  spreadLimitBps: number;
}

/**
 * Liquidity (CONTRACTS.md 4), per instrument over tumbling epoch-aligned windows of `windowMs`:
 * - LIQUIDITY_SPREAD when the window's mean quoted spread `(ask - bid) / mid * 1e4` (the plain
 *   mean over its quotes) exceeds max(`spreadFloorBps`, `spreadMultiple` x the median of the
 *   instrument's window means over the previous `baselineMs`). The relative test needs at least
 *   `minBaselineWindows` previous windows with quotes in that period (10 = 5 minutes of history, so
 *   a median of a handful of opening windows cannot set the bar); until then only the floor
 *   applies. Every window's mean joins the baseline, breaching ones too (the median shrugs off a
 *   few).
 * - LIQUIDITY_DEPTH when the window's minimum depth at touch `bid*bidSize + ask*askSize` is below
 *   `minDepth`.
 *
 * Episodes: consecutive breaching windows are one episode with one alert, at its first window; the
 * episode ends at the first window with quotes that does not breach (a window without quotes says
 * nothing and leaves it open). Spread and depth episodes are separate. Alerts carry windowStart,
 * windowEnd and eventTime = windowEnd - 1 (the engine's convention for window results).
 *
 * A window closes once every record before its end has been applied: when a record at or after
 * its end comes, or on `settle(t)` with t >= end; `finish()` closes the last one.
 *
 * @example
 * const l = new LiquidityMonitor(LIQUIDITY_DEFAULTS, (a) => alerts.push(a));
 * for (const q of quotesInTimeOrder) { l.advance(q.ts); l.onQuote(q); }
 * l.finish();
 */
export class LiquidityMonitor implements EventTimeDriven {
  private readonly p: LiquidityParams;
  private readonly out: AlertSink;
  private readonly onWindow: ((w: LiquidityWindow) => void) | undefined;
  /** Instrument names by index (first-quote order, the snapshot's order). */
  private names: string[] = [];
  private index = new Map<string, number>();
  /** The same indices by instrument id (the per-record lookup). */
  private slots = new InstrumentSlots<number>();
  /** Start of the open window (NaN: none). */
  private open = Number.NaN;
  /** Instruments with quotes in the open window. */
  private active: number[] = [];
  /**
   * Per instrument k at k * ACC: the open window's sum of spreads (bps), minimum depth and quote
   * count, its episodes and its baseline ring's head and length.
   */
  private acc = new Float64Array(256 * ACC);
  /** The baselines (see {@link histStride}), for as many instruments as `acc` has room for. */
  private hist = new Float64Array(256 * histStride(INITIAL_CAP));
  /** Windows per baseline ring, shared by every instrument (a power of two). */
  private cap = INITIAL_CAP;
  /** Instrument k's baseline ring: its oldest slot at 2k, its number of windows at 2k + 1. */
  private at = new Int32Array(256 * 2);
  /** Indices of all instruments in name order (undefined: to sort again, an instrument was added). */
  private byName: number[] | undefined;

  constructor(p: LiquidityParams, out: AlertSink, onWindow?: (w: LiquidityWindow) => void) {
    this.p = p;
    this.out = out;
    this.onWindow = onWindow;
  }

  advance(ts: number): void {
    if (ts >= this.open + this.p.windowMs) this.close();
  }

  /**
   * `advance(r.ts)`, reading the time from the record: a double read from a record and passed to a
   * call that is not inlined is a new heap number, and this runs at every record.
   */
  advanceTo(r: { ts: number }): void {
    if (r.ts >= this.open + this.p.windowMs) this.close();
  }

  settle(t: number): void {
    if (t >= this.open + this.p.windowMs) this.close();
  }

  finish(): void {
    if (!Number.isNaN(this.open)) this.close();
  }

  /** `id`: the instrument's {@link instrumentId}, when the caller has it. */
  onQuote(q: MarketQuote, id = instrumentId(q.instrument)): void {
    if (Number.isNaN(this.open)) this.open = windowStart(q.ts, this.p.windowMs);
    let k = this.slots.at(id);
    if (k === undefined) {
      k = this.names.length;
      this.names.push(q.instrument);
      if ((k + 1) * ACC > this.acc.length) {
        this.acc = grown(this.acc, (k + 1) * ACC);
        this.hist = grown(this.hist, (k + 1) * histStride(this.cap));
        this.at = grown(this.at, (k + 1) * 2);
      }
      this.acc.fill(0, k * ACC, (k + 1) * ACC);
      this.acc[k * ACC + MIN_AT] = Number.POSITIVE_INFINITY;
      this.index.set(q.instrument, k);
      this.slots.set(q.instrument, k);
      this.byName = undefined;
    }
    const mid = (q.bid + q.ask) / 2;
    if (!(mid > 0)) return;
    const acc = this.acc;
    const n = acc[k * ACC + N_AT] as number;
    if (n === 0) this.active.push(k);
    acc[k * ACC + N_AT] = n + 1;
    // CONTRACTS.md 4, Liquidity: quoted spread in bps and depth at touch.
    acc[k * ACC + SUM_AT] = (acc[k * ACC + SUM_AT] as number) + ((q.ask - q.bid) / mid) * 1e4;
    const depth = q.bid * q.bidSize + q.ask * q.askSize;
    if (depth < (acc[k * ACC + MIN_AT] as number)) acc[k * ACC + MIN_AT] = depth;
  }

  snapshot(): LiquiditySnapshot {
    const acc = this.acc;
    const hist = this.hist;
    const cap = this.cap;
    const insts = this.names.map((name, k): InstSnapshot => {
      const ring = k * histStride(cap);
      const head = this.at[k * 2]!;
      const len = this.at[k * 2 + 1]!;
      const histStart: number[] = [];
      const histMean: number[] = [];
      for (let j = 0; j < len; j++) {
        const at = ring + ((head + j) & (cap - 1)) * 2;
        histStart.push(hist[at] as number);
        histMean.push(hist[at + 1] as number);
      }
      const sorted = Array.from(hist.subarray(ring + cap * 2, ring + cap * 2 + len));
      return { name, n: acc[k * ACC + N_AT] as number, sumBps: acc[k * ACC + SUM_AT] as number, minDepth: acc[k * ACC + MIN_AT] as number, histStart, histMean, sorted, spreadEpisode: acc[k * ACC + SPREAD_EP] === 1, depthEpisode: acc[k * ACC + DEPTH_EP] === 1 };
    });
    return { insts, open: this.open, active: this.active.slice() };
  }

  restore(st: unknown): void {
    const s = st as LiquiditySnapshot;
    let cap = INITIAL_CAP;
    for (const x of s.insts) while (cap < x.histStart.length) cap *= 2;
    const room = Math.max(256, s.insts.length);
    this.cap = cap;
    this.acc = new Float64Array(room * ACC);
    this.hist = new Float64Array(room * histStride(cap));
    this.at = new Int32Array(room * 2);
    this.names = s.insts.map((x, k) => {
      const acc = this.acc;
      acc[k * ACC + SUM_AT] = x.sumBps;
      acc[k * ACC + MIN_AT] = x.minDepth;
      acc[k * ACC + N_AT] = x.n;
      acc[k * ACC + SPREAD_EP] = x.spreadEpisode ? 1 : 0;
      acc[k * ACC + DEPTH_EP] = x.depthEpisode ? 1 : 0;
      // Pushing in time order rebuilds the sorted means too.
      x.histStart.forEach((t, j) => this.pushBaseline(k, t, x.histMean[j] as number));
      return x.name;
    });
    this.index = new Map(this.names.map((name, k) => [name, k]));
    this.slots = new InstrumentSlots<number>();
    for (const [k, v] of this.index) this.slots.set(k, v);
    this.open = s.open;
    this.active = s.active.slice();
    this.byName = undefined;
  }

  /** Adds a window to instrument k's baseline (the newest), growing every ring when k's is full. */
  private pushBaseline(k: number, start: number, mean: number): void {
    const len = this.at[k * 2 + 1]!;
    if (len === this.cap) this.grow();
    const cap = this.cap;
    const hist = this.hist;
    const ring = k * histStride(cap);
    const i = ring + ((this.at[k * 2]! + len) & (cap - 1)) * 2;
    hist[i] = start;
    hist[i + 1] = mean;
    insertSorted(hist, ring + cap * 2, len, mean);
    this.at[k * 2 + 1] = len + 1;
  }

  /** Doubles the baseline rings' capacity of every instrument (one ring is full), entries from the front. */
  private grow(): void {
    const cap = this.cap;
    const gcap = cap * 2;
    const acc = this.acc;
    const hist = this.hist;
    const g = new Float64Array((acc.length / ACC) * histStride(gcap));
    for (let k = 0; k < this.names.length; k++) {
      const ring = k * histStride(cap);
      const gring = k * histStride(gcap);
      const head = this.at[k * 2]!;
      const len = this.at[k * 2 + 1]!;
      unwrapRing(hist, ring, cap, head, len, 2, g, gring);
      g.set(hist.subarray(ring + cap * 2, ring + cap * 2 + len), gring + gcap * 2);
      this.at[k * 2] = 0;
    }
    this.hist = g;
    this.cap = gcap;
  }

  private close(): void {
    const start = this.open;
    const end = start + this.p.windowMs;
    const { spreadFloorBps, spreadMultiple, baselineMs, minBaselineWindows, minDepth } = this.p;
    // Instrument order, so that alerts at one instant come out the same whatever the arrival order:
    // the instruments with quotes in the window (the active ones) are those with n > 0, taken in
    // name order from the list of all of them (sorted once per new instrument, not per window).
    const names = this.names;
    if (this.byName === undefined) {
      this.byName = names.map((_, k) => k).sort((a, b) => (names[a]! < names[b]! ? -1 : 1));
    }
    const byName = this.byName;
    const active = this.active;
    const acc = this.acc;
    // The rings' layout: re-read after a pushBaseline that grew them (the instruments after it
    // in this loop have theirs in the new array).
    let cap = this.cap;
    let mask = cap - 1;
    let hist = this.hist;
    const at = this.at;
    const cutoff = start - baselineMs;
    for (let o = 0; o < byName.length; o++) {
      const k = byName[o] as number;
      const n = acc[k * ACC + N_AT] as number;
      if (n === 0) continue;
      const mean = (acc[k * ACC + SUM_AT] as number) / n;
      const minDepthOf = acc[k * ACC + MIN_AT] as number;
      // The baseline: previous windows that started in [start - baselineMs, start).
      const ring = k * histStride(cap);
      const sorted = ring + cap * 2;
      let head = at[k * 2]!;
      let nb = at[k * 2 + 1]!;
      // The last window to leave keeps its place in the sorted means (`hole`, -1: none) until this
      // window's mean takes the place: one move of the entries between the two (a window leaves
      // and one joins at nearly every close), rather than a removal and an insertion.
      let hole = -1;
      while (nb > 0 && (hist[ring + head * 2] as number) < cutoff) {
        if (hole >= 0) removeAt(hist, sorted, nb + 1, hole);
        hole = lowerBound(hist, sorted, nb, hist[ring + head * 2 + 1] as number);
        head = (head + 1) & mask;
        nb--;
      }
      at[k * 2] = head;
      at[k * 2 + 1] = nb;
      // Median of the baseline means (mean of the middle two for an even count), past the hole.
      const m = nb >> 1;
      const mid = sorted + m + (hole >= 0 && m >= hole ? 1 : 0);
      const below = sorted + m - 1 + (hole >= 0 && m - 1 >= hole ? 1 : 0);
      const median = nb >= minBaselineWindows && nb > 0 ? (nb % 2 === 1 ? (hist[mid] as number) : ((hist[below] as number) + (hist[mid] as number)) / 2) : Number.NaN;
      // CONTRACTS.md 4, LIQUIDITY_SPREAD: max(25 bps, 4 x the median over the previous 30 min).
      const limit = Number.isNaN(median) ? spreadFloorBps : Math.max(spreadFloorBps, spreadMultiple * median);
      const spreadBreach = mean > limit;
      const depthBreach = minDepthOf < minDepth;
      const spreadEpisode = acc[k * ACC + SPREAD_EP] === 1;
      const depthEpisode = acc[k * ACC + DEPTH_EP] === 1;
      this.onWindow?.({ instrument: names[k]!, windowStart: start, windowEnd: end, quotes: n, meanSpreadBps: mean, minDepth: minDepthOf, baselineBps: median, baselineWindows: nb, spreadLimitBps: limit });
      if (spreadBreach && !spreadEpisode) {
        this.out(
          instrumentAlert(
            'LIQUIDITY_SPREAD',
            'warning',
            names[k]!,
            end - 1,
            mean,
            limit,
            `${names[k]!} spread ${numText(mean, 1)} bps on average in the ${numText(this.p.windowMs / 1000, 1)}s to ${clockText(end)} (limit ${numText(limit, 1)} bps${Number.isNaN(median) ? '' : `, ${numText(spreadMultiple, 1)}x the ${numText(baselineMs / 60_000, 1)}-min median ${numText(median, 1)} bps`})`,
            { quotes: n, baselineBps: Number.isNaN(median) ? null : median, baselineWindows: nb, floorBps: spreadFloorBps },
            { start, end },
          ),
        );
      }
      if (depthBreach && !depthEpisode) {
        this.out(
          instrumentAlert(
            'LIQUIDITY_DEPTH',
            'warning',
            names[k]!,
            end - 1,
            minDepthOf,
            minDepth,
            `${names[k]!} depth at touch down to ${amountText(minDepthOf)} in the ${numText(this.p.windowMs / 1000, 1)}s to ${clockText(end)} (limit ${amountText(minDepth)})`,
            { quotes: n },
            { start, end },
          ),
        );
      }
      acc[k * ACC + SPREAD_EP] = spreadBreach ? 1 : 0;
      acc[k * ACC + DEPTH_EP] = depthBreach ? 1 : 0;
      if (hole >= 0) {
        // A window left, so the ring has room: this one goes in the hole's stead.
        replaceSorted(hist, sorted, nb, hole, mean);
        const i = ring + ((head + nb) & mask) * 2;
        hist[i] = start;
        hist[i + 1] = mean;
        at[k * 2 + 1] = nb + 1;
      } else {
        this.pushBaseline(k, start, mean);
        cap = this.cap;
        mask = cap - 1;
        hist = this.hist;
      }
      acc[k * ACC + N_AT] = 0;
      acc[k * ACC + SUM_AT] = 0;
      acc[k * ACC + MIN_AT] = Number.POSITIVE_INFINITY;
    }
    active.length = 0;
    this.open = Number.NaN;
  }
}

/**
 * Median of a list (mean of the middle two for an even count); `scratch` avoids an allocation.
 *
 * @example medianOf([4, 1, 3, 2]) // 2.5
 */
export function medianOf(values: readonly number[], scratch: number[] = []): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  scratch.length = n;
  for (let i = 0; i < n; i++) scratch[i] = values[i] as number;
  scratch.sort((a, b) => a - b);
  const m = n >> 1;
  return n % 2 === 1 ? (scratch[m] as number) : ((scratch[m - 1] as number) + (scratch[m] as number)) / 2;
}

/**
 * The UTC time of day of an event time, for messages.
 *
 * @example clockText(Date.parse('2024-03-15T14:05:30Z')) // "14:05:30Z"
 */
export function clockText(t: number): string {
  return `${new Date(t).toISOString().slice(11, 19)}Z`;
}

/**
 * A currency amount for a message: "143k", "1.25M".
 *
 * @example amountText(143_200) // "143k"
 */
export function amountText(x: number): string {
  if (Math.abs(x) >= 1e6) return `${numText(x / 1e6, 2)}M`;
  if (Math.abs(x) >= 1e3) return `${Math.round(x / 1e3)}k`;
  return numText(x, 0);
}
