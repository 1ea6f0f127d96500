import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { FrontRunningDetector, runDetector, type FrontRunningParams, type Side, type SurvOrder, type SurvTrade } from '../../../src/surveillance/index.js';
import { feed, flatten, newOrderId, order, pick, resetIds, rng, s, trade } from './helpers.js';
import { refFrontRunning } from './reference.js';

const desks = new Map([
  ['TR01', 'EQ-TECH'],
  ['TR02', 'EQ-TECH'],
  ['TR05', 'EQ-ENERGY'],
  ['TR06', 'EQ-ENERGY'],
  ['TR07', 'EQ-ENERGY'],
]);
const P: FrontRunningParams = { minClientQty: 10_000, beforeMs: 60_000, afterMs: 600_000, desks };
const keyOf = (d: Record<string, any>) => d.clientOrderId as string;
const run = (trades: SurvTrade[], orders: SurvOrder[], p: FrontRunningParams = P) => runDetector(new FrontRunningDetector(p), trades, orders);

beforeEach(resetIds);

/** TR05 buys 2,000 at 58 s; desk-mate TR06's client BUY order for 20,000 at 100 s; TR05 sells 2,000 at 412 s. */
function scenario(o: { preAt?: number; preSide?: Side; revAt?: number; revInstrument?: string; qty?: number; client?: boolean; clientTrader?: string; preAsCp?: boolean } = {}) {
  const pre = o.preAsCp
    ? trade(s(o.preAt ?? 58), 'TR09', (o.preSide ?? 'BUY') === 'BUY' ? 'SELL' : 'BUY', 2000, 50, { tradeId: 'P1', cp: 'TR05' })
    : trade(s(o.preAt ?? 58), 'TR05', o.preSide ?? 'BUY', 2000, 50, { tradeId: 'P1', cp: 'TR09' });
  const rev = trade(s(o.revAt ?? 412), 'TR05', 'SELL', 2000, 50.6, { tradeId: 'R1', instrument: o.revInstrument, cp: 'TR09' });
  const orders = [order(s(100), 'C1', o.clientTrader ?? 'TR06', 'NEW', 'BUY', o.qty ?? 20_000, 50.1, { clientOrder: o.client ?? true })];
  return { trades: [pre, rev], orders };
}

describe('FRONT_RUNNING', () => {
  it("alerts when a trader trades ahead of a desk-mate's large client order and reverses within 10 minutes", () => {
    const { trades, orders } = scenario();
    const a = run(trades, orders);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ type: 'FRONT_RUNNING', traderId: 'TR05', eventTime: s(412), value: 20_000, threshold: 10_000, windowStart: s(58), windowEnd: s(412) });
    expect(a[0]!.message).toBe(
      "TR05 bought 2,000 ACME 42.0s before desk-mate TR06's client BUY order for 20,000 (C1) and sold 2,000 5.2 min after it (trades P1, R1)",
    );
    expect(a[0]!.details).toMatchObject({ orderIds: ['C1'], tradeIds: ['P1', 'R1'], findings: [{ desk: 'EQ-ENERGY', leadMs: 42_000, reverseAfterMs: 312_000 }] });
  });

  it('alerts exactly at the limits: 60 s before, 10,000 shares, 10 minutes after', () => {
    expect(run(...args(scenario({ preAt: 40 })))).toHaveLength(1);
    expect(run(...args(scenario({ qty: 10_000 })))).toHaveLength(1);
    expect(run(...args(scenario({ revAt: 700 })))).toHaveLength(1);
  });

  it('counts trades where the front-runner is the counterparty', () => {
    expect(run(...args(scenario({ preAsCp: true })))).toHaveLength(1);
  });

  it.each([
    ['the trade 60.001 s before', scenario({ preAt: 39.999 })],
    ['the reversal 10 min + 1 ms after', scenario({ revAt: 700.001 })],
    ['a client order of 9,999', scenario({ qty: 9999 })],
    ['not a client order', scenario({ client: false })],
    ['the trade in the other direction', scenario({ preSide: 'SELL' })],
    ['the client order on another desk', scenario({ clientTrader: 'TR01' })],
    ["the trader's own client order", scenario({ clientTrader: 'TR05' })],
    ['the reversal in another instrument', scenario({ revInstrument: 'BETA' })],
  ])('does not alert just outside a limit: %s', (_n, sc) => {
    expect(run(sc.trades, sc.orders)).toEqual([]);
  });

  it('does not treat a REPLACE that grows an order as a client order', () => {
    const { trades } = scenario();
    const orders = [order(s(99), 'C1', 'TR06', 'NEW', 'BUY', 5000, 50.1, { clientOrder: true }), order(s(100), 'C1', 'TR06', 'REPLACE', 'BUY', 20_000, 50.1, { clientOrder: true })];
    expect(run(trades, orders)).toEqual([]);
  });

  it('alerts once per client order and desk-mate', () => {
    const { trades, orders } = scenario();
    trades.push(trade(s(70), 'TR07', 'BUY', 300, 50, { tradeId: 'P2' }), trade(s(500), 'TR07', 'SELL', 300, 50.7, { tradeId: 'R2' }));
    trades.push(trade(s(600), 'TR05', 'SELL', 100, 50.7, { tradeId: 'R3' })); // a second reversal: already reported
    trades.sort((x, y) => x.ts - y.ts);
    expect(flatten(run(trades, orders), keyOf)).toEqual([`TR05|${s(412)}|C1`, `TR07|${s(500)}|C1`]);
  });
});

