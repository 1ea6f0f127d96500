import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { QuoteEvent, TradeEvent } from '../../../src/connectors/events.js';
import {
  groupBy,
  historyReturns,
  luldBand,
  mid,
  pearson,
  quoteAt,
  readDay,
  SAMPLE_DAY,
  traderPaths,
  windowCorrelation,
  windowReturns,
  type LoadedDay,
} from './helpers.js';

// Statistical sanity of the sample day and, above all, silence of its calm entities: every
// rule of CONTRACTS.md section 4 is checked by brute force to stay clear of its threshold, with a
// margin, on every instrument and trader listed in calm.json.

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

let d: LoadedDay;
let quotesBy: Map<string, QuoteEvent[]>;
let tradesBy: Map<string, TradeEvent[]>;
let calmI: Set<string>;
let calmT: Set<string>;

beforeAll(async () => {
  d = await readDay(SAMPLE_DAY);
  quotesBy = groupBy(d.quotes, (q) => q.instrument);
  tradesBy = groupBy(d.trades, (t) => t.instrument);
  calmI = new Set(d.calm.instruments);
  calmT = new Set(d.calm.traders);
});

describe('sample day: market model', () => {
  it('has 300 days of history ending at prevClose, more correlated within sectors than across', () => {
    const h = d.day.reference.history!;
    expect(h.dates.length).toBe(300);
    for (const [id, x] of d.instruments) expect(h.closes.get(id)![h.dates.length - 1], id).toBe(x.prevClose);
    const r = historyReturns(d);
    const stocks = [...d.instruments.values()].filter((x) => !x.isIndex && x.prevClose > 1);
    const within: number[] = [];
    const across: number[] = [];
    for (let a = 0; a < stocks.length; a++) {
      for (let b = a + 1; b < stocks.length; b++) {
        const rho = pearson(r.get(stocks[a]!.instrument)!, r.get(stocks[b]!.instrument)!)!;
        (stocks[a]!.sector === stocks[b]!.sector ? within : across).push(rho);
      }
    }
    const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(within)).toBeGreaterThan(mean(across) + 0.1);
    expect(mean(across)).toBeGreaterThan(0.15);
  });

  it('quotes are positive, on the tick, never crossed, in time order inside the session', () => {
    const bad: string[] = [];
    let last = -Infinity;
    for (const q of d.quotes) {
      const tpu = q.bid < 1 ? 1e4 : 100;
      const onTick = (p: number): boolean => Math.abs(p * tpu - Math.round(p * tpu)) < 1e-6;
      if (!(q.ts >= last && q.bid > 0 && q.ask > q.bid && onTick(q.bid) && onTick(q.ask) && q.bidSize > 0 && q.askSize > 0)) bad.push(JSON.stringify(q));
      last = q.ts;
    }
    expect(bad.slice(0, 3)).toEqual([]);
    expect(d.quotes[0]!.ts).toBeGreaterThanOrEqual(d.open);
    expect(last).toBeLessThan(d.close);
    for (const x of d.instruments.keys()) expect(quotesBy.get(x)!.length, x).toBeGreaterThan(500);
  });

  it('calm instruments quote under 20 bps wide with more than $1.3M at the touch', () => {
    const bad = d.quotes.filter(
      (q) => calmI.has(q.instrument) && (((q.ask - q.bid) / mid(q)) * 1e4 > 20.001 || q.bid * q.bidSize + q.ask * q.askSize < 1_300_000),
    );
    expect(bad.slice(0, 3)).toEqual([]);
  });

  it('every fill follows its order: NEW earlier, same trader, instrument and side, within the limit, not after a cancel', () => {
    const byId = groupBy(d.orders, (o) => o.orderId);
    const filled = new Map<string, number>();
    const bad: string[] = [];
    for (const o of byId.values()) if (o[0]!.action !== 'NEW' || o.slice(1).some((e) => e.action === 'NEW')) bad.push(o[0]!.orderId);
    for (const t of d.trades) {
      const o = (byId.get(t.orderId!) ?? []).filter((e) => e.ts <= t.ts);
      const live = o[o.length - 1];
      filled.set(t.orderId!, (filled.get(t.orderId!) ?? 0) + t.qty);
      const ok =
        live !== undefined &&
        o[0]!.ts < t.ts &&
        live.action !== 'CANCEL' &&
        live.traderId === t.traderId &&
        live.instrument === t.instrument &&
        live.side === t.side &&
        (t.side === 'BUY' ? t.price <= live.price + 1e-9 : t.price >= live.price - 1e-9) &&
        filled.get(t.orderId!)! <= live.qty &&
        t.counterpartyTraderId !== t.traderId;
      if (!ok) bad.push(t.tradeId);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(new Set(d.trades.map((t) => t.tradeId)).size).toBe(d.trades.length);
    expect(new Set(d.orders.filter((o) => o.action === 'NEW').map((o) => o.orderId)).size).toBe(byId.size);
  });
});

