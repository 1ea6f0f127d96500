import type { OperatorFunction } from 'rxjs';
import { END_OF_TIME, Watermark, type Element, type Timestamped } from '../core/element.js';
import type { JobContext, SideOutput } from '../core/context.js';
import { RiskflowError, UserFunctionError } from '../core/errors.js';
import {
  KeyedStateBackend,
  type KeyedStateSnapshot,
  type MapState,
  type StateDescriptor,
  type ValueState,
} from '../core/keyed-state.js';
import { TimerQueue, type TimerQueueSnapshot } from '../core/timers.js';
import { elementOperator } from './internals.js';

/**
 * What a `KeyedProcessFunction` sees on each call. There is ONE context object per operator
 * instance, updated before every call (`key`, `timestamp`), so user code must not keep it past
 * the call expecting those fields to stay put. State objects returned by `value()`/`map()` are
 * views that follow the current key, so they may be looked up once and cached; the descriptor
 * given the first time a state name is used is the one that holds. `timestamp` is the record's
 * `ts` in `processElement` and the timer's ts in `onTimer`; state TTL counts from it.
 *
 * @example
 * processElement(t, ctx, out) {
 *   const n = ctx.value<number>('n'); n.update((n.value() ?? 0) + 1);
 *   ctx.registerTimer(ctx.timestamp + 60_000);
 * }
 */
export interface ProcessContext {
  key: string;
  timestamp: number;
  currentWatermark(): number;
  registerTimer(ts: number): void;
  deleteTimer(ts: number): void;
  value<S>(name: string, desc?: StateDescriptor): ValueState<S>;
  map<K extends string | number, V>(name: string, desc?: StateDescriptor): MapState<K, V>;
  output<X>(side: SideOutput<X>, value: X): void;
}

/**
 * Flink's KeyedProcessFunction: called per record with its key's state, and per event-time timer
 * when the watermark passes it. `out` emits downstream; results of `onTimer` are emitted before
 * the watermark that fired the timer is forwarded.
 *
 * @example
 * const inactivity: KeyedProcessFunction<Trade, Alert> = {
 *   processElement(t, ctx) { ctx.registerTimer(t.ts + 300_000); },
 *   onTimer(ts, ctx, out) { out({ ts, traderId: ctx.key, kind: 'IDLE' }); },
 * };
 */
export interface KeyedProcessFunction<T, OUT> {
  processElement(v: T, ctx: ProcessContext, out: (o: OUT) => void): void;
  onTimer?(ts: number, ctx: ProcessContext, out: (o: OUT) => void): void;
}

/**
 * Options of `keyedProcess`: `key` extracts the key (a string; '' for non-keyed), `fn` is the
 * process function; `id` + `ctx` make its state part of checkpoints.
 *
 * @example
 * const opts: KeyedProcessOptions<Trade, Alert> = { id: 'idle', ctx: job, key: (t) => t.traderId, fn };
 */
export interface KeyedProcessOptions<T, OUT> {
  id?: string;
  ctx?: JobContext;
  key: (r: T) => string;
  fn: KeyedProcessFunction<T, OUT>;
}

interface KeyedProcessSnapshot {
  wm: number;
  state: KeyedStateSnapshot;
  timers: TimerQueueSnapshot;
}

/** The single per-operator context; fields are reassigned per call instead of allocating. */
class Ctx implements ProcessContext {
  key = '';
  timestamp = Number.NEGATIVE_INFINITY;
  wm = Number.NEGATIVE_INFINITY;
  constructor(
    private readonly backend: KeyedStateBackend,
    private readonly timers: TimerQueue,
  ) {}
  currentWatermark(): number {
    return this.wm;
  }
  registerTimer(ts: number): void {
    this.timers.register(this.key, ts);
  }
  deleteTimer(ts: number): void {
    this.timers.delete(this.key, ts);
  }
  value<S>(name: string, desc?: StateDescriptor): ValueState<S> {
    return this.backend.valueState<S>(name, desc);
  }
  map<K extends string | number, V>(name: string, desc?: StateDescriptor): MapState<K, V> {
    return this.backend.mapState<K, V>(name, desc);
  }
  output<X>(side: SideOutput<X>, value: X): void {
    side.emit(value);
  }
}

