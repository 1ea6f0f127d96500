/**
 * Order state for surveillance: orders by orderId through NEW / REPLACE / CANCEL and their fills
 * (trades carrying the orderId, CONTRACTS.md section 1), with an event-time TTL so that the state
 * stays bounded; and the recent fills of each trader per instrument.
 */
import { Deque, opposite, type Side, type SurvOrder, type SurvTrade, type TradeRef } from './common.js';

/**
 * One order. Prices and sizes as placed (`newQty`, `newPrice`) and as currently displayed (`qty`,
 * `price`, changed by REPLACE); `maxQty` is the largest size it ever displayed. `tag` and `flag`
 * belong to the detector that owns the book (spoofing keeps the trader's median at NEW time in
 * `tag`; layering marks orders already reported in `flag`).
 *
 * @example
 * const e = book.apply(o); if (e && Number.isNaN(e.cancelTs)) { ...open... }
 */
export interface OrderEntry {
  orderId: string;
  traderId: string;
  instrument: string;
  side: Side;
  newTs: number;
  newQty: number;
  newPrice: number;
  qty: number;
  price: number;
  maxQty: number;
  replaces: number;
  filledQty: number;
  /** NaN until the first fill. */
  firstFillTs: number;
  /** NaN while the order is not cancelled. */
  cancelTs: number;
  /** Event time of the last NEW/REPLACE/CANCEL/fill: the TTL runs from it. */
  lastTs: number;
  tag: number;
  flag: boolean;
}

/**
 * Events that did not fit an order's life, for diagnostics (never an error: feeds are messy).
 *
 * @example book.counters.unknown; // CANCELs and REPLACEs of orders the book never saw
 */
export interface OrderBookCounters {
  /** REPLACE / CANCEL of an order never seen (or expired). */
  unknown: number;
  /** NEW for an orderId that is already live. */
  duplicateNew: number;
  /** REPLACE / CANCEL after the order was cancelled. */
  afterCancel: number;
}

/**
 * Checkpoint form of an {@link OrderBookState}.
 *
 * @example const s: OrderBookSnapshot = book.snapshot();
 */
export interface OrderBookSnapshot {
  ttlMs: number;
  orders: OrderEntry[];
  expiry: Array<[number, string]>;
  counters: OrderBookCounters;
}

/**
 * Orders keyed by orderId. REPLACE changes the displayed price and size of an open order (a new
 * NEW under the same id while it is live is ignored and counted); CANCEL closes it; a fill adds to
 * `filledQty`. Every event refreshes the entry's TTL: an order whose last event was at t is forgotten
 * once the book's event time reaches t + ttl (a later REPLACE/CANCEL/fill for it then counts as
 * unknown). Events reach the book in event-time order (the Sequencer guarantees it), so the expiry
 * queue is a FIFO of touches and expiring costs O(1) amortized per event.
 *
 * @example
 * const book = new OrderBookState(600_000);
 * book.apply({ ...o, action: 'NEW' });
 * book.fill('O1', 100, t.ts);
 * book.apply({ ...o, action: 'CANCEL' })?.filledQty; // 100
 */
export class OrderBookState {
  private orders = new Map<string, OrderEntry>();
  // The expiry FIFO: one (time, entry) per touch. Holding the entry rather than its id lets the
  // stale touches of a refreshed order go by without a map lookup.
  private expTs: number[] = [];
  private expEntries: OrderEntry[] = [];
  private head = 0;
  counters: OrderBookCounters = { unknown: 0, duplicateNew: 0, afterCancel: 0 };

  constructor(readonly ttlMs: number) {}

  /** Number of orders held. */
  get size(): number {
    return this.orders.size;
  }

  get(orderId: string): OrderEntry | undefined {
    return this.orders.get(orderId);
  }

  /** Applies an order event; returns the entry it created or changed, or undefined when it was ignored. */
  apply(o: SurvOrder): OrderEntry | undefined {
    const ts = o.ts;
    this.expire(ts);
    const e = this.orders.get(o.orderId);
    if (o.action === 'NEW') {
      if (e !== undefined) {
        this.counters.duplicateNew++;
        return undefined;
      }
      const n: OrderEntry = {
        orderId: o.orderId,
        traderId: o.traderId,
        instrument: o.instrument,
        side: o.side,
        newTs: ts,
        newQty: o.qty,
        newPrice: o.price,
        qty: o.qty,
        price: o.price,
        maxQty: o.qty,
        replaces: 0,
        filledQty: 0,
        firstFillTs: Number.NaN,
        cancelTs: Number.NaN,
        lastTs: ts,
        tag: Number.NaN,
        flag: false,
      };
      this.orders.set(o.orderId, n);
      this.touch(n, ts);
      return n;
    }
    if (e === undefined) {
      this.counters.unknown++;
      return undefined;
    }
    if (!Number.isNaN(e.cancelTs)) {
      this.counters.afterCancel++;
      return undefined;
    }
    if (o.action === 'REPLACE') {
      e.qty = o.qty;
      e.price = o.price;
      if (o.qty > e.maxQty) e.maxQty = o.qty;
      e.replaces++;
    } else {
      e.cancelTs = ts;
    }
    this.touch(e, ts);
    return e;
  }

