import { Subject, type Observable } from 'rxjs';
import { CheckpointError } from './errors.js';
import { systemClock, type Clock } from './time.js';

/**
 * Something whose state is part of a checkpoint. `snapshot()` returns structured-cloneable data
 * (plain objects, arrays, Maps, Sets, typed arrays; no functions) and is called only between
 * batches, when the graph is quiescent. `restore()` receives exactly what `snapshot()` returned.
 */
export interface Checkpointable {
  snapshot(): unknown;
  restore(state: unknown): void;
}

/**
 * A side output: a second stream an operator can write to, e.g. late records. Everything runs
 * synchronously, so subscribers see side records interleaved with the main output in order.
 *
 * @example
 * const late = new SideOutput<Trade>('late-trades');
 * late.stream.subscribe((t) => deadLetters.push(t));
 * trades$.pipe(windowAggregate({ ..., late }))
 */
export class SideOutput<T> {
  private readonly subject = new Subject<T>();
  /** Count of records written, for metrics and the summary. */
  count = 0;
  constructor(readonly name: string) {}
  get stream(): Observable<T> {
    return this.subject.asObservable();
  }
  emit(value: T): void {
    this.count++;
    this.subject.next(value);
  }
  complete(): void {
    this.subject.complete();
  }
}

/**
 * What a running job shares with its operators: the registry of checkpointable state (by
 * operator id), the state to restore from, and the processing-time clock.
 *
 * Stateful operators take `{ id, ctx }` options; on subscribe they call `ctx.register(id, this)`,
 * which also restores their state when the job was started from a checkpoint.
 *
 * @example
 * const ctx = new JobContext({ restore: checkpoint?.operators });
 * trades$.pipe(windowAggregate({ id: 'vol-1m', ctx, ... }))
 */
export class JobContext {
  readonly clock: Clock;
  private readonly registry = new Map<string, Checkpointable>();
  private readonly pending: Map<string, unknown>;

  constructor(opts: { restore?: Map<string, unknown> | Record<string, unknown> | undefined; clock?: Clock } = {}) {
    this.clock = opts.clock ?? systemClock;
    const r = opts.restore;
    this.pending = r instanceof Map ? new Map(r) : new Map(Object.entries(r ?? {}));
  }

  register(id: string, op: Checkpointable): void {
    if (this.registry.has(id)) {
      throw new CheckpointError(`two stateful operators share the id '${id}'`, { step: id });
    }
    this.registry.set(id, op);
    if (this.pending.has(id)) {
      const state = this.pending.get(id);
      this.pending.delete(id);
      try {
        op.restore(state);
      } catch (cause) {
        throw new CheckpointError(`cannot restore the state of '${id}'`, { step: id, cause });
      }
    }
  }

  /** Snapshot of every registered operator, keyed by id. */
  snapshot(): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const [id, op] of this.registry) out.set(id, op.snapshot());
    return out;
  }

  /** Ids of checkpointed state that no operator claimed: a topology changed under a checkpoint. */
  unclaimed(): string[] {
    return [...this.pending.keys()];
  }
}
