/**
 * Per-trader limit checks against traders.csv (CONTRACTS.md 2 traders.csv, 3 alert types, 4
 * definitions): one alert per breach episode, with hysteresis before the next one.
 *
 * Every check reads "value exceeds threshold" (LOSS_LIMIT's value is the day's loss, -pnl), so
 * the episode rule is the same for all of them:
 * - fire when armed and value > threshold (DRAWDOWN: >=, as its definition says "reaches");
 * - the alert disarms the check; it re-arms once value <= rearmBelow * threshold (default 0.9),
 *   so a metric hovering at the limit does not alert on every tick;
 * - severity `critical` when value >= criticalAt * threshold (default 1.5x), else `warning`.
 * A limit that is not a finite number (an empty cell in traders.csv) is not checked.
 */
import type { Severity } from '../core/alerts.js';
import type { Trader } from '../core/reference.js';
import type { Position, TraderBook } from './positions.js';

/**
 * The limit alert types of CONTRACTS.md 3 this module raises.
 *
 * @example
 * const t: LimitType = 'NOTIONAL_LIMIT';
 */
export type LimitType = 'POSITION_LIMIT' | 'NOTIONAL_LIMIT' | 'LOSS_LIMIT' | 'CONCENTRATION_LIMIT' | 'DRAWDOWN' | 'VAR_LIMIT';

/**
 * Alert topic of each limit type (CONTRACTS.md 3: VaR is portfolio risk, the rest position risk).
 *
 * @example LIMIT_TOPICS.VAR_LIMIT; // 'portfolio-risk-alerts'
 */
export const LIMIT_TOPICS: Readonly<Record<LimitType, string>> = {
  POSITION_LIMIT: 'position-risk-alerts',
  NOTIONAL_LIMIT: 'position-risk-alerts',
  LOSS_LIMIT: 'position-risk-alerts',
  CONCENTRATION_LIMIT: 'position-risk-alerts',
  DRAWDOWN: 'position-risk-alerts',
  VAR_LIMIT: 'portfolio-risk-alerts',
};

/**
 * The parameters of the limit checks (every one is a topology parameter).
 *
 * @example
 * const policy: LimitPolicy = { ...DEFAULT_LIMIT_POLICY, rearmBelow: 0.8 };
 */
export interface LimitPolicy {
  /** A check re-arms once its value is at or below this fraction of its threshold. */
  rearmBelow: number;
  /** Severity is critical from this multiple of the threshold. */
  criticalAt: number;
  /**
   * CONCENTRATION_LIMIT fires only once gross exposure >= this fraction of maxNotional: a book's
   * first trade is always 100% concentrated, which says nothing. Not checked for a trader whose
   * maxNotional is unlimited (there is no scale for "a meaningful book").
   */
  concentrationMinGross: number;
  /** DRAWDOWN fires when the drop from the day's peak P&L reaches this fraction of maxLoss. */
  drawdownOfMaxLoss: number;
}

/**
 * Defaults: re-arm at 90%, critical at 1.5x, concentration checked from 25% of maxNotional,
 * drawdown at half the loss limit (an early warning before LOSS_LIMIT).
 *
 * @example new LimitChecker(DEFAULT_LIMIT_POLICY)
 */
export const DEFAULT_LIMIT_POLICY: Readonly<LimitPolicy> = {
  rearmBelow: 0.9,
  criticalAt: 1.5,
  concentrationMinGross: 0.25,
  drawdownOfMaxLoss: 0.5,
};

/**
 * A breach to turn into an alert: everything but the routing (topic, rule, ids), which the step
 * adds.
 *
 * @example
 * { type: 'NOTIONAL_LIMIT', traderId: 'TR07', eventTime, value: 12.4e6, threshold: 10e6, severity: 'warning',
 *   message: 'TR07 gross exposure 12.4M exceeds limit 10.0M', details: { ... } }
 */
export interface LimitBreach {
  type: LimitType;
  traderId: string;
  eventTime: number;
  value: number;
  threshold: number;
  severity: Severity;
  message: string;
  details: Record<string, unknown>;
}

/**
 * Episode state of a trader's book-level checks (POSITION_LIMIT's lives on each Position).
 *
 * @example new TraderLimitState().notional; // true: armed
 */
export class TraderLimitState {
  notional = true;
  loss = true;
  concentration = true;
  drawdown = true;
  var = true;

  toArray(): boolean[] {
    return [this.notional, this.loss, this.concentration, this.drawdown, this.var];
  }

