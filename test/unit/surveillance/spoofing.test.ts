import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { Sequencer, SpoofingDetector, runDetector, type SpoofingParams, type SurvOrder, type SurvTrade } from '../../../src/surveillance/index.js';
import { feed, flatten, newOrderId, order, pick, resetIds, rng, s, trade } from './helpers.js';
import { refSpoofing } from './reference.js';

const P: SpoofingParams = { sizeMultiple: 10, medianWindow: 1000, minMedianOrders: 1, cancelWithinMs: 2000, fillWindowMs: 5000, orderTtlMs: 600_000 };
const keyOf = (d: Record<string, any>) => (d.orderIds as string[]).join(',');
const run = (trades: SurvTrade[], orders: SurvOrder[], p: SpoofingParams = P) => runDetector(new SpoofingDetector(p), trades, orders);

beforeEach(resetIds);

/** TR03's history (five NEW orders of 1,000 -> median 1,000), then the spoof at 100 s, cancelled at 100.8 s. */
function scenario(o: { qty?: number; cancelAt?: number; fillAt?: number; fillSide?: 'BUY' | 'SELL'; fillInstrument?: string; asCounterparty?: boolean } = {}) {
  const orders: SurvOrder[] = [];
  for (let i = 0; i < 5; i++) {
    const id = `H${i}`;
    orders.push(order(s(10 + i), id, 'TR03', 'NEW', 'BUY', 1000, 100));
    orders.push(order(s(10.5 + i), id, 'TR03', 'CANCEL', 'BUY', 1000, 100));
  }
  orders.push(order(s(100), 'SPOOF', 'TR03', 'NEW', 'BUY', o.qty ?? 12_000, 101.2));
  if (o.cancelAt !== Number.POSITIVE_INFINITY) orders.push(order(s(o.cancelAt ?? 100.8), 'SPOOF', 'TR03', 'CANCEL', 'BUY', o.qty ?? 12_000, 101.2));
  const side = o.fillSide ?? 'SELL';
  const fill = o.asCounterparty
    ? trade(s(o.fillAt ?? 102), 'TR07', side === 'SELL' ? 'BUY' : 'SELL', 2000, 101.25, { cp: 'TR03', tradeId: 'F1', instrument: o.fillInstrument })
    : trade(s(o.fillAt ?? 102), 'TR03', side, 2000, 101.25, { tradeId: 'F1', instrument: o.fillInstrument, cp: 'TR07' });
  return { orders, trades: [fill] };
}

describe('SPOOFING', () => {
  it('alerts on a large order cancelled unfilled within 2 s while the trader sells, once the +5 s window has passed', () => {
    const { trades, orders } = scenario();
    const a = run(trades, orders);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ type: 'SPOOFING', traderId: 'TR03', eventTime: s(105), value: 12, threshold: 10, windowStart: s(95), windowEnd: s(105) });
    expect(a[0]!.message).toBe(
      'TR03 placed BUY 12,000 ACME @ 101.20 (12.0x their median order of 1,000) and cancelled it unfilled after 0.8s while selling 2,000 within 5s of placing it (order SPOOF; trades F1)',
    );
    expect(a[0]!.details).toMatchObject({ orderIds: ['SPOOF'], tradeIds: ['F1'], findings: [{ medianQty: 1000, cancelAfterMs: 800, oppositeQty: 2000 }] });
  });

  it('waits for fills up to +5 s in event time (a fill at exactly +5 s, arriving last, still counts)', () => {
    const { orders } = scenario();
    const det = new SpoofingDetector(P);
    const seq = new Sequencer();
    for (const o of orders) seq.offerOrder(o);
    seq.release(s(105) - 1, det);
    expect(det.takeAlerts()).toEqual([]);
    seq.offerTrade(trade(s(105), 'TR03', 'SELL', 2000, 101.25, { tradeId: 'LATEFILL' }));
    seq.release(s(105), det);
    expect(flatten(det.takeAlerts(), keyOf)).toEqual([`TR03|${s(105)}|SPOOF`]);
  });

  it('alerts exactly at the limits: 10x, cancelled after 2 s, fills at -5 s and +5 s', () => {
    expect(run(...args(scenario({ qty: 10_000 })))).toHaveLength(1);
    expect(run(...args(scenario({ cancelAt: 102 })))).toHaveLength(1);
    expect(run(...args(scenario({ fillAt: 95 })))).toHaveLength(1);
    expect(run(...args(scenario({ fillAt: 105 })))).toHaveLength(1);
  });

  it('counts a fill where the trader is the counterparty', () => {
    expect(run(...args(scenario({ asCounterparty: true })))).toHaveLength(1);
  });

  it.each([
    ['9.99x the median', scenario({ qty: 9990 })],
    ['cancelled after 2.001 s', scenario({ cancelAt: 102.001 })],
    ['never cancelled', scenario({ cancelAt: Number.POSITIVE_INFINITY })],
    ['opposite fill 5.001 s after', scenario({ fillAt: 105.001 })],
    ['opposite fill 5.001 s before', scenario({ fillAt: 94.999 })],
    ['a fill on the same side', scenario({ fillSide: 'BUY' })],
    ['a fill in another instrument', scenario({ fillInstrument: 'BETA' })],
  ])('does not alert just outside a limit: %s', (_n, sc) => {
    expect(run(sc.trades, sc.orders)).toEqual([]);
  });

  it('does not alert when the order was (partly) filled before the CANCEL, a fill at the same instant included', () => {
    for (const at of [100.5, 100.8]) {
      const { trades, orders } = scenario();
      trades.push(trade(s(at), 'TR03', 'BUY', 100, 101.2, { orderId: 'SPOOF' }));
      expect(run(trades, orders)).toEqual([]);
    }
  });

  it('judges the largest size the order displayed: a small NEW grown by REPLACE', () => {
    const { trades, orders } = scenario({ qty: 900 });
    orders.push(order(s(100.3), 'SPOOF', 'TR03', 'REPLACE', 'BUY', 15_000, 101.2));
    const a = run(trades, orders);
    expect(a.map((x) => x.value)).toEqual([15]);
  });

  it("uses the median of the trader's NEW orders BEFORE this one (the first order has no median)", () => {
    const orders = [order(s(0), 'A', 'TR03', 'NEW', 'BUY', 100, 10), order(s(1), 'A', 'TR03', 'CANCEL', 'BUY', 100, 10)];
    const trades = [trade(s(2), 'TR03', 'SELL', 100, 10)];
    expect(run(trades, orders)).toEqual([]);
    orders.push(order(s(3), 'B', 'TR03', 'NEW', 'BUY', 1000, 10), order(s(4), 'B', 'TR03', 'CANCEL', 'BUY', 1000, 10));
    expect(flatten(run(trades, orders), keyOf)).toEqual([`TR03|${s(8)}|B`]);
    // With minMedianOrders 2, one earlier order is not enough.
    expect(run(trades, orders, { ...P, minMedianOrders: 2 })).toEqual([]);
  });

  it('merges spoof orders of one trader judged at the same instant into one alert', () => {
    const { trades, orders } = scenario();
    orders.push(order(s(100), 'SPOOF2', 'TR03', 'NEW', 'BUY', 20_000, 101.1), order(s(101), 'SPOOF2', 'TR03', 'CANCEL', 'BUY', 20_000, 101.1));
    const a = run(trades, orders);
    expect(a).toHaveLength(1);
    expect(a[0]!.details.orderIds).toEqual(['SPOOF', 'SPOOF2']);
    expect(a[0]!.value).toBe(20);
    expect((a[0]!.details.findings as unknown[]).length).toBe(2);
  });
});

