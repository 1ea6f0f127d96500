import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { LayeringDetector, runDetector, type LayeringParams, type Side, type SurvOrder, type SurvTrade } from '../../../src/surveillance/index.js';
import { feed, flatten, newOrderId, order, pick, resetIds, rng, s, trade } from './helpers.js';
import { refLayering } from './reference.js';

const P: LayeringParams = { minOrders: 3, minLevels: 3, placeWithinMs: 1000, cancelWithinMs: 5000, orderTtlMs: 600_000 };
const keyOf = (d: Record<string, any>) => [...(d.orderIds as string[])].sort().join(',');
const run = (trades: SurvTrade[], orders: SurvOrder[], p: LayeringParams = P) => runDetector(new LayeringDetector(p), trades, orders);

beforeEach(resetIds);

interface Layer {
  at: number;
  price: number;
  cancelAfter?: number;
}

/** TR05 ladders SELL orders (defaults: 101.30/101.40/101.50 at 200, 200.3, 200.6 s, cancelled 2-3.4 s later) and buys 2,000 at 201 s. */
function scenario(o: { layers?: Layer[]; fillAt?: number; fillSide?: Side; side?: Side } = {}) {
  const layers = o.layers ?? [
    { at: 200, price: 101.3, cancelAfter: 2 },
    { at: 200.3, price: 101.4, cancelAfter: 2.7 },
    { at: 200.6, price: 101.5, cancelAfter: 3.4 },
  ];
  const side = o.side ?? 'SELL';
  const orders: SurvOrder[] = [];
  layers.forEach((l, i) => {
    const id = `L${i + 1}`;
    orders.push(order(s(l.at), id, 'TR05', 'NEW', side, 500, l.price));
    if (l.cancelAfter !== undefined) orders.push(order(s(l.at + l.cancelAfter), id, 'TR05', 'CANCEL', side, 500, l.price));
  });
  const trades = [trade(s(o.fillAt ?? 201), 'TR05', o.fillSide ?? 'BUY', 2000, 101.2, { tradeId: 'F1', cp: 'TR06' })];
  return { trades, orders };
}

