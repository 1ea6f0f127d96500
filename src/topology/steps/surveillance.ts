/**
 * The surveillance step types (CONTRACTS.md section 4, "Surveillance"): washTrade, spoofing,
 * layering, markingTheClose, frontRunning. Each wraps a pure detector of src/surveillance in an
 * operator that buffers its inputs until the watermark passes them and feeds them to the detector
 * in event-time order (trades before orders at equal ts), so alerts do not depend on batching or
 * on arrival order within the watermark bound. Records at or behind the watermark go to the step's
 * late output. Alerts go to surveillance-alerts (env.alert) and down the step's output stream.
 */
import type { OperatorFunction } from 'rxjs';
import { makeAlert, type Alert, type Severity } from '../../core/alerts.js';
import type { Element, Stream } from '../../core/element.js';
import { TopologyError } from '../../core/errors.js';
import { parseDuration } from '../../core/time.js';
import { elementOperator } from '../../operators/internals.js';
import { twoInputOperator } from '../../operators/join-internals.js';
import {
  FrontRunningDetector,
  LayeringDetector,
  MarkingTheCloseDetector,
  Sequencer,
  SpoofingDetector,
  WashTradeDetector,
  fmtLimit,
  fmtPct,
  fmtQty,
  type AlertDraft,
  type Detector,
  type SequencerSnapshot,
  type SurvOrder,
  type SurvTrade,
} from '../../surveillance/index.js';
import { getStepType, registerStepType, type Duration, type StepBase, type StepBuildEnv, type StepTypeDefinition, type ValidateContext } from '../schema.js';

const SEVERITIES = ['info', 'warning', 'critical'] as const;

/** Fields every surveillance step has besides its inputs. */
interface SurveillanceStepBase extends StepBase {
  /** Source or step id of the trades. */
  trades: string;
  /** Severity of its alerts (default per type, see SURVEILLANCE_DEFAULTS). */
  severity?: Severity;
}

/**
 * `washTrade` (input `trades`): WASH_TRADE alerts. Fields (defaults): window (60s),
 * qtyTolerance (0.05), priceTolerance (0.001), severity (warning).
 *
 * @example
 * { id: 'wash', type: 'washTrade', trades: 'trades', window: '60s', qtyTolerance: 0.05, priceTolerance: 0.001 }
 */
export interface WashTradeStep extends SurveillanceStepBase {
  type: 'washTrade';
  window?: Duration;
  qtyTolerance?: number;
  priceTolerance?: number;
}

/**
 * `spoofing` (inputs `trades`, `orders`): SPOOFING alerts. Fields (defaults): sizeMultiple (10),
 * medianWindow (1000 NEW orders; 0 = all), minMedianOrders (1), cancelWithin (2s), fillWindow (5s),
 * orderTtl (1m), severity (critical).
 *
 * @example
 * { id: 'spoof', type: 'spoofing', trades: 'trades', orders: 'orders', sizeMultiple: 10, cancelWithin: '2s', fillWindow: '5s' }
 */
export interface SpoofingStep extends SurveillanceStepBase {
  type: 'spoofing';
  orders: string;
  sizeMultiple?: number;
  medianWindow?: number;
  minMedianOrders?: number;
  cancelWithin?: Duration;
  fillWindow?: Duration;
  orderTtl?: Duration;
}

/**
 * `layering` (inputs `trades`, `orders`): LAYERING alerts. Fields (defaults): minOrders (3),
 * minLevels (3), placeWithin (1s), cancelWithin (5s), orderTtl (1m), severity (critical).
 *
 * @example
 * { id: 'layers', type: 'layering', trades: 'trades', orders: 'orders', minOrders: 3, minLevels: 3, placeWithin: '1s', cancelWithin: '5s' }
 */
export interface LayeringStep extends SurveillanceStepBase {
  type: 'layering';
  orders: string;
  minOrders?: number;
  minLevels?: number;
  placeWithin?: Duration;
  cancelWithin?: Duration;
  orderTtl?: Duration;
}

/**
 * `markingTheClose` (input `trades`): MARKING_THE_CLOSE alerts. Fields (defaults): window (10m),
 * minShare (0.2), minMove (0.01), close and timeZone (day.json's), severity (warning).
 *
 * @example
 * { id: 'mtc', type: 'markingTheClose', trades: 'trades', window: '10m', minShare: 0.2, minMove: 0.01 }
 */
export interface MarkingTheCloseStep extends SurveillanceStepBase {
  type: 'markingTheClose';
  window?: Duration;
  minShare?: number;
  minMove?: number;
  close?: string;
  timeZone?: string;
}

