import type { Observable } from 'rxjs';

/**
 * An in-band event-time watermark (Flink's model): the promise that no more records with
 * `ts <= watermark.ts` are expected on this stream. Operators that buffer by time fire when a
 * watermark passes, emit their results, then forward the watermark.
 *
 * Records travel unwrapped (no envelope per record); only watermarks are objects of this class,
 * so `isWatermark` is a single `instanceof` check.
 *
 * @example
 * source$.pipe(filterRecords((t) => t.qty > 0)) // watermarks pass through untouched
 */
export class Watermark {
  // A type-only brand: without it any record with a numeric `ts` would type-check as a Watermark.
  declare private readonly brand: 'watermark';
  constructor(readonly ts: number) {}
}

/** The watermark sent at the end of a bounded input: fires every pending window and timer. */
export const END_OF_TIME = new Watermark(Number.POSITIVE_INFINITY);

/** Anything on a stream: a record or a watermark. */
export type Element<T> = T | Watermark;

/** A stream of records and in-band watermarks. */
export type Stream<T> = Observable<Element<T>>;

/** Records carry their event time in `ts` (epoch ms). */
export interface Timestamped {
  ts: number;
}

export function isWatermark(e: unknown): e is Watermark {
  return e instanceof Watermark;
}
