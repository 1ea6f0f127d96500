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
  OrderFlow,
  Sequencer,
  SpoofingDetector,
  WashTradeDetector,
  fmtLimit,
  fmtPct,
  fmtQty,
  type AlertDraft,
  type Detector,
  type OrderFlowSnapshot,
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
  /** 2: the state of a group member (checkpoints of steps that each kept their own sequencer and book do not carry over). */
  v: 2;
  /** The group's shared state, in the snapshot of the group's first member only. */
  group: GroupSnapshot | null;
  det: unknown;
}

/** Which detector kind writes the per-order scratch fields of a shared book (OrderEntry tag / flag). */
type FlowUser = 'spoofing' | 'layering';

/**
 * What a detector factory gets when its step is part of a group: the group's order flow for an
 * order TTL, shared with at most one detector of each kind (each kind owns a scratch field of the
 * book's entries).
 *
 * @example make = (g) => new SpoofingDetector(params, g?.flow(params.orderTtlMs, 'spoofing'));
 */
interface GroupServices {
  flow(ttlMs: number, user: FlowUser): OrderFlow;
}

type MakeDetector = (group: GroupServices | undefined) => Detector;

interface GroupSnapshot {
  seq: SequencerSnapshot;
  /** The shared order flows in the order they were made (member order), with their TTL. */
  flows: Array<[number, OrderFlowSnapshot]>;
}

/**
 * The surveillance steps of a job that read the same inputs (the same trades stream, and the same
 * orders stream or none) form a group for each subscription of the dataflow: one Sequencer orders
 * their records once instead of once per step, and one order flow (book and fill history) serves
 * spoofing and layering. Each step keeps its own detector, its own late output, its own watermark
 * handling and its own alerts: a group releases its records to every member's detector at the
 * first member's watermark (members see the same watermarks, one after the other with nothing in
 * between), and each member emits its own detector's alerts at its own watermark, so every step
 * emits the same alerts at the same moments as a step on its own. For each record a member's
 * detector sees its timers due before the record, then the record, as alone; the shared flow is fed
 * after every member's timers and before any member sees the record.
 *
 * Each member counts the records it receives per input; the first member to receive the k-th
 * record hands it to the sequencer, so no member is special and any member may go first. The first
 * member's checkpoint carries the group's state (sequencer and flows); it is also the first to
 * register, so it is restored before any other member's detector.
 */
class GroupSession implements Detector {
  readonly seq = new Sequencer();
  // The members' detectors that act on trades, on orders, on timers (Detector.inputs), in member order.
  private readonly onTrades: Detector[] = [];
  private readonly onOrders: Detector[] = [];
  private readonly timed: Detector[] = [];
  private readonly queues: Array<{ nextDue(): number } | undefined> = [];
  private readonly flows: Array<{ ttl: number; flow: OrderFlow; users: Set<FlowUser> }> = [];
  /** Flow states of a restore whose flows their members have not asked for yet (by creation order). */
  private pendingFlows: Array<[number, OrderFlowSnapshot]> = [];
  /** Records handed to the sequencer so far, per input (0: trades, 1: orders). */
  readonly offered = [0, 0];
  started = false;
  private members = 0;

  readonly services: GroupServices = {
    flow: (ttlMs, user) => {
      let f = this.flows.find((x) => x.ttl === ttlMs && !x.users.has(user));
      if (f === undefined) {
        f = { ttl: ttlMs, flow: new OrderFlow(ttlMs, 0), users: new Set() };
        this.restoreFlow(this.flows.length, f);
        this.flows.push(f);
      }
      f.users.add(user);
      return f.flow;
    },
  };

  /** Adds a member's detector; returns its index (0: the member whose snapshot carries the group's state). */
  join(d: Detector): number {
    const i = d.inputs;
    if (i === undefined || i.trades) this.onTrades.push(d);
    if (i === undefined || i.orders) this.onOrders.push(d);
    if (i === undefined || i.timers) {
      this.timed.push(d);
      this.queues.push(d.timerQueue);
    }
    return this.members++;
  }

  /** Feeds every member detector the records with ts <= w (once per watermark, whichever member asks first). */
  releaseTo(w: number): void {
    this.started = true;
    if (w > this.seq.wm) this.seq.release(w, this);
  }

  onTrade(t: SurvTrade): void {
    const fl = this.flows;
    for (let i = 0; i < fl.length; i++) fl[i]!.flow.onTrade(t);
    const ds = this.onTrades;
    for (let i = 0; i < ds.length; i++) ds[i]!.onTrade(t);
  }

  onOrder(o: SurvOrder): void {
    const fl = this.flows;
    for (let i = 0; i < fl.length; i++) fl[i]!.flow.onOrder(o);
    const ds = this.onOrders;
    for (let i = 0; i < ds.length; i++) ds[i]!.onOrder(o);
  }

  fireTimers(t: number, inclusive: boolean): void {
    const ds = this.timed;
    const qs = this.queues;
    for (let i = 0; i < ds.length; i++) {
      const q = qs[i];
      if (q === undefined || q.nextDue() <= t) ds[i]!.fireTimers(t, inclusive);
    }
  }

  /** Members take their own detectors' alerts. */
  takeAlerts(): AlertDraft[] {
    return [];
  }

  snapshot(): GroupSnapshot {
    return { seq: this.seq.snapshot(), flows: this.flows.map((f): [number, OrderFlowSnapshot] => [f.ttl, f.flow.snapshot()]) };
  }

