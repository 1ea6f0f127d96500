import { grown } from '../core/typed-arrays.js';
import type { ReferenceData } from '../core/reference.js';
import { durationText, InstrumentSlots, instrumentAlert, instrumentId, numText, pctText, type AlertSink, type EventTimeDriven, type MarketQuote, type MarketTrade } from './market.js';

/**
 * Parameters of {@link LuldMonitor} (CONTRACTS.md 4, LULD), with the band table of the SEC's
 * Limit Up-Limit Down plan (Appendix A, percentage parameters):
 *
 * | reference price            | Tier 1       | Tier 2       |
 * |----------------------------|--------------|--------------|
 * | > $3.00                    | 5%           | 10%          |
 * | $0.75 to $3.00 (inclusive) | 20%          | 20%          |
 * | < $0.75                    | lesser of $0.15 or 75% | same |
 *
 * CONTRACTS.md words it "tier 1 (and any price > $3.00) 5%, tier 2 10%; $0.75-$3.00 20%;
 * < $0.75 the lesser of $0.15 or 75%", which read literally would give tier 2 stocks above $3
 * 5%; the plan's table above is what is implemented. An instrument not in the reference data,
 * or of a tier other than 1, is Tier 2 (the plan's Tier 2 is every NMS stock not in Tier 1).
 * Not modelled: the plan's doubled bands near the open and close, and rounding bands to the cent.
 *
 * @example const p: LuldParams = { ...LULD_DEFAULTS, pauseAfterMs: 10_000 };
 */
export interface LuldParams {
  /** Reference price: mean trade price over this much preceding time (default 5 min). */
  referenceWindowMs: number;
  /** Band of a Tier 1 instrument whose reference price is above `highPrice` (default 0.05). */
  tier1Pct: number;
  /** Band of a Tier 2 instrument whose reference price is above `highPrice` (default 0.10). */
  tier2Pct: number;
  /** Band for a reference price from `lowPrice` to `highPrice` inclusive, both tiers (default 0.20). */
  midPct: number;
  /** Below `lowPrice`: the band is the lesser of `lowCap` (currency) and `lowPct` of the price (defaults 0.15, 0.75). */
  lowPct: number;
  lowCap: number;
  /** Price boundaries of the table (defaults 3.00 and 0.75). */
  highPrice: number;
  lowPrice: number;
  /** A limit state not cleared after this long becomes a trading pause (default 15 s). */
  pauseAfterMs: number;
  /** How long a pause lasts before the instrument is monitored again (default 5 min, the plan's). */
  pauseDurationMs: number;
}

/**
 * The defaults of CONTRACTS.md 4 and the LULD plan: 5-minute reference, 5% / 10% / 20% /
 * min($0.15, 75%) bands at $3.00 and $0.75, pause after 15 s, pauses of 5 minutes.
 *
 * @example new LuldMonitor(LULD_DEFAULTS, reference, sink)
 */
export const LULD_DEFAULTS: LuldParams = {
  referenceWindowMs: 300_000,
  tier1Pct: 0.05,
  tier2Pct: 0.1,
  midPct: 0.2,
  lowPct: 0.75,
  lowCap: 0.15,
  highPrice: 3,
  lowPrice: 0.75,
  pauseAfterMs: 15_000,
  pauseDurationMs: 300_000,
};

/**
 * Half-width of the LULD price band around a reference price, in currency (see {@link LuldParams}
 * for the table).
 *
 * @example
 * luldBandWidth(100, 1, LULD_DEFAULTS); // 5
 * luldBandWidth(100, 2, LULD_DEFAULTS); // 10
 * luldBandWidth(2, 1, LULD_DEFAULTS);   // 0.4
 * luldBandWidth(0.5, 2, LULD_DEFAULTS); // 0.15 (75% would be 0.375)
 */
export function luldBandWidth(ref: number, tier: number, p: LuldParams): number {
  // CONTRACTS.md 4, LULD band table (SEC LULD plan, Appendix A).
  if (ref > p.highPrice) return ref * (tier === 1 ? p.tier1Pct : p.tier2Pct);
  if (ref >= p.lowPrice) return ref * p.midPct;
  return Math.min(p.lowCap, ref * p.lowPct);
}

