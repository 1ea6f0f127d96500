/**
 * The typed-array structures behind the surveillance detectors' hot paths, each checked against a
 * plain-array model of what it stands for.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sequencer, type Detector, type Side, type SurvOrder, type SurvTrade } from '../../../src/surveillance/index.js';
import { OrderRing } from '../../../src/surveillance/layering.js';
import { IdIndex, NO_ORDER, OrderBookState, type OrderEntry } from '../../../src/surveillance/order-book-state.js';
import { LegRing, withinTolerance } from '../../../src/surveillance/wash-trade.js';
import { order, rng, trade } from './helpers.js';

describe('OrderRing (layering: every trader recent NEW orders)', () => {
  it('holds what per-trader arrays hold through pushes, drops and recycled numbers, across ring growth and wrap-around', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ push: fc.integer({ min: 0, max: 5 }), trader: fc.integer({ min: 0, max: 6 }) }),
            fc.record({ drop: fc.integer({ min: 0, max: 30 }) }),
            fc.record({ recycle: fc.constant(true) }),
          ),
          { maxLength: 400 },
        ),
        (ops) => {
          const r = new OrderRing();
          const model = new Map<string, Array<[number, number, number]>>();
          let ts = 0;
          let slot = 0;
          for (const op of ops) {
            if ('push' in op) {
              ts += op.push;
              slot++;
              const trader = `TR${op.trader}`;
              r.push(r.chains.numberOf(trader), slot, slot * 3, ts);
              model.set(trader, [...(model.get(trader) ?? []), [slot, slot * 3, ts]]);
            } else if ('drop' in op) {
              const limit = ts - op.drop;
              r.dropBefore(limit);
              for (const [k, l] of model) model.set(k, l.filter((x) => x[2] >= limit));
            } else r.chains.recycle(0);
            let held = 0;
            for (const [trader, l] of model) {
              held += l.length;
              const w = r.chains.numberIfAny(trader);
              if (w < 0) {
                expect(l).toEqual([]);
                continue;
              }
              const got: Array<[number, number, number]> = [];
              for (let j = r.chains.first[w]!; j >= 0; j = r.next[j]!) got.push([r.slots[j]!, r.gens[j]!, r.newTs[j]!]);
              expect(got).toEqual(l);
            }
            expect(r.size).toBe(held);
          }
          return true;
        },
      ),
    );
  });

  it('keeps the order of 100 pushes of two traders (several growths) and drops exactly the older ones', () => {
    const r = new OrderRing();
    const a = r.chains.numberOf('A');
    const b = r.chains.numberOf('B');
    for (let i = 0; i < 100; i++) r.push(i % 2 === 0 ? a : b, i, 0, i * 10);
    r.dropBefore(505);
    expect(r.size).toBe(49);
    expect(r.slots[r.chains.first[b]!]).toBe(51);
    expect(r.slots[r.chains.first[a]!]).toBe(52);
    r.dropBefore(991);
    expect(r.size).toBe(0);
    expect([r.chains.first[a], r.chains.first[b]]).toEqual([-1, -1]);
    r.chains.recycle(0);
    expect(r.chains.numberIfAny('A')).toBe(-1);
    const c = r.chains.numberOf('C');
    r.push(c, 7, 1, 1000);
    expect(r.slots[r.chains.first[c]!]).toBe(7);
  });
});

/** Logs what a Sequencer feeds it. */
class Log implements Detector {
  out: string[] = [];
  onTrade(t: SurvTrade): void {
    this.out.push(`T${t.tradeId}`);
  }
  onOrder(o: SurvOrder): void {
    this.out.push(`O${o.orderId}`);
  }
  fireTimers(t: number, inclusive: boolean): void {
    if (inclusive) this.out.push(`W${t}`);
  }
  takeAlerts(): [] {
    return [];
  }
  snapshot(): unknown {
    return null;
  }
  restore(): void {}
}

