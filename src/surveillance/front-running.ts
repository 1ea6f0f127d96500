/**
 * FRONT_RUNNING (CONTRACTS.md section 4, Surveillance): a trader trades in the same direction within
 * 60 s before a clientOrder of >= 10,000 shares by another trader of the same desk, and reverses
 * within 10 minutes after it.
 */
import {
  Deque,
  EventTimers,
  FindingGrouper,
  PairMap,
  counterpartyOf,
  fmtElapsed,
  fmtQty,
  opposite,
  pastTense,
  type AlertDraft,
  type Detector,
  type Side,
  type SurvOrder,
  type SurvTrade,
  type TradeRef,
} from './common.js';

/**
 * Parameters of {@link FrontRunningDetector} (defaults of CONTRACTS.md section 4 in brackets).
 *
 * @example
 * const p: FrontRunningParams = { minClientQty: 10_000, beforeMs: 60_000, afterMs: 600_000, desks: new Map([['TR05', 'EQ-ENERGY']]) };
 */
export interface FrontRunningParams {
  /** Smallest client order [10,000 shares]. */
  minClientQty: number;
  /** The front-running trade is at most this long before the client order [60 s]. */
  beforeMs: number;
  /** The reversal is at most this long after it [10 min]. */
  afterMs: number;
  /** traderId -> desk (traders.csv). A trader missing here has no desk-mates. */
  desks: ReadonlyMap<string, string>;
}

/** A desk-mate who traded ahead of a client order, waiting for a reversal. */
interface Candidate {
  id: number;
  traderId: string;
  instrument: string;
  side: Side;
  clientOrderId: string;
  clientTraderId: string;
  desk: string;
  clientTs: number;
  clientQty: number;
  clientPrice: number;
  pre: TradeRef[];
}

interface FrontRunningSnapshot {
  recent: SurvTrade[];
  pending: Candidate[];
  nextId: number;
  timers: ReturnType<EventTimers<number>['snapshot']>;
  out: ReturnType<FindingGrouper['snapshot']>;
}

/**
 * Detects front running in event-time order (see common.ts Sequencer).
 *
 * A client order is a NEW order with `clientOrder: true` and qty >= minClientQty (a REPLACE that
 * grows an order does not make it one). The trades of the last `before` are kept; a trade counts
 * for its trader and for its counterparty (the opposite side). When a
 * client order of trader C (desk D, side S, time c) arrives, every other trader X of desk D with
 * trades on side S and ts in [c - before, c] (trades at c precede the order: stream order) becomes
 * a candidate; its first trade on the opposite side of the instrument with ts in (c, c + after]
 * completes the pattern and alerts at once (eventTime = that trade's ts). A timer at c + after
 * drops candidates that never reversed.
 *
 * One alert per (client order, front-runner); candidates of one trader completed by the same trade
 * are merged. Value = the client order's qty (max when merged); threshold = minClientQty.
 *
 * @example
 * const d = new FrontRunningDetector({ minClientQty: 10_000, beforeMs: 60_000, afterMs: 600_000, desks });
 * runDetector(d, trades, orders);
 */
export class FrontRunningDetector implements Detector {
  private readonly out: FindingGrouper;
  /**
   * The trades of the last `before`, all of them, in ts order. Client orders are rare and trades
   * are many, so a trade costs one push here, and a client order scans the window for its
   * instrument and desk (the same trades, in the same order, that per-desk queues would hold).
   */
  private recent = new Deque<SurvTrade>(256);
  /** (trader, instrument) -> candidates waiting for a reversal, oldest first. */
  private pending = new PairMap<Candidate[]>();
  private byId = new Map<number, Candidate>();
  private nextId = 0;
  private readonly timers = new EventTimers<number>();
  readonly timerQueue: { nextDue(): number } = this.timers;
  private readonly due = { ts: 0 };

  constructor(readonly params: FrontRunningParams) {
    this.out = new FindingGrouper('FRONT_RUNNING', params.minClientQty, 'max');
  }

  onTrade(t: SurvTrade): void {
    if (this.byId.size > 0) {
      this.reversal(t.traderId, t.side, t);
      const cp = counterpartyOf(t);
      if (cp !== undefined) this.reversal(cp, opposite(t.side), t);
    }
    const d = this.recent;
    d.dropBefore(t.ts - this.params.beforeMs);
    d.push(t);
  }

  onOrder(o: SurvOrder): void {
    const p = this.params;
    if (o.action !== 'NEW' || o.clientOrder !== true || !(o.qty >= p.minClientQty)) return;
    const desk = p.desks.get(o.traderId);
    if (desk === undefined) return;
    const d = this.recent;
    d.dropBefore(o.ts - p.beforeMs);
    // No closure here: one capturing `o` made V8 allocate a context at every order, client or not.
    const pre = new Map<string, TradeRef[]>();
    for (let i = 0; i < d.size; i++) {
      const r = d.at(i);
      if (r.instrument !== o.instrument) continue;
      this.addPre(pre, o, desk, r.traderId, r.side, r);
      const cp = counterpartyOf(r);
      if (cp !== undefined) this.addPre(pre, o, desk, cp, opposite(r.side), r);
    }
    for (const [traderId, trades] of pre) {
      const c: Candidate = {
        id: this.nextId++,
        traderId,
        instrument: o.instrument,
        side: o.side,
        clientOrderId: o.orderId,
        clientTraderId: o.traderId,
        desk,
        clientTs: o.ts,
        clientQty: o.qty,
        clientPrice: o.price,
        pre: trades,
      };
      this.byId.set(c.id, c);
      const list = this.pending.get(traderId, o.instrument);
      if (list === undefined) this.pending.set(traderId, o.instrument, [c]);
      else list.push(c);
      this.timers.add(o.ts + p.afterMs, c.id);
    }
  }