/**
 * LULD state of an instrument, as the `market` table's luld_state column shows it.
 *
 * @example monitor.bands('ACME')?.state === 'limit_down'
 */
export type LuldStateName = 'normal' | 'limit_down' | 'limit_up' | 'paused';

const NORMAL = 0;
const LIMIT_DOWN = -1;
const LIMIT_UP = 1;
const PAUSED = 2;
/** Offsets of an instrument's numbers in the monitor's `num` array. */
const SUM = 0;
const REF = 1;
const BID = 2;
const ASK = 3;
const STATE = 4;
/**
 * The bands of the reference at REF: ref - w and ref + w (w = {@link luldBandWidth}), set with
 * REF (NaN with it), so that a quote compares with them (see {@link LuldMonitor.condition}).
 */
const LOWER = 5;
const UPPER = 6;
/** Trades in the reference window (an integer). */
const COUNT = 7;
/**
 * Doubles per instrument in `num` (a quote reads and writes only these: one cache line; a trade,
 * and its leaving the window, only these, its tier and the queue).
 */
const NUM = 8;
/** Offsets of an instrument's small numbers in the monitor's `meta` array. */
const TIER = 0;
/** 1 while an eviction pass has the instrument in its `touched` list. */
const TOUCHED = 1;
const META = 2;
const STATE_NAMES: Record<number, LuldStateName> = { [NORMAL]: 'normal', [LIMIT_DOWN]: 'limit_down', [LIMIT_UP]: 'limit_up', [PAUSED]: 'paused' };

interface Inst {
  name: string;
  /**
   * The tier (1 or 2); trades in the reference window: sum of prices and count (the FIFO holds the
   * trades); the reference price; the latest bid and ask; the state (NORMAL, LIMIT_DOWN, LIMIT_UP,
   * PAUSED). The monitor keeps tier, sum, count, ref, bid, ask and state in its `num` array, which
   * is all a quote or a trade reads (a double stored in an object field is a new heap number each
   * time, and these change at every record; and an instrument trades every few seconds, by which
   * time an object of its own has left the caches); these fields only carry them in a snapshot.
   */
  tier: number;
  sum: number;
  count: number;
  ref: number;
  bid: number;
  ask: number;
  state: number;
  /** When the current limit state began. */
  since: number;
  /** When the current limit state becomes a pause (NaN: none pending). */
  pauseAt: number;
  /** When the current pause ends (NaN: not paused). */
  resumeAt: number;
  /** Event time of the last LULD_LIMIT_STATE alert. */
  alertedAt: number;
}

/**
 * A FIFO of (time, instrument index, price) whose times only increase, in a typed ring buffer of
 * triples (no array growth, slicing or heap numbers per entry). The head is read in place:
 * `buf[head * 3 ..]` while `n > 0`.
 */
class TimeQueue {
  buf = new Float64Array(3 * 1024);
  mask = 1023;
  head = 0;
  n = 0;

  /** Time of the head (+Infinity when empty). */
  nextTime(): number {
    return this.n > 0 ? (this.buf[this.head * 3] as number) : Number.POSITIVE_INFINITY;
  }

  /** Adds (ts + delta, i, p): the sum is taken here, so that callers pass only values they hold. */
  pushAfter(ts: number, delta: number, i: number, p: number): void {
    if (this.n > this.mask) this.grow();
    const j = ((this.head + this.n) & this.mask) * 3;
    const b = this.buf;
    b[j] = ts + delta;
    b[j + 1] = i;
    b[j + 2] = p;
    this.n++;
  }

  push(t: number, i: number, p = 0): void {
    this.pushAfter(t, 0, i, p);
  }

  /** Adds (t.ts + delta, i, t.price), reading the trade's numbers here (see pushAfter). */
  pushTrade(t: MarketTrade, delta: number, i: number): void {
    this.pushAfter(t.ts, delta, i, t.price);
  }

  drop(): void {
    this.head = (this.head + 1) & this.mask;
    this.n--;
  }

