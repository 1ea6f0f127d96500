/**
 * WASH_TRADE (CONTRACTS.md section 4, Surveillance): buyer and seller share a beneficialOwner (or a
 * trader trades with itself); or the same trader buys and sells the same instrument within 60 s,
 * quantities within 5%, prices within 0.1%.
 */
import { regrown } from '../core/typed-arrays.js';
import {
  FindingGrouper,
  TraderChains,
  fmtElapsed,
  fmtLimit,
  fmtPct,
  fmtPrice,
  fmtQty,
  pastTense,
  type AlertDraft,
  type Detector,
  type DetectorInputs,
  type Side,
  type SurvOrder,
  type SurvTrade,
} from './common.js';

/**
 * Parameters of {@link WashTradeDetector} (defaults of CONTRACTS.md section 4 in brackets).
 *
 * @example
 * const p: WashTradeParams = { windowMs: 60_000, qtyTolerance: 0.05, priceTolerance: 0.001, owners: new Map([['TR04', 'OWN-NORTHWIND']]) };
 */
export interface WashTradeParams {
  /** Longest time between the two legs of a same-trader wash [60 s]. */
  windowMs: number;
  /** Largest |qtyA - qtyB| / max(qtyA, qtyB) [0.05]. */
  qtyTolerance: number;
  /** Largest |priceA - priceB| / max(priceA, priceB) [0.001]. */
  priceTolerance: number;
  /** traderId -> beneficialOwner (traders.csv). A trader missing here shares an owner with nobody but itself. */
  owners: ReadonlyMap<string, string>;
}

/** One leg waiting for its opposite: a trade of the trader (the record itself), not yet part of an alert. */
type Leg = SurvTrade;

/**
 * The unpaired legs of every trader: one ring of all legs in processing (= ts) order, their fields
 * in typed columns, each trader's live legs chained through `next` (oldest first, see
 * {@link TraderChains}). A trade drops the legs older than the window at the ring's front and walks
 * its trader's chain, so it reads a few hot array cells rather than the leg records (cold: a leg is
 * up to a window old) and one object per trader. A leg used up by a match is unlinked from its
 * chain and marked dead; the ring drops it when its time comes.
 *
 * @example
 * const legs = new LegRing();
 * const w = legs.chains.numberOf('TR01');
 * legs.push(t, w); legs.take(u, w, 0.05, 0.001); // t when u reverses it
 */
export class LegRing {
  private mask = 63;
  private head = 0;
  /** Entries (live or dead) from head. */
  private len = 0;
  private ts = new Float64Array(64);
  private qty = new Float64Array(64);
  private price = new Float64Array(64);
  private next = new Int32Array(64);
  private who = new Int32Array(64);
  private alive = new Uint8Array(64);
  private instrument: Array<string | undefined> = new Array<string | undefined>(64).fill(undefined);
  private side: Array<Side | undefined> = new Array<Side | undefined>(64).fill(undefined);
  private recs: Array<Leg | undefined> = new Array<Leg | undefined>(64).fill(undefined);
  /** The traders' numbers and the ends of their chains of live legs. */
  readonly chains = new TraderChains();

  /** Drops the legs with ts < limit (they come first: the ring is in ts order). */
  dropBefore(limit: number): void {
    let n = this.len;
    let h = this.head;
    const ts = this.ts;
    const m = this.mask;
    while (n > 0 && (ts[h] as number) < limit) {
      if (this.alive[h] === 1) {
        // A live leg at the front is the oldest of its trader's chain.
        this.chains.dropFirst(this.who[h] as number, this.next);
        this.alive[h] = 0;
      }
      this.recs[h] = undefined;
      this.instrument[h] = undefined;
      h = (h + 1) & m;
      n--;
    }
    this.head = n === 0 ? 0 : h;
    this.len = n;
  }