  static fromArray(a: boolean[]): TraderLimitState {
    const s = new TraderLimitState();
    [s.notional, s.loss, s.concentration, s.drawdown, s.var] = a as [boolean, boolean, boolean, boolean, boolean];
    return s;
  }
}

/**
 * The VaR figures a VAR_LIMIT check reports.
 *
 * @example
 * { var: 812_500, es: 950_100, confidence: 0.99, horizonDays: 1, method: 'historical', scenarios: 250 }
 */
export interface VarFigures {
  var: number;
  es: number;
  confidence: number;
  horizonDays: number;
  method: string;
  scenarios: number;
}

/**
 * Runs the checks of one trader after a change and appends the breaches to `out`.
 *
 * @example
 * const lc = new LimitChecker(DEFAULT_LIMIT_POLICY);
 * lc.checkBook(book.trader('TR07')!, state, reference.traders.get('TR07'), ts, breaches);
 */
export class LimitChecker {
  constructor(readonly policy: LimitPolicy) {
    if (!(policy.rearmBelow > 0 && policy.rearmBelow <= 1)) throw new RangeError(`limits.rearmBelow must be in (0, 1], got ${policy.rearmBelow}`);
    if (!(policy.criticalAt >= 1)) throw new RangeError(`limits.criticalAt must be >= 1, got ${policy.criticalAt}`);
    if (!(policy.concentrationMinGross >= 0)) throw new RangeError(`limits.concentrationMinGross must be >= 0, got ${policy.concentrationMinGross}`);
    if (!(policy.drawdownOfMaxLoss > 0)) throw new RangeError(`limits.drawdownOfMaxLoss must be > 0, got ${policy.drawdownOfMaxLoss}`);
  }

  private severity(value: number, threshold: number): Severity {
    return value >= this.policy.criticalAt * threshold ? 'critical' : 'warning';
  }

  /** NOTIONAL_LIMIT, LOSS_LIMIT, CONCENTRATION_LIMIT and DRAWDOWN of a trader's book. */
  checkBook(t: TraderBook, st: TraderLimitState, lim: Trader | undefined, ts: number, out: LimitBreach[]): void {
    if (lim === undefined) return;
    const rearm = this.policy.rearmBelow;
    const gross = t.gross;
    const maxNotional = lim.maxNotional;
    if (Number.isFinite(maxNotional)) {
      if (st.notional) {
        if (gross > maxNotional) {
          st.notional = false;
          out.push({
            type: 'NOTIONAL_LIMIT',
            traderId: t.id,
            eventTime: ts,
            value: gross,
            threshold: maxNotional,
            severity: this.severity(gross, maxNotional),
            message: `${t.id} gross exposure ${money(gross)} exceeds limit ${money(maxNotional)}`,
            details: { grossExposure: gross, netExposure: t.net, maxNotional },
          });
        }
      } else if (gross <= rearm * maxNotional) st.notional = true;
    }
    const pnl = t.realized + t.unrealized;
    const loss = -pnl;
    const maxLoss = lim.maxLoss;
    if (Number.isFinite(maxLoss)) {
      if (st.loss) {
        if (loss > maxLoss) {
          st.loss = false;
          out.push({
            type: 'LOSS_LIMIT',
            traderId: t.id,
            eventTime: ts,
            value: loss,
            threshold: maxLoss,
            severity: this.severity(loss, maxLoss),
            message: `${t.id} day P&L ${money(pnl)} breaches loss limit ${money(maxLoss)}`,
            details: { pnl, realizedPnl: t.realized, unrealizedPnl: t.unrealized, maxLoss },
          });
        }
      } else if (loss <= rearm * maxLoss) st.loss = true;
      const ddLimit = this.policy.drawdownOfMaxLoss * maxLoss;
      if (ddLimit > 0) {
        const dd = t.peak - pnl;
        if (st.drawdown) {
          if (dd >= ddLimit) {
            st.drawdown = false;
            out.push({
              type: 'DRAWDOWN',
              traderId: t.id,
              eventTime: ts,
              value: dd,
              threshold: ddLimit,
              severity: this.severity(dd, ddLimit),
              message: `${t.id} P&L ${money(pnl)} is ${money(dd)} below today's peak ${money(t.peak)} (limit ${money(ddLimit)})`,
              details: { drawdown: dd, peakPnl: t.peak, pnl, maxLoss },
            });
          }
        } else if (dd <= rearm * ddLimit) st.drawdown = true;
      }
    }
    const maxConc = lim.maxConcentration;
    if (Number.isFinite(maxConc)) {
      const conc = t.concentration;
      if (st.concentration) {
        const minGross = this.policy.concentrationMinGross * maxNotional;
        if (conc > maxConc && Number.isFinite(minGross) && gross >= minGross && gross > 0) {
          st.concentration = false;
          const big = t.largest!;
          out.push({
            type: 'CONCENTRATION_LIMIT',
            traderId: t.id,
            eventTime: ts,
            value: conc,
            threshold: maxConc,
            severity: this.severity(conc, maxConc),
            message: `${t.id} ${big.inst.name} is ${pct(conc)} of gross exposure ${money(gross)} (limit ${pct(maxConc)})`,
            details: { instrument: big.inst.name, notional: big.notional, grossExposure: gross, maxConcentration: maxConc, minGrossExposure: minGross },
          });
        }
      } else if (conc <= rearm * maxConc) st.concentration = true;
    }
  }

