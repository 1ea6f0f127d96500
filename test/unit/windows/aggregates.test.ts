import { describe, expect, it } from 'vitest';
import { serialize, deserialize } from 'node:v8';
import { sampleVariance, sampleStandardDeviation } from 'simple-statistics';
import {
  count,
  sum,
  min,
  max,
  avg,
  first,
  last,
  variance,
  stddev,
  vwap,
  composite,
} from '../../../src/windows/aggregates.js';
import type { AggregateFunction } from '../../../src/windows/aggregate.js';

interface T {
  ts: number;
  p: number;
  q: number;
}
const t = (ts: number, p: number, q = 1): T => ({ ts, p, q });

function fold<IN, ACC, OUT>(agg: AggregateFunction<IN, ACC, OUT>, xs: IN[]): ACC {
  let acc = agg.createAccumulator();
  for (const x of xs) acc = agg.add(acc, x);
  return acc;
}
const resultOf = <IN, ACC, OUT>(agg: AggregateFunction<IN, ACC, OUT>, xs: IN[]): OUT => agg.getResult(fold(agg, xs));

/** Result of splitting xs at every point, aggregating both halves and merging. */
function mergedAt<IN, ACC, OUT>(agg: AggregateFunction<IN, ACC, OUT>, xs: IN[], k: number): OUT {
  return agg.getResult(agg.merge(fold(agg, xs.slice(0, k)), fold(agg, xs.slice(k))));
}

const data = [t(5, 10, 2), t(1, 12, 1), t(9, 7, 3), t(3, 15, 1), t(7, 9, 4), t(2, 11, 2)];

