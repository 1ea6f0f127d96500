import type { OperatorFunction, Subscriber } from 'rxjs';
import { Watermark, type Element, type Timestamped } from '../core/element.js';
import type { Checkpointable, JobContext, SideOutput } from '../core/context.js';
import { RiskflowError, TopologyError, UserFunctionError } from '../core/errors.js';
import type { WindowAssigner } from '../windows/assigners.js';
import type { AggregateFunction } from '../windows/aggregate.js';
import { normalizeTrigger, type TriggerSpec } from '../windows/triggers.js';
import { LinkSubscriber, linkOperator } from './internals.js';
import { WindowCore } from './window-internals.js';

/**
 * One firing of one (key, window). `ts` is `windowEnd - 1`, the last instant the window covers,
 * so results can feed further event-time operators.
 * - `final`: the watermark reached `windowEnd - 1`; emitted once per window, ordered by
 *   (windowEnd, key) among the results of the same watermark, before the watermark itself.
 * - `early`: a running result from `trigger` (see `TriggerSpec`) while the window is open.
 * - `late`: an updated result after the window had fired, caused by a record within
 *   `allowedLatenessMs`; emitted at once, so its `ts` is behind the watermark already forwarded.
 *   A session window that was reopened by such a record (merged past the watermark) fires again
 *   when the watermark reaches its new end, also as `late`.
 *
 * @example
 * { key: 'AAPL', windowStart: 60_000, windowEnd: 120_000, ts: 119_999, result: 4200, firing: 'final' }
 */
export interface WindowResult<OUT> {
  key: string;
  windowStart: number;
  windowEnd: number;
  ts: number;
  result: OUT;
  firing: 'early' | 'final' | 'late';
}

/**
 * Counters a window operator adds to, for metrics and run summaries. `late` counts records that
 * reached the operator after a window they belong to was purged (restored checkpoints add their
 * count too).
 *
 * @example
 * const stats = { late: 0 };
 * trades$.pipe(windowAggregate({ ..., stats })); // later: report stats.late
 */
export interface WindowStats {
  late: number;
}

/**
 * Options of `windowAggregate`; only `key`, `assigner` and `aggregate` are required.
 *
 * @example
 * const opts: WindowAggregateOptions<Trade, number, number> = {
 *   key: (t) => t.symbol, assigner: tumbling('1m'), aggregate: count(), allowedLatenessMs: 2_000,
 * };
 */
export interface WindowAggregateOptions<T, ACC, OUT> {
  /** Operator id for checkpoints; state is registered with `ctx` only when both are given. */
  id?: string;
  ctx?: JobContext;
  /** Partition key; use `() => ''` for a non-keyed window. */
  key: (r: T) => string;
  assigner: WindowAssigner;
  aggregate: AggregateFunction<T, ACC, OUT>;
  /** How long after `windowEnd - 1` (in event time) a window still accepts records. Default 0. */
  allowedLatenessMs?: number;
  trigger?: TriggerSpec;
  /** Where records too late for (one of) their windows go. */
  late?: SideOutput<T>;
  stats?: WindowStats;
}

/**
 * The operator's per-subscription link, one subclass per window kind: each has its own `next`, so
 * the per-record call into the core stays monomorphic whatever other window operators run.
 * Results go straight to the downstream subscriber (`core.out` is set once).
 */
abstract class WindowLink<T extends Timestamped, ACC, OUT> extends LinkSubscriber<T, WindowResult<OUT>> {
  readonly checkpoint: Checkpointable;

  constructor(
    out: Subscriber<Element<WindowResult<OUT>>>,
    protected readonly core: WindowCore<T, ACC, OUT>,
    protected readonly userError: (e: unknown) => unknown,
  ) {
    super(out);
    core.out = (e) => out.next(e);
    this.checkpoint = {
      snapshot: () => core.snapshot(),
      restore: (s) => core.restore(s),
    };
  }

  /** Fires what `w` closes, then forwards it if it advanced; errors of user functions are wrapped. */
  protected watermark(w: Watermark): void {
    let advanced: boolean;
    try {
      advanced = this.core.watermark(w.ts);
    } catch (e) {
      throw this.userError(e);
    }
    if (advanced) this.out.next(w);
  }
}

class TumblingLink<T extends Timestamped, ACC, OUT> extends WindowLink<T, ACC, OUT> {
  override next(e: Element<T>): void {
    if (this.isStopped) {
      super.next(e);
      return;
    }
    try {
      if (e instanceof Watermark) {
        this.watermark(e);
        return;
      }
      try {
        this.core.recordTumbling(e);
      } catch (err) {
        throw this.userError(err);
      }
    } catch (err) {
      this.fail(err);
    }
  }
}

