/**
 * SPOOFING (CONTRACTS.md section 4, Surveillance): a NEW order >= 10x the trader's median order
 * size, cancelled within 2 s unfilled, while the same trader is filled on the opposite side within
 * +/-5 s.
 */
import {
  EventTimers,
  FindingGrouper,
  fmtElapsed,
  fmtLimit,
  fmtPrice,
  fmtQty,
  participle,
  opposite,
  type AlertDraft,
  type Detector,
  type DetectorInputs,
  type Side,
  type SurvOrder,
  type SurvTrade,
} from './common.js';
import { NO_ORDER, OrderFlow, type OrderFlowSnapshot } from './order-book-state.js';

/**
 * The running median of a stream of numbers, over all values so far (`window` 0) or the last
 * `window` values, kept as the sorted distinct values with their counts and a cursor on the lower
 * middle element. Order sizes repeat (round lots), so the distinct values are few: an insert or a
 * deletion is a binary search over them plus a cursor step. Exact for any values.
 *
 * @example
 * const m = new TallyMedian(3);
 * [5, 1, 9, 7].forEach((x) => m.add(x));
 * m.median(); // 7
 */
export class TallyMedian {
  private vals: number[] = [];
  private cnts: number[] = [];
  private n = 0;
  /** Distinct index of the lower middle element (rank (n - 1) >> 1), and the count of elements before it. */
  private mi = 0;
  private before = 0;
  private ring: Float64Array;
  private ringHead = 0;
  private ringCount = 0;
  private all: number[] = [];

  constructor(readonly window = 0) {
    this.ring = new Float64Array(window > 0 ? window : 0);
  }

  get count(): number {
    return this.n;
  }

  median(): number {
    const n = this.n;
    if (n === 0) return Number.NaN;
    const lo = this.vals[this.mi] as number;
    if (n & 1) return lo;
    const r = (n - 1) >> 1;
    const hi = r + 1 < this.before + (this.cnts[this.mi] as number) ? lo : (this.vals[this.mi + 1] as number);
    return (lo + hi) / 2;
  }

  add(x: number): void {
    const w = this.window;
    if (w > 0 && this.ringCount === w) {
      const h = this.ringHead;
      const old = this.ring[h] as number;
      this.ring[h] = x;
      this.ringHead = h + 1 === w ? 0 : h + 1;
      // The value leaving the window is the one entering (round lots repeat): the tallies stay as they are.
      if (old === x) return;
      this.insert(x);
      this.erase(old);
      return;
    }
    this.insert(x);
    // Filling up (the head is still at 0), or no window: every value is kept.
    if (w > 0) this.ring[this.ringCount++] = x;
    else this.all.push(x);
  }

  /** The values in the window, oldest first (for checkpoints). */
  values(): number[] {
    if (this.window === 0) return this.all.slice();
    const out: number[] = [];
    for (let i = 0; i < this.ringCount; i++) out.push(this.ring[(this.ringHead + i) % this.window] as number);
    return out;
  }

  static of(window: number, values: readonly number[]): TallyMedian {
    const m = new TallyMedian(window);
    for (const v of values) m.add(v);
    return m;
  }

  /** Index of x among the distinct values, or -(insertion point) - 1. */
  private find(x: number): number {
    const v = this.vals;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const y = v[mid] as number;
      if (y < x) lo = mid + 1;
      else if (y > x) hi = mid;
      else return mid;
    }
    return -lo - 1;
  }

  private insert(x: number): void {
    let k = this.find(x);
    if (k >= 0) {
      this.cnts[k]!++;
      if (k < this.mi) this.before++;
    } else {
      k = -k - 1;
      this.vals.splice(k, 0, x);
      this.cnts.splice(k, 0, 1);
      if (this.n > 0 && k <= this.mi) {
        this.mi++;
        this.before++;
      }
    }
    this.n++;
    this.settle();
  }

  private erase(x: number): void {
    const k = this.find(x);
    if (k < 0) return;
    const c = (this.cnts[k] as number) - 1;
    if (k < this.mi) this.before--;
    if (c === 0) {
      this.vals.splice(k, 1);
      this.cnts.splice(k, 1);
      if (k < this.mi) this.mi--;
    } else {
      this.cnts[k] = c;
    }
    this.n--;
    this.settle();
  }

  // Moves the cursor to the lower middle rank; a change of one element moves it by at most one step.
  private settle(): void {
    if (this.n === 0) {
      this.mi = 0;
      this.before = 0;
      return;
    }
    const r = (this.n - 1) >> 1;
    while (r < this.before) {
      this.mi--;
      this.before -= this.cnts[this.mi] as number;
    }
    while (r >= this.before + (this.cnts[this.mi] as number)) {
      this.before += this.cnts[this.mi] as number;
      this.mi++;
    }
  }
}