  /** POSITION_LIMIT of one position (|qty| > maxPosition); its episode state is `pos.armed`. */
  checkPosition(pos: Position, lim: Trader | undefined, ts: number, out: LimitBreach[]): void {
    if (lim === undefined) return;
    this.checkPositionMax(pos, lim.maxPosition, ts, out);
  }

  /** {@link checkPosition} with the trader's maxPosition given (not finite: no limit). */
  checkPositionMax(pos: Position, maxPos: number, ts: number, out: LimitBreach[]): void {
    if (!Number.isFinite(maxPos)) return;
    const q = Math.abs(pos.qty);
    if (!pos.armed) {
      if (q <= this.policy.rearmBelow * maxPos) pos.armed = true;
      return;
    }
    if (!(q > maxPos)) return;
    pos.armed = false;
    const t = pos.trader;
    out.push({
      type: 'POSITION_LIMIT',
      traderId: t.id,
      eventTime: ts,
      value: q,
      threshold: maxPos,
      severity: this.severity(q, maxPos),
      message: `${t.id} ${pos.inst.name} position ${pos.qty > 0 ? 'long' : 'short'} ${int(q)} exceeds limit ${int(maxPos)}`,
      details: { instrument: pos.inst.name, qty: pos.qty, avgPrice: pos.avgPrice, markPrice: pos.inst.mark, maxPosition: maxPos },
    });
  }

  /** VAR_LIMIT (var > varLimit). */
  checkVar(t: TraderBook, st: TraderLimitState, lim: Trader | undefined, v: VarFigures, ts: number, out: LimitBreach[]): void {
    if (lim === undefined) return;
    const varLimit = lim.varLimit;
    if (!Number.isFinite(varLimit)) return;
    const x = v.var;
    if (!st.var) {
      if (x <= this.policy.rearmBelow * varLimit) st.var = true;
      return;
    }
    if (!(x > varLimit)) return;
    st.var = false;
    const c = `${pct(v.confidence)}`;
    out.push({
      type: 'VAR_LIMIT',
      traderId: t.id,
      eventTime: ts,
      value: x,
      threshold: varLimit,
      severity: this.severity(x, varLimit),
      message: `${t.id} ${fmtDays(v.horizonDays)} ${c} VaR ${money(x)} exceeds limit ${money(varLimit)} (ES ${money(v.es)})`,
      details: { var: x, es: v.es, confidence: v.confidence, horizonDays: v.horizonDays, method: v.method, scenarios: v.scenarios, grossExposure: t.gross, varLimit },
    });
  }
}

/**
 * Money as a risk desk reads it: 12.4M, 10.0M, 412.3k, -80.2k, 950 (one decimal from a thousand up).
 *
 * @example money(12_437_000); // '12.4M'
 */
export function money(x: number): string {
  const a = Math.abs(x);
  const sign = x < 0 ? '-' : '';
  if (!Number.isFinite(a)) return String(x);
  // Thresholds at the rounding boundary, so 999,960 shows as 1.0M rather than 1000.0k.
  if (a >= 999.95e6) return `${sign}${(a / 1e9).toFixed(1)}B`;
  if (a >= 999.95e3) return `${sign}${(a / 1e6).toFixed(1)}M`;
  if (a >= 999.5) return `${sign}${(a / 1e3).toFixed(1)}k`;
  return `${sign}${a.toFixed(0)}`;
}

/**
 * A fraction as a percentage with at most one decimal: 0.724 -> '72.4%', 0.65 -> '65%'.
 *
 * @example pct(0.65); // '65%'
 */
export function pct(x: number): string {
  return `${(x * 100).toFixed(1).replace(/\.0$/, '')}%`;
}

function int(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function fmtDays(h: number): string {
  return `${Number.isInteger(h) ? h : h.toFixed(2)}-day`;
}