describe('Sequencer (the pending records, drained and refilled)', () => {
  it('releases what a sort of the accepted records gives: ts, then trades before orders, then arrival; late ones refused', { timeout: 60_000 }, () => {
    const op = fc.oneof(
      { weight: 6, arbitrary: fc.record({ trade: fc.boolean(), dt: fc.integer({ min: -3, max: 4 }) }) },
      { weight: 1, arbitrary: fc.record({ release: fc.integer({ min: -2, max: 6 }) }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 0, max: 2500 }), (ops, bulk) => {
        const seq = new Sequencer();
        const log = new Log();
        const expected: string[] = [];
        let waiting: Array<{ ts: number; kind: number; n: number; name: string }> = [];
        let wm = Number.NEGATIVE_INFINITY;
        let now = 0;
        let n = 0;
        // A long in-order prefix first, released but for its last records, so that the array is compacted from far out.
        const all = [...Array.from({ length: bulk }, (_, i) => ({ trade: i % 3 !== 0, dt: i % 2 })), { release: -1 }, ...ops];
        for (const x of all) {
          if ('release' in x) {
            const w = now + x.release;
            seq.release(w, log);
            if (w > wm) {
              waiting.sort((a, b) => a.ts - b.ts || a.kind - b.kind || a.n - b.n);
              for (const r of waiting) if (r.ts <= w) expected.push(r.name);
              waiting = waiting.filter((r) => r.ts > w);
              expected.push(`W${w}`);
              wm = w;
            }
          } else {
            now += Math.max(0, x.dt);
            const ts = now + Math.min(0, x.dt);
            const id = String(++n);
            const ok = x.trade ? seq.offerTrade(trade(ts, 'TR01', 'BUY', 1, 1, { tradeId: id })) : seq.offerOrder(order(ts, id, 'TR01', 'NEW', 'BUY', 1, 1));
            expect(ok).toBe(ts > wm);
            if (ok) waiting.push({ ts, kind: x.trade ? 0 : 1, n, name: `${x.trade ? 'T' : 'O'}${id}` });
            expect(seq.pending).toBe(waiting.length);
          }
        }
        expect(log.out).toEqual(expected);
        return true;
      }),
      { numRuns: 40 },
    );
  });
});

describe('IdIndex (the order book: orderId -> slot)', () => {
  it('answers what a Map answers through adds, removals (backward shifts), growth and colliding hashes', () => {
    for (const collide of [false, true]) {
      const r = rng(collide ? 11 : 5);
      const ix = new IdIndex(2);
      const model = new Map<string, number>();
      // With `collide`, every key gets one of 4 hashes: long probe runs, removals in their middle.
      const hashOf = (k: string): number => (collide ? IdIndex.hash(k) & 3 : IdIndex.hash(k));
      const live: string[] = [];
      for (let step = 0; step < 4000; step++) {
        const x = r();
        if (x < 0.5 || live.length === 0) {
          // Fresh string objects, as records carry them (not the instances stored).
          const k = `O${Math.floor(r() * 3000)}`.slice(0);
          if (model.has(k)) continue;
          ix.add(k, hashOf(k), step);
          model.set(k, step);
          live.push(k);
        } else {
          const i = Math.floor(r() * live.length);
          const k = live[i]!;
          ix.remove(hashOf(k), model.get(k)!);
          model.delete(k);
          live[i] = live[live.length - 1]!;
          live.pop();
        }
        expect(ix.size).toBe(model.size);
        if (step % 97 === 0) {
          for (let q = 0; q < 3000; q += 7) {
            const k = `O${q}`;
            expect(ix.get(k, hashOf(k))).toBe(model.get(k) ?? -1);
          }
        }
      }
    }
  });

  it('hashes by content, spreads sequential ids, and tells ids apart that share a prefix', () => {
    expect(IdIndex.hash('O0000123')).toBe(IdIndex.hash(['O000', '0123'].join('')));
    const buckets = new Int32Array(1024);
    for (let i = 0; i < 100_000; i++) buckets[IdIndex.hash(`O${String(i).padStart(7, '0')}`) & 1023]!++;
    expect(Math.max(...buckets)).toBeLessThan(160); // 98 on average
    const ix = new IdIndex();
    ix.add('O1', IdIndex.hash('O1'), 1);
    expect(ix.get('O10', IdIndex.hash('O10'))).toBe(-1);
    expect(ix.get('O1', IdIndex.hash('O1'))).toBe(1);
  });

  it("keeps the book's answers through expiry and reuse of slots, and its snapshot lists orders in creation order", () => {
    const book = new OrderBookState(1000);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const id = `O${i % 120}`; // ids come back once their first life has expired
      ids.push(id);
      book.apply(order(i * 20, id, 'TR01', 'NEW', 'BUY', 100 + i, 10));
      if (i % 3 === 0) book.apply(order(i * 20 + 5, id, 'TR01', 'CANCEL', 'BUY', 100 + i, 10));
      // Live: the orders touched within the last 1000 ms; an order 51 NEWs back is forgotten.
      for (let j = Math.max(0, i - 49); j <= i; j++) expect(book.get(ids[j]!)?.newQty).toBe(100 + j);
      if (i >= 51) expect(book.get(ids[i - 51]!)).toBeUndefined();
    }
    const lastTs = (j: number): number => j * 20 + (j % 3 === 0 ? 5 : 0);
    const live = Array.from({ length: 300 }, (_, j) => j).filter((j) => lastTs(j) + 1000 > 299 * 20);
    const snap = book.snapshot();
    expect(snap.orders.map((o) => o.newQty)).toEqual(live.map((j) => 100 + j));
    const again = new OrderBookState(1000);
    again.restore(snap);
    for (const j of live) expect(again.get(ids[j]!)).toEqual(book.get(ids[j]!));
    // Restored into a book that held more orders (longer columns) than the snapshot has, and used on.
    const used = new OrderBookState(1000);
    for (let i = 0; i < 500; i++) used.apply(order(i, `X${i}`, 'TR02', 'NEW', 'SELL', 1, 1));
    used.restore(snap);
    expect(used.size).toBe(live.length);
    expect(used.get('X3')).toBeUndefined();
    for (const j of live) expect(used.get(ids[j]!)).toEqual(book.get(ids[j]!));
    for (const b of [again, used]) {
      b.apply(order(299 * 20 + 1, 'N1', 'TR01', 'NEW', 'BUY', 7, 10));
      b.apply(order(299 * 20 + 2, ids[299]!, 'TR01', 'CANCEL', 'BUY', 1, 10));
    }
    expect(used.snapshot()).toEqual(again.snapshot());
  });

  it('keeps expiring the right orders when its expiry ring grows while wrapped', () => {
    const book = new OrderBookState(1000);
    // 60 orders at 0..59 ms, then one every 10 ms from 1060 ms: the first expire the first 60 (the
    // ring's head moves to 60), and about 100 live later ones fill the 64-slot ring past its end.
    const at = (i: number): number => 1060 + i * 10;
    for (let i = 0; i < 60; i++) book.apply(order(i, `A${i}`, 'TR01', 'NEW', 'BUY', 100, 10));
    for (let i = 0; i < 300; i++) {
      book.apply(order(at(i), `B${i}`, 'TR01', 'NEW', 'BUY', 100, 10));
      // Live: the orders of the last 1000 ms.
      if (i % 7 === 0 || i === 299) {
        for (let j = 0; j < 60; j++) expect(book.get(`A${j}`)).toBeUndefined();
        for (let j = 0; j <= i; j++) expect(book.get(`B${j}`) !== undefined, `B${j} at ${at(i)} ms`).toBe(at(j) + 1000 > at(i));
      }
    }
    book.expire(at(299) + 500);
    for (let j = 0; j < 300; j++) expect(book.get(`B${j}`) !== undefined, `B${j}`).toBe(at(j) + 1000 > at(299) + 500);
  });
});