/** Random desk flow over 30 minutes with occasional large client orders. */
function randomFlow(seed: number, n: number): { trades: SurvTrade[]; orders: SurvOrder[] } {
  const r = rng(seed);
  const traders = ['TR01', 'TR02', 'TR05', 'TR06', 'TR07', 'TR99'];
  const trades: SurvTrade[] = [];
  const orders: SurvOrder[] = [];
  let ts = s(0);
  for (let i = 0; i < n; i++) {
    ts += Math.floor(r() * 18_000);
    const instrument = pick(r, ['ACME', 'BETA']);
    if (r() < 0.15) {
      orders.push(
        order(ts, newOrderId(), pick(r, traders), pick(r, ['NEW', 'NEW', 'NEW', 'REPLACE'] as const), r() < 0.5 ? 'BUY' : 'SELL', pick(r, [5000, 9999, 10_000, 20_000]), 50, {
          instrument,
          clientOrder: r() < 0.7,
        }),
      );
    } else {
      trades.push(trade(ts, pick(r, traders), r() < 0.5 ? 'BUY' : 'SELL', 100, 50, { instrument, cp: r() < 0.5 ? pick(r, traders) : undefined }));
    }
  }
  return { trades, orders };
}

describe('FRONT_RUNNING against a brute-force reference', () => {
  it('finds exactly the reference findings on random desk flow', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.constantFrom(60_000, 20_000), fc.constantFrom(600_000, 120_000), (seed, beforeMs, afterMs) => {
        const { trades, orders } = randomFlow(seed, 200);
        const p = { ...P, beforeMs, afterMs };
        expect(flatten(run(trades, orders, p), keyOf)).toEqual(refFrontRunning(trades, orders, p));
        return true;
      }),
      { numRuns: 60 },
    );
  });

  it('the random flows are not vacuous', () => {
    let n = 0;
    let short = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { trades, orders } = randomFlow(seed, 200);
      n += refFrontRunning(trades, orders, P).length;
      short += refFrontRunning(trades, orders, { ...P, afterMs: 60_000 }).length;
    }
    expect(n).toBeGreaterThan(20);
    expect(short).toBeLessThan(n);
  });

  it('gives the same alerts under shuffles within the watermark bound, any batching, and snapshot/restore', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const { trades, orders } = randomFlow(seed, 200);
        const whole = run(trades, orders);
        const shuffled = feed(() => new FrontRunningDetector(P), trades, orders, { seed, bound: 20_000, restoreEvery: 25 });
        expect(JSON.stringify(shuffled)).toBe(JSON.stringify(whole));
        return true;
      }),
      { numRuns: 40 },
    );
  });
});

function args(sc: { trades: SurvTrade[]; orders: SurvOrder[] }): [SurvTrade[], SurvOrder[]] {
  return [sc.trades, sc.orders];
}
