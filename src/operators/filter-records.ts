import type { OperatorFunction } from 'rxjs';
import type { Element } from '../core/element.js';
import { elementOperator } from './internals.js';

/**
 * Keeps the records for which `predicate` is true; watermarks always pass.
 *
 * @example trades$.pipe(filterRecords((t) => t.qty * t.price > 1e6))
 */
export function filterRecords<T>(predicate: (record: T) => boolean): OperatorFunction<Element<T>, Element<T>> {
  return elementOperator<T, T>(() => ({
    onRecord(r, emit) {
      if (predicate(r)) emit(r);
    },
  }));
}
