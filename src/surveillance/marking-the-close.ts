/**
 * MARKING_THE_CLOSE (CONTRACTS.md section 4, Surveillance): in the last 10 minutes before the
 * close, a trader's trades make >= 20% of the instrument's volume and the price moves >= 1% in
 * their direction over that interval.
 */
import {
  EventTimers,
  FindingGrouper,
  counterpartyOf,
  fmtLimit,
  fmtPct,
  fmtPrice,
  fmtQty,
  participle,
  type AlertDraft,
  type Detector,
  type DetectorInputs,
  type SurvOrder,
  type SurvTrade,
} from './common.js';
import { localDate, zonedTimeToEpoch } from '../core/time.js';

export { localDate, zonedTimeToEpoch };

function nextDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/**
 * The first close at or after `ts`: the close time on the local date of `ts`, or on the next date
 * when `ts` is already past it.
 *
 * @example closeAtOrAfter(Date.parse('2024-03-15T14:00:00Z'), '16:00', 'America/New_York'); // 2024-03-15T20:00:00Z
 */
export function closeAtOrAfter(ts: number, close: string, timeZone: string): number {
  const date = localDate(ts, timeZone);
  const c = zonedTimeToEpoch(date, close, timeZone);
  return ts <= c ? c : zonedTimeToEpoch(nextDate(date), close, timeZone);
}

/**
 * Parameters of {@link MarkingTheCloseDetector} (defaults of CONTRACTS.md section 4 in brackets).
 *
 * @example
 * const p: MarkingTheCloseParams = { windowMs: 600_000, minShare: 0.2, minMove: 0.01, close: '16:00', timeZone: 'America/New_York' };
 */
export interface MarkingTheCloseParams {
  /** The interval before the close [10 min]. */
  windowMs: number;
  /** The trader's share of the instrument's volume in it [0.2]. */
  minShare: number;
  /** The price move in the trader's direction [0.01]. */
  minMove: number;
  /** Close time HH:MM (day.json). */
  close: string;
  /** IANA time zone of the close (day.json). */
  timeZone: string;
}

interface TraderFlow {
  gross: number;
  net: number;
  tradeIds: string[];
}

interface InstrumentInterval {
  /** Last trade price before the interval, NaN if none. */
  ref: number;
  first: number;
  last: number;
  volume: number;
  traders: Map<string, TraderFlow>;
}

interface MtcSnapshot {
  session: { start: number; close: number } | null;
  lastPrice: Array<[string, number]>;
  intervals: Array<[string, { ref: number; first: number; last: number; volume: number; traders: Array<[string, TraderFlow]> }]>;
  timers: ReturnType<EventTimers<number>['snapshot']>;
  out: ReturnType<FindingGrouper['snapshot']>;
}

/**
 * Detects marking the close in event-time order (see common.ts Sequencer); orders are ignored.
 *
 * The close of a trade's local date (the close time in the time zone, DST-correct via Intl; the
 * next date's once past it) defines the interval [close - window, close], both ends included (a
 * closing print at exactly the close counts). For each instrument traded in it: volume = sum of qty;
 * a trader's participation counts the trades where it is the trader or the counterparty (so a
 * one-sided feed shows both parties, and a two-sided feed doubles volume and participation alike,
 * leaving shares unchanged); its direction is the sign of its net bought quantity (no direction,
 * no alert). Price move = last trade price in the interval / reference - 1, the reference being the
 * last trade price BEFORE the interval (so the trader's own first trade's impact counts), or the
 * first trade in the interval when there was none. Evaluated by a timer at the close (so when the
 * watermark passes it, or at the end of input): a trader alerts when its gross participation /
 * volume >= minShare and the move is >= minMove up for a net buyer, down for a net seller.
 *
 * One evaluation per close; a trader marking several instruments gets one alert (merged) with
 * eventTime = the close, windowStart/End = the interval; value = the share (max when merged);
 * threshold = minShare.
 *
 * @example
 * const d = new MarkingTheCloseDetector({ windowMs: 600_000, minShare: 0.2, minMove: 0.01, close: '16:00', timeZone: 'America/New_York' });
 * runDetector(d, trades, []);
 */
export class MarkingTheCloseDetector implements Detector {
  private readonly out: FindingGrouper;
  private session: { start: number; close: number } | null = null;
  /**
   * Last trade price per instrument: the instrument's number (in first-trade order) in a Map, its
   * price in a typed array updated in place (a number value in a Map is boxed anew at every set, and
   * a cell object per instrument was one more cold read per trade).
   */
  private priceIndex = new Map<string, number>();
  private prices = new Float64Array(64);
  private intervals = new Map<string, InstrumentInterval>();
  private readonly timers = new EventTimers<number>();
  readonly timerQueue: { nextDue(): number } = this.timers;
  /** Orders do nothing here. */
  readonly inputs: DetectorInputs = { trades: true, orders: false, timers: true };
  private readonly due = { ts: 0 };

  constructor(readonly params: MarkingTheCloseParams) {
    zonedTimeToEpoch('2000-01-01', params.close, params.timeZone); // fail fast on a bad close or zone
    this.out = new FindingGrouper('MARKING_THE_CLOSE', params.minShare, 'max');
  }

