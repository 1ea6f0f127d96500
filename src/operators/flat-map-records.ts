import type { OperatorFunction } from 'rxjs';
import type { Element } from '../core/element.js';
import { elementOperator } from './internals.js';

/**
 * Turns each record into zero or more records; watermarks pass.
 *
 * @example orders$.pipe(flatMapRecords((o) => (o.action === 'REPLACE' ? [cancelOf(o), newOf(o)] : [o])))
 */
export function flatMapRecords<I, O>(fn: (record: I) => Iterable<O>): OperatorFunction<Element<I>, Element<O>> {
  return elementOperator<I, O>(() => ({
    onRecord(r, emit) {
      for (const o of fn(r)) emit(o);
    },
  }));
}
