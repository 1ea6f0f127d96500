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
 * An instrument's current run: its trades still able to start a qualifying stretch, oldest first,
 * in a ring buffer of (ts, price) pairs (a typed array: a run breaks at most trades, and resetting
 * it must not reallocate).
 */
class RunState {
  /** +1 a run of strict upticks, -1 of strict downticks, 0 a single trade so far. */
  dir = 0;
  /** Trades in the run so far. */
  count = 0;
  alerted = false;
  private buf = new Float64Array(32);
  private mask = 15;
  private start = 0;
  /** Trades held (from the oldest possible start to the newest). */
  len = 0;

  ts(k: number): number {
    return this.buf[((this.start + k) & this.mask) * 2] as number;
  }

  px(k: number): number {
    return this.buf[((this.start + k) & this.mask) * 2 + 1] as number;
  }

  push(ts: number, px: number): void {
    if (this.len > this.mask) this.grow();
    const i = ((this.start + this.len) & this.mask) * 2;
    this.buf[i] = ts;
    this.buf[i + 1] = px;
    this.len++;
  }

  /** Drops the `k` oldest trades. */
  drop(k: number): void {
    this.start = (this.start + k) & this.mask;
    this.len -= k;
  }

  clear(): void {
    this.start = 0;
    this.len = 0;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const b = new Float64Array(cap * 2);
    for (let k = 0; k < this.len; k++) {
      b[k * 2] = this.ts(k);
      b[k * 2 + 1] = this.px(k);
    }
    this.buf = b;
    this.mask = cap - 1;
    this.start = 0;
  }
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
  private runs = new Map<string, RunState>();
  /** The same runs by instrument id (the per-trade lookup). */
  private slots = new InstrumentSlots<RunState>();

  constructor(p: UltrafastParams, out: AlertSink) {
    this.p = p;
    this.out = out;
  }

  /** `id`: the instrument's {@link instrumentId}, when the caller has it. */
  onTrade(t: MarketTrade, id = instrumentId(t.instrument)): void {
    const price = t.price;
    if (!(price > 0)) return;
    let r = this.slots.at(id);
    if (r === undefined) {
      r = new RunState();
      this.runs.set(t.instrument, r);
      this.slots.set(t.instrument, r);
    }
    const n = r.len;
    const last = n > 0 ? r.px(n - 1) : Number.NaN;
    const lastTs = n > 0 ? r.ts(n - 1) : Number.NaN;
    const d = r.count === 0 ? 0 : price < last ? -1 : price > last ? 1 : 0;
    if (r.count === 0 || d === 0 || (r.dir !== 0 && d !== r.dir)) {
      // The run breaks: a new one starts at this trade (equal price) or at the previous one.
      const keepPrev = d !== 0 && r.count > 0;
      r.clear();
      r.count = 0;
      r.alerted = false;
      r.dir = d;
      if (keepPrev) {
        r.push(lastTs, last);
        r.count = 1;
      }
    } else if (r.dir === 0) r.dir = d;
    r.push(t.ts, price);
    r.count++;
    if (r.alerted) {
      // Same event: only the newest trade is needed to extend or break the run.
      r.drop(r.len - 1);
      return;
    }
    const { minTrades, maxDurationMs, minMovePct } = this.p;
    // Earliest start less than maxDurationMs before this trade.
    let h = 0;
    const lastIdx = r.len - 1;
    while (h < lastIdx && t.ts - r.ts(h) >= maxDurationMs) h++;
    r.drop(h);
    const trades = r.len;
    if (trades < minTrades) return;
    const first = r.px(0);
    const move = Math.abs(price / first - 1);
    if (move < minMovePct) return;
    r.alerted = true;
    const down = r.dir < 0;
    const firstTs = r.ts(0);
    const dur = t.ts - firstTs;
    this.out(
      instrumentAlert(
        'ULTRAFAST_EXTREME_EVENT',
        'warning',
        t.instrument,
        t.ts,
        move,
        minMovePct,
        `${t.instrument} ultrafast ${down ? 'crash' : 'spike'}: ${trades} consecutive trades ${down ? 'down' : 'up'} ${pctText(move, 2)} in ${durationText(dur)} (limit ${pctText(minMovePct, 2)} in under ${durationText(maxDurationMs)})`,
        { direction: down ? 'down' : 'up', trades, firstPrice: first, lastPrice: price, firstTs, durationMs: dur },
      ),
    );
  }

  snapshot(): UltrafastSnapshot {
    return {
      runs: [...this.runs].map(([k, r]) => {
        const ts: number[] = [];
        const px: number[] = [];
        for (let i = 0; i < r.len; i++) {
          ts.push(r.ts(i));
          px.push(r.px(i));
        }
        return [k, { dir: r.dir, ts, px, count: r.count, alerted: r.alerted }];
      }),
    };
  }

  restore(st: unknown): void {
    const s = st as UltrafastSnapshot;
    this.runs = new Map(
      s.runs.map(([k, x]) => {
        const r = new RunState();
        r.dir = x.dir;
        r.count = x.count;
        r.alerted = x.alerted;
        x.ts.forEach((t, i) => r.push(t, x.px[i] as number));
        return [k, r];
      }),
    );
    this.slots = new InstrumentSlots<RunState>();
    for (const [k, r] of this.runs) this.slots.set(k, r);
  }
}
