/**
 * Straightforward references for the desk-risk tests: everything recomputed from the event list
 * with plain loops and full sorts, written independently of src/risk (no shared helpers), plus a
 * seeded generator of small trading days.
 */
import type { History, ReferenceData, Trader } from '../../../src/core/reference.js';

export interface TradeEv {
  type: 'trade';
  ts: number;
  tradeId: string;
  traderId: string;
  instrument: string;
  side: 'BUY' | 'SELL';
  qty: number;
  price: number;
}
export interface QuoteEv {
  type: 'quote';
  ts: number;
  instrument: string;
  bid: number;
  ask: number;
  bidSize: number;
  askSize: number;
}
export type Ev = TradeEv | QuoteEv;

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The processing order of the engine: event time, quotes before trades, then input order. */
export function processingOrder(events: Ev[]): Ev[] {
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.ts - b.e.ts || (a.e.type === 'quote' ? 0 : 1) - (b.e.type === 'quote' ? 0 : 1) || a.i - b.i)
    .map((x) => x.e);
}

export interface RefPosition {
  qty: number;
  avg: number;
  realized: number;
  mark: number;
  notional: number;
  unrealized: number;
}
export interface RefTrader {
  gross: number;
  net: number;
  realized: number;
  unrealized: number;
  pnl: number;
  concentration: number;
  largest: string | undefined;
}
export interface RefState {
  marks: Map<string, number>;
  positions: Map<string, Map<string, RefPosition>>;
  traders: Map<string, RefTrader>;
}

/** Marks, positions and per-trader figures after applying `events` (already in processing order) from scratch. */
export function refState(events: readonly Ev[], prevClose: (i: string) => number): RefState {
  const lastMid = new Map<string, number>();
  const lastTrade = new Map<string, number>();
  const pos = new Map<string, Map<string, { qty: number; avg: number; realized: number }>>();
  for (const e of events) {
    if (e.type === 'quote') {
      lastMid.set(e.instrument, (e.bid + e.ask) / 2);
      continue;
    }
    lastTrade.set(e.instrument, e.price);
    let m = pos.get(e.traderId);
    if (!m) pos.set(e.traderId, (m = new Map()));
    let p = m.get(e.instrument);
    if (!p) m.set(e.instrument, (p = { qty: 0, avg: 0, realized: 0 }));
    const q = e.side === 'BUY' ? e.qty : -e.qty;
    if (p.qty === 0) {
      p.qty = q;
      p.avg = e.price;
    } else if (Math.sign(p.qty) === Math.sign(q)) {
      p.avg = (Math.abs(p.qty) * p.avg + Math.abs(q) * e.price) / (Math.abs(p.qty) + Math.abs(q));
      p.qty += q;
    } else if (Math.abs(q) <= Math.abs(p.qty)) {
      p.realized += Math.abs(q) * (e.price - p.avg) * Math.sign(p.qty);
      p.qty += q;
      if (p.qty === 0) p.avg = 0;
    } else {
      p.realized += Math.abs(p.qty) * (e.price - p.avg) * Math.sign(p.qty);
      p.qty += q;
      p.avg = e.price;
    }
  }
  const marks = new Map<string, number>();
  const markOf = (i: string): number => {
    let m = marks.get(i);
    if (m === undefined) {
      m = lastMid.get(i) ?? lastTrade.get(i) ?? prevClose(i);
      marks.set(i, m);
    }
    return m;
  };
  const positions = new Map<string, Map<string, RefPosition>>();
  const traders = new Map<string, RefTrader>();
  for (const [tr, m] of pos) {
    const out = new Map<string, RefPosition>();
    let gross = 0;
    let net = 0;
    let realized = 0;
    let unrealized = 0;
    let maxAbs = 0;
    let largest: string | undefined;
    for (const [i, p] of m) {
      const mark = markOf(i);
      const notional = p.qty * mark;
      const unr = p.qty * (mark - p.avg);
      out.set(i, { qty: p.qty, avg: p.avg, realized: p.realized, mark, notional, unrealized: unr });
      gross += Math.abs(notional);
      net += notional;
      realized += p.realized;
      unrealized += unr;
      if (Math.abs(notional) > maxAbs) {
        maxAbs = Math.abs(notional);
        largest = i;
      }
    }
    positions.set(tr, out);
    traders.set(tr, { gross, net, realized, unrealized, pnl: realized + unrealized, concentration: gross > 0 ? maxAbs / gross : 0, largest });
  }
  return { marks, positions, traders };
}

/** Scenario returns of the last S+1 dates, missing closes giving 0 (the documented convention). */
export function refScenarios(h: History, S: number): { S: number; r: Map<string, number[]> } {
  const n = h.dates.length;
  const size = Math.min(S, n - 1);
  const r = new Map<string, number[]>();
  for (const [i, closes] of h.closes) {
    const out: number[] = [];
    for (let s = n - size; s < n; s++) {
      const a = closes[s - 1]!;
      const b = closes[s]!;
      out.push(Number.isFinite(a) && Number.isFinite(b) && a > 0 && b > 0 ? b / a - 1 : 0);
    }
    r.set(i, out);
  }
  return { S: size, r };
}

/** Full scenario P&L vector of a set of notionals. */
export function refPnlVector(notionals: Map<string, number>, sc: { S: number; r: Map<string, number[]> }): number[] {
  const L = new Array<number>(sc.S).fill(0);
  for (const [i, n] of notionals) {
    const r = sc.r.get(i);
    if (!r) continue;
    for (let s = 0; s < sc.S; s++) L[s]! += n * r[s]!;
  }
  return L;
}