describe('OrderBookState rows (every field of every order in one row per slot)', () => {
  it('answers what a Map of order objects answers, field by field and through its slot readers, across growth, expiry and reuse of slots', () => {
    const ttl = 500;
    const r = rng(23);
    const book = new OrderBookState(ttl);
    const model = new Map<string, OrderEntry>();
    const sides: Side[] = ['BUY', 'SELL'];
    let ts = 0;
    for (let step = 0; step < 6000; step++) {
      ts += Math.floor(r() * 4);
      for (const [id, e] of model) if (e.lastTs + ttl <= ts) model.delete(id);
      // Up to ~400 live orders (the book's rows grow from 64), ids coming back after they expired.
      const id = `O${Math.floor(r() * 500)}`;
      const x = r();
      const e = model.get(id);
      const q = 100 * (1 + Math.floor(r() * 30));
      const p = 10 + Math.floor(r() * 50) / 100;
      if (x < 0.15) {
        const k = book.fillSlot(id, q, ts);
        expect(k === NO_ORDER).toBe(e === undefined);
        if (e !== undefined) {
          e.filledQty += q;
          if (Number.isNaN(e.firstFillTs)) e.firstFillTs = ts;
          e.lastTs = ts;
        }
      } else {
        const action: SurvOrder['action'] = x < 0.55 ? 'NEW' : x < 0.75 ? 'REPLACE' : 'CANCEL';
        const side = sides[Math.floor(r() * 2)]!;
        const trader = `TR${Math.floor(r() * 9)}`;
        const instrument = `I${Math.floor(r() * 5)}`;
        const k = book.applySlot(order(ts, id, trader, action, side, q, p, { instrument }));
        if (action === 'NEW') {
          expect(k === NO_ORDER).toBe(e !== undefined);
          if (e === undefined) {
            const tag = r() < 0.5 ? Number.NaN : q / 7;
            const flag = r() < 0.3;
            book.setTag(k, tag);
            book.setFlag(k, flag ? 1 : 0);
            model.set(id, {
              orderId: id, traderId: trader, instrument, side, newTs: ts, newQty: q, newPrice: p, qty: q, price: p, maxQty: q,
              replaces: 0, filledQty: 0, firstFillTs: Number.NaN, cancelTs: Number.NaN, lastTs: ts, tag, flag,
            });
          }
        } else {
          const open = e !== undefined && Number.isNaN(e.cancelTs);
          expect(k === NO_ORDER).toBe(!open);
          if (open && action === 'REPLACE') {
            e.qty = q;
            e.price = p;
            e.maxQty = Math.max(e.maxQty, q);
            e.replaces++;
            e.lastTs = ts;
          } else if (open) {
            e.cancelTs = ts;
            e.lastTs = ts;
          }
        }
      }
      if (step % 250 === 0 || step > 5990) {
        book.expire(ts);
        expect(book.size).toBe(model.size);
        for (let i = 0; i < 500; i++) {
          const oid = `O${i}`;
          const want = model.get(oid);
          expect(book.get(oid)).toEqual(want);
          if (want === undefined) continue;
          const k = book.slotOf(oid);
          const read = {
            orderId: book.orderIdOf(k), traderId: book.traderIdOf(k), instrument: book.instrumentOf(k), side: book.sideOf(k),
            newTs: book.newTsOf(k), newPrice: book.newPriceOf(k), maxQty: book.maxQtyOf(k), filledQty: book.filledQtyOf(k),
            cancelTs: book.cancelTsOf(k), tag: book.tagOf(k), flag: book.flagOf(k) === 1,
          };
          expect(read).toEqual({
            orderId: want.orderId, traderId: want.traderId, instrument: want.instrument, side: want.side, newTs: want.newTs, newPrice: want.newPrice,
            maxQty: want.maxQty, filledQty: want.filledQty, cancelTs: want.cancelTs, tag: want.tag, flag: want.flag,
          });
        }
      }
    }
    // The snapshot lists the live orders oldest first, and a restored book answers the same.
    const snap = book.snapshot();
    expect(snap.orders.map((o) => o.orderId)).toEqual([...model.values()].sort((a, b) => a.newTs - b.newTs || 0).map((o) => o.orderId));
    const again = new OrderBookState(ttl);
    again.restore(snap);
    for (const [id, e] of model) expect(again.get(id)).toEqual(e);
  });
});