describe('sample day: calm entities stay silent', () => {
  it('lists calm instruments and traders that appear in no incident', () => {
    expect(calmI.size).toBeGreaterThanOrEqual(8);
    expect(calmT.size).toBeGreaterThanOrEqual(15);
    for (const i of d.incidents) {
      for (const x of [i.instrument, i.instrumentA, i.instrumentB, ...(i.related?.instruments ?? [])]) if (x) expect(calmI.has(x)).toBe(false);
      for (const t of [i.traderId, i.counterpartyTraderId, ...(i.related?.traders ?? [])]) if (t) expect(calmT.has(t)).toBe(false);
    }
    expect(calmI.has('DIME') && calmI.has('PNNY')).toBe(true);
    expect(d.instruments.get('DIME')!.prevClose).toBeLessThan(3);
    expect(d.instruments.get('PNNY')!.prevClose).toBeLessThan(0.75);
  });

  it('calm traders stay well inside every limit (brute-force positions, marks and VaR)', () => {
    const paths = traderPaths(d, calmT);
    for (const [id, p] of paths) {
      const l = d.traders.get(id)!;
      expect(p.maxAbsQty, id).toBeLessThanOrEqual(0.45 * l.maxPosition);
      expect(p.maxGross, id).toBeLessThanOrEqual(0.5 * l.maxNotional);
      expect(p.minPnl, id).toBeGreaterThanOrEqual(-0.25 * l.maxLoss);
      expect(p.maxDrawdown, id).toBeLessThanOrEqual(0.25 * l.maxLoss);
      expect(p.maxVar, id).toBeLessThanOrEqual(0.7 * l.varLimit);
      expect(l.maxConcentration, id).toBe(Infinity);
    }
  });

  it('no flash move: every calm mid stays within 3% of its trailing 60 s high and low', () => {
    let worst = 0;
    for (const id of calmI) {
      const qs = quotesBy.get(id)!;
      let lo = 0;
      for (let j = 0; j < qs.length; j++) {
        while (qs[lo]!.ts < qs[j]!.ts - 60_000) lo++;
        let max = 0;
        let min = Infinity;
        for (let k = lo; k <= j; k++) {
          max = Math.max(max, mid(qs[k]!));
          min = Math.min(min, mid(qs[k]!));
        }
        worst = Math.max(worst, 1 - mid(qs[j]!) / max, mid(qs[j]!) / min - 1);
      }
    }
    expect(worst).toBeLessThan(0.03);
  });

  it('no ultrafast run: no 8 consecutive strictly falling or rising trades within 1.5 s on calm instruments', () => {
    let longest = 0;
    for (const id of calmI) {
      const ts = tradesBy.get(id) ?? [];
      for (let a = 0; a < ts.length; a++) {
        for (const dir of [1, -1]) {
          let b = a;
          while (b + 1 < ts.length && dir * (ts[b + 1]!.price - ts[b]!.price) > 0 && ts[b + 1]!.ts - ts[a]!.ts < 1500) b++;
          longest = Math.max(longest, b - a + 1);
        }
      }
    }
    expect(longest).toBeLessThan(8);
  });

  it('no LULD state: calm touches stay >= 2% inside the bands (5% for any price above $3)', () => {
    let closest = Infinity;
    for (const id of calmI) {
      const x = d.instruments.get(id)!;
      const qs = quotesBy.get(id)!;
      const ts = tradesBy.get(id) ?? [];
      let lo = 0;
      let hi = 0;
      let sum = 0;
      for (const q of qs) {
        while (hi < ts.length && ts[hi]!.ts <= q.ts) sum += ts[hi++]!.price;
        while (lo < hi && ts[lo]!.ts < q.ts - 300_000) sum -= ts[lo++]!.price;
        if (hi === lo) continue;
        const ref = sum / (hi - lo);
        const band = luldBand(ref, x.tier, true);
        closest = Math.min(closest, (q.ask - (ref - band)) / ref, (ref + band - q.bid) / ref);
      }
    }
    expect(closest).toBeGreaterThan(0.02);
  });

  it('no market-wide halt: calm index stays within 4% of prevClose', () => {
    const moves = d.quotes.filter((q) => calmI.has(q.instrument) && d.instruments.get(q.instrument)!.isIndex).map((q) => Math.abs(mid(q) / d.instruments.get(q.instrument)!.prevClose - 1));
    expect(moves.length).toBeGreaterThan(0);
    expect(Math.max(...moves)).toBeLessThan(0.04);
  });

  it('no correlation alert on calm pairs: every 5-minute window within 0.45 of history and below 0.85', () => {
    const h = historyReturns(d);
    const ids = [...calmI];
    let worstBreak = 0;
    let worstHigh = 0;
    for (let ws = Math.ceil(d.open / 300_000) * 300_000; ws + 300_000 <= d.close; ws += 300_000) {
      const rets = new Map(ids.map((id) => [id, windowReturns(quotesBy.get(id)!, ws)]));
      for (let a = 0; a < ids.length; a++) {
        for (let b = a + 1; b < ids.length; b++) {
          const rho = windowCorrelation(rets.get(ids[a]!)!, rets.get(ids[b]!)!);
          if (rho === null) continue;
          const hist = pearson(h.get(ids[a]!)!, h.get(ids[b]!)!)!;
          worstBreak = Math.max(worstBreak, Math.abs(rho - hist));
          worstHigh = Math.max(worstHigh, Math.abs(rho));
        }
      }
    }
    expect(worstBreak).toBeLessThan(0.45);
    expect(worstHigh).toBeLessThan(0.85);
  });

  it('no surveillance pattern among calm traders', () => {
    const byId = groupBy(d.orders, (o) => o.orderId);
    const owner = (id: string): string => d.traders.get(id)!.beneficialOwner;
    const calmTrades = d.trades.filter((t) => calmT.has(t.traderId));
    const bad: string[] = [];
    // WASH_TRADE: no shared owner with the contra, no two-sided trading within 61 s.
    for (const t of calmTrades) if (t.counterpartyTraderId && owner(t.counterpartyTraderId) === owner(t.traderId)) bad.push(`owner ${t.tradeId}`);
    for (const xs of groupBy(calmTrades, (t) => `${t.traderId}|${t.instrument}`).values()) {
      for (let a = 0; a < xs.length; a++) {
        for (let b = a + 1; b < xs.length && xs[b]!.ts - xs[a]!.ts <= 61_000; b++) if (xs[b]!.side !== xs[a]!.side) bad.push(`two-sided ${xs[a]!.tradeId}`);
      }
    }
    // SPOOFING / LAYERING: nothing cancelled within 6 s of its entry.
    for (const o of d.orders) if (o.action === 'CANCEL' && calmT.has(o.traderId) && o.ts - byId.get(o.orderId)![0]!.ts < 6000) bad.push(`cancel ${o.orderId}`);
    // FRONT_RUNNING: calm client orders stay below 10,000 shares.
    for (const o of d.orders) if (o.clientOrder && calmT.has(o.traderId) && o.qty >= 10_000) bad.push(`client ${o.orderId}`);
    expect(bad.slice(0, 5)).toEqual([]);
    // MARKING_THE_CLOSE: no calm trader takes part (as trader or counterparty) in 20% of an
    // instrument's volume in the last 10 minutes, or, where the price rose into the close (the
    // marking incident), the calm ones with a large part are net sellers.
    const from = d.close - 600_000;
    let worst = { share: 0, who: '' };
    for (const [id, ts] of tradesBy) {
      const last = ts.filter((t) => t.ts >= from && t.ts <= d.close);
      const vol = last.reduce((s, t) => s + t.qty, 0);
      const part = new Map<string, { gross: number; net: number }>();
      for (const t of last) {
        const sgn = t.side === 'BUY' ? 1 : -1;
        for (const [who, s] of [[t.traderId, sgn], [t.counterpartyTraderId, -sgn]] as const) {
          if (!who) continue;
          const p = part.get(who) ?? { gross: 0, net: 0 };
          p.gross += t.qty;
          p.net += s * t.qty;
          part.set(who, p);
        }
      }
      const marked = d.incidents.some((i) => i.type === 'MARKING_THE_CLOSE' && i.instrument === id);
      for (const [tr, p] of part) {
        if (!calmT.has(tr)) continue;
        const share = p.gross / vol;
        if (marked && p.net < 0) continue;
        if (share > worst.share) worst = { share, who: `${tr} ${id}` };
      }
    }
    expect(worst.share, worst.who).toBeLessThan(0.2);
  });

  it('trades happen after the first quote of their instrument, calm ones at or inside the touch', () => {
    const bad: string[] = [];
    for (const t of d.trades) {
      const q = quoteAt(quotesBy.get(t.instrument)!, t.ts);
      if (!q) bad.push(`no quote ${t.tradeId}`);
      else if (calmT.has(t.traderId) && (t.price < q.bid - 1e-9 || t.price > q.ask + 1e-9)) bad.push(`outside ${t.tradeId}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });
});
