import type { OperatorFunction } from 'rxjs';
import { Watermark, type Element, type Timestamped } from '../core/element.js';
import { WatermarkTracker, type WatermarkOptions } from '../core/watermarks.js';
import type { JobContext } from '../core/context.js';
import { elementOperator } from './internals.js';

export interface AssignWatermarksOptions<T> extends WatermarkOptions {
  /** The source partition a record came from (Kafka partition, replay file). Default: one partition. */
  partitionOf?: (record: T) => string;
  /** Emit a watermark only once it has moved at least this far (event time). Default 0: on every move. */
  emitEveryMs?: number;
  /** Partitions known up front: each holds the watermark back until it has data or goes idle. */
  partitions?: string[];
  id?: string;
  ctx?: JobContext;
}

/**
 * Generates bounded-out-of-orderness watermarks from the records' `ts`, per partition with
 * idleness (see `WatermarkTracker`), and drops any upstream watermarks. A watermark is emitted after
 * the record that moved it.
 *
 * @example trades$.pipe(assignWatermarks({ outOfOrdernessMs: 2000, idleTimeoutMs: 30_000 }))
 */
export function assignWatermarks<T extends Timestamped>(
  opts: AssignWatermarksOptions<T>,
): OperatorFunction<Element<T>, Element<T>> {
  const every = opts.emitEveryMs ?? 0;
  const partitionOf = opts.partitionOf;
  return elementOperator<T, T>(
    () => {
      const tracker = new WatermarkTracker(opts);
      for (const p of opts.partitions ?? []) tracker.addPartition(p);
      let last = Number.NEGATIVE_INFINITY;
      return {
        onRecord(r, emit) {
          tracker.observe(partitionOf ? partitionOf(r) : '0', r.ts);
          emit(r);
          const wm = tracker.current();
          if (wm > last && wm - last >= every) {
            last = wm;
            emit(new Watermark(wm));
          }
        },
        onWatermark(w, emit) {
          // Upstream watermarks are replaced by this generator's, except the end-of-input one.
          if (w.ts === Number.POSITIVE_INFINITY) emit(w);
        },
        checkpoint: {
          snapshot: () => ({ tracker: tracker.snapshot(), last }),
          restore: (s) => {
            const st = s as { tracker: ReturnType<WatermarkTracker['snapshot']>; last: number };
            tracker.restore(st.tracker);
            last = st.last;
          },
        },
      };
    },
    opts.id ? { id: opts.id, ctx: opts.ctx } : undefined,
  );
}