describe('LegRing (wash trades: every trader unpaired legs)', () => {
  it('takes the leg that a scan of per-trader arrays takes, through drops, matches, growth, wrap-around and recycled numbers', () => {
    const r = rng(3);
    const traders = Array.from({ length: 40 }, (_, i) => `TR${i}`);
    const ring = new LegRing();
    const model = new Map<string, SurvTrade[]>();
    let ts = 0;
    let taken = 0;
    for (let step = 0; step < 6000; step++) {
      ts += Math.floor(r() * 40);
      if (step % 500 === 499) ring.chains.recycle(0);
      const t = trade(ts, traders[Math.floor(r() * (step < 3000 ? 40 : 8))]!, r() < 0.5 ? 'BUY' : 'SELL', 100 + Math.floor(r() * 12), 50 + Math.floor(r() * 3) * 0.04, {
        instrument: r() < 0.5 ? 'ACME' : 'BETA',
      });
      const limit = ts - 1500;
      ring.dropBefore(limit);
      for (const [k, list] of model) {
        while (list.length > 0 && list[0]!.ts < limit) list.shift();
        if (list.length === 0) model.delete(k);
      }
      const list = model.get(t.traderId) ?? [];
      const i = list.findIndex((l) => l.instrument === t.instrument && l.side !== t.side && withinTolerance(l.qty, t.qty, 0.05) && withinTolerance(l.price, t.price, 0.001));
      const w = ring.chains.numberOf(t.traderId);
      const got = ring.take(t, w, 0.05, 0.001);
      if (i >= 0) {
        expect(got).toBe(list[i]);
        list.splice(i, 1);
        taken++;
      } else {
        expect(got).toBeUndefined();
        ring.push(t, w);
        list.push(t);
        model.set(t.traderId, list);
      }
      if (step % 100 === 0) {
        const want = [...model].filter(([, l]) => l.length > 0).sort((a, b) => (a[0] < b[0] ? -1 : 1));
        expect(ring.entries().sort((a, b) => (a[0] < b[0] ? -1 : 1))).toEqual(want);
      }
    }
    expect(taken).toBeGreaterThan(200);
  });
});