  live(): { t: number[]; i: number[]; p: number[] } {
    const out = { t: [] as number[], i: [] as number[], p: [] as number[] };
    for (let j = 0; j < this.n; j++) {
      const x = ((this.head + j) & this.mask) * 3;
      out.t.push(this.buf[x] as number);
      out.i.push(this.buf[x + 1] as number);
      out.p.push(this.buf[x + 2] as number);
    }
    return out;
  }

  load(s: { t: number[]; i: number[]; p: number[] }): void {
    this.head = 0;
    this.n = 0;
    s.t.forEach((t, j) => this.push(t, s.i[j] as number, s.p[j] as number));
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const b = new Float64Array(cap * 3);
    for (let j = 0; j < this.n; j++) {
      const x = ((this.head + j) & this.mask) * 3;
      b[j * 3] = this.buf[x] as number;
      b[j * 3 + 1] = this.buf[x + 1] as number;
      b[j * 3 + 2] = this.buf[x + 2] as number;
    }
    this.buf = b;
    this.mask = cap - 1;
    this.head = 0;
  }
}

/**
 * Checkpoint form of a {@link LuldMonitor} (structured-cloneable).
 *
 * @example monitor.restore(structuredClone(monitor.snapshot()))
 */
export interface LuldSnapshot {
  insts: Inst[];
  trades: { t: number[]; i: number[]; p: number[] };
  pauses: { t: number[]; i: number[]; p: number[] };
  resumes: { t: number[]; i: number[]; p: number[] };
}

/**
 * Limit Up-Limit Down (CONTRACTS.md 4, LULD) per instrument.
 *
 * - Reference price: the mean trade price over the preceding `referenceWindowMs`, i.e. of trades
 *   with ts in (t - 5 min, t], kept as a running sum and count with trades leaving the window in
 *   time order (a FIFO: O(1) amortised). When no trade is in the window the previous reference
 *   stays in effect (as in the plan); before the first trade it is the instrument's prevClose
 *   (no bands when there is neither).
 * - Bands: reference -/+ {@link luldBandWidth} (not rounded to the cent).
 * - LULD_LIMIT_STATE when the best offer reaches the lower band (ask <= lower: limit down) or the
 *   best bid the upper band (bid >= upper: limit up), tested whenever the quote or the bands
 *   change (a quote, a trade, a trade leaving the reference window). One alert per entry into the
 *   state (at most one per instrument and instant); it clears when the condition no longer holds.
 * - LULD_PAUSE when the state has not cleared `pauseAfterMs` after it began (an event-time timer
 *   that fires after every record with ts <= entry + 15 s). The instrument is then paused for
 *   `pauseDurationMs`: no LULD alerts meanwhile (the stock would not trade); when the pause ends it
 *   is tested again at once and may re-enter a limit state.
 * - At the end of input, timers later than the last record do not fire (there is no evidence
 *   that the state persisted).
 *
 * @example
 * const l = new LuldMonitor(LULD_DEFAULTS, reference, (a) => alerts.push(a));
 * for (const r of recordsInTimeOrder) { l.advance(r.ts); r.type === 'quote' ? l.onQuote(r) : l.onTrade(r); }
 * l.settle(lastTs);
 */
export class LuldMonitor implements EventTimeDriven {
  private readonly p: LuldParams;
  private readonly ref: ReferenceData;
  private readonly out: AlertSink;
  private insts: Inst[] = [];
  private index = new Map<string, number>();
  /** The same indices by instrument id (the per-record lookup). */
  private slots = new InstrumentSlots<number>();
  /** Trades in their reference windows, in time order: they leave at ts + window. */
  private trades = new TimeQueue();
  private pauses = new TimeQueue();
  private resumes = new TimeQueue();
  /**
   * Instruments touched by one eviction pass, `nTouched` of them (a reused typed array: emptying
   * a JS array frees its backing store, so every pass would allocate a new one).
   */
  private touched = new Int32Array(64);
  /**
   * No queue has anything due before this time (the earliest head of the three queues, or less):
   * `advance` and `settle` return at once before it, which is nearly every record.
   */
  private readonly dueAt = Float64Array.of(Number.POSITIVE_INFINITY);
  /** What {@link bandsAt} computed: lower, upper, reference. */
  private readonly bandsOut = new Float64Array(3);
  /** Per instrument k at k * NUM: sum, ref, bid, ask, state, bands, count (see {@link Inst}). */
  private num = new Float64Array(64 * NUM);
  /** Per instrument k at k * META: tier and the eviction pass's flag. */
  private meta = new Uint8Array(64 * META);