/**
 * Parameters of {@link SpoofingDetector} (defaults of CONTRACTS.md section 4 in brackets).
 *
 * @example
 * const p: SpoofingParams = { sizeMultiple: 10, medianWindow: 1000, minMedianOrders: 1, cancelWithinMs: 2000, fillWindowMs: 5000, orderTtlMs: 600_000 };
 */
export interface SpoofingParams {
  /** An order this many times the trader's median size or more is large [10]. */
  sizeMultiple: number;
  /** The median is over the trader's last this many NEW orders; 0 = all since the start [1000]. */
  medianWindow: number;
  /** No median (so no spoofing) until the trader has placed this many NEW orders [1]. */
  minMedianOrders: number;
  /** Cancelled at most this long after its NEW [2 s]. */
  cancelWithinMs: number;
  /** Opposite-side fills count within +/- this of the NEW [5 s]. */
  fillWindowMs: number;
  /** Order state kept this long after an order's last event; must be longer than cancelWithinMs [1 min]. */
  orderTtlMs: number;
}

/** A large order cancelled in time and unfilled, waiting for the end of its fill window. */
interface Candidate {
  orderId: string;
  traderId: string;
  instrument: string;
  side: Side;
  newTs: number;
  cancelTs: number;
  qty: number;
  price: number;
  median: number;
}

interface SpoofingSnapshot {
  medians: Array<[string, number[]]>;
  /** The order flow when the detector owns it (null when it shares its group's). */
  flow: OrderFlowSnapshot | null;
  timers: ReturnType<EventTimers<Candidate>['snapshot']>;
  out: ReturnType<FindingGrouper['snapshot']>;
}

/**
 * Detects spoofing in event-time order (see common.ts Sequencer).
 *
 * Median: per trader, over the quantities of that trader's NEW orders processed BEFORE this one
 * (all instruments; the last `medianWindow` of them), kept by a {@link TallyMedian}; an order is
 * large when its size >= sizeMultiple x that median. Size: the largest quantity the order displayed
 * (its NEW or any REPLACE, so growing a small order by REPLACE does not escape the test); price: as
 * placed. Unfilled: no trade carrying its orderId was processed before the CANCEL (a fill at the
 * same ts as the CANCEL counts as before: trades precede orders at equal ts). Cancelled within
 * cancelWithin of the NEW. Then the order waits until NEW + fillWindow (a timer; or the CANCEL if
 * later) and alerts if the trader had fills on the opposite side of the same instrument with ts in
 * [NEW - fillWindow, NEW + fillWindow]; a fill counts for both its trader and its counterparty.
 *
 * One alert per spoof order (orders of one trader evaluated at the same instant are merged);
 * eventTime = the evaluation time; value = size / median (max when merged); threshold = sizeMultiple.
 *
 * @example
 * const d = new SpoofingDetector({ sizeMultiple: 10, medianWindow: 1000, minMedianOrders: 1, cancelWithinMs: 2000, fillWindowMs: 5000, orderTtlMs: 600_000 });
 * runDetector(d, trades, orders);
 *
 * With a shared {@link OrderFlow} (same orderTtl) the detector reads its book and fill history but
 * leaves feeding them to the flow's driver (see OrderFlow).
 */
export class SpoofingDetector implements Detector {
  private readonly out: FindingGrouper;
  private medians = new Map<string, TallyMedian>();
  private readonly flow: OrderFlow;
  private readonly ownsFlow: boolean;
  private readonly timers = new EventTimers<Candidate>();
  readonly timerQueue: { nextDue(): number } = this.timers;
  /** Trades only feed a flow of its own: with a shared flow, onTrade does nothing. */
  readonly inputs: DetectorInputs;
  private readonly due = { ts: 0 };

  constructor(
    readonly params: SpoofingParams,
    shared?: OrderFlow,
  ) {
    if (!(params.orderTtlMs > params.cancelWithinMs)) throw new RangeError('spoofing: orderTtl must be longer than cancelWithin');
    this.out = new FindingGrouper('SPOOFING', params.sizeMultiple, 'max');
    // A fill at f is needed by orders placed up to fillWindow after it, evaluated up to max(fillWindow, cancelWithin) after placing.
    const horizon = params.fillWindowMs + Math.max(params.fillWindowMs, params.cancelWithinMs);
    if (shared !== undefined && shared.book.ttlMs !== params.orderTtlMs) throw new RangeError('spoofing: a shared order flow must have the orderTtl of the detector');
    this.ownsFlow = shared === undefined;
    this.inputs = { trades: this.ownsFlow, orders: true, timers: true };
    this.flow = shared ?? new OrderFlow(params.orderTtlMs, horizon);
    this.flow.fills.widen(horizon);
  }

