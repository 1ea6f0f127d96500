/**
 * The desk-risk step type `positions`: positions, P&L, VaR/ES and trader limits (CONTRACTS.md 4)
 * over a trades input and a quotes input, in one event-time operator. Its output stream carries
 * the limit alerts (CONTRACTS.md 3); it also writes the `positions` and `trader_risk` snapshot
 * tables (CONTRACTS.md 5).
 *
 * ```yaml
 * - id: desk-risk
 *   type: positions
 *   trades: trades                 # a stream of trade records
 *   quotes: quotes                 # a stream of quote records
 *   var: { method: historical, confidence: 0.99, scenarios: 250, horizonDays: 1,
 *          quantile: lower, lambda: 0.94 }
 *   limits: { rearmBelow: 0.9, criticalAt: 1.5, concentrationMinGross: 0.25, drawdownOfMaxLoss: 0.5 }
 * ```
 */
import { makeAlert, type Alert } from '../../core/alerts.js';
import type { Timestamped } from '../../core/element.js';
import { EventTimeBuffer, twoInputOperator, type EventTimeBufferSnapshot } from '../../operators/join-internals.js';
import { DEFAULT_VAR_OPTIONS, DeskRisk, type DeskRiskOptions, type DeskRiskSnapshot, type QuoteIn, type TradeIn, type VarMethod } from '../../risk/desk.js';
import { DEFAULT_LIMIT_POLICY, LIMIT_TOPICS, type LimitBreach, pct } from '../../risk/limits.js';
import type { QuantileMethod } from '../../risk/var.js';
import { registerStepType, type StepBase, type StepTypeDefinition, type ValidateContext } from '../schema.js';
import { didYouMean } from '../util.js';

/**
 * A `positions` step as written in a topology (every number may be `${params.x}`).
 *
 * @example
 * { id: 'desk-risk', type: 'positions', trades: 'trades', quotes: 'quotes', var: { confidence: 0.99 } }
 */
export interface PositionsStep extends StepBase {
  type: 'positions';
  /** Id of the source or step giving trade records. */
  trades: string;
  /** Id of the source or step giving quote records. */
  quotes: string;
  var?: {
    /** historical (default) or parametric (EWMA variance-covariance). */
    method?: VarMethod;
    /** VaR confidence c in (0, 1), default 0.99. */
    confidence?: number;
    /** Number S of daily scenarios, default 250. */
    scenarios?: number;
    /** Horizon in days (figures scale by sqrt(h)), default 1. */
    horizonDays?: number;
    /** lower (CONTRACTS.md 4, default) or linear (R type 7). */
    quantile?: QuantileMethod;
    /** EWMA decay for the parametric method, default 0.94. */
    lambda?: number;
  };
  limits?: {
    /** Re-arm an alert once the metric is at or below this fraction of its limit, default 0.9. */
    rearmBelow?: number;
    /** Critical severity from this multiple of the limit, default 1.5. */
    criticalAt?: number;
    /** CONCENTRATION_LIMIT only once gross exposure >= this fraction of maxNotional, default 0.25. */
    concentrationMinGross?: number;
    /** DRAWDOWN when the drop from the day's peak P&L reaches this fraction of maxLoss, default 0.5. */
    drawdownOfMaxLoss?: number;
  };
}

declare module '../schema.js' {
  interface StepTypes {
    positions: PositionsStep;
  }
}

const VAR_FIELDS = ['method', 'confidence', 'scenarios', 'horizonDays', 'quantile', 'lambda'];
const LIMIT_FIELDS = ['rearmBelow', 'criticalAt', 'concentrationMinGross', 'drawdownOfMaxLoss'];

type TradeRec = TradeIn & Timestamped;
type QuoteRec = QuoteIn & Timestamped;

interface StepSnapshot {
  trades: EventTimeBufferSnapshot<TradeRec>;
  quotes: EventTimeBufferSnapshot<QuoteRec>;
  desk: DeskRiskSnapshot;
  late: number;
  badTime: number;
}

function checkSubFields(v: ValidateContext, field: string, known: readonly string[]): void {
  const m = v.mapping(field);
  for (const k of Object.keys(m ?? {})) {
    if (!known.includes(k)) v.error(`${field}.${k}`, `unknown field '${field}.${k}'${didYouMean(k, known)} (fields: ${known.join(', ')})`);
  }
}

function openInterval(v: ValidateContext, field: string, lo: number, hi: number, hiIncluded = false): void {
  const x = v.number(field);
  if (x !== undefined && !(x > lo && (hiIncluded ? x <= hi : x < hi))) {
    v.error(field, `'${field}' must be in (${lo}, ${hi}${hiIncluded ? ']' : ')'}, got ${x}`);
  }
}

