import type { OperatorFunction } from 'rxjs';
import type { Element } from '../core/element.js';
import { elementOperator } from './internals.js';

/**
 * Transforms each record; watermarks pass. The result must keep an event time in `ts` (usually the
 * input's own).
 *
 * @example trades$.pipe(mapRecords((t) => ({ ...t, notional: t.qty * t.price })))
 */
export function mapRecords<I, O>(fn: (record: I) => O): OperatorFunction<Element<I>, Element<O>> {
  return elementOperator<I, O>(() => ({
    onRecord(r, emit) {
      emit(fn(r));
    },
  }));
}
