import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Deque,
  EventTimers,
  FillHistory,
  FindingGrouper,
  OrderBookState,
  TallyMedian,
  Sequencer,
  type AlertDraft,
  type Detector,
  type Finding,
  type SurvOrder,
  type SurvTrade,
} from '../../../src/surveillance/index.js';
import { order, trade } from './helpers.js';

describe('TallyMedian (the spoofing median)', () => {
  const sortedMedian = (xs: number[]): number => {
    const a = xs.slice().sort((x, y) => x - y);
    const n = a.length;
    return n === 0 ? Number.NaN : n % 2 ? a[(n - 1) / 2]! : (a[n / 2 - 1]! + a[n / 2]!) / 2;
  };

  it('equals the median of the sorted window after every insert (duplicates, any window)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 400 }), fc.constantFrom(0, 1, 2, 3, 5, 8, 50), (xs, w) => {
        const m = new TallyMedian(w);
        const seen: number[] = [];
        for (const x of xs) {
          m.add(x * 100);
          seen.push(x * 100);
          const win = w > 0 ? seen.slice(-w) : seen;
          expect(m.median()).toBe(sortedMedian(win));
          expect(m.count).toBe(win.length);
        }
        expect(TallyMedian.of(w, m.values()).median()).toBe(m.median());
        return true;
      }),
      { numRuns: 200 },
    );
  });

  it('stays O(window) in memory: values leaving the window leave its tallies', () => {
    const m = new TallyMedian(10);
    for (let i = 0; i < 100_000; i++) m.add(i % 2 ? i : 1e9 - i);
    const tallies = m as unknown as { vals: number[]; cnts: number[] };
    expect(tallies.vals.length).toBeLessThanOrEqual(10);
    expect(tallies.cnts.length).toBe(tallies.vals.length);
    expect(m.values()).toHaveLength(10);
    expect(m.median()).toBe([...m.values()].sort((a, b) => a - b).slice(4, 6).reduce((a, b) => a + b) / 2);
  });
});

describe('OrderBookState', () => {
  const o = (ts: number, action: SurvOrder['action'], qty = 100, price = 10) => order(ts, 'O1', 'TR01', action, 'BUY', qty, price);

  it('follows an order through NEW, REPLACE, fills and CANCEL', () => {
    const b = new OrderBookState(60_000);
    b.apply(o(0, 'NEW', 100, 10));
    b.apply(o(10, 'REPLACE', 500, 10.1));
    b.fill('O1', 50, 20);
    const e = b.apply(o(30, 'REPLACE', 200, 10.2))!;
    expect(e).toMatchObject({ newQty: 100, newPrice: 10, qty: 200, price: 10.2, maxQty: 500, replaces: 2, filledQty: 50, firstFillTs: 20 });
    expect(b.apply(o(40, 'CANCEL'))!.cancelTs).toBe(40);
    expect(b.apply(o(41, 'CANCEL'))).toBeUndefined();
    expect(b.apply(o(42, 'REPLACE'))).toBeUndefined();
    expect(b.apply(o(43, 'NEW'))).toBeUndefined();
    expect(b.counters).toEqual({ unknown: 0, duplicateNew: 1, afterCancel: 2 });
  });

  it('forgets an order ttl after its last event (event time), each event refreshing it', () => {
    const b = new OrderBookState(1000);
    b.apply(o(0, 'NEW'));
    b.fill('O1', 1, 900);
    b.expire(1899);
    expect(b.get('O1')).toBeDefined();
    b.expire(1900);
    expect(b.get('O1')).toBeUndefined();
    expect(b.apply(o(1901, 'CANCEL'))).toBeUndefined();
    expect(b.counters.unknown).toBe(1);
  });

  it('stays bounded over a long stream and restores from its snapshot', () => {
    const b = new OrderBookState(10_000);
    for (let i = 0; i < 50_000; i++) {
      b.apply(order(i * 100, `O${i}`, 'TR01', 'NEW', 'BUY', 100, 10));
      if (i % 2) b.apply(order(i * 100 + 50, `O${i}`, 'TR01', 'CANCEL', 'BUY', 100, 10));
    }
    expect(b.size).toBeLessThanOrEqual(101);
    const c = new OrderBookState(10_000);
    c.restore(structuredClone(b.snapshot()));
    expect(c.snapshot()).toEqual(b.snapshot());
  });
});

