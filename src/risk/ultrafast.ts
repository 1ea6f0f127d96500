import { grown, unwrapRing } from '../core/typed-arrays.js';
import { durationText, InstrumentSlots, instrumentAlert, instrumentId, pctText, type AlertSink, type MarketTrade } from './market.js';

/**
 * Parameters of {@link UltrafastDetector} (CONTRACTS.md 4, ULTRAFAST_EXTREME_EVENT).
 *
 * @example const p: UltrafastParams = { ...ULTRAFAST_DEFAULTS, minTrades: 8 };
 */
export interface UltrafastParams {
  /** Trades in the run, first and last included (default 10). */
  minTrades: number;
  /** First-to-last time must be strictly below this (default 1500 ms). */
  maxDurationMs: number;
  /** |last / first - 1| must reach this (default 0.008). */
  minMovePct: number;
}

/**
 * The defaults of CONTRACTS.md 4 (Johnson et al. 2013): 10 trades, under 1500 ms, 0.8%.
 *
 * @example new UltrafastDetector(ULTRAFAST_DEFAULTS, sink)
 */
export const ULTRAFAST_DEFAULTS: UltrafastParams = { minTrades: 10, maxDurationMs: 1500, minMovePct: 0.008 };

/**
 * Every instrument's current run in one typed array (the books), instrument k at k * stride: a
 * header, then a ring of `cap` (ts, price) pairs holding its trades still able to start a
 * qualifying stretch, oldest first. One array rather than an object and a typed array per
 * instrument: an instrument trades every few seconds, and between two of its trades the quotes
 * of every instrument have pushed its state out of the caches, so each object on the way to its
 * ring was a cache miss of its own. All books share `cap`; a ring that fills it doubles it for all.
 */
const DIR = 0;
const COUNT = 1;
const ALERTED = 2;
const START = 3;
const LEN = 4;
const HEADER = 8;
const INITIAL_CAP = 16;

/** Doubles of one book with a ring of `cap` trades. */
function strideOf(cap: number): number {
  return HEADER + cap * 2;
}

/**
 * Checkpoint form of an {@link UltrafastDetector} (structured-cloneable).
 *
 * @example detector.restore(structuredClone(detector.snapshot()))
 */
export interface UltrafastSnapshot {
  runs: Array<[string, { dir: number; ts: number[]; px: number[]; count: number; alerted: boolean }]>;
}

/**
 * ULTRAFAST_EXTREME_EVENT (CONTRACTS.md 4, after Johnson et al. 2013, "Abrupt rise of new machine
 * ecology beyond human response time"): per instrument, >= `minTrades` consecutive trades each
 * strictly below (a crash) or above (a spike) the previous one, first-to-last < `maxDurationMs`,
 * total move |last/first - 1| >= `minMovePct`.
 *
 * A run is a maximal sequence of strict down-ticks (or up-ticks); a trade at an equal price ends it
 * and starts a new one of length 1; a tick the other way ends it and starts a new run made of the
 * previous trade and this one. The event is any stretch of consecutive trades inside a run that
 * meets the three conditions, so a slow start does not hide a fast burst later in the same run.
 * For the newest trade, the best start is the earliest trade less than `maxDurationMs` earlier
 * (prices are monotone in a run, so the earliest start gives the largest move); a pointer moving
 * forward finds it, O(1) amortised per trade.
 *
 * One alert per run: the first trade at which the run qualifies alerts (eventTime = that trade's
 * ts, value = the move of the qualifying stretch); the run continuing after that, however far,
 * stays the same event and does not alert again; the next run (after the direction breaks) can.
 *
 * @example
 * const u = new UltrafastDetector(ULTRAFAST_DEFAULTS, (a) => alerts.push(a));
 * for (const t of tradesInTimeOrder) u.onTrade(t);
 */
export class UltrafastDetector {
  private readonly p: UltrafastParams;
  private readonly out: AlertSink;
  /** Instrument names by book index (first-trade order, the snapshot's order). */
  private names: string[] = [];
  /** Book indices by instrument id (the per-trade lookup). */
  private slots = new InstrumentSlots<number>();
  /**
   * Per book: DIR (+1 a run of strict upticks, -1 of strict downticks, 0 a single trade so far),
   * COUNT (trades in the run so far), ALERTED (1: the run has alerted), START and LEN (the ring's
   * oldest slot and number of trades held), then the ring.
   */
  private books: Float64Array = new Float64Array(64 * strideOf(INITIAL_CAP));
  /** Trades per ring, shared by every book (a power of two). */
  private cap = INITIAL_CAP;

  constructor(p: UltrafastParams, out: AlertSink) {
    this.p = p;
    this.out = out;
  }

