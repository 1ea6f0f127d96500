/**
 * The typed-array structures behind the surveillance detectors' hot paths, each checked against a
 * plain-array model of what it stands for.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SlotQueue } from '../../../src/surveillance/layering.js';

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
