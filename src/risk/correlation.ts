import type { History, ReferenceData } from '../core/reference.js';
import { SnapshotColumns } from '../core/snapshot-rows.js';
import { windowStart } from '../windows/assigners.js';
import { PAIR_BLOCK_BARS, pairBarsAt, pairKernel, type PairKernelState } from './correlation-kernel.js';
import { durationText, InstrumentSlots, instrumentId, numText, type AlertSink, type EventTimeDriven, type MarketAlert, type MarketQuote } from './market.js';

/**
 * Parameters of {@link CorrelationMatrix} (CONTRACTS.md 4, Correlation matrix).
 *
 * @example const p: CorrelationParams = { ...CORRELATION_DEFAULTS, windowMs: 60_000, minObs: 20 };
 */
export interface CorrelationParams {
  /** Tumbling window, epoch-aligned (default 5 min); a multiple of `stepMs`. */
  windowMs: number;
  /** Bar grid step (default 1 s). */
  stepMs: number;
  /** Fewest returns defined on both sides for a correlation (default 30). */
  minObs: number;
  /** CORRELATION_HIGH when |rho| >= this (default 0.9). */
  highAbs: number;
  /** CORRELATION_BREAK when |rho - rho_hist| >= this (default 0.5). */
  breakAbs: number;
}

/**
 * The defaults of CONTRACTS.md 4: 5-minute windows on a 1 s grid, 30 observations, |rho| >= 0.9,
 * a break of 0.5.
 *
 * @example new CorrelationMatrix(CORRELATION_DEFAULTS, reference, sink)
 */
export const CORRELATION_DEFAULTS: CorrelationParams = { windowMs: 300_000, stepMs: 1000, minObs: 30, highAbs: 0.9, breakAbs: 0.5 };

/**
 * One row of the `correlations` snapshot table (CONTRACTS.md section 5): one per pair per closed
 * window, instrument_a < instrument_b. A type alias so that rows are plain records for the sink.
 *
 * @example { window_start: 1_710_511_200_000, window_end: 1_710_511_500_000, instrument_a: 'ACME', instrument_b: 'BYTE', correlation: 0.62, n: 300 }
 */
export type CorrelationRow = {
  window_start: number;
  window_end: number;
  instrument_a: string;
  instrument_b: string;
  correlation: number | null;
  n: number;
};

/** Below this fraction of the sum of squares, a variance is rounding noise: the series is constant. */
const ZERO_VARIANCE = 1e-12;

/**
 * Pearson sample correlation from sums over n paired observations, or NaN when n < minObs or
 * either side has zero variance.
 *
 * @example pearsonFromSums(3, 6, 6, 14, 14, 14, 2) // 1 (x = y = 1, 2, 3)
 */
export function pearsonFromSums(n: number, sx: number, sy: number, sxx: number, syy: number, sxy: number, minObs: number): number {
  if (n < minObs || n < 2) return Number.NaN;
  const vx = sxx - (sx * sx) / n;
  const vy = syy - (sy * sy) / n;
  if (!(vx > ZERO_VARIANCE * sxx) || !(vy > ZERO_VARIANCE * syy)) return Number.NaN;
  const r = (sxy - (sx * sy) / n) / Math.sqrt(vx * vy);
  return r > 1 ? 1 : r < -1 ? -1 : r;
}

/**
 * rho_hist of CONTRACTS.md 4 (Correlation matrix): the Pearson correlation of two instruments'
 * daily returns `close[s] / close[s-1] - 1` over the whole history, on the days where both are
 * defined (NaN when fewer than 2 such days, a close is missing, or a series is constant).
 *
 * @example historicalCorrelation(reference.history!, 'ACME', 'BYTE') // 0.61
 */
export function historicalCorrelation(history: History, a: string, b: string): number {
  const ca = history.closes.get(a);
  const cb = history.closes.get(b);
  if (ca === undefined || cb === undefined) return Number.NaN;
  return returnsCorrelation(dailyReturns(ca), dailyReturns(cb));
}

/** The daily returns `close[s] / close[s-1] - 1` of a close series, at s (NaN at 0). */
function dailyReturns(closes: Float64Array): Float64Array {
  const r = new Float64Array(closes.length);
  r[0] = Number.NaN;
  for (let s = 1; s < closes.length; s++) r[s] = (closes[s] as number) / (closes[s - 1] as number) - 1;
  return r;
}

/** {@link historicalCorrelation} of two instruments' {@link dailyReturns}. */
function returnsCorrelation(ra: Float64Array, rb: Float64Array): number {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  const len = Math.min(ra.length, rb.length);
  for (let s = 1; s < len; s++) {
    const x = ra[s] as number;
    const y = rb[s] as number;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    n++;
    sx += x;
    sy += y;
    sxx += x * x;
    syy += y * y;
    sxy += x * y;
  }
  return pearsonFromSums(n, sx, sy, sxx, syy, sxy, 2);
}

