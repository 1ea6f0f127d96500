import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Subject } from 'rxjs';
import { END_OF_TIME, Watermark, type Element } from '../../src/core/element.js';
import { asofJoin } from '../../src/operators/asof-join.js';

/**
 * The as-of join's output after END_OF_TIME must not depend on the order in which records arrive,
 * as long as every record arrives before its input's watermark passes it (bounded
 * out-of-orderness), and must equal a brute-force as-of join.
 */

const BOUND = 10;
const KEYS = ['A', 'B', 'C'] as const;

interface L {
  ts: number;
  key: string;
  id: string;
}
interface R {
  ts: number;
  key: string;
  id: string;
}
interface Gen {
  ts: number;
  key: string;
  delay: number;
}
interface Out {
  ts: number;
  l: string;
  r: string | null;
}

const genArb = fc.record({
  ts: fc.integer({ min: 0, max: 150 }),
  key: fc.constantFrom(...KEYS),
  delay: fc.integer({ min: 0, max: BOUND }),
});

/**
 * One input's arrival sequence: records ordered by ts + delay (delay <= BOUND), each possibly
 * followed by the bounded-out-of-orderness watermark maxTs - BOUND - 1, which never passes a
 * record still to come.
 */
function arrivals<T extends { ts: number }>(recs: Array<T & { delay: number }>, wmBits: boolean[]): Array<Element<T>> {
  const sorted = recs.map((r, i) => ({ r, i })).sort((a, b) => a.r.ts + a.r.delay - (b.r.ts + b.r.delay) || a.i - b.i);
  const out: Array<Element<T>> = [];
  let maxTs = Number.NEGATIVE_INFINITY;
  sorted.forEach(({ r }, j) => {
    out.push(r);
    if (r.ts > maxTs) maxTs = r.ts;
    if (wmBits[j % wmBits.length]) out.push(new Watermark(maxTs - BOUND - 1));
  });
  return out;
}

function runJoin(left: Array<Element<L>>, right: Array<Element<R>>, interleave: boolean[], maxLagMs: number | undefined): Out[] {
  const ls = new Subject<Element<L>>();
  const rs = new Subject<Element<R>>();
  const out: Out[] = [];
  let wm = Number.NEGATIVE_INFINITY;
  let behind = 0;
  ls.pipe(
    asofJoin(rs, {
      leftKey: (l: L) => l.key,
      rightKey: (r: R) => r.key,
      combine: (l: L, r: R | undefined) => ({ ts: l.ts, l: l.id, r: r === undefined ? null : r.id }),
      ...(maxLagMs === undefined ? {} : { maxLagMs }),
    }),
  ).subscribe((e) => {
    if (e instanceof Watermark) wm = e.ts;
    else {
      if (e.ts <= wm) behind++;
      out.push(e);
    }
  });
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < left.length || j < right.length) {
    const takeLeft = j >= right.length || (i < left.length && interleave[k++ % interleave.length] === true);
    if (takeLeft) ls.next(left[i++]!);
    else rs.next(right[j++]!);
  }
  ls.next(END_OF_TIME);
  rs.next(END_OF_TIME);
  // Nothing is late here, so nothing may come out behind a watermark already forwarded.
  expect(behind).toBe(0);
  return out;
}

/** Brute force: per left record (in (ts, arrival) order) the right version of greatest ts <= l.ts, ties by right arrival. */
function reference(left: Array<Element<L>>, right: Array<Element<R>>, maxLagMs: number | undefined): Out[] {
  const lrecs = left.filter((e): e is L => !(e instanceof Watermark));
  const rrecs = right.filter((e): e is R => !(e instanceof Watermark));
  const ordered = lrecs.map((l, seq) => ({ l, seq })).sort((a, b) => a.l.ts - b.l.ts || a.seq - b.seq);
  return ordered.map(({ l }) => {
    let best: R | undefined;
    for (const r of rrecs) if (r.key === l.key && r.ts <= l.ts && (best === undefined || r.ts >= best.ts)) best = r;
    if (best !== undefined && maxLagMs !== undefined && l.ts - best.ts > maxLagMs) best = undefined;
    return { ts: l.ts, l: l.id, r: best === undefined ? null : best.id };
  });
}

const withIds = <T extends Gen>(gs: T[], prefix: string) => gs.map((g, i) => ({ ...g, id: `${prefix}${i}` }));

describe('asofJoin (property)', () => {
  it('equals a brute-force as-of join for any in-bound arrival order', () => {
    fc.assert(
      fc.property(
        fc.array(genArb, { maxLength: 60 }),
        fc.array(genArb, { maxLength: 60 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }),
        fc.constantFrom(undefined, 0, 5, 30),
        (lg, rg, interleave, lwm, rwm, maxLag) => {
          const left = arrivals(withIds(lg, 'l'), lwm);
          const right = arrivals(withIds(rg, 'r'), rwm);
          expect(runJoin(left, right, interleave, maxLag)).toEqual(reference(left, right, maxLag));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives the same result for two different arrival orders of the same records', () => {
    fc.assert(
      fc.property(
        fc.array(genArb, { maxLength: 60 }),
        // Right (key, ts) unique: with equal versions "the last arrived" legitimately depends on arrival.
        fc.uniqueArray(genArb, { maxLength: 60, selector: (g) => `${g.key}@${g.ts}` }),
        fc.array(fc.integer({ min: 0, max: BOUND }), { minLength: 1, maxLength: 120 }),
        fc.array(fc.integer({ min: 0, max: BOUND }), { minLength: 1, maxLength: 120 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
        fc.constantFrom(undefined, 0, 5, 30),
        (lg, rg, delays2l, delays2r, inter1, inter2, maxLag) => {
          const l1 = withIds(lg, 'l');
          const r1 = withIds(rg, 'r');
          // Second scenario: the same records with other delays, interleavings and watermarks.
          const l2 = l1.map((x, i) => ({ ...x, delay: delays2l[i % delays2l.length]! }));
          const r2 = r1.map((x, i) => ({ ...x, delay: delays2r[i % delays2r.length]! }));
          const a = runJoin(arrivals(l1, [true]), arrivals(r1, [false, true]), inter1, maxLag);
          const b = runJoin(arrivals(l2, [false, false, true]), arrivals(r2, [true]), inter2, maxLag);
          const byTsId = (x: Out, y: Out): number => x.ts - y.ts || (x.l < y.l ? -1 : x.l > y.l ? 1 : 0);
          expect([...b].sort(byTsId)).toEqual([...a].sort(byTsId));
        },
      ),
      { numRuns: 300 },
    );
  });
});