  /**
   * The earliest live leg of trader `w` that `t` reverses (same instrument, other side, qty and
   * price within the tolerances), unlinked and dead; undefined when there is none.
   */
  take(t: SurvTrade, w: number, qtyTolerance: number, priceTolerance: number): Leg | undefined {
    const instrument = t.instrument;
    const side = t.side;
    const q = t.qty;
    const p = t.price;
    let prev = -1;
    for (let i = this.chains.first[w] as number; i >= 0; i = this.next[i] as number) {
      if (
        this.instrument[i] === instrument &&
        this.side[i] !== side &&
        withinTolerance(this.qty[i] as number, q, qtyTolerance) &&
        withinTolerance(this.price[i] as number, p, priceTolerance)
      ) {
        this.chains.unlink(w, prev, i, this.next);
        this.alive[i] = 0;
        const l = this.recs[i] as Leg;
        this.recs[i] = undefined;
        return l;
      }
      prev = i;
    }
    return undefined;
  }

  /** Adds `t` as the newest leg of trader `w` (its ts not below any leg's). */
  push(t: SurvTrade, w: number): void {
    if (this.len > this.mask) this.grow();
    const i = (this.head + this.len) & this.mask;
    this.ts[i] = t.ts;
    this.qty[i] = t.qty;
    this.price[i] = t.price;
    this.instrument[i] = t.instrument;
    this.side[i] = t.side;
    this.recs[i] = t;
    this.who[i] = w;
    this.alive[i] = 1;
    this.chains.append(w, i, this.next);
    this.len++;
  }

  /** Every trader with live legs and its legs, oldest first (for checkpoints). */
  entries(): Array<[string, Leg[]]> {
    const out: Array<[string, Leg[]]> = [];
    for (const [traderId, w] of this.chains.traders()) {
      const list: Leg[] = [];
      for (let i = this.chains.first[w] as number; i >= 0; i = this.next[i] as number) list.push(this.recs[i] as Leg);
      if (list.length > 0) out.push([traderId, list]);
    }
    return out;
  }

  private grow(): void {
    const { head: h, mask: m, len: n } = this;
    this.ts = regrown(this.ts, h, m, n);
    this.qty = regrown(this.qty, h, m, n);
    this.price = regrown(this.price, h, m, n);
    this.next = this.chains.regrownLinks(this.next, h, m, n);
    this.who = regrown(this.who, h, m, n);
    this.alive = regrown(this.alive, h, m, n);
    this.instrument = regrown(this.instrument, h, m, n);
    this.side = regrown(this.side, h, m, n);
    this.recs = regrown(this.recs, h, m, n);
    this.head = 0;
    this.mask = m * 2 + 1;
  }
}

interface WashSnapshot {
  legs: Array<[string, Leg[]]>;
  mirrorTs: number;
  mirrors: Array<[string, number]>;
  sweepAt: number;
  out: ReturnType<FindingGrouper['snapshot']>;
}

/**
 * True when a and b differ by at most `tol` of the larger (symmetric, so the order of the legs does
 * not matter). CONTRACTS.md section 4, WASH_TRADE tolerances.
 *
 * @example withinTolerance(1000, 951, 0.05); // true
 */
export function withinTolerance(a: number, b: number, tol: number): boolean {
  return Math.abs(a - b) <= tol * Math.max(a, b);
}

