import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tumbling, sliding, session, type WindowAssigner } from '../../src/windows/assigners.js';
import { composite, count, sum, min, max, first, last, variance } from '../../src/windows/aggregates.js';
import { finals, reference, results, run, withWatermarks, type Rec } from '../unit/windows/helpers.js';

// Property: within the out-of-orderness bound, window output does not depend on arrival order
// (DESIGN.md convention 6), and it equals a brute-force evaluation of the windows.

const recordArb = fc.record({
  ts: fc.integer({ min: -200, max: 600 }),
  k: fc.constantFrom('a', 'b', 'c', 'd'),
  v: fc.integer({ min: -20, max: 20 }),
  delay: fc.nat({ max: 10_000 }),
});

const assignerArb: fc.Arbitrary<WindowAssigner> = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 120 }), fc.integer({ min: -60, max: 60 })).map(([size, off]) => tumbling(size, off)),
  fc
    .tuple(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 120 }), fc.integer({ min: -60, max: 60 }))
    .map(([a, b, off]) => sliding(Math.max(a, b), Math.min(a, b), off)),
  fc.integer({ min: 1, max: 80 }).map((gap) => session(gap)),
);

/** Arrival order: each record delayed by at most `bound` of event time (stable for ties). */
function arrival(recs: Array<Rec & { delay: number }>, bound: number): Rec[] {
  return recs
    .map((r, i) => ({ r, i, at: r.ts + (r.delay % (bound + 1)) }))
    .sort((x, y) => x.at - y.at || x.i - y.i)
    .map(({ r }) => ({ ts: r.ts, k: r.k, v: r.v }));
}

// Integer inputs keep count/sum/min/max exact whatever the merge order; variance is compared
// with a tolerance because Welford/Chan round differently in different orders.
const orderFree = composite({
  n: count(),
  s: sum((r: Rec) => r.v),
  lo: min((r: Rec) => r.v),
  hi: max((r: Rec) => r.v),
  var: variance((r: Rec) => r.v),
});

type Row = { key: string; windowStart: number; windowEnd: number; result: Record<string, number> };

function expectSameRows(actual: Row[], expected: Row[]): void {
  const strip = (rows: Row[]) => rows.map((r) => ({ ...r, result: { ...r.result, var: 0 } }));
  expect(strip(actual)).toEqual(strip(expected));
  actual.forEach((r, i) => {
    const a = r.result.var!;
    const b = expected[i]!.result.var!;
    if (Number.isNaN(b)) expect(a).toBeNaN();
    else expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
  });
}

describe('window output vs arrival order (property)', () => {
  it('a permutation within the out-of-orderness bound gives the same final results, in the same order', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 80 }),
        fc.integer({ min: 0, max: 60 }),
        assignerArb,
        (recs, bound, assigner) => {
          const inOrder = arrival(recs, 0);
          const shuffled = arrival(recs, bound);
          const stats = { late: 0 };
          const a = run(withWatermarks(shuffled, bound), { assigner, aggregate: orderFree, stats });
          const b = run(withWatermarks(inOrder, 0), { assigner, aggregate: orderFree });
          expect(stats.late).toBe(0);
          expect(results(a).every((r) => r.firing === 'final')).toBe(true);
          expectSameRows(finals(a) as Row[], finals(b) as Row[]);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('window output vs brute force (property)', () => {
  it('tumbling, sliding and session windows equal a brute-force evaluation', () => {
    const withTies = composite({
      n: count(),
      s: sum((r: Rec) => r.v),
      f: first((r: Rec) => r.v),
      l: last((r: Rec) => r.v),
      var: variance((r: Rec) => r.v),
    });
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 80 }),
        fc.integer({ min: 0, max: 60 }),
        assignerArb,
        (recs, bound, assigner) => {
          const arrived = arrival(recs, bound);
          const out = run(withWatermarks(arrived, bound), { assigner, aggregate: withTies });
          // first/last ties are broken by arrival: the reference folds in arrival order too
          expectSameRows(finals(out) as Row[], reference(arrived, assigner, withTies) as Row[]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