/**
 * `frontRunning` (inputs `trades`, `orders`): FRONT_RUNNING alerts. Fields (defaults):
 * minClientQty (10000), before (60s), after (10m), severity (critical).
 *
 * @example
 * { id: 'front', type: 'frontRunning', trades: 'trades', orders: 'orders', minClientQty: 10000, before: '60s', after: '10m' }
 */
export interface FrontRunningStep extends SurveillanceStepBase {
  type: 'frontRunning';
  orders: string;
  minClientQty?: number;
  before?: Duration;
  after?: Duration;
}

declare module '../schema.js' {
  interface StepTypes {
    washTrade: WashTradeStep;
    spoofing: SpoofingStep;
    layering: LayeringStep;
    markingTheClose: MarkingTheCloseStep;
    frontRunning: FrontRunningStep;
  }
}

/**
 * The defaults of CONTRACTS.md section 4 (durations in ms), used for fields a step leaves out.
 *
 * @example SURVEILLANCE_DEFAULTS.spoofing.sizeMultiple; // 10
 */
export const SURVEILLANCE_DEFAULTS = {
  washTrade: { windowMs: 60_000, qtyTolerance: 0.05, priceTolerance: 0.001, severity: 'warning' as Severity },
  spoofing: { sizeMultiple: 10, medianWindow: 1000, minMedianOrders: 1, cancelWithinMs: 2000, fillWindowMs: 5000, orderTtlMs: 60_000, severity: 'critical' as Severity },
  layering: { minOrders: 3, minLevels: 3, placeWithinMs: 1000, cancelWithinMs: 5000, orderTtlMs: 60_000, severity: 'critical' as Severity },
  markingTheClose: { windowMs: 600_000, minShare: 0.2, minMove: 0.01, severity: 'warning' as Severity },
  frontRunning: { minClientQty: 10_000, beforeMs: 60_000, afterMs: 600_000, severity: 'critical' as Severity },
} as const;

const ms = (v: Duration | undefined, dflt: number, field: string): number => (v === undefined ? dflt : parseDuration(v, field));

interface OperatorState {
  seq: SequencerSnapshot;
  det: unknown;
}

/**
 * Wires a detector between the step's inputs and its alerts: a Sequencer per subscription (so
 * records reach the detector in event-time order once the watermark, the minimum over the inputs,
 * passes them), alerts built with makeAlert and emitted before the watermark that completed them,
 * and the sequencer and detector state checkpointed under the step's operator id.
 */
function surveillanceOperator(
  env: StepBuildEnv,
  severity: Severity,
  make: () => Detector,
  trades$: Stream<SurvTrade>,
  orders$: Stream<SurvOrder> | undefined,
): Stream<Alert> {
  const late = env.late<SurvTrade | SurvOrder>();
  const clock = env.ctx.clock;
  const toAlert = (d: AlertDraft): Alert => {
    const a = makeAlert(
      {
        type: d.type,
        severity,
        topic: 'surveillance-alerts',
        rule: env.stepId,
        topology: env.topology,
        entity: { traderId: d.traderId },
        eventTime: d.eventTime,
        windowStart: d.windowStart,
        windowEnd: d.windowEnd,
        value: d.value,
        threshold: d.threshold,
        message: d.message,
        details: d.details,
      },
      clock.now(),
    );
    env.alert(a);
    return a;
  };
  const checkpoint = (seq: Sequencer, det: Detector) => ({
    snapshot: (): OperatorState => ({ seq: seq.snapshot(), det: det.snapshot() }),
    restore: (s: unknown): void => {
      const st = s as OperatorState;
      seq.restore(st.seq);
      det.restore(st.det);
    },
  });
  if (orders$ === undefined) {
    const op: OperatorFunction<Element<SurvTrade>, Element<Alert>> = elementOperator<SurvTrade, Alert>(
      () => {
        const seq = new Sequencer();
        const det = make();
        return {
          onRecord(t) {
            if (!seq.offerTrade(t)) late.emit(t);
          },
          onWatermark(w, emit) {
            seq.release(w.ts, det);
            for (const d of det.takeAlerts()) emit(toAlert(d));
            emit(w);
          },
          onComplete(emit) {
            // An input that ends without END_OF_TIME still ends: judge what it left.
            seq.release(Number.POSITIVE_INFINITY, det);
            for (const d of det.takeAlerts()) emit(toAlert(d));
          },
          checkpoint: checkpoint(seq, det),
        };
      },
      { id: env.operatorId, ctx: env.ctx },
    );
    return trades$.pipe(op);
  }
  return trades$.pipe(
    twoInputOperator<SurvTrade, SurvOrder, Alert>(
      orders$,
      (scope) => {
        const seq = new Sequencer();
        const det = make();
        const cp = checkpoint(seq, det);
        return {
          onLeft(t) {
            if (!seq.offerTrade(t)) late.emit(t);
          },
          onRight(o) {
            if (!seq.offerOrder(o)) late.emit(o);
          },
          onWatermark(wm) {
            seq.release(wm, det);
            for (const d of det.takeAlerts()) scope.emit(toAlert(d));
          },
          snapshot: cp.snapshot,
          restore: cp.restore,
        };
      },
      { name: env.stepId, id: env.operatorId, ctx: env.ctx },
    ),
  );
}