describe('built-in aggregates', () => {
  it('count, sum, min, max, avg', () => {
    expect(resultOf(count(), data)).toBe(6);
    expect(resultOf(sum((r: T) => r.p), data)).toBe(64);
    expect(resultOf(min((r: T) => r.p), data)).toBe(7);
    expect(resultOf(max((r: T) => r.p), data)).toBe(15);
    expect(resultOf(avg((r: T) => r.p), data)).toBeCloseTo(64 / 6, 12);
  });

  it('empty accumulators', () => {
    expect(resultOf(count(), [])).toBe(0);
    expect(resultOf(sum((r: T) => r.p), [])).toBe(0);
    expect(resultOf(min((r: T) => r.p), [])).toBe(Number.POSITIVE_INFINITY);
    expect(resultOf(max((r: T) => r.p), [])).toBe(Number.NEGATIVE_INFINITY);
    expect(resultOf(avg((r: T) => r.p), [])).toBeNaN();
    expect(resultOf(first((r: T) => r.p), [])).toBeNaN();
    expect(resultOf(last((r: T) => r.p), [])).toBeNaN();
    expect(resultOf(variance((r: T) => r.p), [t(1, 5)])).toBeNaN();
    expect(resultOf(stddev((r: T) => r.p), [])).toBeNaN();
    expect(resultOf(vwap((r: T) => r.p, (r: T) => r.q), [])).toBeNaN();
  });

  it('min/max ignore NaN, sum propagates it', () => {
    const xs = [t(1, 3), t(2, Number.NaN), t(3, 1)];
    expect(resultOf(min((r: T) => r.p), xs)).toBe(1);
    expect(resultOf(max((r: T) => r.p), xs)).toBe(3);
    expect(resultOf(sum((r: T) => r.p), xs)).toBeNaN();
  });

  it('first/last go by event time, not arrival', () => {
    expect(resultOf(first((r: T) => r.p), data)).toBe(12); // ts 1
    expect(resultOf(last((r: T) => r.p), data)).toBe(7); // ts 9
  });

  it('first/last break ties by arrival order', () => {
    const tie = [t(4, 1), t(2, 2), t(2, 3), t(4, 4)];
    expect(resultOf(first((r: T) => r.p), tie)).toBe(2); // first to arrive at ts 2
    expect(resultOf(last((r: T) => r.p), tie)).toBe(4); // last to arrive at ts 4
    // merge(a, b): b counts as later
    for (let k = 0; k <= tie.length; k++) {
      expect(mergedAt(first((r: T) => r.p), tie, k)).toBe(2);
      expect(mergedAt(last((r: T) => r.p), tie, k)).toBe(4);
    }
  });

  it('sample variance and stddev match simple-statistics', () => {
    const ps = data.map((r) => r.p);
    expect(resultOf(variance((r: T) => r.p), data)).toBeCloseTo(sampleVariance(ps), 10);
    expect(resultOf(stddev((r: T) => r.p), data)).toBeCloseTo(sampleStandardDeviation(ps), 10);
  });

  it('variance stays accurate far from zero (Welford)', () => {
    const xs = [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16].map((p, i) => t(i, p));
    expect(resultOf(variance((r: T) => r.p), xs)).toBeCloseTo(30, 6);
  });

  it('vwap', () => {
    expect(resultOf(vwap((r: T) => r.p, (r: T) => r.q), data)).toBeCloseTo(
      (10 * 2 + 12 + 7 * 3 + 15 + 9 * 4 + 11 * 2) / 13,
      12,
    );
  });

  it('merge at every split point gives the same result (Chan for variance)', () => {
    const aggs = {
      count: count(),
      sum: sum((r: T) => r.p),
      min: min((r: T) => r.p),
      max: max((r: T) => r.p),
      avg: avg((r: T) => r.p),
      first: first((r: T) => r.p),
      last: last((r: T) => r.p),
      variance: variance((r: T) => r.p),
      stddev: stddev((r: T) => r.p),
      vwap: vwap((r: T) => r.p, (r: T) => r.q),
    };
    for (const [name, agg] of Object.entries(aggs)) {
      const whole = resultOf(agg as AggregateFunction<T, unknown, number>, data);
      for (let k = 0; k <= data.length; k++) {
        expect(mergedAt(agg as AggregateFunction<T, unknown, number>, data, k), `${name} split at ${k}`).toBeCloseTo(
          whole,
          10,
        );
      }
    }
  });

  it('composite returns a record of named results, typed', () => {
    const agg = composite({
      n: count(),
      volume: sum((r: T) => r.q),
      vwap: vwap((r: T) => r.p, (r: T) => r.q),
      open: first((r: T) => r.p),
      close: last((r: T) => r.p),
    });
    const res = resultOf(agg, data);
    const typed: { n: number; volume: number; vwap: number; open: number; close: number } = res;
    expect(Object.keys(typed)).toEqual(['n', 'volume', 'vwap', 'open', 'close']);
    expect(res).toMatchObject({ n: 6, volume: 13, open: 12, close: 7 });
    for (let k = 0; k <= data.length; k++) {
      const m = mergedAt(agg, data, k);
      expect(m.n).toBe(6);
      expect(m.vwap).toBeCloseTo(res.vwap, 12);
    }
  });

  it('accumulators survive v8 serialisation (checkpoints)', () => {
    const agg = composite({
      n: count(),
      s: sum((r: T) => r.p),
      a: avg((r: T) => r.p),
      f: first((r: T) => r.p),
      l: last((r: T) => r.p),
      v: variance((r: T) => r.p),
      w: vwap((r: T) => r.p, (r: T) => r.q),
      lo: min((r: T) => r.p),
    });
    const half = fold(agg, data.slice(0, 3));
    const copy = deserialize(serialize(half)) as unknown[];
    const a = agg.getResult(data.slice(3).reduce((acc, r) => agg.add(acc, r), copy));
    const b = resultOf(agg, data);
    expect(a).toEqual(b);
    // empty accumulators hold +-Infinity / NaN: still cloneable
    expect(deserialize(serialize(agg.createAccumulator()))).toEqual(agg.createAccumulator());
  });
});
