import type { Timestamped } from '../core/element.js';
import type { AggregateFunction, AggregateInput, AggregateResult } from './aggregate.js';

// Accumulators are numbers or small plain objects updated in place: no allocation per record,
// and they survive a checkpoint (structured clone) unchanged.

/**
 * Number of records in the window.
 *
 * @example windowAggregate({ key: (t) => t.trader, assigner: tumbling('1m'), aggregate: count() })
 */
export function count(): AggregateFunction<unknown, number, number> {
  return {
    createAccumulator: () => 0,
    add: (acc) => acc + 1,
    getResult: (acc) => acc,
    merge: (a, b) => a + b,
  };
}

/**
 * Sum of `f(record)`. NaN values propagate (a bad input shows in the result rather than vanishing).
 *
 * @example sum((t: Trade) => t.qty * t.price) // notional traded per window
 */
export function sum<IN>(f: (r: IN) => number): AggregateFunction<IN, number, number> {
  return {
    createAccumulator: () => 0,
    add: (acc, r) => acc + f(r),
    getResult: (acc) => acc,
    merge: (a, b) => a + b,
  };
}

/**
 * Smallest `f(record)`; `Infinity` for an empty accumulator. NaN values are ignored (they never
 * compare smaller).
 *
 * @example min((q: Quote) => q.bid)
 */
export function min<IN>(f: (r: IN) => number): AggregateFunction<IN, number, number> {
  return {
    createAccumulator: () => Number.POSITIVE_INFINITY,
    add: (acc, r) => {
      const v = f(r);
      return v < acc ? v : acc;
    },
    getResult: (acc) => acc,
    merge: (a, b) => (b < a ? b : a),
  };
}

/**
 * Largest `f(record)`; `-Infinity` for an empty accumulator. NaN values are ignored.
 *
 * @example max((q: Quote) => q.ask)
 */
export function max<IN>(f: (r: IN) => number): AggregateFunction<IN, number, number> {
  return {
    createAccumulator: () => Number.NEGATIVE_INFINITY,
    add: (acc, r) => {
      const v = f(r);
      return v > acc ? v : acc;
    },
    getResult: (acc) => acc,
    merge: (a, b) => (b > a ? b : a),
  };
}

/**
 * Accumulator of `avg`: running sum and count.
 *
 * @example avg((q: Quote) => q.spread).createAccumulator() // { sum: 0, n: 0 }
 */
export interface AvgAcc {
  sum: number;
  n: number;
}

/**
 * Arithmetic mean of `f(record)`; NaN for an empty accumulator.
 *
 * @example avg((q: Quote) => q.ask - q.bid) // mean quoted spread
 */
export function avg<IN>(f: (r: IN) => number): AggregateFunction<IN, AvgAcc, number> {
  return {
    createAccumulator: () => ({ sum: 0, n: 0 }),
    add: (acc, r) => {
      acc.sum += f(r);
      acc.n++;
      return acc;
    },
    getResult: (acc) => (acc.n > 0 ? acc.sum / acc.n : Number.NaN),
    merge: (a, b) => {
      a.sum += b.sum;
      a.n += b.n;
      return a;
    },
  };
}

/**
 * Accumulator of `first` / `last`: the value and the event time it was seen at.
 *
 * @example first((q: Quote) => q.mid).createAccumulator() // { ts: Infinity, v: NaN }
 */
export interface TimedValueAcc {
  ts: number;
  v: number;
}

/**
 * `f` of the record with the smallest event time (not the first to arrive); among records with
 * the same `ts`, the one that arrived first. NaN for an empty accumulator.
 *
 * @example first((q: Quote) => q.mid) // opening mid of the window
 */
export function first<IN extends Timestamped>(f: (r: IN) => number): AggregateFunction<IN, TimedValueAcc, number> {
  return {
    // ts = +Infinity makes the first real record win without a separate "empty" flag.
    createAccumulator: () => ({ ts: Number.POSITIVE_INFINITY, v: Number.NaN }),
    add: (acc, r) => {
      if (r.ts < acc.ts) {
        acc.ts = r.ts;
        acc.v = f(r);
      }
      return acc;
    },
    getResult: (acc) => acc.v,
    merge: (a, b) => (b.ts < a.ts ? b : a),
  };
}

/**
 * `f` of the record with the largest event time (not the last to arrive); among records with the
 * same `ts`, the one that arrived last. NaN for an empty accumulator.
 *
 * @example last((q: Quote) => q.mid) // closing mid of the window
 */
export function last<IN extends Timestamped>(f: (r: IN) => number): AggregateFunction<IN, TimedValueAcc, number> {
  return {
    createAccumulator: () => ({ ts: Number.NEGATIVE_INFINITY, v: Number.NaN }),
    add: (acc, r) => {
      if (r.ts >= acc.ts) {
        acc.ts = r.ts;
        acc.v = f(r);
      }
      return acc;
    },
    getResult: (acc) => acc.v,
    merge: (a, b) => (b.ts >= a.ts ? b : a),
  };
}

/**
 * Accumulator of `variance` / `stddev` (Welford): count, running mean, sum of squared deviations.
 *
 * @example variance((t: Trade) => t.price).createAccumulator() // { n: 0, mean: 0, m2: 0 }
 */
export interface MomentsAcc {
  n: number;
  mean: number;
  m2: number;
}