/**
 * VaR/ES by full sort. `confPermille` is the confidence in thousandths (990 = 99%), so the rank
 * k = floor((1-c) S) is computed in exact integer arithmetic.
 */
export function refVarLower(L: number[], confPermille: number): { var: number; es: number } {
  const x = L.slice().sort((a, b) => a - b);
  const k = Math.min(Math.floor(((1000 - confPermille) * x.length) / 1000), x.length - 1);
  let s = 0;
  for (let i = 0; i <= k; i++) s += x[i]!;
  return { var: -x[k]!, es: -s / (k + 1) };
}

/** R type 7 quantile straight from R's definition (1-based index h = 1 + (n-1) p). */
export function refQuantile7(L: number[], p: number): number {
  const x = L.slice().sort((a, b) => a - b);
  const h = 1 + (x.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return (1 - (h - lo)) * x[lo - 1]! + (h - lo) * x[hi - 1]!;
}

/** ES of the `linear` convention by numerical integration of the type-7 quantile function over [0, p]. */
export function refEsLinear(L: number[], p: number, steps = 200_000): number {
  const x = L.slice().sort((a, b) => a - b);
  const n = x.length;
  const q = (u: number): number => {
    const h = 1 + (n - 1) * u;
    const lo = Math.floor(h);
    const hi = Math.min(Math.ceil(h), n);
    return (1 - (h - lo)) * x[lo - 1]! + (h - lo) * x[hi - 1]!;
  };
  let sum = 0;
  const du = p / steps;
  for (let j = 0; j < steps; j++) sum += q((j + 0.5) * du);
  return -(sum * du) / p;
}

/** |a - b| <= tol * max(1, |b|, scale): relative error, with `scale` for figures that cancel (net, pnl). */
export function near(a: number, b: number, scale = 0, tol = 1e-9): boolean {
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(b), Math.abs(scale));
}

export interface GeneratedDay {
  reference: ReferenceData;
  events: Ev[];
}

/**
 * A small random day: instruments A, B, C with 300 days of history (B misses one close) and D
 * without history; traders T1..T4 with limits small enough that every limit type breaches; a
 * random-walk mid per instrument with jumps, quotes every ~150 ms and trades every ~400 ms, each
 * trader leaning to one side so positions build up. Event times are distinct within a stream.
 */
export function generateDay(seed: number, opts: { events?: number; start?: number } = {}): GeneratedDay {
  const rnd = prng(seed);
  const instruments = ['A', 'B', 'C', 'D'];
  const prevClose: Record<string, number> = { A: 100, B: 50, C: 20, D: 80 };
  const dates: string[] = [];
  for (let d = 0; d < 300; d++) dates.push(new Date(Date.UTC(2023, 0, 1) + d * 86_400_000).toISOString().slice(0, 10));
  const closes = new Map<string, Float64Array>();
  for (const i of ['A', 'B', 'C']) {
    const c = new Float64Array(dates.length);
    let p = prevClose[i]!;
    for (let d = dates.length - 1; d >= 0; d--) {
      c[d] = p;
      p = p / (1 + (rnd() - 0.5) * 0.06);
    }
    closes.set(i, c);
  }
  closes.get('B')![250] = Number.NaN;
  const traders = new Map<string, Trader>();
  for (let k = 1; k <= 4; k++) {
    const id = `T${k}`;
    traders.set(id, {
      traderId: id,
      desk: 'D1',
      beneficialOwner: id,
      maxPosition: 2000 + 500 * k,
      maxNotional: 150_000 + 50_000 * k,
      maxLoss: 1500 + 500 * k,
      varLimit: 4000 + 1000 * k,
      maxConcentration: 0.55 + 0.05 * k,
    });
  }
  const reference: ReferenceData = {
    instruments: new Map(
      instruments.map((i) => [i, { instrument: i, sector: 'S', currency: 'USD', tier: 1, prevClose: prevClose[i]!, adv: 1e6, isIndex: false }]),
    ),
    traders,
    history: { dates, closes },
    day: undefined,
    incidents: [],
  };
  const n = opts.events ?? 1200;
  const start = opts.start ?? 1_710_509_400_000;
  const mid: Record<string, number> = { ...prevClose };
  const lean: Record<string, number> = { T1: 0.75, T2: 0.3, T3: 0.6, T4: 0.45 };
  const events: Ev[] = [];
  let tq = start;
  let tt = start + 50;
  let tradeNo = 0;
  while (events.length < n) {
    if (tq <= tt) {
      const i = instruments[Math.floor(rnd() * instruments.length)]!;
      const jump = rnd() < 0.01 ? (rnd() - 0.6) * 0.1 : 0;
      mid[i] = Math.max(1, mid[i]! * (1 + (rnd() - 0.5) * 0.004 + jump));
      const m = Math.round(mid[i]! * 100) / 100;
      events.push({ type: 'quote', ts: tq, instrument: i, bid: m - 0.01, ask: m + 0.01, bidSize: 100, askSize: 100 });
      tq += 20 + Math.floor(rnd() * 260);
    } else {
      const trader = `T${1 + Math.floor(rnd() * 4)}`;
      const i = instruments[Math.floor(rnd() * instruments.length)]!;
      const side = rnd() < lean[trader]! ? 'BUY' : 'SELL';
      const qty = 100 * (1 + Math.floor(rnd() * 12));
      const price = Math.round(mid[i]! * (1 + (rnd() - 0.5) * 0.002) * 100) / 100;
      events.push({ type: 'trade', ts: tt, tradeId: `X${++tradeNo}`, traderId: trader, instrument: i, side, qty, price });
      tt += 50 + Math.floor(rnd() * 700);
    }
  }
  return { reference, events };
}