  /** Restores the sequencer and the flows; a flow its member has not asked for yet is restored when it is made. */
  restore(state: unknown): void {
    const s = state as GroupSnapshot;
    this.seq.restore(s.seq);
    this.pendingFlows = s.flows;
    this.flows.forEach((f, i) => this.restoreFlow(i, f));
    this.offered[0] = 0;
    this.offered[1] = 0;
  }

  private restoreFlow(i: number, f: { ttl: number; flow: OrderFlow }): void {
    const p = this.pendingFlows[i];
    if (p === undefined) return;
    if (p[0] !== f.ttl) throw new TypeError(`surveillance: the checkpoint's order flow ${i} has another order TTL (${p[0]} ms, not ${f.ttl} ms)`);
    f.flow.restore(p[1]);
  }
}

/** The group of a job's surveillance steps over one pair of input streams (see GroupSession). */
interface Group {
  session: GroupSession | undefined;
}

const groups = new WeakMap<object, Map<object, Map<object | null, Group>>>();

function groupOf(env: StepBuildEnv, trades$: object, orders$: object | undefined): Group {
  let byTrades = groups.get(env.ctx);
  if (byTrades === undefined) groups.set(env.ctx, (byTrades = new Map()));
  let byOrders = byTrades.get(trades$);
  if (byOrders === undefined) byTrades.set(trades$, (byOrders = new Map()));
  let g = byOrders.get(orders$ ?? null);
  if (g === undefined) byOrders.set(orders$ ?? null, (g = { session: undefined }));
  return g;
}

/** The group session a new subscription joins: the current one until records have flowed, then a fresh one. */
function sessionOf(g: Group): GroupSession {
  if (g.session === undefined || g.session.started) g.session = new GroupSession();
  return g.session;
}

/**
 * Wires a detector between the step's inputs and its alerts, within the group of the job's
 * surveillance steps over the same inputs (see GroupSession): records reach the detector in
 * event-time order once the watermark, the minimum over the inputs, passes them; alerts are built
 * with makeAlert and emitted before the watermark that completed them; the sequencer and detector
 * state are checkpointed under the step's operator id.
 */
function surveillanceOperator(
  env: StepBuildEnv,
  severity: Severity,
  make: MakeDetector,
  trades$: Stream<SurvTrade>,
  orders$: Stream<SurvOrder> | undefined,
): Stream<Alert> {
  const late = env.late<SurvTrade | SurvOrder>();
  const clock = env.ctx.clock;
  const group = groupOf(env, trades$, orders$);
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
  /** One member of the group session, per subscription. */
  const member = () => {
    const session = sessionOf(group);
    const det = make(session.services);
    const index = session.join(det);
    const seq = session.seq;
    let trades = 0;
    let orders = 0;
    return {
      det,
      /** False when the trade is late (at or behind the released watermark). */
      trade(t: SurvTrade): boolean {
        if (++trades > session.offered[0]!) {
          session.offered[0] = trades;
          session.started = true;
          return seq.offerTrade(t);
        }
        return t.ts > seq.wm;
      },
      order(o: SurvOrder): boolean {
        if (++orders > session.offered[1]!) {
          session.offered[1] = orders;
          session.started = true;
          return seq.offerOrder(o);
        }
        return o.ts > seq.wm;
      },
      release(w: number): void {
        session.releaseTo(w);
      },
      checkpoint: {
        snapshot: (): OperatorState => ({ v: 2, group: index === 0 ? session.snapshot() : null, det: det.snapshot() }),
        restore: (s: unknown): void => {
          const st = s as OperatorState;
          if (st?.v !== 2) throw new TypeError('a checkpoint of an earlier riskflow version (surveillance state kept per step): start the replay afresh');
          if (st.group) session.restore(st.group);
          det.restore(st.det);
          trades = 0;
          orders = 0;
        },
      },
    };
  };
  if (orders$ === undefined) {
    const op: OperatorFunction<Element<SurvTrade>, Element<Alert>> = elementOperator<SurvTrade, Alert>(
      () => {
        const m = member();
        return {
          onRecord(t) {
            if (!m.trade(t)) late.emit(t);
          },
          onWatermark(w, emit) {
            m.release(w.ts);
            const a = m.det.takeAlerts();
            for (let i = 0; i < a.length; i++) emit(toAlert(a[i]!));
            emit(w);
          },
          onComplete(emit) {
            // An input that ends without END_OF_TIME still ends: judge what it left.
            m.release(Number.POSITIVE_INFINITY);
            const a = m.det.takeAlerts();
            for (let i = 0; i < a.length; i++) emit(toAlert(a[i]!));
          },
          checkpoint: m.checkpoint,
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
        const m = member();
        return {
          onLeft(t) {
            if (!m.trade(t)) late.emit(t);
          },
          onRight(o) {
            if (!m.order(o)) late.emit(o);
          },
          onWatermark(wm) {
            m.release(wm);
            // An index loop: a for-of over the (usually empty) array allocated an iterator result per watermark.
            const a = m.det.takeAlerts();
            for (let i = 0; i < a.length; i++) scope.emit(toAlert(a[i]!));
          },
          snapshot: m.checkpoint.snapshot,
          restore: m.checkpoint.restore,
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
    return surveillanceOperator(env, severityOf(step, D.severity), (g) => new SpoofingDetector(params, g?.flow(params.orderTtlMs, 'spoofing')), trades!, orders!);
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
    return surveillanceOperator(env, severityOf(step, D.severity), (g) => new LayeringDetector(params, g?.flow(params.orderTtlMs, 'layering')), trades!, orders!);
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