describe('LAYERING', () => {
  it('alerts on 3 orders at 3 levels within 1 s, all cancelled within 5 s, around an opposite fill', () => {
    const { trades, orders } = scenario();
    const a = run(trades, orders);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ type: 'LAYERING', traderId: 'TR05', eventTime: s(206), value: 3, threshold: 3, windowStart: s(200), windowEnd: s(204) });
    expect(a[0]!.message).toBe(
      'TR05 placed 3 SELL orders on ACME at 3 price levels (101.30-101.50) within 0.6s and cancelled each within 3.4s, while buying 2,000 (orders L1, L2, L3; trades F1)',
    );
    expect(a[0]!.details).toMatchObject({ orderIds: ['L1', 'L2', 'L3'], tradeIds: ['F1'] });
  });

  it('alerts exactly at the limits: third order at +1 s, a cancel after 5 s, the fill at the first NEW or the last CANCEL', () => {
    const at = (third: Layer) => scenario({ layers: [{ at: 200, price: 101.3, cancelAfter: 1 }, { at: 200.5, price: 101.4, cancelAfter: 1 }, third] });
    expect(run(...args(at({ at: 201, price: 101.5, cancelAfter: 1 })))).toHaveLength(1);
    expect(run(...args(at({ at: 200.8, price: 101.5, cancelAfter: 5 })))).toHaveLength(1);
    expect(run(...args(scenario({ fillAt: 200 })))).toHaveLength(1);
    expect(run(...args(scenario({ fillAt: 204 })))).toHaveLength(1);
  });

  it.each([
    ['only 2 orders', scenario({ layers: [{ at: 200, price: 101.3, cancelAfter: 1 }, { at: 200.5, price: 101.4, cancelAfter: 1 }] })],
    ['3 orders at 2 price levels', scenario({ layers: [{ at: 200, price: 101.3, cancelAfter: 1 }, { at: 200.5, price: 101.4, cancelAfter: 1 }, { at: 200.6, price: 101.4, cancelAfter: 1 }] })],
    ['the third placed 1.001 s after the first', scenario({ layers: [{ at: 200, price: 101.3, cancelAfter: 1 }, { at: 200.5, price: 101.4, cancelAfter: 1 }, { at: 201.001, price: 101.5, cancelAfter: 1 }] })],
    ['one cancelled 5.001 s after its NEW', scenario({ layers: [{ at: 200, price: 101.3, cancelAfter: 1 }, { at: 200.5, price: 101.4, cancelAfter: 1 }, { at: 200.6, price: 101.5, cancelAfter: 5.001 }] })],
    ['one never cancelled', scenario({ layers: [{ at: 200, price: 101.3, cancelAfter: 1 }, { at: 200.5, price: 101.4, cancelAfter: 1 }, { at: 200.6, price: 101.5 }] })],
    ['the fill 1 ms before the first NEW', scenario({ fillAt: 199.999 })],
    ['the fill 1 ms after the last CANCEL', scenario({ fillAt: 204.001 })],
    ['a fill on the same side', scenario({ fillSide: 'SELL' })],
  ])('does not alert just outside a limit: %s', (_n, sc) => {
    expect(run(sc.trades, sc.orders)).toEqual([]);
  });

  it('reports a ladder once (all its orders), and a later ladder again', () => {
    const first = scenario({
      layers: [
        { at: 200, price: 101.3, cancelAfter: 1 },
        { at: 200.2, price: 101.4, cancelAfter: 1 },
        { at: 200.4, price: 101.5, cancelAfter: 1 },
        { at: 200.6, price: 101.6, cancelAfter: 1 },
      ],
    });
    const a = run(first.trades, first.orders);
    expect(flatten(a, keyOf)).toEqual([`TR05|${s(206)}|L1,L2,L3,L4`]);
    const again = [
      ...first.orders,
      ...[0, 1, 2].flatMap((i) => [order(s(230 + i * 0.1), `M${i}`, 'TR05', 'NEW', 'SELL', 500, 102 + i), order(s(232), `M${i}`, 'TR05', 'CANCEL', 'SELL', 500, 102)]),
    ];
    const b = run([...first.trades, trade(s(231), 'TR05', 'BUY', 100, 101)], again);
    expect(flatten(b, keyOf)).toEqual([`TR05|${s(206)}|L1,L2,L3,L4`, `TR05|${s(236)}|M0,M1,M2`]);
  });

  it('judges price levels as placed: REPLACEs that spread three same-price orders do not make a ladder', () => {
    const sc = scenario({ layers: [{ at: 200, price: 101.3, cancelAfter: 2 }, { at: 200.3, price: 101.3, cancelAfter: 2 }, { at: 200.6, price: 101.3, cancelAfter: 2 }] });
    sc.orders.push(order(s(200.7), 'L2', 'TR05', 'REPLACE', 'SELL', 500, 101.4), order(s(200.8), 'L3', 'TR05', 'REPLACE', 'SELL', 500, 101.5));
    expect(run(sc.trades, sc.orders)).toEqual([]);
  });

  it('counts a partly filled order that is then cancelled, and a fill as counterparty', () => {
    const sc = scenario({ fillAt: 300 });
    sc.trades.push(trade(s(200.1), 'TR05', 'SELL', 100, 101.3, { orderId: 'L1' }));
    sc.trades.push(trade(s(201.5), 'TR06', 'SELL', 700, 101.2, { cp: 'TR05', tradeId: 'CPF' }));
    expect(flatten(run(sc.trades, sc.orders), keyOf)).toEqual([`TR05|${s(206)}|L1,L2,L3`]);
  });
});