  constructor(p: LuldParams, ref: ReferenceData, out: AlertSink) {
    this.p = p;
    this.ref = ref;
    this.out = out;
  }

  /** Current bands and state of an instrument (undefined when it has no reference price). */
  bands(instrument: string): { lower: number; upper: number; state: LuldStateName; reference: number } | undefined {
    const k = this.index.get(instrument);
    const state = this.bandsAt(instrument, k);
    if (state === undefined) return undefined;
    const bands = this.bandsOut;
    return { lower: bands[0]!, upper: bands[1]!, state, reference: bands[2]! };
  }

  /**
   * {@link bands} written to `lower[i]` and `upper[i]` (untouched when there are none), without
   * an object per call: the state, or undefined when the instrument has no reference price.
   */
  bandsInto(instrument: string, lower: Float64Array, upper: Float64Array, i: number): LuldStateName | undefined {
    const state = this.bandsAt(instrument, this.index.get(instrument));
    if (state === undefined) return undefined;
    lower[i] = this.bandsOut[0]!;
    upper[i] = this.bandsOut[1]!;
    return state;
  }

  /** Bands of the instrument (index k, undefined when not seen) into `bandsOut`: lower, upper, reference. */
  private bandsAt(instrument: string, k: number | undefined): LuldStateName | undefined {
    let ref: number;
    let tier: number;
    let state = NORMAL;
    if (k === undefined) {
      // Not seen yet: what its first record would start from.
      const ins = this.ref.instruments.get(instrument);
      ref = ins !== undefined && ins.prevClose > 0 ? ins.prevClose : Number.NaN;
      tier = ins?.tier === 1 ? 1 : 2;
    } else {
      ref = this.num[k * NUM + REF] as number;
      tier = this.meta[k * META + TIER] as number;
      state = this.num[k * NUM + STATE] as number;
    }
    if (Number.isNaN(ref)) return undefined;
    const w = luldBandWidth(ref, tier, this.p);
    const out = this.bandsOut;
    out[0] = ref - w;
    out[1] = ref + w;
    out[2] = ref;
    return STATE_NAMES[state]!;
  }

  advance(ts: number): void {
    if (ts < this.dueAt[0]!) return;
    this.run(ts, false);
  }

  /**
   * `advance(r.ts)`, reading the time from the record: a double read from a record and passed to a
   * call that is not inlined is a new heap number, and this runs at every record.
   */
  advanceTo(r: { ts: number }): void {
    if (r.ts < this.dueAt[0]!) return;
    this.run(r.ts, false);
  }

  settle(t: number): void {
    if (t < this.dueAt[0]!) return;
    this.run(t, true);
  }

  /** `id`: the instrument's {@link instrumentId}, when the caller has it. */
  onQuote(q: MarketQuote, id = instrumentId(q.instrument)): void {
    const k = this.slots.at(id) ?? this.instOf(q.instrument);
    const num = this.num;
    num[k * NUM + BID] = q.bid;
    num[k * NUM + ASK] = q.ask;
    const state = num[k * NUM + STATE] as number;
    if (state === PAUSED) return;
    const cond = this.condition(k);
    if (cond !== state) this.enterAt(k, cond, q);
  }