/**
 * Detects wash trades in event-time order (see common.ts Sequencer); orders are ignored.
 *
 * Beneficial owner: a trade whose trader and counterpartyTraderId are the same trader or share a
 * beneficialOwner alerts at once (eventTime = the trade's ts, entity = the BUYER, so both records of
 * a two-sided feed name the same trader). If the feed also reports the counterparty's mirror record
 * (same ts, instrument, price, qty, buyer and seller, reported from the other side), the mirror
 * does not alert again: a trade reported from its buy side cancels one pending report from its sell
 * side at the same ts and vice versa. Such trades are never also legs of a same-trader wash.
 *
 * Same trader: each trader's own records (traderId/side; the counterparty's side of a one-sided
 * record is not inferred, as a two-sided feed would then hold each leg twice) are matched in
 * event-time order: a trade pairs with the EARLIEST earlier unpaired trade of the same trader and
 * instrument on the opposite side within the window and tolerances; both legs are then used up, so
 * each trade is in at most one alert and B,S,B,S gives two alerts, not three. Unmatched trades wait
 * `windowMs` for a partner, then are dropped.
 *
 * Findings of one trader at one instant are merged into one alert (see FindingGrouper). Value: the
 * seconds between the legs (0 for a single beneficial-owner trade; min when merged); threshold:
 * the window in seconds.
 *
 * @example
 * const d = new WashTradeDetector({ windowMs: 60_000, qtyTolerance: 0.05, priceTolerance: 0.001, owners });
 * runDetector(d, trades, []); // AlertDraft[]
 */
export class WashTradeDetector implements Detector {
  private readonly out: FindingGrouper;
  /** Trades only: orders and timers do nothing here. */
  readonly inputs: DetectorInputs = { trades: true, orders: false, timers: false };
  /**
   * Every trader's unpaired legs on every instrument, in processing (= ts) order: a trader has few
   * trades within the window, so one short chain per trader, scanned for the instrument, is cheaper
   * than one per (trader, instrument); the earliest match on the instrument is the same.
   */
  private legs = new LegRing();
  // Beneficial-owner reports at the current ts, by trade signature: > 0 buy-side reports pending, < 0 sell-side.
  private mirrorTs = Number.NaN;
  private mirrors = new Map<string, number>();
  private sweepAt = Number.NEGATIVE_INFINITY;

  /** The owners held by two traders or more: a trader absent here shares its owner with nobody. */
  private readonly sharedOwners = new Map<string, string>();

  constructor(readonly params: WashTradeParams) {
    this.out = new FindingGrouper('WASH_TRADE', params.windowMs / 1000, 'min');
    const holders = new Map<string, number>();
    for (const o of params.owners.values()) holders.set(o, (holders.get(o) ?? 0) + 1);
    for (const [t, o] of params.owners) if ((holders.get(o) as number) > 1) this.sharedOwners.set(t, o);
  }

  onOrder(_o: SurvOrder): void {}

  fireTimers(_t: number, _inclusive: boolean): void {}

  takeAlerts(): AlertDraft[] {
    return this.out.take();
  }

  onTrade(t: SurvTrade): void {
    const now = t.ts;
    if (now >= this.sweepAt) this.sweep(now);
    if (this.sameOwner(t)) return;
    this.matchLeg(t);
  }

  /** The beneficial-owner test; true when the trade was handled by it (alerted or a mirror). */
  private sameOwner(t: SurvTrade): boolean {
    const cp = t.counterpartyTraderId;
    if (typeof cp !== 'string' || cp === '') return false;
    const me = t.traderId;
    let owner: string | undefined;
    if (cp !== me) {
      owner = this.sharedOwners.get(me);
      if (owner === undefined || owner !== this.sharedOwners.get(cp)) return false;
    }
    const buyer = t.side === 'BUY' ? me : cp;
    const seller = t.side === 'BUY' ? cp : me;
    if (t.ts !== this.mirrorTs) {
      this.mirrors.clear();
      this.mirrorTs = t.ts;
    }
    const sig = `${t.instrument}\u0000${t.price}\u0000${t.qty}\u0000${buyer}\u0000${seller}`;
    const c = this.mirrors.get(sig) ?? 0;
    const fromBuySide = t.side === 'BUY';
    this.mirrors.set(sig, fromBuySide ? c + 1 : c - 1);
    if (fromBuySide ? c < 0 : c > 0) return true; // the other side's report of a trade already alerted
    const self = buyer === seller;
    const message = self
      ? `${buyer} traded ${fmtQty(t.qty)} ${t.instrument} @ ${fmtPrice(t.price)} with itself (trade ${t.tradeId})`
      : `${buyer} bought ${fmtQty(t.qty)} ${t.instrument} @ ${fmtPrice(t.price)} from ${seller}; both belong to beneficial owner ${owner} (trade ${t.tradeId})`;
    this.out.add({
      traderId: buyer,
      eventTime: t.ts,
      value: 0,
      message,
      details: {
        kind: self ? 'self-trade' : 'beneficial-owner',
        orderIds: [],
        tradeIds: [t.tradeId],
        instrument: t.instrument,
        buyer,
        seller,
        beneficialOwner: owner ?? this.params.owners.get(buyer) ?? null,
        qty: t.qty,
        price: t.price,
      },
    });
    return true;
  }

