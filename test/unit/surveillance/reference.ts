/**
 * Brute-force references for the surveillance rules, written from the rule texts (CONTRACTS.md
 * section 4 plus the documented decisions) by scanning all pairs / tuples of the whole input, with
 * no incremental state, no heaps and no timers. Each returns finding keys
 * `traderId|eventTime|<ids>` comparable with `flatten()` of the detectors' alerts.
 */
import type { Side, SurvOrder, SurvTrade } from '../../../src/surveillance/index.js';
import { processingOrder, type Ev } from './helpers.js';

const opp = (s: Side): Side => (s === 'BUY' ? 'SELL' : 'BUY');
const tol = (a: number, b: number, t: number): boolean => Math.abs(a - b) <= t * Math.max(a, b);

/** Every (trader, side) a trade involves: its trader, and its counterparty on the other side. */
function parties(t: SurvTrade): Array<{ traderId: string; side: Side }> {
  const out = [{ traderId: t.traderId, side: t.side }];
  const cp = t.counterpartyTraderId;
  if (cp && cp !== t.traderId) out.push({ traderId: cp, side: opp(t.side) });
  return out;
}

// ------------------------------------------------------------------------------------ wash trades

export function refWashTrades(
  trades: readonly SurvTrade[],
  p: { windowMs: number; qtyTolerance: number; priceTolerance: number; owners: ReadonlyMap<string, string> },
): string[] {
  const evs = processingOrder(trades, []).map((e) => e.rec as SurvTrade);
  const out: string[] = [];
  const ownerShared = (a: string, b: string): boolean => a === b || (p.owners.get(a) !== undefined && p.owners.get(a) === p.owners.get(b));
  const isBO = evs.map((t) => !!t.counterpartyTraderId && ownerShared(t.traderId, t.counterpartyTraderId));
  // Beneficial owner: a record alerts unless it is the other side's report of an earlier alerting
  // record at the same instant that no other record has claimed yet.
  const alerting: boolean[] = evs.map(() => false);
  const claimed: boolean[] = evs.map(() => false);
  for (let i = 0; i < evs.length; i++) {
    if (!isBO[i]) continue;
    const t = evs[i]!;
    const buyer = t.side === 'BUY' ? t.traderId : t.counterpartyTraderId!;
    const seller = t.side === 'BUY' ? t.counterpartyTraderId! : t.traderId;
    let mirrorOf = -1;
    for (let j = 0; j < i; j++) {
      const u = evs[j]!;
      if (!isBO[j] || !alerting[j] || claimed[j] || u.ts !== t.ts || u.side === t.side) continue;
      const ub = u.side === 'BUY' ? u.traderId : u.counterpartyTraderId!;
      const us = u.side === 'BUY' ? u.counterpartyTraderId! : u.traderId;
      if (u.instrument === t.instrument && u.price === t.price && u.qty === t.qty && ub === buyer && us === seller) {
        mirrorOf = j;
        break;
      }
    }
    if (mirrorOf >= 0) claimed[mirrorOf] = true;
    else {
      alerting[i] = true;
      out.push(`${buyer}|${t.ts}|${t.tradeId}`);
    }
  }
  // Same trader: each trade pairs with the earliest earlier free opposite trade that matches.
  const used: boolean[] = evs.map(() => false);
  for (let i = 0; i < evs.length; i++) {
    if (isBO[i]) continue;
    const t = evs[i]!;
    for (let j = 0; j < i; j++) {
      const l = evs[j]!;
      if (isBO[j] || used[j] || l.traderId !== t.traderId || l.instrument !== t.instrument || l.side === t.side) continue;
      if (t.ts - l.ts > p.windowMs || !tol(l.qty, t.qty, p.qtyTolerance) || !tol(l.price, t.price, p.priceTolerance)) continue;
      used[j] = true;
      used[i] = true;
      out.push(`${t.traderId}|${t.ts}|${l.tradeId},${t.tradeId}`);
      break;
    }
  }
  return out.sort();
}

// ------------------------------------------------------------------------------------- spoofing