function validateSeverity(v: ValidateContext): void {
  v.string('severity', { oneOf: SEVERITIES });
}

function validateFraction(v: ValidateContext, field: string, max?: number): void {
  const x = v.number(field, { min: 0 });
  if (x !== undefined && max !== undefined && x > max) v.error(field, `'${field}' must be <= ${max}, got ${x}`);
}

function positive(v: ValidateContext, field: string): number | undefined {
  return v.duration(field, { positive: true });
}

const severityOf = (step: SurveillanceStepBase, dflt: Severity): Severity => step.severity ?? dflt;
const severityLine = (step: SurveillanceStepBase, dflt: Severity, type: string): string =>
  `=> ${type} (${severityOf(step, dflt)}) on surveillance-alerts, entity traderId`;

/**
 * The owners/desks of traders.csv as maps (an empty map when the job has no trader reference).
 *
 * @example traderMap(env, 'beneficialOwner').get('TR04'); // 'OWN-NORTHWIND'
 */
function traderMap(env: StepBuildEnv, field: 'beneficialOwner' | 'desk'): Map<string, string> {
  const m = new Map<string, string>();
  for (const [id, t] of env.reference.traders) if (t[field]) m.set(id, t[field]);
  return m;
}

/**
 * `washTrade`: see {@link WashTradeStep} and WashTradeDetector.
 *
 * @example registerStepType('washTrade', washTradeStep, { replace: true });
 */
export const washTradeStep: StepTypeDefinition<WashTradeStep> = {
  inputFields: ['trades'],
  fields: ['window', 'qtyTolerance', 'priceTolerance', 'severity'],
  terminal: true,
  validate(_step, v) {
    positive(v, 'window');
    validateFraction(v, 'qtyTolerance', 1);
    validateFraction(v, 'priceTolerance', 1);
    validateSeverity(v);
  },
  build(step, [trades], env) {
    const D = SURVEILLANCE_DEFAULTS.washTrade;
    const params = {
      windowMs: ms(step.window, D.windowMs, 'window'),
      qtyTolerance: step.qtyTolerance ?? D.qtyTolerance,
      priceTolerance: step.priceTolerance ?? D.priceTolerance,
      owners: traderMap(env, 'beneficialOwner'),
    };
    return surveillanceOperator(env, severityOf(step, D.severity), () => new WashTradeDetector(params), trades!, undefined);
  },
  describe(step) {
    const D = SURVEILLANCE_DEFAULTS.washTrade;
    return [
      'buyer and seller share a beneficialOwner (traders.csv) or are one trader;',
      `or one trader buys and sells an instrument within ${fmtLimit(ms(step.window, D.windowMs, 'window'))}, qty within ${fmtPct(step.qtyTolerance ?? D.qtyTolerance)}, price within ${fmtPct(step.priceTolerance ?? D.priceTolerance)}`,
      severityLine(step, D.severity, 'WASH_TRADE'),
    ];
  },
};

/**
 * `spoofing`: see {@link SpoofingStep} and SpoofingDetector.
 *
 * @example getStepType('spoofing') === spoofingStep; // true once this module is loaded
 */