  /** Records a fill of `orderId` (a trade carrying it); undefined when the order is unknown. */
  fill(orderId: string, qty: number, ts: number): OrderEntry | undefined {
    this.expire(ts);
    const e = this.orders.get(orderId);
    if (e === undefined) return undefined;
    e.filledQty += qty;
    if (Number.isNaN(e.firstFillTs)) e.firstFillTs = ts;
    this.touch(e, ts);
    return e;
  }

  /** Forgets orders whose last event is at least ttl before `now`. */
  expire(now: number): void {
    const ts = this.expTs;
    const es = this.expEntries;
    const ttl = this.ttlMs;
    let h = this.head;
    const n = ts.length;
    while (h < n && (ts[h] as number) + ttl <= now) {
      const e = es[h] as OrderEntry;
      // Only the entry's latest touch expires it; older touches of a refreshed order are stale.
      if (e.lastTs === ts[h] && this.orders.get(e.orderId) === e) this.orders.delete(e.orderId);
      h++;
    }
    if (h === this.head) return;
    if (h === n) {
      ts.length = 0;
      es.length = 0;
      h = 0;
    } else if (h >= 4096 && h * 2 >= n) {
      this.expTs = ts.slice(h);
      this.expEntries = es.slice(h);
      h = 0;
    }
    this.head = h;
  }

  snapshot(): OrderBookSnapshot {
    const expiry: Array<[number, string]> = [];
    for (let i = this.head; i < this.expTs.length; i++) expiry.push([this.expTs[i] as number, (this.expEntries[i] as OrderEntry).orderId]);
    return structuredClone({ ttlMs: this.ttlMs, orders: [...this.orders.values()], expiry, counters: this.counters });
  }

  restore(s: OrderBookSnapshot): void {
    const c = structuredClone(s);
    this.orders = new Map(c.orders.map((e) => [e.orderId, e]));
    this.expTs = [];
    this.expEntries = [];
    for (const [ts, id] of c.expiry) {
      const e = this.orders.get(id);
      if (e === undefined) continue;
      this.expTs.push(ts);
      this.expEntries.push(e);
    }
    this.head = 0;
    this.counters = c.counters;
  }

  private touch(e: OrderEntry, ts: number): void {
    e.lastTs = ts;
    this.expTs.push(ts);
    this.expEntries.push(e);
  }
}

/**
 * Checkpoint form of a {@link FillHistory}.
 *
 * @example const s: FillHistorySnapshot = fills.snapshot();
 */
export interface FillHistorySnapshot {
  horizonMs: number;
  trades: SurvTrade[];
}

/**
 * The trades of the last `horizonMs` of event time, for "was this trader filled on that side around
 * then" questions. A trade counts for its trader (side `side`) and for its counterparty (the
 * opposite side), so that a fill of a resting order reported only by the aggressor still counts as
 * the resting trader's fill. One queue of the records themselves in processing (= ts) order: adding
 * costs O(1) with no lookup and no copy, and a question, which detectors ask only for the rare
 * candidate that passed every other test, binary-searches the start and scans the interval.
 *
 * @example
 * const fills = new FillHistory(10_000);
 * fills.add(t);
 * fills.between('TR01', 'ACME', 'SELL', t0 - 5000, t0 + 5000); // TradeRef[]
 */
export class FillHistory {
  private trades = new Deque<SurvTrade>();

  constructor(readonly horizonMs: number) {}

  /** Number of trades held. */
  get size(): number {
    return this.trades.size;
  }

  /** Adds a trade; trades must come in ts order (the Sequencer's). */
  add(t: SurvTrade): void {
    const d = this.trades;
    const limit = t.ts - this.horizonMs;
    for (let f = d.front(); f !== undefined && f.ts < limit; f = d.front()) d.shift();
    d.push(t);
  }

  /** Trades of `traderId` on `instrument` on `side` (its side) with ts in [from, to], oldest first. */
  between(traderId: string, instrument: string, side: Side, from: number, to: number): TradeRef[] {
    const d = this.trades;
    let lo = 0;
    let hi = d.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (d.at(mid).ts < from) lo = mid + 1;
      else hi = mid;
    }
    const out: TradeRef[] = [];
    for (let i = lo; i < d.size; i++) {
      const t = d.at(i);
      if (t.ts > to) break;
      if (t.instrument !== instrument) continue;
      let mine: Side;
      if (t.traderId === traderId) mine = t.side;
      else if (t.counterpartyTraderId === traderId) mine = opposite(t.side);
      else continue;
      if (mine === side) out.push({ tradeId: t.tradeId, ts: t.ts, traderId, side: mine, qty: t.qty, price: t.price });
    }
    return out;
  }

  snapshot(): FillHistorySnapshot {
    return structuredClone({ horizonMs: this.horizonMs, trades: this.trades.toArray() });
  }

  restore(s: FillHistorySnapshot): void {
    this.trades = Deque.from(structuredClone(s.trades));
  }
}