/** Bursts of orders on one side (2-5 orders, 0-1.5 s, a few price levels), cancels around 5 s, fills on both sides. */
function randomFlow(seed: number, bursts: number, traders = ['TR05', 'TR06'], gapMs = 3000): { trades: SurvTrade[]; orders: SurvOrder[] } {
  const r = rng(seed);
  const trades: SurvTrade[] = [];
  const orders: SurvOrder[] = [];
  let ts = s(0);
  for (let b = 0; b < bursts; b++) {
    ts += Math.floor(r() * gapMs);
    const trader = pick(r, traders);
    const instrument = pick(r, ['ACME', 'BETA']);
    const side: Side = r() < 0.5 ? 'BUY' : 'SELL';
    const k = 2 + Math.floor(r() * 4);
    for (let i = 0; i < k; i++) {
      const at = ts + pick(r, [0, 200, 500, 900, 1000, 1001, 1500]);
      const id = newOrderId();
      orders.push(order(at, id, trader, 'NEW', side, 100, pick(r, [100, 100.1, 100.1, 100.2, 100.3]), { instrument }));
      const c = pick(r, [500, 3000, 5000, 5001, 7000, -1]);
      if (c >= 0) orders.push(order(at + c, id, trader, 'CANCEL', side, 100, 100, { instrument }));
    }
    const f = r();
    if (f < 0.6) {
      trades.push(trade(ts + pick(r, [-100, 0, 1000, 4000, 6000, 6001]), pick(r, ['TR05', 'TR06', 'TR07']), r() < 0.5 ? 'BUY' : 'SELL', 100, 100, { instrument, cp: r() < 0.5 ? trader : 'TR07' }));
    }
  }
  return { trades, orders };
}

describe('LAYERING against a brute-force reference', () => {
  it('finds exactly the reference findings on random bursts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const { trades, orders } = randomFlow(seed, 60);
        expect(flatten(run(trades, orders), keyOf)).toEqual(refLayering(trades, orders, P));
        return true;
      }),
      { numRuns: 60 },
    );
  });

  it('finds the reference findings with many traders over a long stream (order ring growth and wrap-around, sweeps)', { timeout: 60_000 }, () => {
    const many = Array.from({ length: 50 }, (_, i) => `TR${100 + i}`);
    let found = 0;
    for (const seed of [1, 2, 3]) {
      // Bursts overlap (ring growth), then 5 traders only for a while (the others are swept), then all again.
      const a = randomFlow(seed, 300, many, 400);
      const quiet = randomFlow(seed + 10, 300, many.slice(0, 5), 2000);
      const b = randomFlow(seed + 20, 300, many, 400);
      const shift = (o: { trades: SurvTrade[]; orders: SurvOrder[] }, dt: number) => ({
        trades: o.trades.map((t) => ({ ...t, ts: t.ts + dt })),
        orders: o.orders.map((x) => ({ ...x, ts: x.ts + dt })),
      });
      const q = shift(quiet, 200_000);
      const c = shift(b, 900_000);
      const trades = [...a.trades, ...q.trades, ...c.trades];
      const orders = [...a.orders, ...q.orders, ...c.orders];
      const got = flatten(run(trades, orders), keyOf);
      expect(got).toEqual(refLayering(trades, orders, P));
      found += got.length;
      const restored = feed(() => new LayeringDetector(P), trades, orders, { seed, bound: 2500, restoreEvery: 300 });
      expect(JSON.stringify(restored)).toBe(JSON.stringify(run(trades, orders)));
    }
    expect(found).toBeGreaterThan(15);
  });

  it('the random bursts are not vacuous', () => {
    let n = 0;
    let strict = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { trades, orders } = randomFlow(seed, 60);
      n += refLayering(trades, orders, P).length;
      strict += refLayering(trades, orders, { ...P, minLevels: 4 }).length;
    }
    expect(n).toBeGreaterThan(10);
    expect(strict).toBeLessThan(n);
  });

  it('gives the same alerts under shuffles within the watermark bound, any batching, and snapshot/restore', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const { trades, orders } = randomFlow(seed, 60);
        const whole = run(trades, orders);
        const shuffled = feed(() => new LayeringDetector(P), trades, orders, { seed, bound: 2500, restoreEvery: 60 });
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
