/**
 * LAYERING (CONTRACTS.md section 4, Surveillance): >= 3 NEW orders at >= 3 price levels on one side
 * within 1 s, all cancelled within 5 s, with an opposite-side fill of the same trader in between.
 */
import { regrown } from '../core/typed-arrays.js';
import {
  EventTimers,
  FindingGrouper,
  TraderChains,
  fmtElapsed,
  fmtPrice,
  fmtQty,
  opposite,
  participle,
  type AlertDraft,
  type Detector,
  type DetectorInputs,
  type SurvOrder,
  type SurvTrade,
} from './common.js';
import { NO_ORDER, OrderFlow, type OrderBookState, type OrderFlowSnapshot } from './order-book-state.js';

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

/**
 * Every trader's recent NEW orders as book slots: one ring of all of them in NEW (= processing)
 * order, each with its slot, the slot's life (`gen`, so an order the book has since forgotten is
 * recognised even if its slot holds another order now), its NEW time (kept here, as the order's
 * own, for dropping and for the placement window) and its trader's number, each trader's orders
 * chained through `next` (oldest first, see {@link TraderChains}). A NEW drops the orders older
 * than the horizon at the ring's front and appends itself: a few hot array cells, where a ring per
 * trader was cold memory (its queue and its arrays, one object each, per trader) at every NEW.
 *
 * @example
 * const r = new OrderRing(); const w = r.chains.numberOf('TR01');
 * r.push(w, 7, 0, 1000); r.dropBefore(1001); r.chains.first[w]; // -1
 */
export class OrderRing {
  slots = new Int32Array(64);
  gens = new Int32Array(64);
  newTs = new Float64Array(64);
  /** The ring index of the trader's next order, -1 after its newest. */
  next = new Int32Array(64);
  /** The traders' numbers and the ends of their chains. */
  readonly chains = new TraderChains();
  private who = new Int32Array(64);
  private head = 0;
  private n = 0;
  private mask = 63;

  /** Number of orders held. */
  get size(): number {
    return this.n;
  }

  /** Appends a NEW order of trader `w` (its newTs not below any held order's). */
  push(w: number, slot: number, gen: number, newTs: number): void {
    if (this.n > this.mask) this.grow();
    const i = (this.head + this.n) & this.mask;
    this.slots[i] = slot;
    this.gens[i] = gen;
    this.newTs[i] = newTs;
    this.who[i] = w;
    this.chains.append(w, i, this.next);
    this.n++;
  }

  /** Drops the orders placed before `limit` (they come first: the ring is in NEW order). */
  dropBefore(limit: number): void {
    let n = this.n;
    let h = this.head;
    const ts = this.newTs;
    const m = this.mask;
    while (n > 0 && (ts[h] as number) < limit) {
      // The front order is the oldest of its trader's chain.
      this.chains.dropFirst(this.who[h] as number, this.next);
      h = (h + 1) & m;
      n--;
    }
    this.head = n === 0 ? 0 : h;
    this.n = n;
  }

  /** Every numbered trader and the ring indices of its orders, oldest first (for checkpoints). */
  byTrader(): Array<[string, number[]]> {
    const out: Array<[string, number[]]> = [];
    for (const [traderId, w] of this.chains.traders()) {
      const list: number[] = [];
      for (let i = this.chains.first[w] as number; i >= 0; i = this.next[i] as number) list.push(i);
      out.push([traderId, list]);
    }
    return out;
  }

  private grow(): void {
    const { head: h, mask: m, n } = this;
    this.slots = regrown(this.slots, h, m, n);
    this.gens = regrown(this.gens, h, m, n);
    this.newTs = regrown(this.newTs, h, m, n);
    this.next = this.chains.regrownLinks(this.next, h, m, n);
    this.who = regrown(this.who, h, m, n);
    this.head = 0;
    this.mask = m * 2 + 1;
  }
}

interface LayeringSnapshot {
  /** The order flow when the detector owns it (null when it shares its group's). */
  flow: OrderFlowSnapshot | null;
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
 *
 * With a shared {@link OrderFlow} (same orderTtl) the detector reads its book and fill history but
 * leaves feeding them to the flow's driver (see OrderFlow).
 */
export class LayeringDetector implements Detector {
  private readonly out: FindingGrouper;
  private readonly flow: OrderFlow;
  private readonly ownsFlow: boolean;
  private readonly book: OrderBookState;
  /**
   * Every trader's recent NEW orders on every instrument and side (as book slots, so CANCELs show),
   * in NEW order: a layer is judged within seconds, so scanning a trader's few recent orders is
   * cheaper than keeping a queue per (trader, instrument, side).
   */
  private layers = new OrderRing();
  private readonly timers = new EventTimers<string>();
  readonly timerQueue: { nextDue(): number } = this.timers;
  /** Trades only feed a flow of its own: with a shared flow, onTrade does nothing. */
  readonly inputs: DetectorInputs;
  private readonly horizonMs: number;
  private readonly due = { ts: 0 };
  private sweepAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly params: LayeringParams,
    shared?: OrderFlow,
  ) {
    this.horizonMs = params.placeWithinMs + params.cancelWithinMs;
    if (!(params.orderTtlMs > this.horizonMs)) throw new RangeError('layering: orderTtl must be longer than placeWithin + cancelWithin');
    this.out = new FindingGrouper('LAYERING', params.minOrders, 'max');
    if (shared !== undefined && shared.book.ttlMs !== params.orderTtlMs) throw new RangeError('layering: a shared order flow must have the orderTtl of the detector');
    this.ownsFlow = shared === undefined;
    this.inputs = { trades: this.ownsFlow, orders: true, timers: true };
    this.flow = shared ?? new OrderFlow(params.orderTtlMs, this.horizonMs);
    this.flow.fills.widen(this.horizonMs);
    this.book = this.flow.book;
  }