/** Random orders and trades of three traders: sizes that are sometimes 10x the usual, cancels around 2 s, fills around. */
function randomFlow(seed: number, n: number): { trades: SurvTrade[]; orders: SurvOrder[] } {
  const r = rng(seed);
  const traders = ['TR01', 'TR02', 'TR03'];
  const trades: SurvTrade[] = [];
  const orders: SurvOrder[] = [];
  const live: SurvOrder[] = [];
  let ts = s(0);
  for (let i = 0; i < n; i++) {
    ts += Math.floor(r() * 900);
    const x = r();
    if (x < 0.4) {
      const o = order(ts, newOrderId(), pick(r, traders), 'NEW', r() < 0.5 ? 'BUY' : 'SELL', pick(r, [100, 100, 200, 300, 1000, 1500, 2000, 3000, 10_000]), 50, {
        instrument: pick(r, ['ACME', 'BETA']),
      });
      orders.push(o);
      live.push(o);
      const y = r();
      if (y < 0.7) orders.push({ ...o, action: 'CANCEL', ts: ts + pick(r, [0, 300, 1500, 2000, 2001, 2500, 4000]) });
      else if (y < 0.8) {
        orders.push({ ...o, action: 'REPLACE', ts: ts + 200, qty: pick(r, [100, 3000, 12_000]) });
        orders.push({ ...o, action: 'CANCEL', ts: ts + pick(r, [1000, 1999, 2000, 2200]) });
      }
    } else if (x < 0.55 && live.length) {
      const o = pick(r, live);
      trades.push(trade(ts + pick(r, [0, 100, 300, 1500, 2000]), o.traderId, o.side, 100, 50, { instrument: o.instrument, orderId: o.orderId }));
    } else {
      trades.push(
        trade(ts, pick(r, traders), r() < 0.5 ? 'BUY' : 'SELL', 100, 50, {
          instrument: pick(r, ['ACME', 'BETA']),
          cp: r() < 0.5 ? pick(r, ['TR01', 'TR02', 'TR03', 'TR09']) : undefined,
        }),
      );
    }
  }
  return { trades, orders };
}

describe('SPOOFING against a brute-force reference', () => {
  for (const medianWindow of [0, 5]) {
    it(`finds exactly the reference findings on random flows (median window ${medianWindow || 'all'})`, () => {
      const p = { ...P, medianWindow };
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
          const { trades, orders } = randomFlow(seed, 200);
          expect(flatten(run(trades, orders, p), keyOf)).toEqual(refSpoofing(trades, orders, p));
          return true;
        }),
        { numRuns: 50 },
      );
    });
  }

  it('the random flows are not vacuous', () => {
    let n = 0;
    let loose = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { trades, orders } = randomFlow(seed, 200);
      n += refSpoofing(trades, orders, P).length;
      loose += refSpoofing(trades, orders, { ...P, cancelWithinMs: 2500, sizeMultiple: 8 }).length;
    }
    expect(n).toBeGreaterThan(10);
    expect(loose).toBeGreaterThan(n);
  });

  it('gives the same alerts under shuffles within the watermark bound, any batching, and snapshot/restore', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const { trades, orders } = randomFlow(seed, 200);
        const whole = run(trades, orders);
        const shuffled = feed(() => new SpoofingDetector(P), trades, orders, { seed, bound: 2000, restoreEvery: 20 });
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
