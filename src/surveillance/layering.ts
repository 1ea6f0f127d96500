/**
 * LAYERING (CONTRACTS.md section 4, Surveillance): >= 3 NEW orders at >= 3 price levels on one side
 * within 1 s, all cancelled within 5 s, with an opposite-side fill of the same trader in between.
 */
import {
  Deque,
  EventTimers,
  FindingGrouper,
  fmtElapsed,
  fmtPrice,
  fmtQty,
  opposite,
  participle,
  type AlertDraft,
  type Detector,
  type SurvOrder,
  type SurvTrade,
} from './common.js';
import { FillHistory, OrderBookState, type FillHistorySnapshot, type OrderBookSnapshot, type OrderEntry } from './order-book-state.js';

/**
 * Parameters of {@link LayeringDetector} (defaults of CONTRACTS.md section 4 in brackets).
 *
 * @example
 * const p: LayeringParams = { minOrders: 3, minLevels: 3, placeWithinMs: 1000, cancelWithinMs: 5000, orderTtlMs: 600_000 };
 */
export interface LayeringParams {
  /** Orders in the layer [3]. */
  minOrders: number;
  /** Distinct prices among them [3]. */
  minLevels: number;
  /** All placed (NEW) within this of the first [1 s]. */
  placeWithinMs: number;
  /** Each cancelled within this of its own NEW [5 s]. */
  cancelWithinMs: number;
  /** Order state kept this long after an order's last event; must be longer than placeWithin + cancelWithin [1 min]. */
  orderTtlMs: number;
}

interface LayeringSnapshot {
  book: OrderBookSnapshot;
  fills: FillHistorySnapshot;
  layers: Array<[string, Array<[string, number]>]>;
  timers: ReturnType<EventTimers<string>['snapshot']>;
  sweepAt: number;
  out: ReturnType<FindingGrouper['snapshot']>;
}

/**
 * Detects layering in event-time order (see common.ts Sequencer).
 *
 * Each trader's NEW orders are kept for placeWithin + cancelWithin. A layer is
 * anchored at an order A cancelled within cancelWithin of its NEW: its members are the trader's
 * orders on that instrument and side placed in [A.new, A.new + placeWithin], each cancelled within
 * cancelWithin of its own NEW (A is one) and not already reported. It is layering when there are
 * >= minOrders members at >= minLevels distinct prices (as placed) and the trader has a fill on the
 * opposite side of the instrument with ts in [A.new, last member's cancel] (a fill counts for its
 * trader and its counterparty). Any qualifying set of orders whose first NEW is A is a subset of A's
 * members, so testing the maximal set decides them all. A is evaluated by a timer at
 * A.new + placeWithin + cancelWithin, when every member's NEW and CANCEL and every fill in the window
 * are known; anchors go in NEW-time order and the members of a reported layer are used up, so one
 * burst gives one alert (re-armed by orders placed after it).
 *
 * REPLACE changes an open order's displayed price/size (see OrderBookState); it is not a new layer
 * order and does not move the order's price level, which is the NEW price. A partially filled order
 * that is then cancelled still counts as cancelled.
 *
 * eventTime = the evaluation time; windowStart/End = A.new and the last cancel; value = member count
 * (max when merged); threshold = minOrders.
 *
 * @example
 * const d = new LayeringDetector({ minOrders: 3, minLevels: 3, placeWithinMs: 1000, cancelWithinMs: 5000, orderTtlMs: 600_000 });
 * runDetector(d, trades, orders);
 */
export class LayeringDetector implements Detector {
  private readonly out: FindingGrouper;
  private readonly book: OrderBookState;
  private readonly fills: FillHistory;
  /**
   * trader -> its recent NEW orders on every instrument and side (the book's entries, so CANCELs
   * show), in NEW order: a layer is judged within seconds, so scanning a trader's few recent orders
   * is cheaper than keeping a queue per (trader, instrument, side).
   */
  private layers = new Map<string, Deque<OrderEntry>>();
  private readonly timers = new EventTimers<string>();
  private readonly horizonMs: number;
  private readonly due = { ts: 0 };
  private sweepAt = Number.NEGATIVE_INFINITY;

  constructor(readonly params: LayeringParams) {
    this.horizonMs = params.placeWithinMs + params.cancelWithinMs;
    if (!(params.orderTtlMs > this.horizonMs)) throw new RangeError('layering: orderTtl must be longer than placeWithin + cancelWithin');
    this.out = new FindingGrouper('LAYERING', params.minOrders, 'max');
    this.book = new OrderBookState(params.orderTtlMs);
    this.fills = new FillHistory(this.horizonMs);
  }

  onTrade(t: SurvTrade): void {
    if (typeof t.orderId === 'string') this.book.fill(t.orderId, t.qty, t.ts);
    this.fills.add(t);
  }

  onOrder(o: SurvOrder): void {
    const e = this.book.apply(o);
    if (e === undefined) return;
    if (o.action === 'NEW') {
      if (o.ts >= this.sweepAt) this.sweep(o.ts);
      let d = this.layers.get(o.traderId);
      if (d === undefined) {
        d = new Deque<OrderEntry>();
        this.layers.set(o.traderId, d);
      }
      this.trim(d, o.ts);
      d.push(e);
    } else if (o.action === 'CANCEL' && o.ts - e.newTs <= this.params.cancelWithinMs) {
      this.timers.add(e.newTs + this.horizonMs, e.orderId);
    }
  }

