import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { WashTradeDetector, runDetector, withinTolerance, type SurvTrade, type WashTradeParams } from '../../../src/surveillance/index.js';
import { feed, flatten, pick, resetIds, rng, s, trade } from './helpers.js';
import { refWashTrades } from './reference.js';

const owners = new Map([
  ['TR01', 'OWN-TR01'],
  ['TR02', 'OWN-TR02'],
  ['TR04', 'OWN-NORTHWIND'],
  ['TR09', 'OWN-NORTHWIND'],
]);
const P: WashTradeParams = { windowMs: 60_000, qtyTolerance: 0.05, priceTolerance: 0.001, owners };
const run = (trades: SurvTrade[], p: WashTradeParams = P) => runDetector(new WashTradeDetector(p), trades, []);
const keyOf = (d: Record<string, any>) => (d.tradeIds as string[]).join(',');

beforeEach(resetIds);

describe('WASH_TRADE: beneficial owner', () => {
  it('alerts on a trade between two accounts of one owner, naming the buyer, the trade and the owner', () => {
    const a = run([trade(s(1), 'TR09', 'SELL', 5000, 101.2, { cp: 'TR04', tradeId: 'T77' })]);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ type: 'WASH_TRADE', traderId: 'TR04', eventTime: s(1), value: 0, threshold: 60 });
    expect(a[0]!.message).toBe('TR04 bought 5,000 ACME @ 101.20 from TR09; both belong to beneficial owner OWN-NORTHWIND (trade T77)');
    expect(a[0]!.details).toMatchObject({ tradeIds: ['T77'], orderIds: [] });
  });

  it('alerts on a trader trading with itself', () => {
    const a = run([trade(s(1), 'TR01', 'BUY', 100, 10, { cp: 'TR01', tradeId: 'T1' })]);
    expect(a.map((x) => x.message)).toEqual(['TR01 traded 100 ACME @ 10.00 with itself (trade T1)']);
  });

  it("alerts once when the feed also carries the counterparty's mirror record, in either order", () => {
    const buySide = trade(s(1), 'TR04', 'BUY', 5000, 101.2, { cp: 'TR09', tradeId: 'T1-B' });
    const sellSide = trade(s(1), 'TR09', 'SELL', 5000, 101.2, { cp: 'TR04', tradeId: 'T1-S' });
    const one = run([buySide, sellSide]);
    const other = run([sellSide, buySide]);
    expect(one).toHaveLength(1);
    expect(other).toHaveLength(1);
    expect(one[0]!.traderId).toBe('TR04');
    expect(other[0]!.traderId).toBe('TR04');
    // A second, distinct trade at the same instant still alerts (merged into the same alert: one id per trader and instant).
    const again = run([buySide, sellSide, trade(s(1), 'TR04', 'BUY', 5000, 101.2, { cp: 'TR09', tradeId: 'T2-B' })]);
    expect(flatten(again, keyOf)).toEqual([`TR04|${s(1)}|T1-B`, `TR04|${s(1)}|T2-B`]);
  });

  it('does not alert for different owners, unknown traders or a missing counterparty', () => {
    expect(run([trade(s(1), 'TR01', 'BUY', 100, 10, { cp: 'TR02' })])).toEqual([]);
    expect(run([trade(s(1), 'TR77', 'BUY', 100, 10, { cp: 'TR78' })])).toEqual([]);
    expect(run([trade(s(1), 'TR04', 'BUY', 100, 10)])).toEqual([]);
  });
});

describe('WASH_TRADE: same trader buys and sells', () => {
  const base = (dt: number, qty2: number, price2: number, extra: { instrument?: string; trader2?: string } = {}) => [
    trade(s(0), 'TR01', 'BUY', 1000, 100, { tradeId: 'A' }),
    trade(s(0) + dt, extra.trader2 ?? 'TR01', 'SELL', qty2, price2, { tradeId: 'B', instrument: extra.instrument ?? 'ACME' }),
  ];

  it('alerts on a round trip within 60 s, qty within 5%, price within 0.1%', () => {
    const a = run(base(12_300, 960, 100.08));
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ traderId: 'TR01', eventTime: s(12.3), value: 12.3 });
    expect(a[0]!.message).toBe(
      'TR01 bought 1,000 ACME @ 100.00 and sold 960 @ 100.08 12.3s later (trades A, B; limits 60s, qty within 5%, price within 0.1%)',
    );
    expect(a[0]!.details).toMatchObject({ tradeIds: ['A', 'B'] });
  });

  it('alerts exactly at the limits (60 s, 5%, 0.1%)', () => {
    expect(run(base(60_000, 950, 100.1))).toHaveLength(1);
  });

  it.each([
    ['60.001 s apart', base(60_001, 1000, 100)],
    ['quantities 5.1% apart', base(1000, 949, 100)],
    ['prices 0.11% apart', base(1000, 1000, 100.11)],
    ['another instrument', base(1000, 1000, 100, { instrument: 'BETA' })],
    ['another trader', base(1000, 1000, 100, { trader2: 'TR02' })],
  ])('does not alert just outside a limit: %s', (_name, trades) => {
    expect(run(trades)).toEqual([]);
  });

  it('does not pair two buys, and uses each leg once (B S B S gives two alerts)', () => {
    expect(run([trade(s(0), 'TR01', 'BUY', 100, 10), trade(s(1), 'TR01', 'BUY', 100, 10)])).toEqual([]);
    const a = run([
      trade(s(0), 'TR01', 'BUY', 100, 10, { tradeId: 'A' }),
      trade(s(1), 'TR01', 'SELL', 100, 10, { tradeId: 'B' }),
      trade(s(2), 'TR01', 'BUY', 100, 10, { tradeId: 'C' }),
      trade(s(3), 'TR01', 'SELL', 100, 10, { tradeId: 'D' }),
    ]);
    expect(flatten(a, keyOf)).toEqual([`TR01|${s(1)}|A,B`, `TR01|${s(3)}|C,D`]);
  });

  it('pairs with the earliest matching leg, skipping legs that do not match', () => {
    const a = run([
      trade(s(0), 'TR01', 'BUY', 500, 10, { tradeId: 'A' }),
      trade(s(1), 'TR01', 'BUY', 100, 10, { tradeId: 'B' }),
      trade(s(2), 'TR01', 'BUY', 101, 10, { tradeId: 'C' }),
      trade(s(3), 'TR01', 'SELL', 100, 10, { tradeId: 'D' }),
    ]);
    expect(flatten(a, keyOf)).toEqual([`TR01|${s(3)}|B,D`]);
  });

  it('tolerances are symmetric', () => {
    expect(withinTolerance(1000, 950, 0.05)).toBe(true);
    expect(withinTolerance(950, 1000, 0.05)).toBe(true);
    expect(withinTolerance(1000, 949, 0.05)).toBe(false);
  });
});