/**
 * One closed window of a {@link CorrelationMatrix}: the correlation and observation count of every
 * pair, in row order (instrument_a < instrument_b by name), in typed arrays. The `correlations`
 * rows are built from it only when they are written ({@link CorrelationWindow.rows}): a window of
 * 200 instruments is 19,900 rows, which need not live as objects until the next snapshot instant.
 *
 * @example
 * new CorrelationMatrix(CORRELATION_DEFAULTS, reference, sink, undefined, (w) => table.push(...w.rows()));
 */
export class CorrelationWindow {
  constructor(
    readonly windowStart: number,
    readonly windowEnd: number,
    /** Instrument names in name order: pair (a, b), a < b, is row k of the triangle in that order. */
    readonly names: readonly string[],
    /** Per pair in row order: the correlation (NaN: null) and its number of returns. */
    readonly rho: Float64Array,
    readonly n: Float64Array,
  ) {}

  /** Number of rows (pairs). */
  get size(): number {
    return this.rho.length;
  }

  /**
   * The rows of these windows, in order, as columns for the snapshot sink (no object per row; a
   * NaN correlation is null, as in {@link rows}).
   */
  static columns(windows: readonly CorrelationWindow[]): SnapshotColumns {
    // One window (a snapshot interval shorter than the window: nearly every snapshot) is written
    // from its own arrays where it can: its `n`, and pair names shared by every window over the
    // same instruments.
    if (windows.length === 1) return windows[0]!.columns();
    let total = 0;
    for (const w of windows) total += w.size;
    const ws = new Float64Array(total);
    const we = new Float64Array(total);
    const a = new Array<string>(total);
    const b = new Array<string>(total);
    const corr = new Array<number | null>(total);
    const n = new Float64Array(total);
    let i = 0;
    for (const w of windows) {
      const names = w.names;
      const rho = w.rho;
      let k = 0;
      for (let x = 0; x < names.length; x++) {
        const na = names[x]!;
        for (let y = x + 1; y < names.length; y++, k++, i++) {
          const r = rho[k] as number;
          ws[i] = w.windowStart;
          we[i] = w.windowEnd;
          a[i] = na;
          b[i] = names[y]!;
          corr[i] = Number.isNaN(r) ? null : r;
          n[i] = w.n[k] as number;
        }
      }
    }
    return new SnapshotColumns(total, { window_start: ws, window_end: we, instrument_a: a, instrument_b: b, correlation: corr, n });
  }

  /**
   * This window's rows as columns ({@link CorrelationWindow.columns} of it alone). The `n` column
   * is the window's own array (shared with the windows of equal counts), so is the correlation
   * column when no correlation is null, the instrument columns are those of every window over
   * the same names (see {@link pairNames}), and a window's start column is the previous window's
   * end column (see {@link boundColumn}): the sink only reads them.
   */
  columns(): SnapshotColumns {
    const total = this.size;
    const rho = this.rho;
    // Without a null (every pair had enough data: nearly every window), the correlation column is
    // the window's own array too; else an array with a null per NaN.
    let corr: ArrayLike<number | null> = rho;
    for (let k = 0; k < total; k++) {
      if (Number.isNaN(rho[k] as number)) {
        corr = Array.from(rho, (r) => (Number.isNaN(r) ? null : r));
        break;
      }
    }
    const { a, b } = pairNames(this.names);
    return new SnapshotColumns(total, {
      window_start: boundColumn(this.windowStart, total),
      window_end: boundColumn(this.windowEnd, total),
      instrument_a: a,
      instrument_b: b,
      correlation: corr,
      n: this.n,
    });
  }

  /** The window's rows, in order, appended to `out`. */
  rows(out: CorrelationRow[] = []): CorrelationRow[] {
    const names = this.names;
    const ws = this.windowStart;
    const we = this.windowEnd;
    const rho = this.rho;
    const n = this.n;
    let k = 0;
    for (let a = 0; a < names.length; a++) {
      const na = names[a]!;
      for (let b = a + 1; b < names.length; b++) {
        const r = rho[k] as number;
        out.push({ window_start: ws, window_end: we, instrument_a: na, instrument_b: names[b]!, correlation: Number.isNaN(r) ? null : r, n: n[k] as number });
        k++;
      }
    }
    return out;
  }
}

/** The last two columns made by {@link boundColumn}. */
const BOUNDS: Float64Array[] = [];

/**
 * A column of `total` rows, each `t`: the one made last for the same time and length when there
 * is one (a window's start is the previous window's end, the windows being consecutive), else a
 * new one. Columns are only read once made.
 */
function boundColumn(t: number, total: number): Float64Array {
  for (const c of BOUNDS) if (c.length === total && c[0] === t) return c;
  const c = new Float64Array(total).fill(t);
  if (BOUNDS.length === 2) BOUNDS.shift();
  BOUNDS.push(c);
  return c;
}

/** {@link pairNames} by names list (a matrix shares its list among its windows until an instrument is added). */
const PAIR_NAMES = new WeakMap<readonly string[], { a: readonly string[]; b: readonly string[] }>();

/**
 * instrument_a and instrument_b of every pair of `names` (in name order), in row order: made once
 * per list of names, not per window.
 */
