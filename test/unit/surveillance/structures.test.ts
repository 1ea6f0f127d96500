/**
 * The typed-array structures behind the surveillance detectors' hot paths, each checked against a
 * plain-array model of what it stands for.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sequencer, type Detector, type SurvOrder, type SurvTrade } from '../../../src/surveillance/index.js';
import { SlotQueue } from '../../../src/surveillance/layering.js';
import { order, trade } from './helpers.js';

describe('SlotQueue (layering: a trader recent NEW orders)', () => {
  it('holds what an array model holds through pushes and trims, across ring growth and wrap-around', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ push: fc.integer({ min: 0, max: 5 }) }), fc.record({ trim: fc.integer({ min: 0, max: 30 }) })), { maxLength: 300 }),
        (ops) => {
          const q = new SlotQueue();
          let model: Array<[number, number, number]> = [];
          let ts = 0;
          let slot = 0;
          for (const op of ops) {
            if ('push' in op) {
              ts += op.push;
              slot++;
              q.push(slot, slot * 3, ts);
              model.push([slot, slot * 3, ts]);
            } else {
              const limit = ts - op.trim;
              q.trim(limit);
              model = model.filter((x) => x[2] >= limit);
            }
            expect(q.size).toBe(model.length);
            for (let i = 0; i < model.length; i++) {
              const j = q.at(i);
              expect([q.slots[j], q.gens[j], q.newTs[j]]).toEqual(model[i]);
            }
          }
          return true;
        },
      ),
    );
  });

  it('keeps the order of 100 pushes (several growths) and drops exactly the older ones', () => {
    const q = new SlotQueue();
    for (let i = 0; i < 100; i++) q.push(i, 0, i * 10);
    q.trim(505);
    expect(q.size).toBe(49);
    expect(q.slots[q.at(0)]).toBe(51);
    expect(q.newTs[q.at(48)]).toBe(990);
    q.trim(991);
    expect(q.size).toBe(0);
    q.push(7, 1, 1000);
    expect(q.slots[q.at(0)]).toBe(7);
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
