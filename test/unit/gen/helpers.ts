import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DayReplaySource, loadDay, type RecordedDay } from '../../../src/connectors/replay/index.js';
import type { DeadLetter, OrderEvent, QuoteEvent, TradeEvent } from '../../../src/connectors/events.js';
import type { Instrument, Trader } from '../../../src/core/reference.js';

// RISKFLOW_GEN_CHECK_DIR points the brute-force checks at another generated day (other seeds).
export const SAMPLE_DAY = process.env['RISKFLOW_GEN_CHECK_DIR'] ?? join(import.meta.dirname, '../../../fixtures/sample-day');

const dirs: string[] = [];
export function tempDir(prefix = 'riskflow-gen-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface RawIncident {
  type: string;
  instrument?: string;
  instrumentA?: string;
  instrumentB?: string;
  traderId?: string;
  counterpartyTraderId?: string;
  start: string;
  end: string;
  note: string;
  related?: { instruments?: string[]; traders?: string[] };
  sideEffects?: string[];
}

/** A day read back through the replay connector: every record validated, in replay order. */
export interface LoadedDay {
  day: RecordedDay;
  records: Array<Record<string, unknown>>;
  quotes: QuoteEvent[];
  trades: TradeEvent[];
  orders: OrderEvent[];
  dead: DeadLetter[];
  incidents: Array<RawIncident & { startMs: number; endMs: number }>;
  calm: { instruments: string[]; traders: string[] };
  instruments: Map<string, Instrument>;
  traders: Map<string, Trader>;
  open: number;
  close: number;
}

export async function readDay(dir: string): Promise<LoadedDay> {
  const day = await loadDay(dir);
  const dead: DeadLetter[] = [];
  const src = new DayReplaySource(day, { streams: ['quote', 'trade', 'order'], batchSize: 8192, onDeadLetter: (d) => dead.push(d) });
  await src.open();
  const records: Array<Record<string, unknown>> = [];
  for (let b = await src.nextBatch(); b; b = await src.nextBatch()) for (let i = 0; i < b.length; i++) records.push({ ...(b.records[i] as object) });
  await src.close();
  const incidents = (JSON.parse(readFileSync(join(dir, 'incidents.json'), 'utf8')) as RawIncident[]).map((i) => ({
    ...i,
    startMs: Date.parse(i.start),
    endMs: Date.parse(i.end),
  }));
  const calm = JSON.parse(readFileSync(join(dir, 'calm.json'), 'utf8')) as LoadedDay['calm'];
  const gen = JSON.parse(readFileSync(join(dir, 'generator.json'), 'utf8')) as { session: { open: string; close: string } };
  return {
    day,
    records,
    quotes: records.filter((r) => r['type'] === 'quote') as unknown as QuoteEvent[],
    trades: records.filter((r) => r['type'] === 'trade') as unknown as TradeEvent[],
    orders: records.filter((r) => r['type'] === 'order') as unknown as OrderEvent[],
    dead,
    incidents,
    calm,
    instruments: day.reference.instruments,
    traders: day.reference.traders,
    open: Date.parse(gen.session.open),
    close: Date.parse(gen.session.close),
  };
}

export function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    let a = m.get(k);
    if (!a) m.set(k, (a = []));
    a.push(x);
  }
  return m;
}

export const mid = (q: QuoteEvent): number => (q.bid + q.ask) / 2;

/** Latest quote with ts <= t (or < t when strict), by binary search over one instrument's quotes. */
export function quoteAt(qs: QuoteEvent[], t: number, strict = false): QuoteEvent | undefined {
  let lo = 0;
  let hi = qs.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (strict ? qs[m]!.ts < t : qs[m]!.ts <= t) {
      ans = m;
      lo = m + 1;
    } else hi = m - 1;
  }
  return ans < 0 ? undefined : qs[ans];
}

export function pearson(x: number[], y: number[]): number | null {
  const n = x.length;
  if (n < 2) return null;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const a = x[i]! - mx;
    const b = y[i]! - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

/** Daily returns of the history per instrument (all dates). */
export function historyReturns(d: LoadedDay): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [id, c] of d.day.reference.history!.closes) {
    const r: number[] = [];
    for (let k = 1; k < c.length; k++) r.push(c[k]! / c[k - 1]! - 1);
    out.set(id, r);
  }
  return out;
}

/** The last S daily returns (CONTRACTS.md 4: scenarios from the last S+1 dates). */
export function scenarioReturns(d: LoadedDay, S = 250): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [id, r] of historyReturns(d)) out.set(id, r.slice(r.length - S));
  return out;
}

/**
 * CONTRACTS.md 4 correlation on a 1 s grid: bar j closes at windowStart + j*g with the latest mid
 * strictly before it; bar 0 is the latest mid before the window. Returns per instrument the
 * W/g returns (NaN where missing).
 */
export function windowReturns(qs: QuoteEvent[], ws: number, W = 300_000, g = 1000): number[] {
  const out: number[] = [];
  let prev = quoteAt(qs, ws, true);
  for (let j = 1; j <= W / g; j++) {
    const cur = quoteAt(qs, ws + j * g, true);
    out.push(prev && cur ? mid(cur) / mid(prev) - 1 : NaN);
    prev = cur;
  }
  return out;
}