function median(xs: number[]): number {
  const a = xs.slice().sort((x, y) => x - y);
  const n = a.length;
  return n % 2 ? a[(n - 1) / 2]! : (a[n / 2 - 1]! + a[n / 2]!) / 2;
}

export function refSpoofing(
  trades: readonly SurvTrade[],
  orders: readonly SurvOrder[],
  p: { sizeMultiple: number; medianWindow: number; minMedianOrders: number; cancelWithinMs: number; fillWindowMs: number },
): string[] {
  const evs = processingOrder(trades, orders);
  const out: string[] = [];
  evs.forEach((e, i) => {
    if (e.kind !== 'order' || e.rec.action !== 'NEW') return;
    const n = e.rec;
    const before = evs.slice(0, i).filter((x): x is Ev & { kind: 'order' } => x.kind === 'order' && x.rec.action === 'NEW' && x.rec.traderId === n.traderId);
    const sizes = before.map((x) => x.rec.qty);
    if (sizes.length < p.minMedianOrders) return;
    const med = median(p.medianWindow > 0 ? sizes.slice(-p.medianWindow) : sizes);
    const cIdx = evs.findIndex((x, k) => k > i && x.kind === 'order' && x.rec.orderId === n.orderId && x.rec.action === 'CANCEL');
    if (cIdx < 0) return;
    const c = evs[cIdx]!.rec;
    if (c.ts - n.ts > p.cancelWithinMs) return;
    const between = evs.slice(i + 1, cIdx);
    if (between.some((x) => x.kind === 'trade' && x.rec.orderId === n.orderId)) return;
    let size = n.qty;
    for (const x of between) if (x.kind === 'order' && x.rec.orderId === n.orderId && x.rec.action === 'REPLACE') size = Math.max(size, x.rec.qty);
    if (size < p.sizeMultiple * med) return;
    const fills = trades.filter(
      (t) =>
        t.instrument === n.instrument &&
        t.ts >= n.ts - p.fillWindowMs &&
        t.ts <= n.ts + p.fillWindowMs &&
        parties(t).some((q) => q.traderId === n.traderId && q.side === opp(n.side)),
    );
    if (fills.length === 0) return;
    out.push(`${n.traderId}|${Math.max(n.ts + p.fillWindowMs, c.ts)}|${n.orderId}`);
  });
  return out.sort();
}

// ------------------------------------------------------------------------------------- layering

export function refLayering(
  trades: readonly SurvTrade[],
  orders: readonly SurvOrder[],
  p: { minOrders: number; minLevels: number; placeWithinMs: number; cancelWithinMs: number },
): string[] {
  const evs = processingOrder(trades, orders);
  const news: Array<{ o: SurvOrder; idx: number; cancelTs: number }> = [];
  evs.forEach((e, i) => {
    if (e.kind !== 'order' || e.rec.action !== 'NEW') return;
    const c = evs.find((x, k) => k > i && x.kind === 'order' && x.rec.orderId === e.rec.orderId && x.rec.action === 'CANCEL');
    news.push({ o: e.rec, idx: i, cancelTs: c ? c.rec.ts : Number.NaN });
  });
  const inTime = (x: { o: SurvOrder; cancelTs: number }): boolean => !Number.isNaN(x.cancelTs) && x.cancelTs - x.o.ts <= p.cancelWithinMs;
  const anchors = news.filter(inTime).sort((a, b) => a.o.ts - b.o.ts || a.idx - b.idx);
  const used = new Set<string>();
  const out: string[] = [];
  for (const a of anchors) {
    if (used.has(a.o.orderId)) continue;
    const members = news.filter(
      (x) =>
        x.o.traderId === a.o.traderId &&
        x.o.instrument === a.o.instrument &&
        x.o.side === a.o.side &&
        x.o.ts >= a.o.ts &&
        x.o.ts <= a.o.ts + p.placeWithinMs &&
        inTime(x) &&
        !used.has(x.o.orderId),
    );
    if (members.length < p.minOrders || new Set(members.map((x) => x.o.price)).size < p.minLevels) continue;
    const lastCancel = Math.max(...members.map((x) => x.cancelTs));
    const filled = trades.some(
      (t) =>
        t.instrument === a.o.instrument &&
        t.ts >= a.o.ts &&
        t.ts <= lastCancel &&
        parties(t).some((q) => q.traderId === a.o.traderId && q.side === opp(a.o.side)),
    );
    if (!filled) continue;
    for (const x of members) used.add(x.o.orderId);
    const ids = members.map((x) => x.o.orderId).sort();
    out.push(`${a.o.traderId}|${a.o.ts + p.placeWithinMs + p.cancelWithinMs}|${ids.join(',')}`);
  }
  return out.sort();
}