  onOrder(_o: SurvOrder): void {}

  onTrade(t: SurvTrade): void {
    let s = this.session;
    if (s === null || t.ts > s.close) {
      const close = closeAtOrAfter(t.ts, this.params.close, this.params.timeZone);
      s = this.session = { start: close - this.params.windowMs, close };
    }
    if (t.ts < s.start) {
      this.setLastPrice(t.instrument, t.price);
      return;
    }
    let iv = this.intervals.get(t.instrument);
    if (iv === undefined) {
      if (this.intervals.size === 0) this.timers.add(s.close, s.close);
      const k = this.priceIndex.get(t.instrument);
      iv = { ref: k === undefined ? Number.NaN : (this.prices[k] as number), first: t.price, last: t.price, volume: 0, traders: new Map() };
      this.intervals.set(t.instrument, iv);
    }
    iv.last = t.price;
    iv.volume += t.qty;
    const signed = t.side === 'BUY' ? t.qty : -t.qty;
    // A trader on both sides of one trade bought and sold it: volume, but no direction.
    this.participate(iv, t.traderId, t.counterpartyTraderId === t.traderId ? 0 : signed, t.qty, t.tradeId);
    const cp = counterpartyOf(t);
    if (cp !== undefined) this.participate(iv, cp, -signed, t.qty, t.tradeId);
  }

  fireTimers(t: number, inclusive: boolean): void {
    for (let c = this.timers.popDue(t, inclusive, this.due); c !== undefined; c = this.timers.popDue(t, inclusive, this.due)) this.evaluate(c);
  }

  takeAlerts(): AlertDraft[] {
    return this.out.take();
  }

  private setLastPrice(instrument: string, price: number): void {
    const k = this.priceIndex.get(instrument);
    if (k !== undefined) this.prices[k] = price;
    else this.addPrice(instrument, price);
  }

  private addPrice(instrument: string, price: number): void {
    const k = this.priceIndex.size;
    if (k === this.prices.length) {
      const p = new Float64Array(2 * k);
      p.set(this.prices);
      this.prices = p;
    }
    this.prices[k] = price;
    this.priceIndex.set(instrument, k);
  }

  private participate(iv: InstrumentInterval, traderId: string, signed: number, qty: number, tradeId: string): void {
    let f = iv.traders.get(traderId);
    if (f === undefined) {
      f = { gross: 0, net: 0, tradeIds: [] };
      iv.traders.set(traderId, f);
    }
    f.gross += qty;
    f.net += signed;
    f.tradeIds.push(tradeId);
  }

  private evaluate(close: number): void {
    const p = this.params;
    const start = close - p.windowMs;
    for (const [instrument, iv] of this.intervals) {
      const ref = Number.isNaN(iv.ref) ? iv.first : iv.ref;
      const move = iv.last / ref - 1;
      for (const [traderId, f] of iv.traders) {
        const share = f.gross / iv.volume;
        const dir = Math.sign(f.net);
        if (share < p.minShare || dir === 0 || dir * move < p.minMove) continue;
        const side = dir > 0 ? 'BUY' : 'SELL';
        this.out.add({
          traderId,
          eventTime: close,
          value: share,
          windowStart: start,
          windowEnd: close,
          message:
            `${traderId} made ${fmtPct(share)} of ${instrument} volume (${fmtQty(f.gross)} of ${fmtQty(iv.volume)}) in the ${fmtLimit(p.windowMs)} ` +
            `before the ${p.close} close, net ${participle(side)} ${fmtQty(Math.abs(f.net))}, while the price ${move > 0 ? 'rose' : 'fell'} ` +
            `${fmtPct(Math.abs(move))} (${fmtPrice(ref)} -> ${fmtPrice(iv.last)}; limits ${fmtPct(p.minShare)} of volume, ${fmtPct(p.minMove)} move)`,
          details: {
            orderIds: [],
            tradeIds: f.tradeIds.slice(),
            instrument,
            side,
            share,
            traderQty: f.gross,
            netQty: f.net,
            volume: iv.volume,
            referencePrice: ref,
            referenceIsLastBeforeInterval: !Number.isNaN(iv.ref),
            lastPrice: iv.last,
            move,
          },
        });
      }
      this.setLastPrice(instrument, iv.last);
    }
    this.intervals.clear();
    this.session = null;
  }

  snapshot(): MtcSnapshot {
    return structuredClone({
      session: this.session,
      lastPrice: [...this.priceIndex].map(([i, k]): [string, number] => [i, this.prices[k] as number]),
      intervals: [...this.intervals].map(([k, iv]): MtcSnapshot['intervals'][number] => [k, { ...iv, traders: [...iv.traders] }]),
      timers: this.timers.snapshot(),
      out: this.out.snapshot(),
    });
  }

  restore(state: unknown): void {
    const s = structuredClone(state as MtcSnapshot);
    this.session = s.session;
    this.priceIndex = new Map();
    for (const [i, price] of s.lastPrice) this.addPrice(i, price);
    this.intervals = new Map(s.intervals.map(([k, iv]) => [k, { ...iv, traders: new Map(iv.traders) }]));
    this.timers.restore(s.timers);
    this.out.restore(s.out);
  }
}