  onTrade(t: MarketTrade, id = instrumentId(t.instrument)): void {
    if (!(t.price > 0)) return;
    const k = this.slots.at(id) ?? this.instOf(t.instrument);
    const leaves = t.ts + this.p.referenceWindowMs;
    this.trades.pushTrade(t, this.p.referenceWindowMs, k);
    if (leaves < this.dueAt[0]!) this.dueAt[0] = leaves;
    const num = this.num;
    const sum = (num[k * NUM + SUM] as number) + t.price;
    num[k * NUM + SUM] = sum;
    const count = (num[k * NUM + COUNT] as number) + 1;
    num[k * NUM + COUNT] = count;
    // CONTRACTS.md 4, LULD: reference = mean trade price over the preceding 5 minutes.
    num[k * NUM + REF] = sum / count;
    this.rebands(k);
    const state = num[k * NUM + STATE] as number;
    if (state === PAUSED) return;
    const cond = this.condition(k);
    if (cond !== state) this.enterAt(k, cond, t);
  }

  snapshot(): LuldSnapshot {
    const num = this.num;
    return {
      insts: this.insts.map((s, k) => ({ ...s, sum: num[k * NUM + SUM] as number, ref: num[k * NUM + REF] as number, bid: num[k * NUM + BID] as number, ask: num[k * NUM + ASK] as number, state: num[k * NUM + STATE] as number, tier: this.meta[k * META + TIER] as number, count: num[k * NUM + COUNT] as number })),
      trades: this.trades.live(), pauses: this.pauses.live(), resumes: this.resumes.live() };
  }

  restore(st: unknown): void {
    const s = st as LuldSnapshot;
    this.insts = s.insts.map((x) => ({ ...x }));
    this.num = new Float64Array(Math.max(64, this.insts.length) * NUM);
    this.meta = new Uint8Array(Math.max(64, this.insts.length) * META);
    this.insts.forEach((x, k) => {
      this.num[k * NUM + SUM] = x.sum;
      this.num[k * NUM + REF] = x.ref;
      this.num[k * NUM + BID] = x.bid;
      this.num[k * NUM + ASK] = x.ask;
      this.num[k * NUM + STATE] = x.state;
      this.meta[k * META + TIER] = x.tier;
      this.num[k * NUM + COUNT] = x.count;
      this.rebands(k);
    });
    this.index = new Map(this.insts.map((x, k) => [x.name, k]));
    this.slots = new InstrumentSlots<number>();
    for (const [k, v] of this.index) this.slots.set(k, v);
    this.trades.load(s.trades);
    this.pauses.load(s.pauses);
    this.resumes.load(s.resumes);
    this.dueAt[0] = Number.NEGATIVE_INFINITY;
  }

  /**
   * Fires, in time order, trades leaving the window (at the start of their instant: a record at
   * that time no longer sees them) and pause/resume timers (at the end of their instant: after
   * the records at that time). `inclusive`: fire timers at `t` too.
   */
  private run(t: number, inclusive: boolean): void {
    const tq = this.trades;
    const pq = this.pauses;
    const rq = this.resumes;
    const num = this.num;
    const meta = this.meta;
    for (;;) {
      // The heads read in place (a double returned by a call is a heap number).
      const te = tq.n > 0 ? (tq.buf[tq.head * 3] as number) : Number.POSITIVE_INFINITY;
      const tp = pq.n > 0 ? (pq.buf[pq.head * 3] as number) : Number.POSITIVE_INFINITY;
      const tr = rq.n > 0 ? (rq.buf[rq.head * 3] as number) : Number.POSITIVE_INFINITY;
      const timer = tp <= tr ? tp : tr;
      if (te <= timer && te <= t) {
        // Every trade leaving at this instant goes at once: the bands move once per instant.
        let touched = this.touched;
        let nt = 0;
        const tb = tq.buf;
        do {
          const x = tq.head * 3;
          const k = (tb[x + 1] as number) | 0;
          num[k * NUM + COUNT] = (num[k * NUM + COUNT] as number) - 1;
          num[k * NUM + SUM] = (num[k * NUM + SUM] as number) - (tb[x + 2] as number);
          if (meta[k * META + TOUCHED] === 0) {
            meta[k * META + TOUCHED] = 1;
            if (nt === touched.length) this.touched = touched = grown(touched, nt + 1);
            touched[nt++] = k;
          }
          tq.drop();
        } while (tq.n > 0 && tb[tq.head * 3] === te);
        for (let j = 0; j < nt; j++) {
          const k = touched[j]!;
          meta[k * META + TOUCHED] = 0;
          const count = num[k * NUM + COUNT] as number;
          // An empty window keeps the previous reference in effect (restarting the sum exactly).
          if (count > 0) {
            num[k * NUM + REF] = (num[k * NUM + SUM] as number) / count;
            this.rebands(k);
          } else num[k * NUM + SUM] = 0;
        }
        for (let j = 0; j < nt; j++) {
          const k = touched[j]!;
          const state = num[k * NUM + STATE] as number;
          if (state === PAUSED) continue;
          const cond = this.condition(k);
          if (cond !== state) this.enter(this.insts[k]!, k, cond, te);
        }
      } else if (timer < t || (inclusive && timer <= t)) {
        if (tp <= tr) {
          const k = (pq.buf[pq.head * 3 + 1] as number) | 0;
          pq.drop();
          this.firePause(k, tp);
        } else {
          const k = (rq.buf[rq.head * 3 + 1] as number) | 0;
          rq.drop();
          this.fireResume(k, tr);
        }
      } else {
        this.dueAt[0] = te < timer ? te : timer;
        break;
      }
    }
  }

