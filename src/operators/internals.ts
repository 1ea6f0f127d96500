import { Observable, type OperatorFunction } from 'rxjs';
import { isWatermark, type Element, Watermark } from '../core/element.js';
import type { Checkpointable, JobContext } from '../core/context.js';

/** What an element-level operator does; `emit` pushes downstream (records or watermarks). */
export interface ElementHandler<I, O> {
  onRecord(record: I, emit: (e: Element<O>) => void): void;
  /** Default: forward the watermark. Buffering operators fire what the watermark closes, then forward it. */
  onWatermark?(wm: Watermark, emit: (e: Element<O>) => void): void;
  /** Called when the input completes (after the final watermark, if any). */
  onComplete?(emit: (e: Element<O>) => void): void;
  checkpoint?: Checkpointable;
}

/**
 * Builds a pipeable operator from a per-subscription handler factory. The factory runs once per
 * subscription, so each subscription has its own state; stateful handlers register with the job
 * context under `id` so that checkpoints include them.
 */
export function elementOperator<I, O>(
  factory: () => ElementHandler<I, O>,
  reg?: { id: string; ctx?: JobContext | undefined },
): OperatorFunction<Element<I>, Element<O>> {
  return (source) =>
    new Observable<Element<O>>((subscriber) => {
      const h = factory();
      if (reg?.ctx && h.checkpoint) reg.ctx.register(reg.id, h.checkpoint);
      const emit = (e: Element<O>): void => subscriber.next(e);
      return source.subscribe({
        next(e) {
          try {
            if (isWatermark(e)) {
              if (h.onWatermark) h.onWatermark(e, emit);
              else subscriber.next(e);
            } else {
              h.onRecord(e as I, emit);
            }
          } catch (err) {
            subscriber.error(err);
          }
        },
        error(err) {
          subscriber.error(err);
        },
        complete() {
          try {
            h.onComplete?.(emit);
            subscriber.complete();
          } catch (err) {
            subscriber.error(err);
          }
        },
      });
    });
}