function pairNames(names: readonly string[]): { a: readonly string[]; b: readonly string[] } {
  let got = PAIR_NAMES.get(names);
  if (got === undefined) {
    const total = (names.length * (names.length - 1)) / 2;
    const a = new Array<string>(total);
    const b = new Array<string>(total);
    let k = 0;
    for (let x = 0; x < names.length; x++) {
      for (let y = x + 1; y < names.length; y++, k++) {
        a[k] = names[x]!;
        b[k] = names[y]!;
      }
    }
    got = { a, b };
    PAIR_NAMES.set(names, got);
  }
  return got;
}

interface LateStart {
  /** Every instrument's running sums just before this instrument's first return of the window. */
  s: Float64Array;
  ss: Float64Array;
}

/**
 * Checkpoint form of a {@link CorrelationMatrix} (structured-cloneable typed arrays).
 *
 * @example matrix.restore(structuredClone(matrix.snapshot()))
 */
export interface CorrelationSnapshot {
  names: string[];
  lastMid: Float64Array;
  dirty: number[];
  prevClose: Float64Array;
  first: Float64Array;
  s: Float64Array;
  ss: Float64Array;
  sxy: Float64Array;
  high: Uint8Array;
  brk: Uint8Array;
  late: Array<[number, LateStart]>;
  open: number;
  bar: number;
  /** Capacity the pair arrays were laid out with. */
  cap: number;
}

/**
 * The correlation matrix of CONTRACTS.md 4 over all instruments (a global, non-keyed calculator).
 *
 * Bars: the window [ws, ws + W) has bars j = 1..M (M = W / g) closing at ws + j*g; a bar's close
 * is the mid of the latest quote with ts < its instant, carried forward (from before the window
 * too); bar 0's close is the latest mid before ws. Returns r_j = close_j / close_{j-1} - 1. A pair's
 * correlation is the Pearson sample correlation over the bars where both returns are defined
 * (NaN -> null when fewer than `minObs`, or a zero variance).
 *
 * Cost: a quote only stores its instrument's latest mid and marks it dirty (O(1)). When event
 * time passes a grid instant, only the dirty instruments' closes are read; an instrument's return
 * is defined from the bar after its first close on, so the bars both sides of a pair have in a
 * window are the last M - max(f_a, f_b) + 1, and the per-instrument sums of r and r^2 (with a
 * copy of them taken when an instrument starts late in a window) give each pair's sx, sy, sxx, syy
 * without per-pair work. Only sxy is per pair (a typed array), and only pairs where both returns
 * are non-zero add to it: O(k^2) per bar for k instruments that moved (when most instruments
 * move, the bar's returns are buffered and added to every pair a block of bars at a time, in
 * WebAssembly: correlation-kernel.ts). At the window's end each pair is one O(1) formula.
 *
 * Windows in which no quote arrived are neither computed nor reported (every return would be 0,
 * so every correlation null); the bars of a reported window run to its end even past the last
 * record (`finish`), as a window operator fires at the end of input.
 *
 * Alerts, per pair, at window close (eventTime = windowEnd - 1, windowStart/windowEnd set):
 * CORRELATION_HIGH when |rho| >= `highAbs`; CORRELATION_BREAK when |rho - rho_hist| >= `breakAbs`
 * (rho_hist: {@link historicalCorrelation}; no test without history). One alert per episode: a pair
 * whose previous reported correlation already met the condition does not alert again; a null
 * correlation (too little data) neither starts nor ends an episode.
 *
 * Instruments: those of the reference data, plus any seen in quotes. Rows and alerts come in
 * (instrument_a, instrument_b) name order with instrument_a < instrument_b.
 *
 * @example
 * const c = new CorrelationMatrix(CORRELATION_DEFAULTS, reference, (a) => alerts.push(a), (rows) => table.push(...rows));
 * for (const q of quotesInTimeOrder) { c.advance(q.ts); c.onQuote(q); }
 * c.finish();
 */
export class CorrelationMatrix implements EventTimeDriven {
  private readonly p: CorrelationParams;
  private readonly ref: ReferenceData;
  private readonly out: AlertSink;
  private readonly onWindow: ((rows: CorrelationRow[], windowStart: number, windowEnd: number) => void) | undefined;
  private readonly onResult: ((w: CorrelationWindow) => void) | undefined;
  private readonly bars: number;
  /** The window length for messages: "5m", "90s". */
  private readonly span: string;
  private names: string[] = [];
  private index = new Map<string, number>();
  /** The same indices by instrument id (the per-record lookup). */
  private slots = new InstrumentSlots<number>();
  private cap = 0;
  private lastMid: Float64Array = new Float64Array(0);
  private isDirty: Uint8Array = new Uint8Array(0);
  /** Number of dirty instruments (their flags are set in isDirty). */
  private dirtyCount = 0;
  private prevClose: Float64Array = new Float64Array(0);
  /** Bar of the instrument's first defined return in the open window (Infinity: none yet). */
  private first: Float64Array = new Float64Array(0);
  private s: Float64Array = new Float64Array(0);
  private ss: Float64Array = new Float64Array(0);
  /** Per pair (i < k at i * cap + k): sum of r_i r_k over the window. */
  private sxy: Float64Array = new Float64Array(0);
  /** The WebAssembly pair update over sxy (which then lives in its memory); undefined without WebAssembly. */
  private kern: PairKernelState | undefined;
  /** Bars in the kernel's block whose products are not in sxy yet (see {@link flushPairs}). */
  private pending = 0;
  private hist: Float64Array = new Float64Array(0);
  /** Per pair: the last reported correlation met the HIGH / BREAK condition (episode open). */
  private high: Uint8Array = new Uint8Array(0);
  private brk: Uint8Array = new Uint8Array(0);
  private late = new Map<number, LateStart>();
  /** Start of the open window (NaN: none) and the next bar to close in it (1..M). */
  private open = Number.NaN;
  private bar = 1;
  private zi = new Int32Array(0);
  private zr = new Float64Array(0);
  private sorted: number[] | undefined;
  /** The names in that order (shared by the windows closed until an instrument is added). */
  private sortedNames: string[] | undefined;
  /** The pair counts of the last window reported (shared with the windows whose counts are the same). */
  private lastN = new Float64Array(0);
  /** Daily returns of the instruments by name, for rho_hist (see {@link histOf}). */
  private dailyReturns = new Map<string, Float64Array | null>();