  private firePause(k: number, at: number): void {
    const s = this.insts[k]!;
    const num = this.num;
    const state = num[k * NUM + STATE] as number;
    // A timer of a limit state that has since cleared (or been replaced) is stale.
    if ((state !== LIMIT_DOWN && state !== LIMIT_UP) || s.pauseAt !== at) return;
    const down = state === LIMIT_DOWN;
    const ref = num[k * NUM + REF] as number;
    const w = luldBandWidth(ref, this.meta[k * META + TIER] as number, this.p);
    const band = down ? ref - w : ref + w;
    this.out(
      instrumentAlert(
        'LULD_PAUSE',
        'critical',
        s.name,
        at,
        at - s.since,
        this.p.pauseAfterMs,
        `${s.name} LULD trading pause: limit ${down ? 'down' : 'up'} state not cleared after ${durationText(at - s.since)} (${down ? 'lower' : 'upper'} band ${numText(band, 4)})`,
        { direction: down ? 'down' : 'up', limitStateSince: s.since, band, reference: ref, bid: num[k * NUM + BID], ask: num[k * NUM + ASK], pauseUntil: at + this.p.pauseDurationMs },
      ),
    );
    num[k * NUM + STATE] = PAUSED;
    s.pauseAt = Number.NaN;
    s.resumeAt = at + this.p.pauseDurationMs;
    this.resumes.push(s.resumeAt, k);
    if (s.resumeAt < this.dueAt[0]!) this.dueAt[0] = s.resumeAt;
  }

  private fireResume(k: number, at: number): void {
    const s = this.insts[k]!;
    if (this.num[k * NUM + STATE] !== PAUSED || s.resumeAt !== at) return;
    this.num[k * NUM + STATE] = NORMAL;
    s.resumeAt = Number.NaN;
    // Tested again at once (NORMAL now, so not paused).
    const cond = this.condition(k);
    if (cond !== NORMAL) this.enter(s, k, cond, at);
  }

  /**
   * The limit condition of instrument k with its current quote and bands: NORMAL, LIMIT_DOWN or
   * LIMIT_UP. (It takes no time: a double read from a record and passed to a call is a new heap
   * number, and this runs at every quote.) The bands are those {@link rebands} set with the
   * reference: a quote does not work them out again.
   */
  private condition(k: number): number {
    const num = this.num;
    const ask = num[k * NUM + ASK] as number;
    // CONTRACTS.md 4, LULD: the best offer reaches the lower band, or the best bid the upper (no
    // reference: NaN bands, neither; no ask: neither).
    if (ask <= (num[k * NUM + LOWER] as number)) return LIMIT_DOWN;
    if ((num[k * NUM + BID] as number) >= (num[k * NUM + UPPER] as number) && !Number.isNaN(ask)) return LIMIT_UP;
    return NORMAL;
  }

