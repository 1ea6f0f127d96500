/**
 * EWMA volatility and covariance of daily returns, RiskMetrics style (CONTRACTS.md 4: "parametric
 * (variance-covariance) VaR with EWMA volatility/covariance, lambda 0.94").
 *
 * Convention (RiskMetrics — Technical Document, 4th ed., J.P. Morgan/Reuters 1996, §5.2: zero-mean
 * exponentially weighted estimator; §5.3: lambda = 0.94 for daily data). Over T returns r_1..r_T
 * (oldest first) the estimate as of the last day is
 *
 *     Sigma = sum_{j=0}^{T-1} w_j r_{T-j} r_{T-j}',   w_j = (1 - lambda) lambda^j / (1 - lambda^T)
 *
 * i.e. the recursion Sigma_t = lambda Sigma_{t-1} + (1 - lambda) r_t r_t' seeded with Sigma_0 = 0,
 * divided by the total weight 1 - lambda^T so the weights sum to exactly one. The seed is the one
 * choice a finite history forces: a zero seed alone would understate the variance by the factor
 * 1 - lambda^T (0.9999998 at T = 250, but 0.71 at T = 20); renormalising removes that bias without
 * inventing a prior variance. Returns are not de-meaned (RiskMetrics assumes a zero daily mean).
 */

/**
 * EWMA variance of one return series (see the module comment for the convention).
 *
 * @example
 * ewmaVariance(Float64Array.of(0.01, -0.02, 0.015), 0.94); // weighted mean of r^2, newest weighted most
 */
export function ewmaVariance(returns: ArrayLike<number>, lambda = 0.94, n = returns.length): number {
  checkLambda(lambda);
  if (n === 0) return 0;
  let v = 0;
  for (let t = 0; t < n; t++) {
    const r = returns[t] as number;
    v = lambda * v + (1 - lambda) * r * r;
  }
  return v / (1 - lambda ** n);
}

/**
 * EWMA volatility (standard deviation of one day's return): `sqrt(ewmaVariance)`.
 *
 * @example
 * ewmaVolatility(Float64Array.of(0.01, -0.01), 0.94); // 0.01
 */
export function ewmaVolatility(returns: ArrayLike<number>, lambda = 0.94, n = returns.length): number {
  return Math.sqrt(ewmaVariance(returns, lambda, n));
}

/**
 * EWMA covariance matrix of N return series of equal length T (row-major N x N, symmetric). A
 * missing series (undefined) has zero variance and covariance: the caller decides what a missing
 * history means (desk risk treats it as "contributes nothing", see var.ts).
 *
 * @example
 * const cov = ewmaCovariance([rA, rB], 250, 0.94);
 * const corrAB = cov[1] / Math.sqrt(cov[0] * cov[3]);
 */
export function ewmaCovariance(series: ReadonlyArray<Float64Array | undefined>, T: number, lambda = 0.94): Float64Array {
  checkLambda(lambda);
  const n = series.length;
  const cov = new Float64Array(n * n);
  if (T === 0) return cov;
  const w = 1 - lambda;
  const x = new Float64Array(n);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < n; i++) x[i] = series[i]?.[t] ?? 0;
    for (let i = 0; i < n; i++) {
      const xi = w * (x[i] as number);
      const row = i * n;
      for (let j = i; j < n; j++) cov[row + j] = lambda * (cov[row + j] as number) + xi * (x[j] as number);
    }
  }
  const norm = 1 / (1 - lambda ** T);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = (cov[i * n + j] as number) * norm;
      cov[i * n + j] = v;
      cov[j * n + i] = v;
    }
  }
  return cov;
}

function checkLambda(lambda: number): void {
  if (!(lambda > 0 && lambda < 1)) throw new RangeError(`EWMA lambda must be in (0, 1), got ${lambda}`);
}