  constructor(
    p: CorrelationParams,
    ref: ReferenceData,
    out: AlertSink,
    onWindow?: (rows: CorrelationRow[], windowStart: number, windowEnd: number) => void,
    onResult?: (w: CorrelationWindow) => void,
  ) {
    if (!(p.stepMs > 0) || !(p.windowMs > 0) || p.windowMs % p.stepMs !== 0) {
      throw new RangeError(`correlation window ${p.windowMs} ms must be a positive multiple of the step ${p.stepMs} ms`);
    }
    this.p = p;
    this.ref = ref;
    this.out = out;
    this.onWindow = onWindow;
    this.onResult = onResult;
    this.bars = p.windowMs / p.stepMs;
    this.span = p.windowMs % 60_000 === 0 ? `${p.windowMs / 60_000}m` : durationText(p.windowMs);
    this.grow(Math.max(8, ref.instruments.size));
    for (const name of [...ref.instruments.keys()].sort()) this.place(name);
    this.histAll();
  }

  /** Instruments known so far, in index order. */
  get instruments(): readonly string[] {
    return this.names;
  }

  advance(ts: number): void {
    // The next bar's instant (NaN without an open window): a guard small enough to be inlined.
    if (this.open + this.bar * this.p.stepMs <= ts) this.run(ts);
  }

  /**
   * `advance(r.ts)`, reading the time from the record: a double read from a record and passed to a
   * call that is not inlined is a new heap number, and this runs at every record.
   */
  advanceTo(r: { ts: number }): void {
    if (this.open + this.bar * this.p.stepMs <= r.ts) this.run(r.ts);
  }

  settle(t: number): void {
    this.run(t);
  }

  finish(): void {
    if (!Number.isNaN(this.open)) this.run(this.open + this.p.windowMs);
  }

  /** `id`: the instrument's {@link instrumentId}, when the caller has it. */
  onQuote(q: MarketQuote, id = instrumentId(q.instrument)): void {
    if (Number.isNaN(this.open)) {
      // The window's bars before this quote read the mids before it: close them now.
      this.startWindow(windowStart(q.ts, this.p.windowMs));
      this.run(q.ts);
    }
    let i = this.slots.at(id);
    if (i === undefined) i = this.add(q.instrument);
    const mid = (q.bid + q.ask) / 2;
    if (!(mid > 0)) return;
    this.lastMid[i] = mid;
    if (this.isDirty[i] === 0) {
      this.isDirty[i] = 1;
      this.dirtyCount++;
    }
  }

  snapshot(): CorrelationSnapshot {
    this.flushPairs();
    return {
      names: this.names.slice(),
      lastMid: this.lastMid.slice(),
      dirty: this.dirtyList(),
      prevClose: this.prevClose.slice(),
      first: this.first.slice(),
      s: this.s.slice(),
      ss: this.ss.slice(),
      sxy: this.sxy.slice(),
      high: this.high.slice(),
      brk: this.brk.slice(),
      late: [...this.late].map(([k, v]) => [k, { s: v.s.slice(), ss: v.ss.slice() }]),
      open: this.open,
      bar: this.bar,
      cap: this.cap,
    };
  }

  restore(st: unknown): void {
    const x = st as CorrelationSnapshot;
    this.names = x.names.slice();
    this.index = new Map(this.names.map((n, i) => [n, i]));
    this.slots = new InstrumentSlots<number>();
    for (const [n, i] of this.index) this.slots.set(n, i);
    this.cap = x.cap;
    this.lastMid = x.lastMid.slice();
    this.prevClose = x.prevClose.slice();
    this.first = x.first.slice();
    this.s = x.s.slice();
    this.ss = x.ss.slice();
    this.kern = pairKernel(this.cap);
    this.pending = 0;
    // rho_hist while the kernel's sums are still zero (histAll uses them).
    this.hist = new Float64Array(this.cap * this.cap).fill(Number.NaN);
    this.histAll();
    if (this.kern === undefined) this.sxy = x.sxy.slice();
    else {
      this.kern.sxy.set(x.sxy);
      this.sxy = this.kern.sxy;
    }
    this.high = x.high.slice();
    this.brk = x.brk.slice();
    this.dirtyCount = x.dirty.length;
    this.isDirty = new Uint8Array(this.cap);
    for (const i of x.dirty) this.isDirty[i] = 1;
    this.late = new Map(x.late.map(([k, v]) => [k, { s: v.s.slice(), ss: v.ss.slice() }]));
    this.open = x.open;
    this.bar = x.bar;
    this.zi = new Int32Array(this.cap);
    this.zr = new Float64Array(this.cap);
    this.sorted = undefined;
  }