  /** Adds r to `pre` as a trade of desk-mate `traderId` on `side` when it is one ahead of client order o. */
  private addPre(pre: Map<string, TradeRef[]>, o: SurvOrder, desk: string, traderId: string, side: Side, r: SurvTrade): void {
    if (traderId === o.traderId || side !== o.side || this.params.desks.get(traderId) !== desk) return;
    const ref: TradeRef = { tradeId: r.tradeId, ts: r.ts, traderId, side, qty: r.qty, price: r.price };
    const list = pre.get(traderId);
    if (list === undefined) pre.set(traderId, [ref]);
    else list.push(ref);
  }

  fireTimers(t: number, inclusive: boolean): void {
    for (let id = this.timers.popDue(t, inclusive, this.due); id !== undefined; id = this.timers.popDue(t, inclusive, this.due)) {
      const c = this.byId.get(id);
      if (c !== undefined) this.drop(c);
    }
  }

  takeAlerts(): AlertDraft[] {
    return this.out.take();
  }

  /** Completes the candidates of `traderId` on the instrument that `side` reverses. */
  private reversal(traderId: string, side: Side, t: SurvTrade): void {
    const waiting = this.pending.get(traderId, t.instrument);
    if (waiting === undefined) return;
    // Candidates expire by timer at clientTs + after, so every one still here is within reach.
    for (let i = 0; i < waiting.length; ) {
      const c = waiting[i]!;
      if (c.side !== side && t.ts > c.clientTs) {
        waiting.splice(i, 1);
        this.byId.delete(c.id);
        this.reversed(c, t, side);
      } else i++;
    }
    if (waiting.length === 0) this.pending.delete(traderId, t.instrument);
  }

  private reversed(c: Candidate, t: SurvTrade, side: Side): void {
    let preQty = 0;
    for (const r of c.pre) preQty += r.qty;
    const lastPre = c.pre[c.pre.length - 1]!;
    const tradeIds = [...c.pre.map((r) => r.tradeId), t.tradeId];
    this.out.add({
      traderId: c.traderId,
      eventTime: t.ts,
      value: c.clientQty,
      windowStart: c.pre[0]!.ts,
      windowEnd: t.ts,
      message:
        `${c.traderId} ${pastTense(c.side)} ${fmtQty(preQty)} ${c.instrument} ${fmtElapsed(c.clientTs - lastPre.ts)} before desk-mate ` +
        `${c.clientTraderId}'s client ${c.side} order for ${fmtQty(c.clientQty)} (${c.clientOrderId}) and ${pastTense(side)} ${fmtQty(t.qty)} ` +
        `${fmtElapsed(t.ts - c.clientTs)} after it (trades ${tradeIds.join(', ')})`,
      details: {
        orderIds: [c.clientOrderId],
        tradeIds,
        instrument: c.instrument,
        desk: c.desk,
        side: c.side,
        clientOrderId: c.clientOrderId,
        clientTraderId: c.clientTraderId,
        clientQty: c.clientQty,
        clientPrice: c.clientPrice,
        clientOrderAt: c.clientTs,
        preTrades: c.pre.map((r) => ({ ...r })),
        reversal: { tradeId: t.tradeId, ts: t.ts, traderId: c.traderId, side, qty: t.qty, price: t.price },
        leadMs: c.clientTs - lastPre.ts,
        reverseAfterMs: t.ts - c.clientTs,
      },
    });
  }

  private drop(c: Candidate): void {
    this.byId.delete(c.id);
    const list = this.pending.get(c.traderId, c.instrument);
    if (list === undefined) return;
    const i = list.indexOf(c);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.pending.delete(c.traderId, c.instrument);
  }

  snapshot(): FrontRunningSnapshot {
    const recent = this.recent.toArray();
    const pending: Candidate[] = [];
    for (const [, , list] of this.pending.entries()) pending.push(...list);
    pending.sort((x, y) => x.id - y.id);
    return structuredClone({ recent, pending, nextId: this.nextId, timers: this.timers.snapshot(), out: this.out.snapshot() });
  }

  restore(state: unknown): void {
    const s = structuredClone(state as FrontRunningSnapshot);
    this.recent = Deque.from(s.recent);
    this.pending.clear();
    this.byId.clear();
    for (const c of s.pending) {
      this.byId.set(c.id, c);
      const list = this.pending.get(c.traderId, c.instrument);
      if (list === undefined) this.pending.set(c.traderId, c.instrument, [c]);
      else list.push(c);
    }
    this.nextId = s.nextId;
    this.timers.restore(s.timers);
    this.out.restore(s.out);
  }
}