export const spoofingStep: StepTypeDefinition<SpoofingStep> = {
  inputFields: ['trades', 'orders'],
  fields: ['sizeMultiple', 'medianWindow', 'minMedianOrders', 'cancelWithin', 'fillWindow', 'orderTtl', 'severity'],
  terminal: true,
  validate(_step, v) {
    const D = SURVEILLANCE_DEFAULTS.spoofing;
    const m = v.number('sizeMultiple', { min: 0 });
    if (m === 0) v.error('sizeMultiple', "'sizeMultiple' must be > 0");
    v.number('medianWindow', { min: 0, integer: true });
    v.number('minMedianOrders', { min: 1, integer: true });
    const cancel = positive(v, 'cancelWithin');
    positive(v, 'fillWindow');
    const ttl = positive(v, 'orderTtl');
    if ((ttl ?? D.orderTtlMs) <= (cancel ?? D.cancelWithinMs)) v.error('orderTtl', "'orderTtl' must be longer than 'cancelWithin' (a CANCEL must find its NEW)");
    validateSeverity(v);
  },
  build(step, [trades, orders], env) {
    const D = SURVEILLANCE_DEFAULTS.spoofing;
    const params = {
      sizeMultiple: step.sizeMultiple ?? D.sizeMultiple,
      medianWindow: step.medianWindow ?? D.medianWindow,
      minMedianOrders: step.minMedianOrders ?? D.minMedianOrders,
      cancelWithinMs: ms(step.cancelWithin, D.cancelWithinMs, 'cancelWithin'),
      fillWindowMs: ms(step.fillWindow, D.fillWindowMs, 'fillWindow'),
      orderTtlMs: ms(step.orderTtl, D.orderTtlMs, 'orderTtl'),
    };
    return surveillanceOperator(env, severityOf(step, D.severity), () => new SpoofingDetector(params), trades!, orders!);
  },
  describe(step) {
    const D = SURVEILLANCE_DEFAULTS.spoofing;
    const win = step.medianWindow ?? D.medianWindow;
    return [
      `NEW order >= ${step.sizeMultiple ?? D.sizeMultiple}x the trader's median NEW size (${win > 0 ? `last ${win} orders` : 'all orders'}, from ${step.minMedianOrders ?? D.minMedianOrders})`,
      `cancelled unfilled within ${fmtLimit(ms(step.cancelWithin, D.cancelWithinMs, 'cancelWithin'))}, opposite fills within +/-${fmtLimit(ms(step.fillWindow, D.fillWindowMs, 'fillWindow'))}; order state ${fmtLimit(ms(step.orderTtl, D.orderTtlMs, 'orderTtl'))}`,
      severityLine(step, D.severity, 'SPOOFING'),
    ];
  },
};

/**
 * `layering`: see {@link LayeringStep} and LayeringDetector.
 *
 * @example getStepType('layering') === layeringStep; // true once this module is loaded
 */
export const layeringStep: StepTypeDefinition<LayeringStep> = {
  inputFields: ['trades', 'orders'],
  fields: ['minOrders', 'minLevels', 'placeWithin', 'cancelWithin', 'orderTtl', 'severity'],
  terminal: true,
  validate(_step, v) {
    const D = SURVEILLANCE_DEFAULTS.layering;
    v.number('minOrders', { min: 1, integer: true });
    v.number('minLevels', { min: 1, integer: true });
    const place = positive(v, 'placeWithin');
    const cancel = positive(v, 'cancelWithin');
    const ttl = positive(v, 'orderTtl');
    if ((ttl ?? D.orderTtlMs) <= (place ?? D.placeWithinMs) + (cancel ?? D.cancelWithinMs)) {
      v.error('orderTtl', "'orderTtl' must be longer than 'placeWithin' + 'cancelWithin' (a layer is judged that long after its first order)");
    }
    validateSeverity(v);
  },
  build(step, [trades, orders], env) {
    const D = SURVEILLANCE_DEFAULTS.layering;
    const params = {
      minOrders: step.minOrders ?? D.minOrders,
      minLevels: step.minLevels ?? D.minLevels,
      placeWithinMs: ms(step.placeWithin, D.placeWithinMs, 'placeWithin'),
      cancelWithinMs: ms(step.cancelWithin, D.cancelWithinMs, 'cancelWithin'),
      orderTtlMs: ms(step.orderTtl, D.orderTtlMs, 'orderTtl'),
    };
    return surveillanceOperator(env, severityOf(step, D.severity), () => new LayeringDetector(params), trades!, orders!);
  },
  describe(step) {
    const D = SURVEILLANCE_DEFAULTS.layering;
    return [
      `>= ${step.minOrders ?? D.minOrders} NEW orders at >= ${step.minLevels ?? D.minLevels} price levels on one side within ${fmtLimit(ms(step.placeWithin, D.placeWithinMs, 'placeWithin'))}, ` +
        `each cancelled within ${fmtLimit(ms(step.cancelWithin, D.cancelWithinMs, 'cancelWithin'))}, with an opposite fill in between`,
      severityLine(step, D.severity, 'LAYERING'),
    ];
  },
};

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * `markingTheClose`: see {@link MarkingTheCloseStep} and MarkingTheCloseDetector.
 *
 * @example getStepType('markingTheClose') === markingTheCloseStep; // true once this module is loaded
 */