  /** The dirty instruments, in index order. */
  private dirtyList(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.names.length; i++) if (this.isDirty[i] === 1) out.push(i);
    return out;
  }

  /** Closes every bar whose instant is <= t (a bar at t reads quotes before t only). */
  private run(t: number): void {
    const { stepMs } = this.p;
    while (!Number.isNaN(this.open) && this.open + this.bar * stepMs <= t) {
      this.closeBar(this.bar);
      if (this.bar === this.bars) {
        this.closeWindow();
        this.open = Number.NaN;
      } else this.bar++;
    }
  }

  private startWindow(ws: number): void {
    this.open = ws;
    this.bar = 1;
    const n = this.names.length;
    for (let i = 0; i < n; i++) {
      this.s[i] = 0;
      this.ss[i] = 0;
      this.first[i] = Number.isNaN(this.prevClose[i] as number) ? Number.POSITIVE_INFINITY : 1;
    }
    this.sxy.fill(0);
    this.late.clear();
  }

  private closeBar(j: number): void {
    const zi = this.zi;
    const zr = this.zr;
    const isDirty = this.isDirty;
    let zn = 0;
    let starters: number[] | undefined;
    // Dirty instruments in index order (a scan of flags, cheaper than sorting the dirty list), so
    // that each pair below is (lower index, higher index) without a branch.
    const count = this.dirtyCount === 0 ? 0 : this.names.length;
    for (let i = 0; i < count; i++) {
      if (isDirty[i] === 0) continue;
      isDirty[i] = 0;
      const close = this.lastMid[i] as number;
      const prev = this.prevClose[i] as number;
      this.prevClose[i] = close;
      if (Number.isNaN(prev)) {
        // First close: returns are defined from the next bar on.
        this.first[i] = j + 1;
        (starters ??= []).push(i);
        continue;
      }
      // CONTRACTS.md 4, Correlation matrix: r_j = close_j / close_{j-1} - 1.
      const r = close / prev - 1;
      if (r === 0) continue;
      this.s[i] = (this.s[i] as number) + r;
      this.ss[i] = (this.ss[i] as number) + r * r;
      zi[zn] = i;
      zr[zn] = r;
      zn++;
    }
    this.dirtyCount = 0;
    const cap = this.cap;
    const sxy = this.sxy;
    const kern = this.kern;
    if (kern !== undefined && zn > 1) {
      // A bar where most instruments moved goes to the kernel's block, whose products are added
      // to every pair (0 for the instruments that did not move) when it is full or sxy is read:
      // worth it unless few moved, and bit-identical only with finite returns (see
      // correlation-kernel.ts). Else the block goes first, so that each pair's sum still takes
      // its products in bar order.
      const n = this.names.length;
      let finite = true;
      for (let q = 0; q < zn; q++) if (!(Math.abs(zr[q] as number) < Number.POSITIVE_INFINITY)) finite = false;
      if (finite && n * (n - 1) <= 4 * zn * (zn - 1)) {
        const bars = kern.bars;
        const at = this.pending * cap;
        bars.fill(0, at, at + n);
        for (let q = 0; q < zn; q++) bars[at + (zi[q] as number)] = zr[q] as number;
        if (++this.pending === PAIR_BLOCK_BARS) this.flushPairs();
        zn = 0;
      } else this.flushPairs();
    }
    // Each pair gets its one addition of the bar, in any order of the pairs (every sum is per pair
    // and bar by bar): rows four at a time, so that the inner loop reads each later instrument's
    // index and return once for four rows. The loop is most of a bar's cost, O(k^2) for k moved
    // instruments.
    let a = 0;
    for (; a + 3 < zn; a += 4) {
      const i1 = zi[a + 1] as number;
      const i2 = zi[a + 2] as number;
      const i3 = zi[a + 3] as number;
      const r0 = zr[a] as number;
      const r1 = zr[a + 1] as number;
      const r2 = zr[a + 2] as number;
      const r3 = zr[a + 3] as number;
      const b0 = (zi[a] as number) * cap;
      const b1 = i1 * cap;
      const b2 = i2 * cap;
      const b3 = i3 * cap;
      // The six pairs within the four rows.
      sxy[b0 + i1] = (sxy[b0 + i1] as number) + r0 * r1;
      sxy[b0 + i2] = (sxy[b0 + i2] as number) + r0 * r2;
      sxy[b0 + i3] = (sxy[b0 + i3] as number) + r0 * r3;
      sxy[b1 + i2] = (sxy[b1 + i2] as number) + r1 * r2;
      sxy[b1 + i3] = (sxy[b1 + i3] as number) + r1 * r3;
      sxy[b2 + i3] = (sxy[b2 + i3] as number) + r2 * r3;
      for (let b = a + 4; b < zn; b++) {
        const ib = zi[b] as number;
        const rb = zr[b] as number;
        sxy[b0 + ib] = (sxy[b0 + ib] as number) + r0 * rb;
        sxy[b1 + ib] = (sxy[b1 + ib] as number) + r1 * rb;
        sxy[b2 + ib] = (sxy[b2 + ib] as number) + r2 * rb;
        sxy[b3 + ib] = (sxy[b3 + ib] as number) + r3 * rb;
      }
    }
    // The last rows (fewer than four): the pairs among them.
    for (; a < zn; a++) {
      const base = (zi[a] as number) * cap;
      const ra = zr[a] as number;
      for (let b = a + 1; b < zn; b++) {
        const pair = base + (zi[b] as number);
        sxy[pair] = (sxy[pair] as number) + ra * (zr[b] as number);
      }
    }
    if (starters) {
      for (const i of starters) this.late.set(i, { s: this.s.slice(0, this.names.length), ss: this.ss.slice(0, this.names.length) });
    }
  }

  /** Adds the products of the bars in the kernel's block to sxy (before sxy is read or re-laid). */
  private flushPairs(): void {
    if (this.pending === 0) return;
    this.kern!.run(pairBarsAt(this.cap), this.pending, this.names.length, this.cap);
    this.pending = 0;
  }

  private closeWindow(): void {
    this.flushPairs();
    const ws = this.open;
    const we = ws + this.p.windowMs;
    const M = this.bars;
    const { minObs, highAbs, breakAbs } = this.p;
    const cap = this.cap;
    if (this.sorted === undefined) {
      this.sorted = this.names.map((_, i) => i).sort((a, b) => (this.names[a]! < this.names[b]! ? -1 : 1));
      this.sortedNames = this.sorted.map((i) => this.names[i]!);
    }
    const order = this.sorted;
    const want = this.onWindow !== undefined || this.onResult !== undefined;
    const pairs = want ? (order.length * (order.length - 1)) / 2 : 0;
    const rhoOut = new Float64Array(pairs);
    // The counts are those of the previous window in nearly every window (every pair over the
    // whole window): its array is shared (windows only read it) until a count differs.
    let nOut = this.lastN.length === pairs ? this.lastN : new Float64Array(pairs);
    let nShared = nOut === this.lastN;
    let k = 0;
    const alerts: MarketAlert[] = [];
    const first = this.first;
    const s = this.s;
    const ss = this.ss;
    const sxy = this.sxy;
    const hist = this.hist;
    const high = this.high;
    const brk = this.brk;
    // Each instrument's variance term over its own returns (n from its first return on): a pair
    // whose sides started together (nearly every pair) has that n and both sides' sums as they
    // are, so its two terms are these, computed once per instrument rather than once per pair
    // (the same operations on the same numbers).
    const own = new Float64Array(order.length);
    for (let i = 0; i < order.length; i++) {
      const f = first[i] as number;
      const s1 = s[i] as number;
      own[i] = (ss[i] as number) - (s1 * s1) / (f > M ? 0 : M - f + 1);
    }
    // With WebAssembly, the correlations of those pairs (the formula below, two pairs per
    // instruction: correlation-kernel.ts), read by the loop.
    const kern = this.kern;
    let together: Float64Array | undefined;
    if (kern !== undefined) {
      for (let i = 0; i < order.length; i++) {
        const f = first[i] as number;
        kern.s[i] = s[i] as number;
        kern.own[i] = own[i] as number;
        kern.zss[i] = ZERO_VARIANCE * (ss[i] as number);
        kern.n[i] = f > M ? 0 : M - f + 1;
      }
      kern.corr(order.length);
      together = kern.rho;
    }
    for (let pa = 0; pa < order.length; pa++) {
      const a = order[pa] as number;
      const fa = first[a] as number;
      for (let pb = pa + 1; pb < order.length; pb++) {
        const b = order[pb] as number;
        const fb = first[b] as number;
        const start = fa > fb ? fa : fb;
        const n = start > M ? 0 : M - start + 1;
        let rho = Number.NaN;
        const pair = a < b ? a * cap + b : b * cap + a;
        if (n >= minObs && fa === fb && together !== undefined) {
          if (n >= 2) rho = together[pair] as number;
        } else if (n >= minObs) {
          let sx = s[a] as number;
          let sxx = ss[a] as number;
          let sy = s[b] as number;
          let syy = ss[b] as number;
          // The side that started earlier has returns before the pair's first common bar: drop them.
          if (fb > fa) {
            const l = this.late.get(b);
            if (l) {
              sx -= l.s[a] ?? 0;
              sxx -= l.ss[a] ?? 0;
            }
          } else if (fa > fb) {
            const l = this.late.get(a);
            if (l) {
              sy -= l.s[b] ?? 0;
              syy -= l.ss[b] ?? 0;
            }
          }
          // pearsonFromSums, inline (the same operations; n >= minObs here): a double returned
          // by a call that is not inlined is a heap number, and this runs for every pair.
          if (n >= 2) {
            const sp = sxy[pair] as number;
            const vx = fa === fb ? (own[a] as number) : sxx - (sx * sx) / n;
            const vy = fa === fb ? (own[b] as number) : syy - (sy * sy) / n;
            if (vx > ZERO_VARIANCE * sxx && vy > ZERO_VARIANCE * syy) {
              const r = (sp - (sx * sy) / n) / Math.sqrt(vx * vy);
              rho = r > 1 ? 1 : r < -1 ? -1 : r;
            }
          }
        }
        if (!Number.isNaN(rho)) {
          // The episodes (judge's flags) without a call per pair: judge only when one starts.
          const isHigh = Math.abs(rho) >= highAbs;
          const h = hist[pair] as number;
          const isBreak = !Number.isNaN(h) && Math.abs(rho - h) >= breakAbs;
          if ((isHigh && high[pair] === 0) || (isBreak && brk[pair] === 0)) this.judge(pair, this.names[a]!, this.names[b]!, rho, n, ws, we, highAbs, breakAbs, alerts);
          else {
            high[pair] = isHigh ? 1 : 0;
            if (!Number.isNaN(h)) brk[pair] = isBreak ? 1 : 0;
          }
        }
        if (want) {
          rhoOut[k] = rho;
          if (nOut[k] !== n) {
            if (nShared) {
              nOut = nOut.slice();
              nShared = false;
            }
            nOut[k] = n;
          }
          k++;
        }
      }
    }
    for (const al of alerts) this.out(al);
    if (want) {
      this.lastN = nOut;
      const w = new CorrelationWindow(ws, we, this.sortedNames!, rhoOut, nOut);
      if (this.onWindow) this.onWindow(w.rows(), ws, we);
      this.onResult?.(w);
    }
  }

  private judge(pair: number, a: string, b: string, rho: number, n: number, ws: number, we: number, highAbs: number, breakAbs: number, alerts: MarketAlert[]): void {
    // CONTRACTS.md 4, CORRELATION_HIGH: |rho| >= 0.9.
    const isHigh = Math.abs(rho) >= highAbs;
    if (isHigh && this.high[pair] === 0) {
      alerts.push({
        type: 'CORRELATION_HIGH',
        severity: 'warning',
        entity: { instrumentA: a, instrumentB: b },
        eventTime: we - 1,
        windowStart: ws,
        windowEnd: we,
        value: rho,
        threshold: highAbs,
        message: `${a}/${b} correlation ${numText(rho, 2)} over the ${this.span} window (limit ${numText(highAbs, 2)} in absolute value)`,
        details: { n, stepMs: this.p.stepMs },
      });
    }
    this.high[pair] = isHigh ? 1 : 0;
    const h = this.hist[pair] as number;
    if (Number.isNaN(h)) return;
    // CONTRACTS.md 4, CORRELATION_BREAK: |rho - rho_hist| >= 0.5.
    const gap = Math.abs(rho - h);
    const isBreak = gap >= breakAbs;
    if (isBreak && this.brk[pair] === 0) {
      alerts.push({
        type: 'CORRELATION_BREAK',
        severity: 'warning',
        entity: { instrumentA: a, instrumentB: b },
        eventTime: we - 1,
        windowStart: ws,
        windowEnd: we,
        value: gap,
        threshold: breakAbs,
        message: `${a}/${b} correlation ${numText(rho, 2)} over the ${this.span} window against ${numText(h, 2)} in daily history: a break of ${numText(gap, 2)} (limit ${numText(breakAbs, 2)})`,
        details: { correlation: rho, historical: h, n, stepMs: this.p.stepMs },
      });
    }
    this.brk[pair] = isBreak ? 1 : 0;
  }

  private histOf(a: string, b: string): number {
    const h = this.ref.history;
    if (h === undefined) return Number.NaN;
    const ra = this.returnsOf(h, a < b ? a : b);
    const rb = this.returnsOf(h, a < b ? b : a);
    return ra === null || rb === null ? Number.NaN : returnsCorrelation(ra, rb);
  }

  /**
   * The rho_hist of every pair ({@link histOf}), with the kernel's sums zero (and left zero). An
   * instrument whose daily returns are all defined over the longest history (nearly every one)
   * has the same n, sum and sum of squares in each of its pairs with such another; only the sum
   * of products is per pair, and the kernel adds those of all pairs one day after the other (its
   * bars being days), each pair's sum in day order from +0 as in {@link returnsCorrelation}, so
   * the same operations on the same numbers. The other pairs go pair by pair.
   */
  private histAll(): void {
    const h = this.ref.history;
    if (h === undefined) return;
    const n = this.names.length;
    const cap = this.cap;
    const rs = this.names.map((name) => this.returnsOf(h, name));
    let len = 0;
    for (const r of rs) if (r !== null && r.length > len) len = r.length;
    // Full: returns of the longest history, defined from day 1 on; their sums over days 1..len-1.
    const full = new Uint8Array(n);
    const sx = new Float64Array(n);
    const sxx = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = rs[i];
      if (r === null || r === undefined || r.length !== len) continue;
      let s1 = 0;
      let s2 = 0;
      let ok = true;
      for (let d = 1; d < len && ok; d++) {
        const x = r[d] as number;
        if (!Number.isFinite(x)) ok = false;
        s1 += x;
        s2 += x * x;
      }
      if (!ok) continue;
      full[i] = 1;
      sx[i] = s1;
      sxx[i] = s2;
    }
    // Each full pair's sum of products over days 1..len-1 (0 for the other instruments: their
    // pairs are not read).
    const kern = this.kern;
    const sxy = kern === undefined ? new Float64Array(cap * cap) : kern.sxy;
    if (kern !== undefined) {
      for (let d = 1; d < len; d += PAIR_BLOCK_BARS) {
        const days = Math.min(PAIR_BLOCK_BARS, len - d);
        const bars = kern.bars;
        bars.fill(0, 0, days * cap);
        for (let i = 0; i < n; i++) {
          const r = rs[i];
          if (full[i] === 0 || !r) continue;
          for (let b = 0; b < days; b++) bars[b * cap + i] = r[d + b] as number;
        }
        kern.run(pairBarsAt(cap), days, n, cap);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const ri = rs[i];
        if (full[i] === 0 || !ri) continue;
        for (let k = i + 1; k < n; k++) {
          const rk = rs[k];
          if (full[k] === 0 || !rk) continue;
          let p = 0;
          for (let d = 1; d < len; d++) p += (ri[d] as number) * (rk[d] as number);
          sxy[i * cap + k] = p;
        }
      }
    }
    for (let i = 0; i < n; i++) {
      for (let k = i + 1; k < n; k++) {
        const pair = i * cap + k;
        // pearsonFromSums is symmetric in its sides (the same operations either way round), so the
        // pair's name order does not matter here.
        this.hist[pair] = full[i] === 1 && full[k] === 1 ? pearsonFromSums(len - 1, sx[i] as number, sx[k] as number, sxx[i] as number, sxx[k] as number, sxy[pair] as number, 2) : this.histOf(this.names[i]!, this.names[k]!);
      }
    }
    sxy.fill(0);
  }

  /** An instrument's daily returns in the history (null: no closes), worked out once per instrument rather than once per pair. */
  private returnsOf(h: History, name: string): Float64Array | null {
    let r = this.dailyReturns.get(name);
    if (r === undefined) {
      const closes = h.closes.get(name);
      r = closes === undefined ? null : dailyReturns(closes);
      this.dailyReturns.set(name, r);
    }
    return r;
  }

  /** A new instrument, with the rho_hist of its pairs. */
  private add(name: string): number {
    // The buffered bars are over the instruments before this one.
    this.flushPairs();
    const i = this.place(name);
    for (let k = 0; k < i; k++) this.hist[k * this.cap + i] = this.histOf(this.names[k]!, name);
    return i;
  }

  /** A new instrument without its rho_hist (see {@link add}, {@link histAll}). */
  private place(name: string): number {
    const i = this.names.length;
    if (i === this.cap) this.grow(this.cap * 2);
    this.names.push(name);
    this.index.set(name, i);
    this.slots.set(name, i);
    this.lastMid[i] = Number.NaN;
    this.prevClose[i] = Number.NaN;
    this.first[i] = Number.POSITIVE_INFINITY;
    this.s[i] = 0;
    this.ss[i] = 0;
    this.sorted = undefined;
    return i;
  }

  /** Re-lays the per-instrument and per-pair arrays for a larger capacity. */
  private grow(cap: number): void {
    const old = this.cap;
    const n = this.names.length;
    const vec = (a: Float64Array, fill: number): Float64Array<ArrayBuffer> => {
      const b = new Float64Array(cap).fill(fill);
      b.set(a.subarray(0, n));
      return b;
    };
    this.lastMid = vec(this.lastMid, Number.NaN);
    this.prevClose = vec(this.prevClose, Number.NaN);
    this.first = vec(this.first, Number.POSITIVE_INFINITY);
    this.s = vec(this.s, 0);
    this.ss = vec(this.ss, 0);
    const dirty = new Uint8Array(cap);
    dirty.set(this.isDirty.subarray(0, n));
    this.isDirty = dirty;
    const mat = <T extends Float64Array | Uint8Array>(a: T, make: (len: number) => T): T => {
      const b = make(cap * cap);
      for (let i = 0; i < n; i++) for (let k = i + 1; k < n; k++) b[i * cap + k] = a[i * old + k] as number;
      return b;
    };
    const kern = pairKernel(cap);
    this.sxy = mat(this.sxy, (l) => (kern === undefined ? new Float64Array(l) : kern.sxy));
    this.kern = kern;
    this.hist = mat(this.hist, (l) => new Float64Array(l).fill(Number.NaN));
    this.high = mat(this.high, (l) => new Uint8Array(l));
    this.brk = mat(this.brk, (l) => new Uint8Array(l));
    for (const v of this.late.values()) {
      const s = new Float64Array(cap);
      s.set(v.s);
      v.s = s;
      const ss = new Float64Array(cap);
      ss.set(v.ss);
      v.ss = ss;
    }
    this.zi = new Int32Array(cap);
    this.zr = new Float64Array(cap);
    this.cap = cap;
  }
}