/** Dense random trades over few traders, instruments, sizes and prices: many matches and near misses. */
function randomTrades(seed: number, n: number): SurvTrade[] {
  const r = rng(seed);
  const traders = ['TR01', 'TR02', 'TR04', 'TR09', 'TR05'];
  const out: SurvTrade[] = [];
  let ts = s(0);
  for (let i = 0; i < n; i++) {
    ts += r() < 0.1 ? 0 : Math.floor(r() * 8000);
    const trader = pick(r, traders);
    const cp = r() < 0.6 ? pick(r, traders) : undefined;
    const t = trade(ts, trader, r() < 0.5 ? 'BUY' : 'SELL', pick(r, [100, 103, 105, 106, 110, 200]), pick(r, [50, 50.04, 50.05, 50.06, 51]), {
      instrument: pick(r, ['ACME', 'BETA']),
      cp,
    });
    out.push(t);
    // Sometimes the feed also reports the counterparty's side.
    if (cp !== undefined && r() < 0.3) out.push(trade(ts, cp, t.side === 'BUY' ? 'SELL' : 'BUY', t.qty, t.price, { instrument: t.instrument, cp: trader }));
  }
  return out;
}

describe('WASH_TRADE against a brute-force reference', () => {
  it('finds exactly the reference findings on random streams with planted washes and near misses', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const trades = randomTrades(seed, 150);
        const got = flatten(run(trades), keyOf);
        expect(got).toEqual(refWashTrades(trades, P));
        return true;
      }),
      { numRuns: 60 },
    );
  });

  it('the random streams are not vacuous: both kinds of wash and near misses occur', () => {
    let bo = 0;
    let pairs = 0;
    for (let seed = 1; seed <= 20; seed++) {
      for (const k of refWashTrades(randomTrades(seed, 150), P)) k.split('|')[2]!.includes(',') ? pairs++ : bo++;
    }
    expect(bo).toBeGreaterThan(20);
    expect(pairs).toBeGreaterThan(20);
    // Tighter tolerances drop some pairs: the streams straddle the limits.
    const tight = { ...P, qtyTolerance: 0.03, priceTolerance: 0.0005 };
    let tightPairs = 0;
    for (let seed = 1; seed <= 20; seed++) tightPairs += refWashTrades(randomTrades(seed, 150), tight).filter((k) => k.split('|')[2]!.includes(',')).length;
    expect(tightPairs).toBeLessThan(pairs);
  });

  it('finds the reference findings with many traders over a long stream (legs ring growth and wrap-around, sweeps)', { timeout: 60_000 }, () => {
    const r = rng(99);
    const traders = Array.from({ length: 60 }, (_, i) => `TR${100 + i}`);
    const trades: SurvTrade[] = [];
    let ts = s(0);
    for (let i = 0; i < 3000; i++) {
      ts += Math.floor(r() * 2000);
      // Half-way the population shrinks to 6 traders: the others go quiet and are swept.
      const trader = pick(r, i < 1500 ? traders : traders.slice(0, 6));
      trades.push(trade(ts, trader, r() < 0.5 ? 'BUY' : 'SELL', pick(r, [100, 104, 106, 200]), pick(r, [50, 50.04, 50.06]), { instrument: pick(r, ['ACME', 'BETA']) }));
    }
    const got = flatten(run(trades), keyOf);
    expect(got).toEqual(refWashTrades(trades, P));
    expect(got.length).toBeGreaterThan(300);
    const restored = feed(() => new WashTradeDetector(P), trades, [], { seed: 5, bound: 3000, restoreEvery: 200 });
    expect(JSON.stringify(restored)).toBe(JSON.stringify(run(trades)));
  });

  it('gives the same alerts under shuffles within the watermark bound, any batching, and snapshot/restore', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const trades = randomTrades(seed, 120);
        const whole = run(trades);
        const shuffled = feed(() => new WashTradeDetector(P), trades, [], { seed, bound: 3000, restoreEvery: 15 });
        expect(JSON.stringify(shuffled)).toBe(JSON.stringify(whole));
        return true;
      }),
      { numRuns: 40 },
    );
  });
});