// ----------------------------------------------------------------------------- marking the close

/** One close only (the tests' days): `closeTs` given, not computed. */
export function refMarkingTheClose(trades: readonly SurvTrade[], p: { windowMs: number; minShare: number; minMove: number; closeTs: number }): string[] {
  const evs = processingOrder(trades, []).map((e) => e.rec as SurvTrade);
  const start = p.closeTs - p.windowMs;
  const out: string[] = [];
  const instruments = [...new Set(evs.map((t) => t.instrument))];
  for (const ins of instruments) {
    const inside = evs.filter((t) => t.instrument === ins && t.ts >= start && t.ts <= p.closeTs);
    if (inside.length === 0) continue;
    const before = evs.filter((t) => t.instrument === ins && t.ts < start);
    const ref = before.length ? before[before.length - 1]!.price : inside[0]!.price;
    const move = inside[inside.length - 1]!.price / ref - 1;
    const volume = inside.reduce((a, t) => a + t.qty, 0);
    const traders = new Set(inside.flatMap((t) => [t.traderId, t.counterpartyTraderId].filter((x): x is string => !!x)));
    for (const tr of traders) {
      let gross = 0;
      let net = 0;
      for (const t of inside) {
        if (t.traderId === tr && t.counterpartyTraderId === tr) gross += t.qty;
        else if (t.traderId === tr) {
          gross += t.qty;
          net += t.side === 'BUY' ? t.qty : -t.qty;
        } else if (t.counterpartyTraderId === tr) {
          gross += t.qty;
          net += t.side === 'BUY' ? -t.qty : t.qty;
        }
      }
      if (gross / volume < p.minShare || net === 0) continue;
      if ((net > 0 && move >= p.minMove) || (net < 0 && -move >= p.minMove)) out.push(`${tr}|${p.closeTs}|${ins}`);
    }
  }
  return out.sort();
}

// ---------------------------------------------------------------------------------- front running

export function refFrontRunning(
  trades: readonly SurvTrade[],
  orders: readonly SurvOrder[],
  p: { minClientQty: number; beforeMs: number; afterMs: number; desks: ReadonlyMap<string, string> },
): string[] {
  const evs = processingOrder(trades, orders);
  const out: string[] = [];
  evs.forEach((e, i) => {
    if (e.kind !== 'order') return;
    const c = e.rec;
    if (c.action !== 'NEW' || c.clientOrder !== true || c.qty < p.minClientQty) return;
    const desk = p.desks.get(c.traderId);
    if (desk === undefined) return;
    const mates = [...p.desks].filter(([id, d]) => d === desk && id !== c.traderId).map(([id]) => id);
    for (const x of mates) {
      const pre = evs
        .slice(0, i)
        .some((u) => u.kind === 'trade' && u.rec.instrument === c.instrument && u.rec.ts >= c.ts - p.beforeMs && parties(u.rec).some((q) => q.traderId === x && q.side === c.side));
      if (!pre) continue;
      const rev = evs
        .slice(i + 1)
        .find((u) => u.kind === 'trade' && u.rec.instrument === c.instrument && u.rec.ts <= c.ts + p.afterMs && parties(u.rec).some((q) => q.traderId === x && q.side === opp(c.side)));
      if (rev) out.push(`${x}|${rev.rec.ts}|${c.orderId}`);
    }
  });
  return out.sort();
}