  private matchLeg(t: SurvTrade): void {
    const p = this.params;
    const legs = this.legs;
    const w = legs.chains.numberOf(t.traderId);
    legs.dropBefore(t.ts - p.windowMs);
    const l = legs.take(t, w, p.qtyTolerance, p.priceTolerance);
    if (l === undefined) legs.push(t, w);
    else this.pairFound(t, l);
  }

  private pairFound(t: SurvTrade, l: Leg): void {
    const p = this.params;
    const gap = t.ts - l.ts;
    const qtyDiff = Math.abs(l.qty - t.qty) / Math.max(l.qty, t.qty);
    const priceDiff = Math.abs(l.price - t.price) / Math.max(l.price, t.price);
    this.out.add({
      traderId: t.traderId,
      eventTime: t.ts,
      value: gap / 1000,
      message:
        `${t.traderId} ${pastTense(l.side)} ${fmtQty(l.qty)} ${t.instrument} @ ${fmtPrice(l.price)} and ${pastTense(t.side)} ` +
        `${fmtQty(t.qty)} @ ${fmtPrice(t.price)} ${fmtElapsed(gap)} later (trades ${l.tradeId}, ${t.tradeId}; ` +
        `limits ${fmtLimit(p.windowMs)}, qty within ${fmtPct(p.qtyTolerance)}, price within ${fmtPct(p.priceTolerance)})`,
      details: {
        kind: 'same-trader',
        orderIds: [],
        tradeIds: [l.tradeId, t.tradeId],
        instrument: t.instrument,
        legs: [
          { tradeId: l.tradeId, ts: l.ts, side: l.side, qty: l.qty, price: l.price },
          { tradeId: t.tradeId, ts: t.ts, side: t.side, qty: t.qty, price: t.price },
        ],
        gapMs: gap,
        qtyDiff,
        priceDiff,
      },
    });
  }

  // Legs leave the ring as they age; the sweep gives back the numbers of traders that went quiet
  // (when there are many), so that the numbers stay bounded by the traders active within the window.
  private sweep(now: number): void {
    this.legs.dropBefore(now - this.params.windowMs);
    this.legs.chains.recycle();
    this.sweepAt = now + Math.max(60_000, 10 * this.params.windowMs);
  }

  snapshot(): WashSnapshot {
    return structuredClone({ legs: this.legs.entries(), mirrorTs: this.mirrorTs, mirrors: [...this.mirrors], sweepAt: this.sweepAt, out: this.out.snapshot() });
  }

  restore(state: unknown): void {
    const s = structuredClone(state as WashSnapshot);
    // Into a new ring in processing order: merged by ts (stably, so each trader's legs keep theirs).
    this.legs = new LegRing();
    const all: Array<[number, Leg]> = [];
    for (const [a, list] of s.legs) {
      const w = this.legs.chains.numberOf(a);
      for (const l of list) all.push([w, l]);
    }
    all.sort((x, y) => x[1].ts - y[1].ts);
    for (const [w, l] of all) this.legs.push(l, w);
    this.mirrorTs = s.mirrorTs;
    this.mirrors = new Map(s.mirrors);
    this.sweepAt = s.sweepAt;
    this.out.restore(s.out);
  }
}