  /** `id`: the instrument's {@link instrumentId}, when the caller has it. */
  onTrade(t: MarketTrade, id = instrumentId(t.instrument)): void {
    const price = t.price;
    if (!(price > 0)) return;
    let k = this.slots.at(id);
    if (k === undefined) k = this.add(t.instrument);
    const ts = t.ts;
    let cap = this.cap;
    let mask = cap - 1;
    let b = this.books;
    let base = k * strideOf(cap);
    let ring = base + HEADER;
    let start = b[base + START] as number;
    let len = b[base + LEN] as number;
    let count = b[base + COUNT] as number;
    let dir = b[base + DIR] as number;
    let alerted = b[base + ALERTED] === 1;
    const newest = ring + ((start + len - 1) & mask) * 2;
    const last = len > 0 ? (b[newest + 1] as number) : Number.NaN;
    const lastTs = len > 0 ? (b[newest] as number) : Number.NaN;
    const d = count === 0 ? 0 : price < last ? -1 : price > last ? 1 : 0;
    if (count === 0 || d === 0 || (dir !== 0 && d !== dir)) {
      // The run breaks: a new one starts at this trade (equal price) or at the previous one.
      const keepPrev = d !== 0 && count > 0;
      start = 0;
      len = 0;
      count = 0;
      alerted = false;
      dir = d;
      if (keepPrev) {
        b[ring] = lastTs;
        b[ring + 1] = last;
        len = 1;
        count = 1;
      }
    } else if (dir === 0) dir = d;
    if (len === cap) {
      b[base + START] = start;
      b[base + LEN] = len;
      this.grow();
      cap = this.cap;
      mask = cap - 1;
      b = this.books;
      base = k * strideOf(cap);
      ring = base + HEADER;
      start = 0;
    }
    const at = ring + ((start + len) & mask) * 2;
    b[at] = ts;
    b[at + 1] = price;
    len++;
    count++;
    b[base + DIR] = dir;
    b[base + COUNT] = count;
    b[base + ALERTED] = alerted ? 1 : 0;
    if (alerted) {
      // Same event: only the newest trade is needed to extend or break the run.
      b[base + START] = (start + len - 1) & mask;
      b[base + LEN] = 1;
      return;
    }
    const { minTrades, maxDurationMs, minMovePct } = this.p;
    // Earliest start less than maxDurationMs before this trade.
    let h = 0;
    const lastIdx = len - 1;
    while (h < lastIdx && ts - (b[ring + ((start + h) & mask) * 2] as number) >= maxDurationMs) h++;
    start = (start + h) & mask;
    len -= h;
    b[base + START] = start;
    b[base + LEN] = len;
    const trades = len;
    if (trades < minTrades) return;
    const first = b[ring + start * 2 + 1] as number;
    const move = Math.abs(price / first - 1);
    if (move < minMovePct) return;
    b[base + ALERTED] = 1;
    const down = dir < 0;
    const firstTs = b[ring + start * 2] as number;
    const dur = ts - firstTs;
    this.out(
      instrumentAlert(
        'ULTRAFAST_EXTREME_EVENT',
        'warning',
        t.instrument,
        ts,
        move,
        minMovePct,
        `${t.instrument} ultrafast ${down ? 'crash' : 'spike'}: ${trades} consecutive trades ${down ? 'down' : 'up'} ${pctText(move, 2)} in ${durationText(dur)} (limit ${pctText(minMovePct, 2)} in under ${durationText(maxDurationMs)})`,
        { direction: down ? 'down' : 'up', trades, firstPrice: first, lastPrice: price, firstTs, durationMs: dur },
      ),
    );
  }

  snapshot(): UltrafastSnapshot {
    const b = this.books;
    const cap = this.cap;
    return {
      runs: this.names.map((name, k) => {
        const base = k * strideOf(cap);
        const start = b[base + START] as number;
        const ts: number[] = [];
        const px: number[] = [];
        for (let i = 0; i < (b[base + LEN] as number); i++) {
          const at = base + HEADER + ((start + i) & (cap - 1)) * 2;
          ts.push(b[at] as number);
          px.push(b[at + 1] as number);
        }
        return [name, { dir: b[base + DIR] as number, ts, px, count: b[base + COUNT] as number, alerted: b[base + ALERTED] === 1 }];
      }),
    };
  }

  restore(st: unknown): void {
    const s = st as UltrafastSnapshot;
    let cap = INITIAL_CAP;
    for (const [, x] of s.runs) while (cap < x.ts.length) cap *= 2;
    this.cap = cap;
    this.books = new Float64Array(Math.max(64, s.runs.length) * strideOf(cap));
    this.names = [];
    this.slots = new InstrumentSlots<number>();
    const b = this.books;
    s.runs.forEach(([name, x], k) => {
      this.names.push(name);
      this.slots.set(name, k);
      const base = k * strideOf(cap);
      b[base + DIR] = x.dir;
      b[base + COUNT] = x.count;
      b[base + ALERTED] = x.alerted ? 1 : 0;
      b[base + START] = 0;
      b[base + LEN] = x.ts.length;
      x.ts.forEach((ts, i) => {
        b[base + HEADER + i * 2] = ts;
        b[base + HEADER + i * 2 + 1] = x.px[i] as number;
      });
    });
  }

  /** A book for a new instrument: no run yet. */
  private add(name: string): number {
    const k = this.names.length;
    const stride = strideOf(this.cap);
    if ((k + 1) * stride > this.books.length) this.books = grown(this.books, (k + 1) * stride);
    this.books.fill(0, k * stride, k * stride + HEADER);
    this.names.push(name);
    this.slots.set(name, k);
    return k;
  }

  /** Doubles the rings' capacity of every book (one of them is full), entries from the front. */
  private grow(): void {
    const cap = this.cap;
    const gcap = cap * 2;
    const n = this.names.length;
    const b = this.books;
    const g = new Float64Array(Math.max(64, n * 2) * strideOf(gcap));
    for (let k = 0; k < n; k++) {
      const base = k * strideOf(cap);
      const gb = k * strideOf(gcap);
      for (let i = 0; i < HEADER; i++) g[gb + i] = b[base + i] as number;
      unwrapRing(b, base + HEADER, cap, b[base + START] as number, b[base + LEN] as number, 2, g, gb + HEADER);
      g[gb + START] = 0;
    }
    this.books = g;
    this.cap = gcap;
  }
}