function userError(id: string, what: string, cause: unknown): Error {
  // Errors the engine raised (e.g. a state kind clash) already say what is wrong.
  if (cause instanceof RiskflowError) return cause;
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new UserFunctionError(`keyedProcess ${what} threw: ${msg}`, { step: id, cause });
}

/**
 * Runs a `KeyedProcessFunction` per key with keyed state (value/map, TTL in event time) and
 * event-time timers. On a watermark W that moves time forward it: purges expired state, fires
 * every timer with ts <= W in (ts, registration) order, including timers that those callbacks
 * register at or before W, emits their results, then forwards W (watermarks that do not move
 * time forward are not forwarded). Late records (ts <= the current watermark) are NOT dropped:
 * they are processed like any other, with `ctx.timestamp` = their own ts, so the function can
 * detect them with `ctx.timestamp <= ctx.currentWatermark()`. A timer registered at or behind
 * the watermark fires on the next watermark. Completion of the input without END_OF_TIME counts
 * as END_OF_TIME (every timer fires). With `{ id, ctx }` the state, timers and watermark are part
 * of checkpoints.
 *
 * @example
 * trades$.pipe(keyedProcess({ id: 'burst', ctx: job, key: (t) => t.traderId, fn: {
 *   processElement(t, c, out) {
 *     const n = c.value<number>('n', { ttlMs: 60_000 });
 *     n.update((n.value() ?? 0) + 1);
 *     if (n.value()! > 100) out({ ts: t.ts, traderId: c.key, count: n.value()! });
 *   },
 * } }))
 */
export function keyedProcess<T extends Timestamped, OUT extends Timestamped>(
  opts: KeyedProcessOptions<T, OUT>,
): OperatorFunction<Element<T>, Element<OUT>> {
  const id = opts.id ?? 'keyedProcess';
  const keyOf = opts.key;
  const fn = opts.fn;
  return elementOperator<T, OUT>(
    () => {
      const backend = new KeyedStateBackend();
      const timers = new TimerQueue();
      const ctx = new Ctx(backend, timers);
      let down: (e: Element<OUT>) => void = () => {};
      const out = (o: OUT): void => down(o);
      const onTimer = fn.onTimer;
      const fire = (key: string, ts: number): void => {
        ctx.key = key;
        ctx.timestamp = ts;
        backend.currentKey = key;
        backend.currentTs = ts;
        if (onTimer === undefined) return;
        try {
          onTimer.call(fn, ts, ctx, out);
        } catch (e) {
          throw userError(id, 'onTimer', e);
        }
      };
      const onWatermark = (w: Watermark, emit: (e: Element<OUT>) => void): void => {
        down = emit;
        if (w.ts <= ctx.wm) return;
        ctx.wm = w.ts;
        // Purge first so that timers never see state the watermark has already expired.
        backend.advanceWatermark(w.ts);
        timers.fireUpTo(w.ts, fire);
        emit(w);
      };
      return {
        onRecord(r, emit) {
          down = emit;
          try {
            const key = keyOf(r);
            ctx.key = key;
            ctx.timestamp = r.ts;
            backend.currentKey = key;
            backend.currentTs = r.ts;
            fn.processElement(r, ctx, out);
          } catch (e) {
            throw userError(id, 'processElement', e);
          }
        },
        onWatermark,
        onComplete(emit) {
          // An input that ends without END_OF_TIME has ended all the same (Flink: max watermark).
          if (ctx.wm < END_OF_TIME.ts) onWatermark(END_OF_TIME, emit);
        },
        checkpoint: {
          snapshot: (): KeyedProcessSnapshot => ({ wm: ctx.wm, state: backend.snapshot(), timers: timers.snapshot() }),
          restore: (s: unknown) => {
            const st = s as KeyedProcessSnapshot;
            ctx.wm = st.wm;
            backend.restore(st.state);
            backend.restoreWatermark(st.wm);
            timers.restore(st.timers);
          },
        },
      };
    },
    opts.id !== undefined ? { id: opts.id, ctx: opts.ctx } : undefined,
  );
}