/** The DeskRisk options of a validated step. */
function optionsOf(step: PositionsStep, snapshotIntervalMs: number): DeskRiskOptions {
  const v = step.var ?? {};
  const l = step.limits ?? {};
  return {
    var: {
      method: v.method,
      confidence: v.confidence,
      scenarios: v.scenarios,
      horizonDays: v.horizonDays,
      quantile: v.quantile,
      lambda: v.lambda,
    },
    limits: {
      rearmBelow: l.rearmBelow,
      criticalAt: l.criticalAt,
      concentrationMinGross: l.concentrationMinGross,
      drawdownOfMaxLoss: l.drawdownOfMaxLoss,
    },
    snapshotIntervalMs,
  };
}

/** Rule id of a limit type within the step: alert ids hash (topology, rule, entity, eventTime), so each type needs its own rule or two breaches of one trade would share an id. */
function ruleOf(stepId: string, type: string): string {
  return `${stepId}/${type.toLowerCase().replace(/_/g, '-')}`;
}

/**
 * `positions`: weighted-average-cost positions and marks, per-trader exposure, P&L, drawdown,
 * concentration, VaR/ES (historical simulation or EWMA parametric), and the limit alerts
 * POSITION_LIMIT, NOTIONAL_LIMIT, LOSS_LIMIT, CONCENTRATION_LIMIT, DRAWDOWN (position-risk-alerts)
 * and VAR_LIMIT (portfolio-risk-alerts), entity `{traderId}`, rule `<step id>/<type>` (e.g.
 * `desk-risk/notional-limit`). Records of both inputs are buffered and applied in event-time
 * order when the combined watermark passes them (ties: quote before trade, then arrival), so
 * alerts and snapshot rows do not depend on batching or on disorder within the watermark bound.
 * Every limit, VAR_LIMIT included, is checked after each event that touches the trader (its
 * trades, quotes of instruments it holds) at the current marks; the VaR vectors are brought up to
 * date lazily, only when the decision could depend on it (see src/risk/desk.ts). Records behind the watermark are applied at once (a late update) and reported on the step's
 * late output. Missing price history: the instrument contributes 0 to VaR, with a process warning
 * (code RISKFLOW_DESK_RISK). Registered on import of this module.
 *
 * @example
 * import './steps/desk-risk.js';
 * compileTopology({ name: 'x', sources: { t: { stream: 'trade' }, q: { stream: 'quote' } },
 *   steps: [{ id: 'risk', type: 'positions', trades: 't', quotes: 'q' }] });
 */