export function windowCorrelation(a: number[], b: number[], minObs = 30): number | null {
  const x: number[] = [];
  const y: number[] = [];
  for (let k = 0; k < a.length; k++) {
    if (Number.isFinite(a[k]!) && Number.isFinite(b[k]!)) {
      x.push(a[k]!);
      y.push(b[k]!);
    }
  }
  return x.length < minObs ? null : pearson(x, y);
}

/** LULD band half-width in price (CONTRACTS.md 4); `strict` reads "any price > $3" as 5% whatever the tier. */
export function luldBand(ref: number, tier: number, strict = false): number {
  if (ref < 0.75) return Math.min(0.15, 0.75 * ref);
  if (ref <= 3) return 0.2 * ref;
  return (tier === 1 || strict ? 0.05 : 0.1) * ref;
}

export interface TraderPath {
  maxAbsQty: number;
  maxGross: number;
  minPnl: number;
  maxDrawdown: number;
  maxConcentration: number;
  maxVar: number;
  /** (ts, metric) samples after every event that touched the trader. */
  samples: Array<{ ts: number; gross: number; pnl: number; drawdown: number; concentration: number; var99: number; maxAbsQty: number }>;
}

/**
 * Brute-force risk of the given traders (CONTRACTS.md 4): weighted-average-cost positions from
 * their trades, marks = latest mid, recomputed after every trade of theirs and every quote of an
 * instrument they hold; historical VaR 99% (S = 250) after every trade.
 */
export function traderPaths(d: LoadedDay, traderIds: Set<string>): Map<string, TraderPath> {
  const scen = scenarioReturns(d);
  const S = 250;
  const k = Math.floor(0.01 * S);
  type Pos = { qty: number; avg: number; realized: number };
  const st = new Map<string, { pos: Map<string, Pos>; peak: number; path: TraderPath; var99: number }>();
  for (const id of traderIds) {
    st.set(id, {
      pos: new Map(),
      peak: 0,
      var99: 0,
      path: { maxAbsQty: 0, maxGross: 0, minPnl: 0, maxDrawdown: 0, maxConcentration: 0, maxVar: 0, samples: [] },
    });
  }
  const marks = new Map<string, number>();
  const holders = new Map<string, Set<string>>();
  const evaluate = (id: string, ts: number, withVar: boolean): void => {
    const s = st.get(id)!;
    let gross = 0;
    let maxN = 0;
    let pnl = 0;
    let maxQ = 0;
    for (const [inst, p] of s.pos) {
      const m = marks.get(inst) ?? d.instruments.get(inst)!.prevClose;
      const n = Math.abs(p.qty * m);
      gross += n;
      maxN = Math.max(maxN, n);
      maxQ = Math.max(maxQ, Math.abs(p.qty));
      pnl += p.realized + p.qty * (m - p.avg);
    }
    if (withVar) {
      const L = new Float64Array(S);
      for (const [inst, p] of s.pos) {
        if (p.qty === 0) continue;
        const v = p.qty * (marks.get(inst) ?? d.instruments.get(inst)!.prevClose);
        const r = scen.get(inst)!;
        for (let j = 0; j < S; j++) L[j]! += v * r[j]!;
      }
      L.sort();
      s.var99 = -L[k]!;
    }
    s.peak = Math.max(s.peak, pnl);
    const dd = s.peak - pnl;
    const conc = gross > 0 ? maxN / gross : 0;
    const P = s.path;
    P.maxAbsQty = Math.max(P.maxAbsQty, maxQ);
    P.maxGross = Math.max(P.maxGross, gross);
    P.minPnl = Math.min(P.minPnl, pnl);
    P.maxDrawdown = Math.max(P.maxDrawdown, dd);
    P.maxConcentration = Math.max(P.maxConcentration, conc);
    P.maxVar = Math.max(P.maxVar, s.var99);
    P.samples.push({ ts, gross, pnl, drawdown: dd, concentration: conc, var99: s.var99, maxAbsQty: maxQ });
  };
  for (const r of d.records) {
    if (r['type'] === 'quote') {
      const q = r as unknown as QuoteEvent;
      marks.set(q.instrument, mid(q));
      for (const id of holders.get(q.instrument) ?? []) evaluate(id, q.ts, false);
    } else if (r['type'] === 'trade') {
      const t = r as unknown as TradeEvent;
      const s = st.get(t.traderId);
      if (!s) continue;
      let p = s.pos.get(t.instrument);
      if (!p) s.pos.set(t.instrument, (p = { qty: 0, avg: 0, realized: 0 }));
      const q = t.side === 'BUY' ? t.qty : -t.qty;
      // CONTRACTS.md 4, positions: weighted average cost.
      if (p.qty === 0 || Math.sign(p.qty) === Math.sign(q)) {
        p.avg = (p.avg * Math.abs(p.qty) + t.price * Math.abs(q)) / (Math.abs(p.qty) + Math.abs(q));
        p.qty += q;
      } else {
        const closed = Math.min(Math.abs(q), Math.abs(p.qty));
        p.realized += closed * (t.price - p.avg) * Math.sign(p.qty);
        const rest = Math.abs(q) - closed;
        p.qty += q;
        if (rest > 0) p.avg = t.price;
        if (p.qty === 0) p.avg = 0;
      }
      let h = holders.get(t.instrument);
      if (!h) holders.set(t.instrument, (h = new Set()));
      h.add(t.traderId);
      evaluate(t.traderId, t.ts, true);
    }
  }
  return new Map([...st].map(([id, s]) => [id, s.path]));
}
