import { defineScalar } from '../src/topology/udfs.js';

/**
 * `bps(a, b)`: the difference of `a` from `b` in basis points of `b`, `(a - b) / b * 1e4`. NaN when
 * either is missing or `b` is 0 (a reference price of 0 is bad data, not an infinite move).
 *
 * @example
 * where: "abs(bps(price, quote.mid)) > params.maxDeviationBps"
 */
export const bps = defineScalar('bps', (a: unknown, b: unknown): number => {
  const x = typeof a === 'number' ? a : Number.NaN;
  const y = typeof b === 'number' ? b : Number.NaN;
  if (y === 0) return Number.NaN;
  return ((x - y) / y) * 1e4;
});
