import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { OrderEvent, QuoteEvent, TradeEvent } from '../../../src/connectors/events.js';
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
  type RawIncident,
} from './helpers.js';

// Each labelled incident of fixtures/sample-day checked against its CONTRACTS.md section 4
// definition by a brute-force reading of the events, with a margin over the contract's numbers.

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

let d: LoadedDay;
let quotesBy: Map<string, QuoteEvent[]>;
let tradesBy: Map<string, TradeEvent[]>;
const one = (type: string): RawIncident & { startMs: number; endMs: number } => {
  const xs = d.incidents.filter((i) => i.type === type);
  expect(xs.length, type).toBeGreaterThanOrEqual(1);
  return xs[0]!;
};

beforeAll(async () => {
  d = await readDay(SAMPLE_DAY);
  quotesBy = groupBy(d.quotes, (q) => q.instrument);
  tradesBy = groupBy(d.trades, (t) => t.instrument);
});

describe('sample day incidents', () => {
  it('labels every alert type of CONTRACTS.md section 3 at least once', () => {
    const types = new Set(d.incidents.map((i) => i.type));
    for (const t of [
      'POSITION_LIMIT', 'NOTIONAL_LIMIT', 'LOSS_LIMIT', 'CONCENTRATION_LIMIT', 'DRAWDOWN', 'VAR_LIMIT', 'FLASH_CRASH',
      'ULTRAFAST_EXTREME_EVENT', 'LULD_LIMIT_STATE', 'LULD_PAUSE', 'MARKET_WIDE_HALT', 'CORRELATION_HIGH', 'CORRELATION_BREAK',
      'LIQUIDITY_SPREAD', 'LIQUIDITY_DEPTH', 'WASH_TRADE', 'SPOOFING', 'LAYERING', 'MARKING_THE_CLOSE', 'FRONT_RUNNING',
    ]) {
      expect(types.has(t), t).toBe(true);
    }
    for (const i of d.incidents) {
      expect(i.endMs).toBeGreaterThan(i.startMs);
      expect(i.startMs).toBeGreaterThanOrEqual(d.open);
      expect(i.note.length).toBeGreaterThan(10);
    }
    // loadDay keeps them (the pair as "A|B").
    expect(d.day.reference.incidents.length).toBe(d.incidents.length);
  });

  it('FLASH_CRASH: the mid falls >= 7% below its trailing 60 s maximum inside the window', () => {
    const inc = one('FLASH_CRASH');
    const qs = quotesBy.get(inc.instrument!)!;
    let worst = 0;
    let firstAt = Infinity;
    for (let j = 0; j < qs.length; j++) {
      const q = qs[j]!;
      let max = 0;
      for (let k = j; k >= 0 && qs[k]!.ts >= q.ts - 60_000; k--) max = Math.max(max, mid(qs[k]!));
      const drop = 1 - mid(q) / max;
      if (drop > worst) worst = drop;
      if (drop >= 0.05 && firstAt === Infinity) firstAt = q.ts;
    }
    expect(worst).toBeGreaterThanOrEqual(0.07);
    expect(firstAt).toBeGreaterThanOrEqual(inc.startMs);
    expect(firstAt).toBeLessThanOrEqual(inc.endMs - 30_000);
  });

  it('ULTRAFAST_EXTREME_EVENT: >= 12 consecutive falling trades within 800 ms moving >= 1.2%', () => {
    const inc = one('ULTRAFAST_EXTREME_EVENT');
    const ts = tradesBy.get(inc.instrument!)!;
    let best = { len: 0, span: 0, move: 0, at: 0 };
    for (let a = 0; a < ts.length; a++) {
      let b = a;
      while (b + 1 < ts.length && ts[b + 1]!.price < ts[b]!.price && ts[b + 1]!.ts - ts[a]!.ts <= 800) b++;
      const len = b - a + 1;
      if (len > best.len) best = { len, span: ts[b]!.ts - ts[a]!.ts, move: 1 - ts[b]!.price / ts[a]!.price, at: ts[a]!.ts };
    }
    expect(best.len).toBeGreaterThanOrEqual(12);
    expect(best.span).toBeLessThanOrEqual(800);
    expect(best.move).toBeGreaterThanOrEqual(0.012);
    expect(best.at).toBeGreaterThanOrEqual(inc.startMs);
    expect(best.at + best.span).toBeLessThanOrEqual(inc.endMs);
  });

  /** Limit-state episodes: contiguous quotes whose offer is at/below the lower band (or bid at/above the upper). */
  function luldEpisodes(instrument: string): Array<{ from: number; to: number; depth: number }> {
    const qs = quotesBy.get(instrument)!;
    const ts = tradesBy.get(instrument) ?? [];
    const tier = d.instruments.get(instrument)!.tier;
    const out: Array<{ from: number; to: number; depth: number }> = [];
    let cur: { from: number; to: number; depth: number } | undefined;
    let lo = 0;
    let hi = 0;
    let sum = 0;
    for (const q of qs) {
      while (hi < ts.length && ts[hi]!.ts <= q.ts) sum += ts[hi++]!.price;
      while (lo < hi && ts[lo]!.ts < q.ts - 300_000) sum -= ts[lo++]!.price;
      if (hi === lo) continue;
      const ref = sum / (hi - lo);
      const band = luldBand(ref, tier);
      const inState = q.ask <= ref - band || q.bid >= ref + band;
      if (inState) {
        const depth = Math.max((ref - band - q.ask) / ref, (q.bid - ref - band) / ref);
        if (!cur) cur = { from: q.ts, to: q.ts, depth };
        cur.depth = Math.max(cur.depth, depth);
      } else if (cur) {
        cur.to = q.ts;
        out.push(cur);
        cur = undefined;
      }
    }
    if (cur) out.push({ ...cur, to: Infinity });
    return out;
  }

  it('LULD_LIMIT_STATE: the offer goes >= 0.5% through the lower band and the state clears within 10 s', () => {
    const inc = one('LULD_LIMIT_STATE');
    const eps = luldEpisodes(inc.instrument!);
    expect(eps.length).toBe(1);
    const e = eps[0]!;
    expect(e.from).toBeGreaterThanOrEqual(inc.startMs);
    expect(e.from).toBeLessThanOrEqual(inc.endMs - 30_000);
    expect(e.depth).toBeGreaterThanOrEqual(0.005);
    expect(e.to - e.from).toBeLessThanOrEqual(10_000);
  });

  it('LULD_PAUSE: the limit state lasts >= 30 s', () => {
    const inc = one('LULD_PAUSE');
    const eps = luldEpisodes(inc.instrument!);
    expect(eps.length).toBe(1);
    const e = eps[0]!;
    expect(e.from).toBeGreaterThanOrEqual(inc.startMs);
    expect(e.from + 15_000).toBeLessThanOrEqual(inc.endMs - 30_000);
    expect(e.to - e.from).toBeGreaterThanOrEqual(30_000);
    expect(e.depth).toBeGreaterThanOrEqual(0.007);
  });

  it('MARKET_WIDE_HALT: the index mid falls >= 8% below prevClose (level 1), never 13%', () => {
    const inc = one('MARKET_WIDE_HALT');
    const x = d.instruments.get(inc.instrument!)!;
    expect(x.isIndex).toBe(true);
    const qs = quotesBy.get(x.instrument)!;
    const cross = qs.find((q) => mid(q) <= 0.93 * x.prevClose)!;
    expect(cross.ts).toBeGreaterThanOrEqual(inc.startMs);
    expect(cross.ts).toBeLessThanOrEqual(inc.endMs - 30_000);
    const low = Math.min(...qs.map(mid)) / x.prevClose;
    expect(low).toBeLessThanOrEqual(0.92);
    expect(low).toBeGreaterThan(0.9);
  });

  function pairOf(i: RawIncident): [string, string] {
    expect(i.instrument).toBe(`${i.instrumentA}|${i.instrumentB}`);
    return [i.instrumentA!, i.instrumentB!];
  }

  it('CORRELATION_HIGH: 1 s correlation >= 0.93 in the window, within 0.45 of history (no break)', () => {
    const inc = one('CORRELATION_HIGH');
    const [a, b] = pairOf(inc);
    expect(inc.startMs % 300_000).toBe(0);
    const rho = windowCorrelation(windowReturns(quotesBy.get(a)!, inc.startMs), windowReturns(quotesBy.get(b)!, inc.startMs))!;
    const h = historyReturns(d);
    const hist = pearson(h.get(a)!, h.get(b)!)!;
    expect(rho).toBeGreaterThanOrEqual(0.93);
    expect(Math.abs(rho - hist)).toBeLessThan(0.45);
  });

  it('CORRELATION_BREAK: 1 s correlation >= 0.8 away from history in the window, |rho| < 0.85', () => {
    const inc = one('CORRELATION_BREAK');
    const [a, b] = pairOf(inc);
    expect(inc.startMs % 300_000).toBe(0);
    const rho = windowCorrelation(windowReturns(quotesBy.get(a)!, inc.startMs), windowReturns(quotesBy.get(b)!, inc.startMs))!;
    const h = historyReturns(d);
    const hist = pearson(h.get(a)!, h.get(b)!)!;
    expect(Math.abs(rho - hist)).toBeGreaterThanOrEqual(0.8);
    expect(Math.abs(rho)).toBeLessThan(0.85);
  });

  /** Mean quoted spread (bps) and min depth of each 30 s window that starts in [from, to). */
  function liquidityWindows(instrument: string, from: number, to: number): Array<{ ws: number; spread: number; depth: number; median: number }> {
    const qs = quotesBy.get(instrument)!;
    const out: Array<{ ws: number; spread: number; depth: number; median: number }> = [];
    const bps = (q: QuoteEvent): number => ((q.ask - q.bid) / mid(q)) * 1e4;
    for (let ws = Math.floor(from / 30_000) * 30_000; ws < to; ws += 30_000) {
      const inW = qs.filter((q) => q.ts >= ws && q.ts < ws + 30_000);
      if (!inW.length) continue;
      const hist = qs.filter((q) => q.ts >= ws - 1_800_000 && q.ts < ws).map(bps).sort((p, q) => p - q);
      out.push({
        ws,
        spread: inW.reduce((s, q) => s + bps(q), 0) / inW.length,
        depth: Math.min(...inW.map((q) => q.bid * q.bidSize + q.ask * q.askSize)),
        median: hist.length ? hist[hist.length >> 1]! : 0,
      });
    }
    return out;
  }

  it('LIQUIDITY_SPREAD: two 30 s windows with a mean spread >= 2x max(25 bps, 4x the 30-minute median)', () => {
    const inc = one('LIQUIDITY_SPREAD');
    const ws = liquidityWindows(inc.instrument!, inc.startMs, inc.endMs).filter((w) => w.spread >= 2 * Math.max(25, 4 * w.median));
    expect(ws.length).toBeGreaterThanOrEqual(2);
    expect(ws.every((w) => w.depth > 1_000_000)).toBe(true);
  });

  it('LIQUIDITY_DEPTH: two 30 s windows whose minimum depth at touch is <= $600k', () => {
    const inc = one('LIQUIDITY_DEPTH');
    const ws = liquidityWindows(inc.instrument!, inc.startMs, inc.endMs).filter((w) => w.depth <= 600_000);
    expect(ws.length).toBeGreaterThanOrEqual(2);
    expect(ws.every((w) => w.spread < 25)).toBe(true);
  });

  function washPairs(t: TradeEvent[]): Array<[TradeEvent, TradeEvent]> {
    const out: Array<[TradeEvent, TradeEvent]> = [];
    const by = groupBy(t, (x) => `${x.traderId}|${x.instrument}`);
    for (const xs of by.values()) {
      for (let a = 0; a < xs.length; a++) {
        for (let b = a + 1; b < xs.length && xs[b]!.ts - xs[a]!.ts <= 60_000; b++) {
          const p = xs[a]!;
          const q = xs[b]!;
          if (p.side === q.side) continue;
          if (Math.abs(p.qty - q.qty) <= 0.05 * Math.max(p.qty, q.qty) && Math.abs(p.price - q.price) <= 0.001 * p.price) out.push([p, q]);
        }
      }
    }
    return out;
  }

  it('WASH_TRADE: a trade between two traders of one beneficial owner, and one same-trader round trip', () => {
    const incs = d.incidents.filter((i) => i.type === 'WASH_TRADE');
    expect(incs.length).toBe(2);
    const owner = (id: string): string => d.traders.get(id)!.beneficialOwner;
    const shared = d.trades.filter((t) => t.counterpartyTraderId !== undefined && owner(t.counterpartyTraderId) === owner(t.traderId));
    expect(shared.length).toBe(1);
    const a = incs.find((i) => i.counterpartyTraderId)!;
    expect(shared[0]!.traderId).toBe(a.traderId);
    expect(shared[0]!.counterpartyTraderId).toBe(a.counterpartyTraderId);
    expect(shared[0]!.ts).toBeGreaterThanOrEqual(a.startMs);
    const pairs = washPairs(d.trades);
    expect(new Set(pairs.map(([p]) => p.traderId))).toEqual(new Set([incs.find((i) => !i.counterpartyTraderId)!.traderId]));
    const [p, q] = pairs[0]!;
    expect(p.qty).toBe(q.qty);
    expect(Math.abs(p.price - q.price) / p.price).toBeLessThanOrEqual(0.0005);
  });

  function ordersById(): Map<string, OrderEvent[]> {
    return groupBy(d.orders, (o) => o.orderId);
  }

  it('SPOOFING: a NEW >= 15x the trader\'s median order, cancelled unfilled within 1 s, opposite fill within 2.5 s', () => {
    const inc = one('SPOOFING');
    const byId = ordersById();
    const fills = groupBy(d.trades.filter((t) => t.orderId), (t) => t.orderId!);
    const news = d.orders.filter((o) => o.action === 'NEW' && o.traderId === inc.traderId);
    const sizes = news.map((o) => o.qty).sort((a, b) => a - b);
    const dayMedian = sizes[sizes.length >> 1]!;
    const hits = news.filter((o) => {
      const before = news.filter((p) => p.ts < o.ts).map((p) => p.qty).sort((a, b) => a - b);
      const runMedian = before[before.length >> 1] ?? Infinity;
      const cancel = byId.get(o.orderId)!.find((e) => e.action === 'CANCEL');
      const opposite = d.trades.filter(
        (t) => t.traderId === o.traderId && t.instrument === o.instrument && t.side !== o.side && Math.abs(t.ts - o.ts) <= 2500,
      );
      return o.qty >= 15 * dayMedian && o.qty >= 15 * runMedian && cancel !== undefined && cancel.ts - o.ts <= 1000 && !fills.has(o.orderId) && opposite.length > 0;
    });
    expect(hits.length).toBe(1);
    expect(hits[0]!.ts).toBeGreaterThanOrEqual(inc.startMs);
    expect(hits[0]!.instrument).toBe(inc.instrument);
    // Nobody else comes anywhere near: no other order cancelled within 2 s.
    const fast = d.orders.filter((o) => o.action === 'CANCEL' && o.ts - byId.get(o.orderId)![0]!.ts < 2000);
    expect(fast.map((o) => o.orderId)).toEqual([hits[0]!.orderId]);
  });

  it('LAYERING: 4 NEW orders at 4 levels on one side within 1 s, all cancelled within 5 s, opposite fill in between', () => {
    const inc = one('LAYERING');
    const byId = ordersById();
    const news = d.orders.filter((o) => o.action === 'NEW' && o.traderId === inc.traderId && o.instrument === inc.instrument);
    let found = 0;
    for (let a = 0; a < news.length; a++) {
      const group = news.filter((o) => o.side === news[a]!.side && o.ts >= news[a]!.ts && o.ts <= news[a]!.ts + 1000);
      if (group.length < 4 || new Set(group.map((o) => o.price)).size < 4) continue;
      const cancels = group.map((o) => byId.get(o.orderId)!.find((e) => e.action === 'CANCEL'));
      if (!cancels.every((c, k) => c !== undefined && c.ts - group[k]!.ts <= 5000)) continue;
      const lastCancel = Math.max(...cancels.map((c) => c!.ts));
      const between = d.trades.some((t) => t.traderId === inc.traderId && t.side !== group[0]!.side && t.ts > group[0]!.ts && t.ts < lastCancel);
      if (between) found++;
    }
    expect(found).toBeGreaterThanOrEqual(1);
    // Any order cancelled within 5 s belongs to that trader's layering.
    const quick = d.orders.filter((o) => o.action === 'CANCEL' && o.ts - byId.get(o.orderId)![0]!.ts <= 5000);
    expect(new Set(quick.map((o) => o.traderId))).toEqual(new Set([inc.traderId, one('SPOOFING').traderId]));
  });

  it('MARKING_THE_CLOSE: >= 40% of the last 10 minutes\' volume, price up >= 2% in that direction', () => {
    const inc = one('MARKING_THE_CLOSE');
    const from = d.close - 600_000;
    const ts = tradesBy.get(inc.instrument!)!.filter((t) => t.ts >= from && t.ts < d.close);
    const vol = ts.reduce((s, t) => s + t.qty, 0);
    const mine = ts.filter((t) => t.traderId === inc.traderId);
    expect(mine.every((t) => t.side === 'BUY')).toBe(true);
    expect(mine.reduce((s, t) => s + t.qty, 0) / vol).toBeGreaterThanOrEqual(0.4);
    const qs = quotesBy.get(inc.instrument!)!;
    const move = mid(quoteAt(qs, d.close)!) / mid(quoteAt(qs, from)!) - 1;
    expect(move).toBeGreaterThanOrEqual(0.02);
    expect(ts[ts.length - 1]!.price / ts[0]!.price - 1).toBeGreaterThanOrEqual(0.015);
  });

  it('FRONT_RUNNING: same-direction trade <= 60 s before a same-desk client order >= 10,000, reversed within 10 minutes', () => {
    const inc = one('FRONT_RUNNING');
    const desk = (id: string): string => d.traders.get(id)!.desk;
    const big = d.orders.filter((o) => o.action === 'NEW' && o.clientOrder === true && o.qty >= 10_000);
    expect(big.length).toBe(1);
    const c = big[0]!;
    expect(c.qty).toBeGreaterThanOrEqual(20_000);
    const runners = new Set<string>();
    for (const t of d.trades) {
      if (t.traderId === c.traderId || desk(t.traderId) !== desk(c.traderId) || t.instrument !== c.instrument) continue;
      if (t.side !== c.side || t.ts < c.ts - 60_000 || t.ts >= c.ts) continue;
      const back = d.trades.some((r) => r.traderId === t.traderId && r.instrument === t.instrument && r.side !== t.side && r.ts > c.ts && r.ts <= c.ts + 600_000);
      if (back) runners.add(t.traderId);
    }
    expect([...runners]).toEqual([inc.traderId]);
    expect(c.ts).toBeGreaterThanOrEqual(inc.startMs);
    expect(c.ts).toBeLessThanOrEqual(inc.endMs);
  });

  describe('trader limits', () => {
    let paths: ReturnType<typeof traderPaths>;
    beforeAll(() => {
      const ids = new Set(d.incidents.filter((i) => i.traderId && /LIMIT|DRAWDOWN/.test(i.type)).map((i) => i.traderId!));
      paths = traderPaths(d, ids);
    });
    const split = (type: string) => {
      const inc = one(type);
      const p = paths.get(inc.traderId!)!;
      const lim = d.traders.get(inc.traderId!)!;
      return {
        lim,
        before: p.samples.filter((s) => s.ts < inc.startMs),
        during: p.samples.filter((s) => s.ts >= inc.startMs && s.ts <= inc.endMs),
        after: p.samples.filter((s) => s.ts >= inc.startMs),
      };
    };
    const max = (xs: number[]): number => Math.max(-Infinity, ...xs);
    const min = (xs: number[]): number => Math.min(Infinity, ...xs);

    it('POSITION_LIMIT: from <= 65% to >= 110% of maxPosition', () => {
      const { lim, before, during } = split('POSITION_LIMIT');
      expect(max(before.map((s) => s.maxAbsQty))).toBeLessThanOrEqual(0.65 * lim.maxPosition);
      expect(max(during.map((s) => s.maxAbsQty))).toBeGreaterThanOrEqual(1.1 * lim.maxPosition);
    });

    it('NOTIONAL_LIMIT: gross from <= 85% to >= 105% of maxNotional', () => {
      const { lim, before, during } = split('NOTIONAL_LIMIT');
      expect(max(before.map((s) => s.gross))).toBeLessThanOrEqual(0.85 * lim.maxNotional);
      expect(max(during.map((s) => s.gross))).toBeGreaterThanOrEqual(1.05 * lim.maxNotional);
    });

    it('LOSS_LIMIT: pnl below -1.3x maxLoss in the window, never below -0.3x before', () => {
      const { lim, before, during } = split('LOSS_LIMIT');
      expect(min(before.map((s) => s.pnl))).toBeGreaterThan(-0.3 * lim.maxLoss);
      expect(min(during.map((s) => s.pnl))).toBeLessThanOrEqual(-1.3 * lim.maxLoss);
    });

    it('CONCENTRATION_LIMIT: concentration >= 0.75 against a 0.5 limit, on a book >= 30% of maxNotional', () => {
      const { lim, before, after, during } = split('CONCENTRATION_LIMIT');
      expect(before.length).toBe(0);
      expect(lim.maxConcentration).toBe(0.5);
      expect(min(after.filter((s) => s.gross > 0).map((s) => s.concentration))).toBeGreaterThanOrEqual(0.75);
      expect(max(during.map((s) => s.gross))).toBeGreaterThanOrEqual(0.3 * lim.maxNotional);
    });

    it('DRAWDOWN: drawdown >= 1.3x maxLoss while pnl stays above -0.5x maxLoss (no loss breach)', () => {
      const { lim, before, during, after } = split('DRAWDOWN');
      expect(max(before.map((s) => s.drawdown))).toBeLessThanOrEqual(0.3 * lim.maxLoss);
      expect(max(during.map((s) => s.drawdown))).toBeGreaterThanOrEqual(1.3 * lim.maxLoss);
      expect(min([...before, ...after].map((s) => s.pnl))).toBeGreaterThan(-0.5 * lim.maxLoss);
    });

    it('VAR_LIMIT: 99% historical VaR from <= 50% to >= 150% of varLimit', () => {
      const { lim, before, during } = split('VAR_LIMIT');
      expect(max(before.map((s) => s.var99))).toBeLessThanOrEqual(0.5 * lim.varLimit);
      expect(max(during.map((s) => s.var99))).toBeGreaterThanOrEqual(1.5 * lim.varLimit);
    });
  });
});