  onTrade(t: SurvTrade): void {
    if (this.ownsFlow) this.flow.onTrade(t);
  }

  onOrder(o: SurvOrder): void {
    const k = this.ownsFlow ? this.flow.onOrder(o) : this.flow.applied(o);
    if (k === NO_ORDER) return;
    const b = this.book;
    const action = o.action;
    if (action === 'NEW') {
      if (o.ts >= this.sweepAt) this.sweep(o.ts);
      const d = this.layers;
      const w = d.chains.numberOf(o.traderId);
      d.dropBefore(o.ts - this.horizonMs);
      d.push(w, k, b.genOf(k), b.newTsOf(k));
    } else if (action === 'CANCEL' && o.ts - b.newTsOf(k) <= this.params.cancelWithinMs) {
      this.timers.add(b.newTsOf(k) + this.horizonMs, b.orderIdOf(k));
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

  private cancelledInTime(k: number): boolean {
    const b = this.book;
    const c = b.cancelTsOf(k);
    return !Number.isNaN(c) && c - b.newTsOf(k) <= this.params.cancelWithinMs;
  }

  private evaluate(anchorId: string, now: number): void {
    const p = this.params;
    const b = this.book;
    const ak = b.slotOf(anchorId);
    // An orderId reused after its first life expired names another order: not this anchor.
    if (ak === NO_ORDER || b.flagOf(ak) === 1 || b.newTsOf(ak) + this.horizonMs !== now) return;
    const a = b.entry(ak);
    const d = this.layers;
    const w = d.chains.numberIfAny(a.traderId);
    if (w < 0) return;
    // Members are never forgotten orders: they were placed after the anchor, and the book forgets an
    // order only ttl (> placeWithin + cancelWithin) after its last event.
    const ks: number[] = [];
    const until = a.newTs + p.placeWithinMs;
    for (let j = d.chains.first[w] as number; j >= 0; j = d.next[j] as number) {
      const newTs = d.newTs[j] as number;
      if (newTs > until) break;
      const k = d.slots[j] as number;
      if (b.genOf(k) !== d.gens[j]) continue;
      if (newTs >= a.newTs && b.instrumentOf(k) === a.instrument && b.sideOf(k) === a.side && b.flagOf(k) === 0 && this.cancelledInTime(k)) ks.push(k);
    }
    if (ks.length < p.minOrders) return;
    const members = ks.map((k) => b.entry(k));
    const levels = new Set(members.map((e) => e.newPrice));
    if (levels.size < p.minLevels) return;
    let lastCancel = a.cancelTs;
    for (const e of members) if (e.cancelTs > lastCancel) lastCancel = e.cancelTs;
    const fills = this.flow.fills.between(a.traderId, a.instrument, opposite(a.side), a.newTs, lastCancel);
    if (fills.length === 0) return;
    for (const k of ks) b.setFlag(k, 1);
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

  // Orders leave the ring as they age; the sweep gives back the numbers of traders that went quiet
  // (when there are many), so that the numbers stay bounded by the traders active recently. It never
  // changes what is detected.
  private sweep(now: number): void {
    this.sweepAt = now + Math.max(60_000, 10 * this.horizonMs);
    this.layers.dropBefore(now - this.horizonMs);
    this.layers.chains.recycle();
  }

  snapshot(): LayeringSnapshot {
    const b = this.book;
    const layers: LayeringSnapshot['layers'] = [];
    const d = this.layers;
    for (const [trader, chain] of d.byTrader()) {
      const list: Array<[string, number]> = [];
      for (const j of chain) {
        const k = d.slots[j] as number;
        // An order the book has forgotten is past the horizon: a restore would drop it anyway.
        if (b.genOf(k) === d.gens[j]) list.push([b.orderIdOf(k), d.newTs[j] as number]);
      }
      layers.push([trader, list]);
    }
    return {
      flow: this.ownsFlow ? this.flow.snapshot() : null,
      layers,
      timers: this.timers.snapshot(),
      sweepAt: this.sweepAt,
      out: this.out.snapshot(),
    };
  }

  restore(state: unknown): void {
    const s = structuredClone(state as LayeringSnapshot);
    if (this.ownsFlow && s.flow) this.flow.restore(s.flow);
    this.layers = new OrderRing();
    const b = this.book;
    // Re-linked to the restored book's slots (one the book no longer holds is past the horizon
    // anyway), into the ring in NEW order: merged by newTs, stably, so each trader's keep theirs.
    const all: Array<[number, number, number]> = [];
    for (const [trader, ids] of s.layers) {
      const w = this.layers.chains.numberOf(trader);
      for (const [id, newTs] of ids) {
        const k = b.slotOf(id);
        if (k !== NO_ORDER && b.newTsOf(k) === newTs) all.push([w, k, newTs]);
      }
    }
    all.sort((x, y) => x[2] - y[2]);
    for (const [w, k, newTs] of all) this.layers.push(w, k, b.genOf(k), newTs);
    this.timers.restore(s.timers);
    this.sweepAt = s.sweepAt;
    this.out.restore(s.out);
  }
}