export const positionsStep: StepTypeDefinition<PositionsStep> = {
  inputFields: ['trades', 'quotes'],
  fields: ['var', 'limits'],
  terminal: true,
  validate(_step, v) {
    checkSubFields(v, 'var', VAR_FIELDS);
    v.string('var.method', { oneOf: ['historical', 'parametric'] });
    openInterval(v, 'var.confidence', 0, 1);
    v.number('var.scenarios', { integer: true, min: 1 });
    openInterval(v, 'var.horizonDays', 0, Number.POSITIVE_INFINITY);
    v.string('var.quantile', { oneOf: ['lower', 'linear'] });
    openInterval(v, 'var.lambda', 0, 1);
    checkSubFields(v, 'limits', LIMIT_FIELDS);
    openInterval(v, 'limits.rearmBelow', 0, 1, true);
    const crit = v.number('limits.criticalAt');
    if (crit !== undefined && crit < 1) v.error('limits.criticalAt', `'limits.criticalAt' must be >= 1, got ${crit}`);
    v.number('limits.concentrationMinGross', { min: 0 });
    openInterval(v, 'limits.drawdownOfMaxLoss', 0, Number.POSITIVE_INFINITY);
  },
  build(step, [trades, quotes], env) {
    const opts = optionsOf(step, env.snapshotIntervalMs);
    const topology = env.topology;
    const stepId = env.stepId;
    const clock = env.ctx.clock;
    const late = env.late<TradeRec | QuoteRec>();
    return trades!.pipe(
      twoInputOperator<TradeRec, QuoteRec, Alert>(
        quotes!,
        (scope) => {
          const sink = {
            breach(b: LimitBreach): void {
              const a = makeAlert(
                {
                  type: b.type,
                  severity: b.severity,
                  topic: LIMIT_TOPICS[b.type],
                  rule: ruleOf(stepId, b.type),
                  topology,
                  entity: { traderId: b.traderId },
                  eventTime: b.eventTime,
                  value: b.value,
                  threshold: b.threshold,
                  message: b.message,
                  details: b.details,
                },
                clock.now(),
              );
              env.alert(a);
              scope.emit(a);
            },
            snapshot(table: string, at: number, rows: Array<Record<string, unknown>>): void {
              env.snapshot(table, at, rows);
            },
            warn(message: string): void {
              process.emitWarning(`${env.operatorId}: ${message}`, { code: 'RISKFLOW_DESK_RISK' });
            },
          };
          let desk = new DeskRisk(env.reference, opts, sink);
          const tradeBuf = new EventTimeBuffer<TradeRec>();
          const quoteBuf = new EventTimeBuffer<QuoteRec>();
          let lateCount = 0;
          let badTime = 0;
          // Reused between watermarks: the released records of each input (the first nq / nt
          // entries, written by releaseInto), merged by time. Counts rather than `length = 0`,
          // which would free the arrays' backing stores and regrow them at every watermark (a
          // record stays referenced from its slot until a later watermark overwrites it).
          const qs: QuoteRec[] = [];
          const ts: TradeRec[] = [];
          const goodTime = (r: Timestamped): boolean => {
            if (Number.isFinite(r.ts)) return true;
            if (badTime++ === 0) sink.warn(`records without a finite event time are ignored (first: ${JSON.stringify(r)})`);
            return false;
          };
          return {
            onLeft(t) {
              if (!goodTime(t)) return;
              if (t.ts > scope.wm) tradeBuf.push(t.ts, t);
              else {
                lateCount++;
                late.emit(t);
                desk.trade(t);
              }
            },
            onRight(q) {
              if (!goodTime(q)) return;
              if (q.ts > scope.wm) quoteBuf.push(q.ts, q);
              else {
                lateCount++;
                late.emit(q);
                desk.quote(q);
              }
            },
            onWatermark(wm) {
              const nq = quoteBuf.releaseInto(wm, qs, 0);
              const nt = tradeBuf.releaseInto(wm, ts, 0);
              // CONTRACTS ties: at equal event time quotes go first (a trade is marked against the quote of its instant).
              let i = 0;
              let j = 0;
              while (i < nq || j < nt) {
                if (j >= nt || (i < nq && qs[i]!.ts <= ts[j]!.ts)) desk.quote(qs[i++]!);
                else desk.trade(ts[j++]!);
              }
              desk.watermark(wm);
            },
            snapshot(): StepSnapshot {
              return { trades: tradeBuf.snapshot(), quotes: quoteBuf.snapshot(), desk: desk.snapshot(), late: lateCount, badTime };
            },
            restore(s) {
              const st = s as StepSnapshot;
              tradeBuf.restore(st.trades);
              quoteBuf.restore(st.quotes);
              desk = new DeskRisk(env.reference, opts, sink);
              desk.restore(st.desk);
              lateCount = st.late;
              badTime = st.badTime;
            },
          };
        },
        { name: 'positions', id: env.operatorId, ctx: env.ctx },
      ),
    );
  },
  describe(step) {
    const v = { ...DEFAULT_VAR_OPTIONS, ...(step.var ?? {}) };
    const l = { ...DEFAULT_LIMIT_POLICY, ...(step.limits ?? {}) };
    const method =
      v.method === 'parametric'
        ? `parametric (EWMA lambda ${v.lambda}, ${v.scenarios} days of returns)`
        : `historical simulation over ${v.scenarios} scenarios, quantile ${v.quantile}`;
    return [
      'positions by weighted average cost; marks: quote mid, else last trade, else prevClose',
      `VaR/ES ${pct(v.confidence)} ${v.horizonDays}-day, ${method}; VAR_LIMIT checked at current marks after every trade and held-instrument quote`,
      `=> POSITION_LIMIT, NOTIONAL_LIMIT, LOSS_LIMIT, CONCENTRATION_LIMIT (from gross >= ${pct(l.concentrationMinGross)} of maxNotional), DRAWDOWN (>= ${pct(l.drawdownOfMaxLoss)} of maxLoss) on position-risk-alerts; VAR_LIMIT on portfolio-risk-alerts; entity traderId`,
      `one alert per episode, re-armed at or below ${pct(l.rearmBelow)} of the limit; critical from ${l.criticalAt}x`,
      'snapshot tables: positions, trader_risk',
    ];
  },
};

registerStepType('positions', positionsStep, { replace: true });