function moments<IN>(f: (r: IN) => number, finish: (m: MomentsAcc) => number): AggregateFunction<IN, MomentsAcc, number> {
  return {
    createAccumulator: () => ({ n: 0, mean: 0, m2: 0 }),
    // Welford's update: numerically stable, unlike sum-of-squares minus square-of-sum.
    add: (acc, r) => {
      const x = f(r);
      const n = ++acc.n;
      const d = x - acc.mean;
      acc.mean += d / n;
      acc.m2 += d * (x - acc.mean);
      return acc;
    },
    getResult: finish,
    // Chan et al.'s parallel combination of two Welford accumulators.
    merge: (a, b) => {
      if (b.n === 0) return a;
      if (a.n === 0) return b;
      const n = a.n + b.n;
      const d = b.mean - a.mean;
      a.m2 += b.m2 + (d * d * a.n * b.n) / n;
      a.mean += (d * b.n) / n;
      a.n = n;
      return a;
    },
  };
}

/**
 * Sample variance (divisor n - 1) of `f(record)`, by Welford's algorithm; NaN with fewer than
 * two records. Accumulators merge with Chan's parallel formula (session windows).
 *
 * @example variance((t: Trade) => t.price)
 */
export function variance<IN>(f: (r: IN) => number): AggregateFunction<IN, MomentsAcc, number> {
  return moments(f, (m) => (m.n > 1 ? m.m2 / (m.n - 1) : Number.NaN));
}

/**
 * Sample standard deviation (divisor n - 1) of `f(record)`; NaN with fewer than two records.
 *
 * @example stddev((r: Return) => r.value) // realised volatility per window
 */
export function stddev<IN>(f: (r: IN) => number): AggregateFunction<IN, MomentsAcc, number> {
  return moments(f, (m) => (m.n > 1 ? Math.sqrt(m.m2 / (m.n - 1)) : Number.NaN));
}

/**
 * Accumulator of `vwap`: sum of price * quantity and sum of quantity.
 *
 * @example vwap((t: Trade) => t.price, (t: Trade) => t.qty).createAccumulator() // { pq: 0, q: 0 }
 */
export interface VwapAcc {
  pq: number;
  q: number;
}

/**
 * Volume-weighted average price: sum(price * qty) / sum(qty); NaN when the total quantity is 0.
 *
 * @example vwap((t: Trade) => t.price, (t: Trade) => t.qty)
 */
export function vwap<IN>(price: (r: IN) => number, qty: (r: IN) => number): AggregateFunction<IN, VwapAcc, number> {
  return {
    createAccumulator: () => ({ pq: 0, q: 0 }),
    add: (acc, r) => {
      const q = qty(r);
      acc.pq += price(r) * q;
      acc.q += q;
      return acc;
    },
    getResult: (acc) => (acc.q !== 0 ? acc.pq / acc.q : Number.NaN),
    merge: (a, b) => {
      a.pq += b.pq;
      a.q += b.q;
      return a;
    },
  };
}

type AnyAggregate = AggregateFunction<any, any, any>;

/**
 * The result record of `composite(spec)`: one field per named aggregate.
 *
 * @example type Bar = CompositeResult<{ open: typeof o; n: typeof c }>; // { open: number; n: number }
 */
export type CompositeResult<S extends Record<string, AnyAggregate>> = { [K in keyof S]: AggregateResult<S[K]> };

/**
 * The record type `composite(spec)` accepts: the intersection of its parts' inputs (so
 * `count()`, which accepts anything, does not widen it to `unknown`).
 *
 * @example type In = CompositeInput<{ n: ReturnType<typeof count>; q: ReturnType<typeof sum<Trade>> }>; // Trade
 */
export type CompositeInput<S extends Record<string, AnyAggregate>> = {
  [K in keyof S]: (x: AggregateInput<S[K]>) => void;
}[keyof S] extends (x: infer I) => void
  ? I
  : never;

/**
 * One aggregate computing several named ones over the same window, so a window needs one
 * accumulator slot per (key, window) however many statistics it reports. The accumulator is an
 * array of the parts' accumulators; the result is a record with the same field names (always in
 * the spec's order, so every result object has the same shape).
 *
 * @example
 * composite({ n: count(), volume: sum((t: Trade) => t.qty), vwap: vwap((t: Trade) => t.price, (t: Trade) => t.qty) })
 * // result: { n: 12, volume: 3400, vwap: 101.25 }
 */
export function composite<S extends Record<string, AnyAggregate>>(
  spec: S,
): AggregateFunction<CompositeInput<S>, unknown[], CompositeResult<S>> {
  const names = Object.keys(spec);
  const parts: AnyAggregate[] = names.map((n) => spec[n]!);
  const k = parts.length;
  return {
    createAccumulator: () => {
      const acc = new Array<unknown>(k);
      for (let i = 0; i < k; i++) acc[i] = parts[i]!.createAccumulator();
      return acc;
    },
    add: (acc, r) => {
      for (let i = 0; i < k; i++) acc[i] = parts[i]!.add(acc[i], r);
      return acc;
    },
    getResult: (acc) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < k; i++) out[names[i]!] = parts[i]!.getResult(acc[i]);
      return out as CompositeResult<S>;
    },
    merge: (a, b) => {
      for (let i = 0; i < k; i++) a[i] = parts[i]!.merge(a[i], b[i]);
      return a;
    },
  };
}
