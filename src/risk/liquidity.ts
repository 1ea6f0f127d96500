import { windowStart } from '../windows/assigners.js';
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
 * An instrument's state. The open window's quote count, sum of spreads and minimum depth live in
 * the monitor's `acc` array (they change at every quote, and a double stored in an object field
 * is a new heap number each time; and a quote then touches no object of its instrument); the
 * baseline is a ring of (start, mean) pairs plus the same means sorted, in typed arrays (no
 * splicing of arrays per window).
 */
class Inst {
  spreadEpisode = false;
  depthEpisode = false;
  /** Baseline ring: (start, mean) of entry j at ((head + j) & mask) * 2. */
  private ring = new Float64Array(2 * 128);
  private mask = 127;
  private head = 0;
  /** Baseline windows held (also the length of `sorted`). */
  len = 0;
  /** The baseline means in ascending order, `len` of them. */
  sorted = new Float64Array(128);

  constructor(readonly name: string) {}

  startAt(j: number): number {
    return this.ring[((this.head + j) & this.mask) * 2] as number;
  }

  meanAt(j: number): number {
    return this.ring[((this.head + j) & this.mask) * 2 + 1] as number;
  }

  /** Drops the oldest baseline window (and its mean from `sorted`). */
  dropOldest(): void {
    const x = this.meanAt(0);
    const a = this.sorted;
    const n = this.len;
    const i = lowerBound(a, x, n);
    for (let j = i; j < n - 1; j++) a[j] = a[j + 1] as number;
    this.head = (this.head + 1) & this.mask;
    this.len = n - 1;
  }

  /** Adds a window to the baseline (the newest). */
  push(start: number, mean: number): void {
    if (this.len > this.mask) this.grow();
    const r = ((this.head + this.len) & this.mask) * 2;
    this.ring[r] = start;
    this.ring[r + 1] = mean;
    const a = this.sorted;
    const n = this.len;
    const i = lowerBound(a, mean, n);
    for (let j = n; j > i; j--) a[j] = a[j - 1] as number;
    a[i] = mean;
    this.len = n + 1;
  }

  /** Median of the baseline means (mean of the middle two for an even count). */
  median(): number {
    const a = this.sorted;
    const n = this.len;
    const m = n >> 1;
    return n % 2 === 1 ? (a[m] as number) : ((a[m - 1] as number) + (a[m] as number)) / 2;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const ring = new Float64Array(cap * 2);
    for (let j = 0; j < this.len; j++) {
      ring[j * 2] = this.startAt(j);
      ring[j * 2 + 1] = this.meanAt(j);
    }
    const sorted = new Float64Array(cap);
    sorted.set(this.sorted.subarray(0, this.len));
    this.ring = ring;
    this.sorted = sorted;
    this.mask = cap - 1;
    this.head = 0;
  }
}