export const markingTheCloseStep: StepTypeDefinition<MarkingTheCloseStep> = {
  inputFields: ['trades'],
  fields: ['window', 'minShare', 'minMove', 'close', 'timeZone', 'severity'],
  terminal: true,
  validate(_step, v) {
    positive(v, 'window');
    validateFraction(v, 'minShare', 1);
    validateFraction(v, 'minMove');
    v.string('close', { pattern: /^([01]?\d|2[0-3]):[0-5]\d$/, patternText: 'a time HH:MM, e.g. 16:00' });
    const tz = v.string('timeZone');
    if (tz !== undefined && !validTimeZone(tz)) v.error('timeZone', `unknown time zone '${tz}' (an IANA name, e.g. America/New_York)`);
    validateSeverity(v);
  },
  build(step, [trades], env) {
    const D = SURVEILLANCE_DEFAULTS.markingTheClose;
    const close = step.close ?? env.reference.day?.close;
    const timeZone = step.timeZone ?? env.reference.day?.timezone;
    if (close === undefined || timeZone === undefined) {
      throw new TopologyError(
        "markingTheClose needs the close time and its time zone: day.json of the recorded day, or the step's 'close' and 'timeZone' fields",
        env.where(close === undefined ? 'close' : 'timeZone'),
      );
    }
    const params = {
      windowMs: ms(step.window, D.windowMs, 'window'),
      minShare: step.minShare ?? D.minShare,
      minMove: step.minMove ?? D.minMove,
      close,
      timeZone,
    };
    return surveillanceOperator(env, severityOf(step, D.severity), () => new MarkingTheCloseDetector(params), trades!, undefined);
  },
  describe(step) {
    const D = SURVEILLANCE_DEFAULTS.markingTheClose;
    return [
      `in the ${fmtLimit(ms(step.window, D.windowMs, 'window'))} before the close (${step.close ?? "day.json's close"}${step.timeZone ? ` ${step.timeZone}` : ''}): ` +
        `a trader's share of volume >= ${fmtPct(step.minShare ?? D.minShare)} and a price move >= ${fmtPct(step.minMove ?? D.minMove)} their way`,
      severityLine(step, D.severity, 'MARKING_THE_CLOSE'),
    ];
  },
};

/**
 * `frontRunning`: see {@link FrontRunningStep} and FrontRunningDetector.
 *
 * @example getStepType('frontRunning') === frontRunningStep; // true once this module is loaded
 */
export const frontRunningStep: StepTypeDefinition<FrontRunningStep> = {
  inputFields: ['trades', 'orders'],
  fields: ['minClientQty', 'before', 'after', 'severity'],
  terminal: true,
  validate(_step, v) {
    v.number('minClientQty', { min: 0 });
    positive(v, 'before');
    positive(v, 'after');
    validateSeverity(v);
  },
  build(step, [trades, orders], env) {
    const D = SURVEILLANCE_DEFAULTS.frontRunning;
    const params = {
      minClientQty: step.minClientQty ?? D.minClientQty,
      beforeMs: ms(step.before, D.beforeMs, 'before'),
      afterMs: ms(step.after, D.afterMs, 'after'),
      desks: traderMap(env, 'desk'),
    };
    return surveillanceOperator(env, severityOf(step, D.severity), () => new FrontRunningDetector(params), trades!, orders!);
  },
  describe(step) {
    const D = SURVEILLANCE_DEFAULTS.frontRunning;
    return [
      `a trade within ${fmtLimit(ms(step.before, D.beforeMs, 'before'))} before a desk-mate's client order of >= ${fmtQty(step.minClientQty ?? D.minClientQty)} on the same side, ` +
        `reversed within ${fmtLimit(ms(step.after, D.afterMs, 'after'))} after it`,
      severityLine(step, D.severity, 'FRONT_RUNNING'),
    ];
  },
};

/**
 * The surveillance step types by `type`, registered through {@link registerStepType} when this
 * module loads (import it for its side effect before compiling a topology that uses them).
 *
 * @example
 * import './topology/steps/surveillance.js';
 * Object.keys(SURVEILLANCE_STEP_TYPES); // ['washTrade', 'spoofing', 'layering', 'markingTheClose', 'frontRunning']
 */
export const SURVEILLANCE_STEP_TYPES: Readonly<Record<string, StepTypeDefinition>> = {
  washTrade: washTradeStep,
  spoofing: spoofingStep,
  layering: layeringStep,
  markingTheClose: markingTheCloseStep,
  frontRunning: frontRunningStep,
};

// Registered through the public registry like the built-ins; a second load of this module (a test
// runner re-importing it) replaces its earlier definitions instead of failing.
for (const [type, def] of Object.entries(SURVEILLANCE_STEP_TYPES)) {
  if (getStepType(type) !== def) registerStepType(type, def, { replace: true });
}