describe('FillHistory', () => {
  it("counts a trade for its trader and its counterparty's opposite side, within the horizon", () => {
    const f = new FillHistory(5000);
    f.add(trade(1000, 'TR01', 'BUY', 100, 10, { cp: 'TR02', tradeId: 'A' }));
    f.add(trade(2000, 'TR01', 'BUY', 100, 10, { cp: 'TR01', tradeId: 'SELF' }));
    expect(f.between('TR02', 'ACME', 'SELL', 0, 9999).map((x) => x.tradeId)).toEqual(['A']);
    expect(f.between('TR01', 'ACME', 'BUY', 0, 9999).map((x) => x.tradeId)).toEqual(['A', 'SELF']);
    expect(f.between('TR01', 'ACME', 'SELL', 0, 9999)).toEqual([]);
    f.add(trade(6500, 'TR01', 'BUY', 100, 10, { tradeId: 'B' }));
    expect(f.between('TR01', 'ACME', 'BUY', 0, 9999).map((x) => x.tradeId)).toEqual(['SELF', 'B']);
  });
});

describe('FindingGrouper', () => {
  const f = (traderId: string, eventTime: number, value: number, id: string): Finding => ({
    traderId,
    eventTime,
    value,
    message: `m-${id}`,
    details: { orderIds: [id], tradeIds: ['T1'], id },
    windowStart: eventTime - value,
    windowEnd: eventTime,
  });

  it('merges the findings of one trader at one instant, and nothing else', () => {
    const g = new FindingGrouper('SPOOFING', 10, 'max');
    g.add(f('A', 1, 12, 'o1'));
    g.add(f('B', 1, 11, 'o2'));
    g.add(f('A', 1, 15, 'o3'));
    g.add(f('A', 2, 11, 'o4'));
    const out = g.take();
    expect(out.map((a) => [a.traderId, a.eventTime, a.value, a.message, a.details.orderIds, a.details.tradeIds, a.windowStart])).toEqual([
      ['A', 1, 15, 'm-o1; m-o3', ['o1', 'o3'], ['T1'], -14],
      ['B', 1, 11, 'm-o2', ['o2'], ['T1'], -10],
      ['A', 2, 11, 'm-o4', ['o4'], ['T1'], -9],
    ]);
    expect(g.take()).toEqual([]);
  });
});

describe('EventTimers and Deque', () => {
  it('fire timers in (ts, registration) order, strictly before or up to a time', () => {
    const t = new EventTimers<string>();
    t.add(5, 'b');
    t.add(3, 'a');
    t.add(5, 'c');
    const due = { ts: 0 };
    expect(t.popDue(5, false, due)).toBe('a');
    expect(due.ts).toBe(3);
    expect(t.popDue(5, false)).toBeUndefined();
    const r = new EventTimers<string>();
    r.restore(structuredClone(t.snapshot()));
    expect([r.popDue(5, true), r.popDue(5, true), r.popDue(5, true)]).toEqual(['b', 'c', undefined]);
  });

  it("EventTimers' nextDue is the earliest pending timer's time through adds, pops and restores (and +Infinity when none)", () => {
    let seed = 3;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    let t = new EventTimers<number>();
    const model: Array<[number, number]> = []; // [ts, payload] in registration order
    let id = 0;
    const earliest = (): number => model.reduce((m, [ts]) => Math.min(m, ts), Number.POSITIVE_INFINITY);
    expect(t.popDue(Number.POSITIVE_INFINITY, true)).toBeUndefined();
    for (let step = 0; step < 3000; step++) {
      const x = rnd();
      if (x < 0.5) {
        const ts = Math.floor(rnd() * 100);
        t.add(ts, id);
        model.push([ts, id++]);
      } else if (x < 0.95) {
        const at = Math.floor(rnd() * 100);
        const inclusive = rnd() < 0.5;
        const due = { ts: -1 };
        const got = t.popDue(at, inclusive, due);
        const min = earliest();
        if (min < at || (inclusive && min === at)) {
          const i = model.findIndex(([ts]) => ts === min);
          expect([got, due.ts]).toEqual([model[i]![1], min]);
          model.splice(i, 1);
        } else expect(got).toBeUndefined();
      } else {
        const r = new EventTimers<number>();
        r.restore(structuredClone(t.snapshot()));
        t = r;
      }
      expect(t.nextDue()).toBe(earliest());
    }
    while (t.popDue(Number.POSITIVE_INFINITY, true) !== undefined);
    expect(t.nextDue()).toBe(Number.POSITIVE_INFINITY);
  });

  it('Deque drops by time, removes and compacts', () => {
    const d = new Deque<{ ts: number }>();
    for (let i = 0; i < 100; i++) d.push({ ts: i });
    d.dropBefore(60);
    d.removeAt(1);
    expect(d.size).toBe(39);
    expect(d.at(0).ts).toBe(60);
    expect(d.at(1).ts).toBe(62);
    expect(d.tsAt(1)).toBe(62);
    expect(Deque.from(d.toArray()).toArray()).toEqual(d.toArray());
  });

  it('Deque holds what an array model holds, records and times, through pushes, drops, removals, growth and wrap-around', () => {
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    const d = new Deque<{ ts: number; id: number }>(2);
    const model: Array<{ ts: number; id: number }> = [];
    let ts = 0;
    for (let step = 0; step < 5000; step++) {
      const x = rnd();
      if (x < 0.55) {
        ts += Math.floor(rnd() * 3);
        const r = { ts, id: step };
        d.push(r);
        model.push(r);
      } else if (x < 0.9) {
        const limit = ts - Math.floor(rnd() * 20);
        d.dropBefore(limit);
        while (model.length > 0 && model[0]!.ts < limit) model.shift();
      } else if (model.length > 0) {
        const i = Math.floor(rnd() * model.length);
        d.removeAt(i);
        model.splice(i, 1);
      }
      expect(d.size).toBe(model.length);
      if (step % 50 === 0 || d.size < 4) {
        expect(d.toArray()).toEqual(model);
        for (let i = 0; i < model.length; i++) {
          expect(d.at(i)).toBe(model[i]);
          expect(d.tsAt(i)).toBe(model[i]!.ts);
        }
      }
    }
  });
});

