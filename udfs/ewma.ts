import { parseDuration } from '../src/core/time.js';
import { defineAggregate } from '../src/topology/udfs.js';

/** Accumulator of {@link ewma}: sums weighted relative to the newest event time seen. */
export interface EwmaAcc {
  /** Newest event time seen (the reference of the weights). */
  t: number;
  /** Sum of value * weight. */
  s: number;
  /** Sum of weights. */
  w: number;
}

/**
 * `ewma(x, halfLife)`: exponentially weighted moving average in EVENT time, each value weighted by
 * 0.5 ^ ((tNewest - ts) / halfLife). Weighting by timestamps rather than arrival order makes the
 * result independent of arrival order within the watermark bound, and accumulators merge exactly
 * (session windows). `halfLife` is a duration (`30s`) or ms; default 30s.
 *
 * @example
 * aggregate: { smooth: "ewma(mid, 30s)" }   # in a window step; or ewma(mid, params.halfLife)
 */
export const ewma = defineAggregate('ewma', (x: (r: any) => unknown, halfLife: unknown = '30s') => {
  if (typeof x !== 'function') throw new Error('the first argument must depend on the record, e.g. ewma(mid, 30s)');
  const h = typeof halfLife === 'number' || typeof halfLife === 'string' ? parseDuration(halfLife) : NaN;
  if (!(h > 0)) throw new Error(`halfLife must be a positive duration, got ${String(halfLife)}`);
  const k = Math.LN2 / h;
  // Rescale both sums to a new reference time: the weights stay <= 1, so nothing overflows.
  const rebase = (a: EwmaAcc, t: number): void => {
    if (a.w > 0) {
      const f = Math.exp(-k * (t - a.t));
      a.s *= f;
      a.w *= f;
    }
    a.t = t;
  };
  return {
    createAccumulator: (): EwmaAcc => ({ t: Number.NEGATIVE_INFINITY, s: 0, w: 0 }),
    add(a: EwmaAcc, r: { ts: number }): EwmaAcc {
      const v = Number(x(r));
      if (!Number.isFinite(v)) return a;
      if (r.ts > a.t) rebase(a, r.ts);
      const wt = Math.exp(-k * (a.t - r.ts));
      a.s += v * wt;
      a.w += wt;
      return a;
    },
    getResult: (a: EwmaAcc): number => (a.w > 0 ? a.s / a.w : NaN),
    merge(a: EwmaAcc, b: EwmaAcc): EwmaAcc {
      if (b.w === 0) return a;
      if (a.w === 0) return { t: b.t, s: b.s, w: b.w };
      const t = Math.max(a.t, b.t);
      rebase(a, t);
      const f = Math.exp(-k * (t - b.t));
      a.s += b.s * f;
      a.w += b.w * f;
      return a;
    },
  };
});