/** An instrument's numbers in the monitor's `acc` array: k * ACC + offset. */
const ACC = 4;
const SUM_AT = 0;
const MIN_AT = 1;
const N_AT = 2;

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
  private insts: Inst[] = [];
  private index = new Map<string, number>();
  /** The same indices by instrument id (the per-record lookup). */
  private slots = new InstrumentSlots<number>();
  /** Start of the open window (NaN: none). */
  private open = Number.NaN;
  /** Instruments with quotes in the open window. */
  private active: number[] = [];
  /** Per instrument k at k * ACC: the open window's sum of spreads (bps), minimum depth and quote count. */
  private acc = new Float64Array(256 * ACC);
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
      k = this.insts.length;
      this.insts.push(new Inst(q.instrument));
      if ((k + 1) * ACC > this.acc.length) {
        const g = new Float64Array(this.acc.length * 2);
        g.set(this.acc);
        this.acc = g;
      }
      this.acc[k * ACC + SUM_AT] = 0;
      this.acc[k * ACC + MIN_AT] = Number.POSITIVE_INFINITY;
      this.acc[k * ACC + N_AT] = 0;
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
    const insts = this.insts.map((s, k): InstSnapshot => {
      const histStart: number[] = [];
      const histMean: number[] = [];
      for (let j = 0; j < s.len; j++) {
        histStart.push(s.startAt(j));
        histMean.push(s.meanAt(j));
      }
      const sorted = Array.from(s.sorted.subarray(0, s.len));
      return { name: s.name, n: acc[k * ACC + N_AT] as number, sumBps: acc[k * ACC + SUM_AT] as number, minDepth: acc[k * ACC + MIN_AT] as number, histStart, histMean, sorted, spreadEpisode: s.spreadEpisode, depthEpisode: s.depthEpisode };
    });
    return { insts, open: this.open, active: this.active.slice() };
  }

  restore(st: unknown): void {
    const s = st as LiquiditySnapshot;
    this.acc = new Float64Array(Math.max(256, s.insts.length) * ACC);
    this.insts = s.insts.map((x, k) => {
      const inst = new Inst(x.name);
      inst.spreadEpisode = x.spreadEpisode;
      inst.depthEpisode = x.depthEpisode;
      // Pushing in time order rebuilds the sorted means too.
      x.histStart.forEach((t, j) => inst.push(t, x.histMean[j] as number));
      this.acc[k * ACC + SUM_AT] = x.sumBps;
      this.acc[k * ACC + MIN_AT] = x.minDepth;
      this.acc[k * ACC + N_AT] = x.n;
      return inst;
    });
    this.index = new Map(this.insts.map((x, k) => [x.name, k]));
    this.slots = new InstrumentSlots<number>();
    for (const [k, v] of this.index) this.slots.set(k, v);
    this.open = s.open;
    this.active = s.active.slice();
    this.byName = undefined;
  }

  private close(): void {
    const start = this.open;
    const end = start + this.p.windowMs;
    const { spreadFloorBps, spreadMultiple, baselineMs, minBaselineWindows, minDepth } = this.p;
    // Instrument order, so that alerts at one instant come out the same whatever the arrival order:
    // the instruments with quotes in the window (the active ones) are those with n > 0, taken in
    // name order from the list of all of them (sorted once per new instrument, not per window).
    const insts = this.insts;
    if (this.byName === undefined) {
      this.byName = insts.map((_, k) => k).sort((a, b) => (insts[a]!.name < insts[b]!.name ? -1 : 1));
    }
    const byName = this.byName;
    const active = this.active;
    const acc = this.acc;
    for (let o = 0; o < byName.length; o++) {
      const k = byName[o] as number;
      const n = acc[k * ACC + N_AT] as number;
      if (n === 0) continue;
      const s = insts[k]!;
      const mean = (acc[k * ACC + SUM_AT] as number) / n;
      const minDepthOf = acc[k * ACC + MIN_AT] as number;
      // The baseline: previous windows that started in [start - baselineMs, start).
      while (s.len > 0 && s.startAt(0) < start - baselineMs) s.dropOldest();
      const nb = s.len;
      const median = nb >= minBaselineWindows && nb > 0 ? s.median() : Number.NaN;
      // CONTRACTS.md 4, LIQUIDITY_SPREAD: max(25 bps, 4 x the median over the previous 30 min).
      const limit = Number.isNaN(median) ? spreadFloorBps : Math.max(spreadFloorBps, spreadMultiple * median);
      const spreadBreach = mean > limit;
      const depthBreach = minDepthOf < minDepth;
      this.onWindow?.({ instrument: s.name, windowStart: start, windowEnd: end, quotes: n, meanSpreadBps: mean, minDepth: minDepthOf, baselineBps: median, baselineWindows: nb, spreadLimitBps: limit });
      if (spreadBreach && !s.spreadEpisode) {
        this.out(
          instrumentAlert(
            'LIQUIDITY_SPREAD',
            'warning',
            s.name,
            end - 1,
            mean,
            limit,
            `${s.name} spread ${numText(mean, 1)} bps on average in the ${numText(this.p.windowMs / 1000, 1)}s to ${clockText(end)} (limit ${numText(limit, 1)} bps${Number.isNaN(median) ? '' : `, ${numText(spreadMultiple, 1)}x the ${numText(baselineMs / 60_000, 1)}-min median ${numText(median, 1)} bps`})`,
            { quotes: n, baselineBps: Number.isNaN(median) ? null : median, baselineWindows: nb, floorBps: spreadFloorBps },
            { start, end },
          ),
        );
      }
      if (depthBreach && !s.depthEpisode) {
        this.out(
          instrumentAlert(
            'LIQUIDITY_DEPTH',
            'warning',
            s.name,
            end - 1,
            minDepthOf,
            minDepth,
            `${s.name} depth at touch down to ${amountText(minDepthOf)} in the ${numText(this.p.windowMs / 1000, 1)}s to ${clockText(end)} (limit ${amountText(minDepth)})`,
            { quotes: n },
            { start, end },
          ),
        );
      }
      s.spreadEpisode = spreadBreach;
      s.depthEpisode = depthBreach;
      s.push(start, mean);
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

/** First index of a sorted list (its first `n` values) whose value is >= x. */
function lowerBound(a: ArrayLike<number>, x: number, n: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