  /** The trader's current median NEW order size (NaN before minMedianOrders). */
  medianOf(traderId: string): number {
    const m = this.medians.get(traderId);
    return m === undefined || m.count < this.params.minMedianOrders ? Number.NaN : m.median();
  }

  onTrade(t: SurvTrade): void {
    if (this.ownsFlow) this.flow.onTrade(t);
  }

  onOrder(o: SurvOrder): void {
    const p = this.params;
    const k = this.ownsFlow ? this.flow.onOrder(o) : this.flow.applied(o);
    if (k === NO_ORDER) return;
    const b = this.flow.book;
    const action = o.action;
    if (action === 'NEW') {
      let m = this.medians.get(o.traderId);
      // The median of the orders BEFORE this one: taken before adding it.
      b.setTag(k, m === undefined || m.count < p.minMedianOrders ? Number.NaN : m.median());
      if (m === undefined) {
        m = new TallyMedian(p.medianWindow);
        this.medians.set(o.traderId, m);
      }
      m.add(o.qty);
      return;
    }
    if (action !== 'CANCEL') return;
    const median = b.tagOf(k);
    const newTs = b.newTsOf(k);
    const maxQty = b.maxQtyOf(k);
    if (!(median > 0) || b.filledQtyOf(k) > 0 || o.ts - newTs > p.cancelWithinMs || maxQty < p.sizeMultiple * median) return;
    this.timers.add(Math.max(newTs + p.fillWindowMs, o.ts), {
      orderId: b.orderIdOf(k),
      traderId: b.traderIdOf(k),
      instrument: b.instrumentOf(k),
      side: b.sideOf(k),
      newTs,
      cancelTs: o.ts,
      qty: maxQty,
      price: b.newPriceOf(k),
      median,
    });
  }


  fireTimers(t: number, inclusive: boolean): void {
    for (let c = this.timers.popDue(t, inclusive, this.due); c !== undefined; c = this.timers.popDue(t, inclusive, this.due)) {
      this.evaluate(c, this.due.ts);
    }
  }

  takeAlerts(): AlertDraft[] {
    return this.out.take();
  }

  private evaluate(c: Candidate, now: number): void {
    const p = this.params;
    const fills = this.flow.fills.between(c.traderId, c.instrument, opposite(c.side), c.newTs - p.fillWindowMs, c.newTs + p.fillWindowMs);
    if (fills.length === 0) return;
    const ratio = c.qty / c.median;
    let filled = 0;
    for (const f of fills) filled += f.qty;
    const ids = fills.map((f) => f.tradeId);
    this.out.add({
      traderId: c.traderId,
      eventTime: now,
      value: ratio,
      windowStart: c.newTs - p.fillWindowMs,
      windowEnd: c.newTs + p.fillWindowMs,
      message:
        `${c.traderId} placed ${c.side} ${fmtQty(c.qty)} ${c.instrument} @ ${fmtPrice(c.price)} (${ratio.toFixed(1)}x their median order of ` +
        `${fmtQty(c.median)}) and cancelled it unfilled after ${fmtElapsed(c.cancelTs - c.newTs)} while ${participle(opposite(c.side))} ` +
        `${fmtQty(filled)} within ${fmtLimit(p.fillWindowMs)} of placing it (order ${c.orderId}; trades ${ids.join(', ')})`,
      details: {
        orderIds: [c.orderId],
        tradeIds: ids,
        instrument: c.instrument,
        side: c.side,
        qty: c.qty,
        price: c.price,
        medianQty: c.median,
        ratio,
        placedAt: c.newTs,
        cancelledAt: c.cancelTs,
        cancelAfterMs: c.cancelTs - c.newTs,
        oppositeQty: filled,
        oppositeFills: fills,
      },
    });
  }

  snapshot(): SpoofingSnapshot {
    return {
      medians: [...this.medians].map(([k, m]) => [k, m.values()]),
      flow: this.ownsFlow ? this.flow.snapshot() : null,
      timers: this.timers.snapshot(),
      out: this.out.snapshot(),
    };
  }

  restore(state: unknown): void {
    const s = state as SpoofingSnapshot;
    this.medians = new Map(s.medians.map(([k, v]) => [k, TallyMedian.of(this.params.medianWindow, v)]));
    if (this.ownsFlow && s.flow) this.flow.restore(s.flow);
    this.timers.restore(s.timers);
    this.out.restore(s.out);
  }
}