class SlidingLink<T extends Timestamped, ACC, OUT> extends WindowLink<T, ACC, OUT> {
  override next(e: Element<T>): void {
    if (this.isStopped) {
      super.next(e);
      return;
    }
    try {
      if (e instanceof Watermark) {
        this.watermark(e);
        return;
      }
      try {
        this.core.recordSliding(e);
      } catch (err) {
        throw this.userError(err);
      }
    } catch (err) {
      this.fail(err);
    }
  }
}

class SessionLink<T extends Timestamped, ACC, OUT> extends WindowLink<T, ACC, OUT> {
  override next(e: Element<T>): void {
    if (this.isStopped) {
      super.next(e);
      return;
    }
    try {
      if (e instanceof Watermark) {
        this.watermark(e);
        return;
      }
      try {
        this.core.recordSession(e);
      } catch (err) {
        throw this.userError(err);
      }
    } catch (err) {
      this.fail(err);
    }
  }
}

/**
 * Keyed event-time window aggregation (Flink's `window(...).aggregate(...)`): keeps one
 * accumulator per (key, window), never the records, and on each watermark W emits a `final`
 * result for every window with `windowEnd - 1 <= W`, ordered by (windowEnd, key), then forwards
 * W (only watermarks that advance are forwarded). Window state lives until
 * `W >= windowEnd - 1 + allowedLatenessMs`: records for a fired window before then update it and
 * emit a `late` result at once; records for an already purged window (and records whose `ts` is
 * not a finite number) go to `late` and are counted in `stats.late` and the checkpoint. With
 * neither `late` nor `stats`, the first such record raises a process warning instead of vanishing.
 * A sliding-window record that missed only some of its windows still updates the others and is
 * also reported late. Completing the input without `END_OF_TIME` flushes nothing (the runner sends
 * `END_OF_TIME` at the end of a bounded input; a stream cut for a checkpoint must not fire).
 *
 * @example
 * trades$.pipe(
 *   windowAggregate({
 *     id: 'volume-1m', ctx,
 *     key: (t: Trade) => t.symbol,
 *     assigner: tumbling('1m'),
 *     aggregate: composite({ n: count(), volume: sum((t: Trade) => t.qty) }),
 *     allowedLatenessMs: 5_000,
 *     late: lateTrades,
 *   }),
 * ) // emits { key, windowStart, windowEnd, ts, result: { n, volume }, firing } and watermarks
 */
export function windowAggregate<T extends Timestamped, ACC, OUT>(
  opts: WindowAggregateOptions<T, ACC, OUT>,
): OperatorFunction<Element<T>, Element<WindowResult<OUT>>> {
  const lateness = opts.allowedLatenessMs ?? 0;
  if (!(Number.isFinite(lateness) && lateness >= 0)) {
    throw new TopologyError(`allowedLatenessMs must be a finite number of ms >= 0, got ${lateness}`, {
      step: opts.id,
      field: 'allowedLatenessMs',
    });
  }
  let trigger: { everyMs: number; everyCount: number };
  try {
    trigger = normalizeTrigger(opts.trigger);
  } catch (e) {
    throw e instanceof TopologyError ? new TopologyError(e.message, { step: opts.id, field: e.field }) : e;
  }
  const id = opts.id;
  const userError = (e: unknown): unknown =>
    e instanceof RiskflowError
      ? e
      : new UserFunctionError(`window aggregate: key or aggregate function threw: ${String(e)}`, { step: id, cause: e });

  const make = (out: Subscriber<Element<WindowResult<OUT>>>): WindowLink<T, ACC, OUT> => {
    const core = new WindowCore<T, ACC, OUT>({
      id,
      key: opts.key,
      assigner: opts.assigner,
      aggregate: opts.aggregate,
      allowedLatenessMs: lateness,
      everyMs: trigger.everyMs,
      everyCount: trigger.everyCount,
      late: opts.late,
      stats: opts.stats,
    });
    const kind = opts.assigner.kind;
    return kind === 'tumbling'
      ? new TumblingLink(out, core, userError)
      : kind === 'sliding'
        ? new SlidingLink(out, core, userError)
        : new SessionLink(out, core, userError);
  };
  return linkOperator<T, WindowResult<OUT>>(make, id !== undefined ? { id, ctx: opts.ctx } : undefined);
}