  /** Sets instrument k's bands (LOWER, UPPER) from its reference and tier: at every change of either. */
  private rebands(k: number): void {
    const num = this.num;
    const ref = num[k * NUM + REF] as number;
    // luldBandWidth, inline (the same operations): a double returned by a call is a heap number.
    const p = this.p;
    const w = ref > p.highPrice ? ref * (this.meta[k * META + TIER] === 1 ? p.tier1Pct : p.tier2Pct) : ref >= p.lowPrice ? ref * p.midPct : Math.min(p.lowCap, ref * p.lowPct);
    num[k * NUM + LOWER] = ref - w;
    num[k * NUM + UPPER] = ref + w;
  }

  /**
   * {@link enter} at the record's time, read here: onQuote and onTrade pass the record, not its
   * time, since TurboFan boxed a double argument of their (rare) call to enter at every record.
   */
  private enterAt(k: number, cond: number, r: { ts: number }): void {
    this.enter(this.insts[k]!, k, cond, r.ts);
  }

  /** Instrument k's condition changed to `cond` at `t` (not paused): a limit state starts or ends. */
  private enter(s: Inst, k: number, cond: number, t: number): void {
    const num = this.num;
    const ref = num[k * NUM + REF] as number;
    const bid = num[k * NUM + BID] as number;
    const ask = num[k * NUM + ASK] as number;
    const tier = this.meta[k * META + TIER] as number;
    const w = luldBandWidth(ref, tier, this.p);
    const band = cond === LIMIT_DOWN ? ref - w : ref + w;
    num[k * NUM + STATE] = cond;
    s.pauseAt = Number.NaN;
    if (cond === NORMAL) return;
    s.since = t;
    s.pauseAt = t + this.p.pauseAfterMs;
    this.pauses.push(s.pauseAt, k);
    if (s.pauseAt < this.dueAt[0]!) this.dueAt[0] = s.pauseAt;
    // Quotes flickering across the band within one instant make one alert (a second would share its id).
    if (s.alertedAt === t) return;
    s.alertedAt = t;
    const down = cond === LIMIT_DOWN;
    const px = down ? ask : bid;
    const pct = luldBandWidth(ref, tier, this.p) / ref;
    this.out(
      instrumentAlert(
        'LULD_LIMIT_STATE',
        'warning',
        s.name,
        t,
        px,
        band,
        `${s.name} limit ${down ? 'down' : 'up'}: best ${down ? 'offer' : 'bid'} ${numText(px, 4)} at the ${down ? 'lower' : 'upper'} band ${numText(band, 4)} (reference ${numText(ref, 4)}, band ${pctText(pct)})`,
        { direction: down ? 'down' : 'up', reference: ref, lower: ref - pct * ref, upper: ref + pct * ref, bid, ask, tier },
      ),
    );
  }

  private instOf(name: string): number {
    let k = this.slots.get(name);
    if (k === undefined) {
      const ins = this.ref.instruments.get(name);
      const prev = ins?.prevClose;
      k = this.insts.length;
      if ((k + 1) * NUM > this.num.length) this.num = grown(this.num, (k + 1) * NUM);
      if ((k + 1) * META > this.meta.length) this.meta = grown(this.meta, (k + 1) * META);
      const ref = prev !== undefined && prev > 0 ? prev : Number.NaN;
      this.num[k * NUM + SUM] = 0;
      this.num[k * NUM + REF] = ref;
      this.num[k * NUM + BID] = Number.NaN;
      this.num[k * NUM + ASK] = Number.NaN;
      this.num[k * NUM + STATE] = NORMAL;
      this.meta[k * META + TIER] = ins?.tier === 1 ? 1 : 2;
      this.meta[k * META + TOUCHED] = 0;
      this.num[k * NUM + COUNT] = 0;
      this.rebands(k);
      this.insts.push({
        name,
        tier: ins?.tier === 1 ? 1 : 2,
        sum: 0,
        count: 0,
        ref,
        bid: Number.NaN,
        ask: Number.NaN,
        state: NORMAL,
        since: Number.NaN,
        pauseAt: Number.NaN,
        resumeAt: Number.NaN,
        alertedAt: Number.NaN,
      });
      this.index.set(name, k);
      this.slots.set(name, k);
    }
    return k;
  }
}