  fireTimers(t: number, inclusive: boolean): void {
    for (let id = this.timers.popDue(t, inclusive, this.due); id !== undefined; id = this.timers.popDue(t, inclusive, this.due)) {
      this.evaluate(id, this.due.ts);
    }
  }

  takeAlerts(): AlertDraft[] {
    return this.out.take();
  }

  private cancelledInTime(e: OrderEntry): boolean {
    return !Number.isNaN(e.cancelTs) && e.cancelTs - e.newTs <= this.params.cancelWithinMs;
  }

  private evaluate(anchorId: string, now: number): void {
    const p = this.params;
    const a = this.book.get(anchorId);
    // An orderId reused after its first life expired names another order: not this anchor.
    if (a === undefined || a.flag || a.newTs + this.horizonMs !== now) return;
    const d = this.layers.get(a.traderId);
    if (d === undefined) return;
    const members: OrderEntry[] = [];
    const until = a.newTs + p.placeWithinMs;
    for (let i = 0; i < d.size; i++) {
      const e = d.at(i);
      if (e.newTs > until) break;
      if (e.newTs >= a.newTs && e.instrument === a.instrument && e.side === a.side && !e.flag && this.cancelledInTime(e)) members.push(e);
    }
    if (members.length < p.minOrders) return;
    const levels = new Set(members.map((e) => e.newPrice));
    if (levels.size < p.minLevels) return;
    let lastCancel = a.cancelTs;
    for (const e of members) if (e.cancelTs > lastCancel) lastCancel = e.cancelTs;
    const fills = this.fills.between(a.traderId, a.instrument, opposite(a.side), a.newTs, lastCancel);
    if (fills.length === 0) return;
    for (const e of members) e.flag = true;
    const prices = [...levels].sort((x, y) => x - y);
    let filled = 0;
    for (const f of fills) filled += f.qty;
    let lastNew = a.newTs;
    let slowest = 0;
    for (const e of members) {
      if (e.newTs > lastNew) lastNew = e.newTs;
      if (e.cancelTs - e.newTs > slowest) slowest = e.cancelTs - e.newTs;
    }
    const orderIds = members.map((e) => e.orderId);
    const tradeIds = fills.map((f) => f.tradeId);
    this.out.add({
      traderId: a.traderId,
      eventTime: now,
      value: members.length,
      windowStart: a.newTs,
      windowEnd: lastCancel,
      message:
        `${a.traderId} placed ${members.length} ${a.side} orders on ${a.instrument} at ${levels.size} price levels ` +
        `(${fmtPrice(prices[0]!)}-${fmtPrice(prices[prices.length - 1]!)}) within ${fmtElapsed(lastNew - a.newTs)} and cancelled each within ` +
        `${fmtElapsed(slowest)}, while ${participle(opposite(a.side))} ${fmtQty(filled)} (orders ${orderIds.join(', ')}; trades ${tradeIds.join(', ')})`,
      details: {
        orderIds,
        tradeIds,
        instrument: a.instrument,
        side: a.side,
        priceLevels: prices,
        orders: members.map((e) => ({ orderId: e.orderId, placedAt: e.newTs, cancelledAt: e.cancelTs, qty: e.newQty, price: e.newPrice })),
        oppositeQty: filled,
        oppositeFills: fills,
      },
    });
  }

  private trim(d: Deque<OrderEntry>, now: number): void {
    const limit = now - this.horizonMs;
    for (let e = d.front(); e !== undefined && e.newTs < limit; e = d.front()) d.shift();
  }

  // Keys that went quiet keep their last orders until swept; the sweep bounds the state by the keys active within the horizon.
  private sweep(now: number): void {
    for (const [trader, d] of this.layers) {
      this.trim(d, now);
      if (d.size === 0) this.layers.delete(trader);
    }
    this.sweepAt = now + Math.max(60_000, 10 * this.horizonMs);
  }

  snapshot(): LayeringSnapshot {
    const layers: LayeringSnapshot['layers'] = [];
    for (const [trader, d] of this.layers) layers.push([trader, d.toArray().map((e): [string, number] => [e.orderId, e.newTs])]);
    return {
      book: this.book.snapshot(),
      fills: this.fills.snapshot(),
      layers,
      timers: this.timers.snapshot(),
      sweepAt: this.sweepAt,
      out: this.out.snapshot(),
    };
  }

  restore(state: unknown): void {
    const s = structuredClone(state as LayeringSnapshot);
    this.book.restore(s.book);
    this.fills.restore(s.fills);
    this.layers.clear();
    // Re-linked to the restored book's entries; one the book no longer holds is past the horizon anyway.
    for (const [trader, ids] of s.layers) {
      const list: OrderEntry[] = [];
      for (const [id, newTs] of ids) {
        const e = this.book.get(id);
        if (e !== undefined && e.newTs === newTs) list.push(e);
      }
      if (list.length > 0) this.layers.set(trader, Deque.from(list));
    }
    this.timers.restore(s.timers);
    this.sweepAt = s.sweepAt;
    this.out.restore(s.out);
  }
}
