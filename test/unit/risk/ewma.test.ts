import { describe, expect, it } from 'vitest';
import { ewmaCovariance, ewmaVariance, ewmaVolatility } from '../../../src/risk/ewma.js';
import { near, prng } from './desk-reference.js';

/** The RiskMetrics finite sum written out: weights (1 - l) l^j / (1 - l^T) on r_{T-j} r'_{T-j}, zero mean. */
function direct(a: ArrayLike<number>, b: ArrayLike<number>, lambda: number): number {
  const T = a.length;
  let s = 0;
  let wsum = 0;
  for (let j = 0; j < T; j++) {
    const w = (1 - lambda) * lambda ** j;
    s += w * (a[T - 1 - j] as number) * (b[T - 1 - j] as number);
    wsum += w;
  }
  return s / wsum;
}

describe('EWMA (RiskMetrics, lambda 0.94)', () => {
  const rnd = prng(11);
  const series = Array.from({ length: 5 }, (_, i) => Float64Array.from({ length: 250 }, () => (rnd() - 0.5) * 0.04 * (i + 1)));

  it('variance and volatility match the direct weighted sum', () => {
    for (const r of series) {
      for (const lambda of [0.94, 0.97, 0.5]) {
        expect(near(ewmaVariance(r, lambda), direct(r, r, lambda), 0, 1e-12)).toBe(true);
      }
      expect(near(ewmaVolatility(r), Math.sqrt(direct(r, r, 0.94)), 0, 1e-12)).toBe(true);
    }
  });

  it('weights sum to one even on a short history (the zero-seed bias is removed)', () => {
    const r = Float64Array.of(0.01, -0.01, 0.01, -0.01);
    expect(ewmaVariance(r, 0.94)).toBeCloseTo(1e-4, 15);
    expect(ewmaVariance(new Float64Array(0))).toBe(0);
  });

  it('weights recent returns more', () => {
    const calmThenWild = Float64Array.from({ length: 100 }, (_, t) => (t < 90 ? 0.001 : 0.05));
    const wildThenCalm = calmThenWild.slice().reverse();
    expect(ewmaVariance(calmThenWild)).toBeGreaterThan(50 * ewmaVariance(wildThenCalm));
  });

  it('covariance matrix matches the direct loop pair by pair, symmetric, missing series all zero', () => {
    const withMissing = [...series, undefined];
    const cov = ewmaCovariance(withMissing, 250, 0.94);
    const n = withMissing.length;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const want = withMissing[i] && withMissing[j] ? direct(withMissing[i]!, withMissing[j]!, 0.94) : 0;
        expect(near(cov[i * n + j]!, want, 0, 1e-12)).toBe(true);
        expect(cov[i * n + j]).toBe(cov[j * n + i]);
      }
    }
    expect(cov[0]).toBe(ewmaVariance(series[0]!, 0.94));
  });

  it('rejects a decay outside (0, 1)', () => {
    expect(() => ewmaVariance(series[0]!, 1)).toThrow(RangeError);
    expect(() => ewmaCovariance(series, 250, 0)).toThrow(RangeError);
  });
});