/** Logs what a detector sees, and sets a timer at ts + 10 for every record. */
class Probe implements Detector {
  log: string[] = [];
  private timers = new EventTimers<string>();
  onTrade(t: SurvTrade): void {
    this.log.push(`trade ${t.tradeId}@${t.ts}`);
    this.timers.add(t.ts + 10, t.tradeId);
  }
  onOrder(o: SurvOrder): void {
    this.log.push(`order ${o.orderId}@${o.ts}`);
  }
  fireTimers(t: number, inclusive: boolean): void {
    const due = { ts: 0 };
    for (let p = this.timers.popDue(t, inclusive, due); p !== undefined; p = this.timers.popDue(t, inclusive, due)) this.log.push(`timer ${p}@${due.ts}`);
  }
  takeAlerts(): AlertDraft[] {
    return [];
  }
  snapshot(): unknown {
    return null;
  }
  restore(): void {}
}

describe('Sequencer', () => {
  it('releases in event-time order, trades before orders at equal ts, timers after every record at their ts', () => {
    const seq = new Sequencer();
    const p = new Probe();
    seq.offerOrder(order(10, 'O1', 'TR01', 'NEW', 'BUY', 1, 1));
    seq.offerTrade(trade(20, 'TR01', 'BUY', 1, 1, { tradeId: 'B' }));
    seq.offerTrade(trade(10, 'TR01', 'BUY', 1, 1, { tradeId: 'A' }));
    seq.offerOrder(order(20, 'O2', 'TR01', 'NEW', 'BUY', 1, 1));
    seq.release(25, p);
    seq.offerTrade(trade(30, 'TR01', 'BUY', 1, 1, { tradeId: 'C' }));
    seq.release(40, p);
    expect(p.log).toEqual(['trade A@10', 'order O1@10', 'trade B@20', 'order O2@20', 'timer A@20', 'trade C@30', 'timer B@30', 'timer C@40']);
  });

  it('treats records at or behind the released watermark as late', () => {
    const seq = new Sequencer();
    seq.release(100, new Probe());
    expect(seq.offerTrade(trade(100, 'TR01', 'BUY', 1, 1))).toBe(false);
    expect(seq.offerOrder(order(99, 'O', 'TR01', 'NEW', 'BUY', 1, 1))).toBe(false);
    expect(seq.offerTrade(trade(100.5, 'TR01', 'BUY', 1, 1))).toBe(true);
    expect(seq.pending).toBe(1);
  });
});
