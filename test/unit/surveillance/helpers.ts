/**
 * Test helpers for the surveillance detectors: record builders, a seeded PRNG, the processing order
 * the detectors promise (ts, trade before order, arrival), a bounded-disorder feeder with random
 * watermarks and snapshot/restore cuts, and the flattening of alerts into comparable findings.
 */
import type { Alert } from '../../../src/core/alerts.js';
import { Sequencer, type AlertDraft, type Detector, type Side, type SurvOrder, type SurvTrade } from '../../../src/surveillance/index.js';

export const T0 = Date.parse('2024-03-15T14:00:00Z');
export const s = (sec: number): number => T0 + sec * 1000;

/** mulberry32 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

let tradeN = 0;
let orderN = 0;
export function resetIds(): void {
  tradeN = 0;
  orderN = 0;
}

export function trade(
  ts: number,
  traderId: string,
  side: Side,
  qty: number,
  price: number,
  extra: { instrument?: string; cp?: string; orderId?: string; tradeId?: string } = {},
): SurvTrade {
  const t: SurvTrade = { ts, tradeId: extra.tradeId ?? `T${++tradeN}`, instrument: extra.instrument ?? 'ACME', traderId, side, qty, price };
  if (extra.cp !== undefined) t.counterpartyTraderId = extra.cp;
  if (extra.orderId !== undefined) t.orderId = extra.orderId;
  return t;
}

export function order(
  ts: number,
  orderId: string,
  traderId: string,
  action: SurvOrder['action'],
  side: Side,
  qty: number,
  price: number,
  extra: { instrument?: string; clientOrder?: boolean } = {},
): SurvOrder {
  const o: SurvOrder = { ts, orderId, traderId, instrument: extra.instrument ?? 'ACME', side, qty, price, action };
  if (extra.clientOrder !== undefined) o.clientOrder = extra.clientOrder;
  return o;
}

export const newOrderId = (): string => `O${++orderN}`;

/** One input event with its stream. */
export type Ev = { kind: 'trade'; rec: SurvTrade } | { kind: 'order'; rec: SurvOrder };

/** The order the detectors process events in: ts, then trades before orders, then arrival (input) order. */
export function processingOrder(trades: readonly SurvTrade[], orders: readonly SurvOrder[]): Ev[] {
  const evs: Array<Ev & { k: number; i: number }> = [
    ...trades.map((rec, i) => ({ kind: 'trade' as const, rec, k: 0, i })),
    ...orders.map((rec, i) => ({ kind: 'order' as const, rec, k: 1, i })),
  ];
  evs.sort((a, b) => a.rec.ts - b.rec.ts || a.k - b.k || a.i - b.i);
  return evs.map(({ kind, rec }) => ({ kind, rec }) as Ev);
}

/** A finding of an alert, as the references produce them. */
export interface Flat {
  traderId: string;
  eventTime: number;
  key: string;
}

/**
 * The findings inside alerts (each alert merges a trader's findings at one instant), with a key
 * built by `keyOf` from each finding's details; sorted for comparison.
 */
export function flatten(alerts: ReadonlyArray<AlertDraft | Alert>, keyOf: (d: Record<string, any>) => string): string[] {
  const out: string[] = [];
  for (const a of alerts) {
    const traderId = 'traderId' in a ? a.traderId : a.entity.traderId!;
    for (const d of (a.details as { findings: Array<Record<string, any>> }).findings) out.push(`${traderId}|${a.eventTime}|${keyOf(d)}`);
  }
  return out.sort();
}

/**
 * Feeds a detector the way a source does: records arrive out of order within `bound` ms (each
 * record's arrival key is ts + a random delay below bound; trades and orders at the same ts keep
 * their relative input order), a watermark (max seen ts - bound) every few records, and, when
 * `restoreEvery` is set, a snapshot -> structuredClone -> restore into a fresh detector and
 * sequencer at random points. Returns every alert, in emission order.
 */
export function feed(
  make: () => Detector,
  trades: readonly SurvTrade[],
  orders: readonly SurvOrder[],
  opts: { seed: number; bound: number; restoreEvery?: number },
): AlertDraft[] {
  const r = rng(opts.seed);
  const evs = processingOrder(trades, orders).map((e, i) => ({ e, at: e.rec.ts + r() * opts.bound, i }));
  evs.sort((a, b) => a.at - b.at || a.i - b.i);
  // Records with equal ts go to that ts's arrival slots in input order, so the arrival tie-break
  // (which the engine keeps) is the same as in the input; everything else is shuffled.
  const slots = new Map<number, Ev[]>();
  for (const x of processingOrder(trades, orders)) {
    const l = slots.get(x.rec.ts) ?? [];
    l.push(x);
    slots.set(x.rec.ts, l);
  }
  const arrival: Ev[] = evs.map((x) => slots.get(x.e.rec.ts)!.shift()!);

  let det = make();
  let seq = new Sequencer();
  const out: AlertDraft[] = [];
  let maxTs = Number.NEGATIVE_INFINITY;
  let next = 1 + Math.floor(r() * 8);
  let nextRestore = opts.restoreEvery ? 1 + Math.floor(r() * opts.restoreEvery) : Number.POSITIVE_INFINITY;
  for (let k = 0; k < arrival.length; k++) {
    const e = arrival[k]!;
    const ok = e.kind === 'trade' ? seq.offerTrade(e.rec) : seq.offerOrder(e.rec);
    if (!ok) throw new Error(`record arrived late: ${JSON.stringify(e.rec)}`);
    maxTs = Math.max(maxTs, e.rec.ts);
    if (--next === 0) {
      seq.release(maxTs - opts.bound, det);
      out.push(...det.takeAlerts());
      next = 1 + Math.floor(r() * 8);
    }
    if (--nextRestore === 0) {
      const snap = structuredClone({ seq: seq.snapshot(), det: det.snapshot() });
      det = make();
      seq = new Sequencer();
      seq.restore(snap.seq);
      det.restore(snap.det);
      nextRestore = 1 + Math.floor(r() * opts.restoreEvery!);
    }
  }
  seq.release(Number.POSITIVE_INFINITY, det);
  out.push(...det.takeAlerts());
  return out;
}

/** Alerts without the processing-time stamp, for equality. */
export function stable(alerts: readonly Alert[]): string {
  return JSON.stringify(alerts.map(({ emittedAt: _e, ...rest }) => rest));
}
