import type { ReferenceData } from '../core/reference.js';
import { InstrumentSlots, instrumentAlert, instrumentId, midOf, numText, pctText, type AlertSink, type MarketQuote, type MarketTrade } from './market.js';

/**
 * Parameters of {@link MarketWideHaltMonitor} (CONTRACTS.md 4, MARKET_WIDE_HALT).
 *
 * @example const p: MarketWideHaltParams = { levels: [0.07, 0.13, 0.2] };
 */
export interface MarketWideHaltParams {
  /** Falls below prevClose of levels 1, 2, 3 (defaults 0.07, 0.13, 0.20), ascending. */
  levels: number[];
}

/**
 * The market-wide circuit breaker levels of CONTRACTS.md 4: 7%, 13%, 20% below prevClose.
 *
 * @example new MarketWideHaltMonitor(MARKET_WIDE_HALT_DEFAULTS, reference, sink)
 */
export const MARKET_WIDE_HALT_DEFAULTS: MarketWideHaltParams = { levels: [0.07, 0.13, 0.2] };

interface IndexState {
  prevClose: number;
  /** 2 = the mark is a quote's mid; 1 = a trade price (until the first quote). */
  source: number;
  /** Day (in the day's time zone) the fired levels belong to, and the levels fired that day. */
  day: string;
  fired: number;
}

/**
 * Checkpoint form of a {@link MarketWideHaltMonitor} (structured-cloneable).
 *
 * @example monitor.restore(structuredClone(monitor.snapshot()))
 */
export interface MarketWideHaltSnapshot {
  states: Array<[string, IndexState]>;
}

const QUARTER_HOUR = 900_000;
/** A fall of exactly 7% (93 from 100) computes as 0.06999999999999995: levels allow for that rounding. */
const LEVEL_TOLERANCE = 1e-12;

/**
 * MARKET_WIDE_HALT (CONTRACTS.md 4): an instrument with `isIndex` whose mark (mid of its latest
 * quote, else its latest trade price: CONTRACTS.md 4, Mark price) falls `levels[k]` or more below
 * its prevClose triggers level k+1 (7%, 13%, 20%: the market-wide circuit breaker levels), each
 * at most once per day, severity critical. A fall through several levels at once reports the
 * highest one (a level 2 halt subsumes level 1) and counts the lower ones as fired. The day is
 * the calendar day of the event time in the day's time zone (reference `day.timezone`, UTC
 * without one). Instruments without isIndex or without a prevClose are ignored.
 *
 * @example
 * const m = new MarketWideHaltMonitor(MARKET_WIDE_HALT_DEFAULTS, reference, (a) => alerts.push(a));
 * for (const q of quotesInTimeOrder) m.onQuote(q);
 */
export class MarketWideHaltMonitor {
  private readonly p: MarketWideHaltParams;
  private readonly out: AlertSink;
  private readonly dayOf: (ts: number) => string;
  private states = new Map<string, IndexState>();
  /** The same states by instrument id (the per-record lookup). */
  private slots = new InstrumentSlots<IndexState>();
  /** The day of the last UTC quarter hour asked for (time zones move in quarter hours). */
  private quarter = Number.NaN;
  private quarterDay = '';

  constructor(p: MarketWideHaltParams, ref: ReferenceData, out: AlertSink) {
    this.p = p;
    this.out = out;
    const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: ref.day?.timezone ?? 'UTC', year: 'numeric', month: '2-digit', day: '2-digit' });
    this.dayOf = (ts) => fmt.format(ts);
    for (const ins of ref.instruments.values()) {
      if (ins.isIndex && ins.prevClose > 0) {
        this.states.set(ins.instrument, { prevClose: ins.prevClose, source: 0, day: '', fired: 0 });
      }
    }
    for (const [k, s] of this.states) this.slots.set(k, s);
  }

  /** `id`: the instrument's {@link instrumentId}, when the caller has it. */
  onQuote(q: MarketQuote, id = instrumentId(q.instrument)): void {
    const s = this.slots.at(id);
    if (s === undefined) return;
    s.source = 2;
    this.check(q.instrument, s, q.ts, midOf(q.bid, q.ask));
  }

  onTrade(t: MarketTrade, id = instrumentId(t.instrument)): void {
    const s = this.slots.at(id);
    if (s === undefined || s.source === 2) return;
    s.source = 1;
    this.check(t.instrument, s, t.ts, t.price);
  }

  snapshot(): MarketWideHaltSnapshot {
    return { states: [...this.states].map(([k, s]) => [k, { ...s }]) };
  }

  restore(st: unknown): void {
    this.states = new Map((st as MarketWideHaltSnapshot).states.map(([k, s]) => [k, { ...s }]));
    this.slots = new InstrumentSlots<IndexState>();
    for (const [k, s] of this.states) this.slots.set(k, s);
  }

  private dayAt(ts: number): string {
    const q = Math.floor(ts / QUARTER_HOUR);
    if (q !== this.quarter) {
      this.quarter = q;
      this.quarterDay = this.dayOf(ts);
    }
    return this.quarterDay;
  }

  private check(name: string, s: IndexState, ts: number, mark: number): void {
    if (!(mark > 0)) return;
    const day = this.dayAt(ts);
    if (day !== s.day) {
      s.day = day;
      s.fired = 0;
    }
    // CONTRACTS.md 4, MARKET_WIDE_HALT: fall below prevClose.
    const fall = 1 - mark / s.prevClose;
    const levels = this.p.levels;
    let hit = -1;
    for (let k = levels.length - 1; k >= 0; k--) {
      if (fall >= (levels[k] as number) - LEVEL_TOLERANCE) {
        hit = k;
        break;
      }
    }
    if (hit < 0 || (s.fired >> hit) !== 0) return;
    s.fired |= (1 << (hit + 1)) - 1;
    const level = hit + 1;
    const limit = levels[hit] as number;
    this.out(
      instrumentAlert(
        'MARKET_WIDE_HALT',
        'critical',
        name,
        ts,
        fall,
        limit,
        `${name} market-wide halt level ${level}: ${pctText(fall)} below the previous close ${numText(s.prevClose, 2)} (limit ${pctText(limit)})`,
        { level, mark, prevClose: s.prevClose, day: s.day },
      ),
    );
  }
}
