import type { OperatorFunction, Subscriber } from 'rxjs';
import { Watermark, type Element } from '../core/element.js';
import { LinkSubscriber, linkOperator } from './internals.js';

/**
 * Module-local alias of the watermark class for the per-element `instanceof`: V8 reloads an
 * imported binding from its module cell (with a hole check) at every use in optimised code.
 */
const W = Watermark;

class FilterLink<T> extends LinkSubscriber<T, T> {
  constructor(
    out: Subscriber<Element<T>>,
    private readonly predicate: (record: T) => boolean,
  ) {
    super(out);
  }

  override next(e: Element<T>): void {
    if (this.isStopped) {
      super.next(e);
      return;
    }
    try {
      if (e instanceof W || this.predicate(e)) this.out.next(e);
    } catch (err) {
      this.fail(err);
    }
  }
}

/**
 * Keeps the records for which `predicate` is true; watermarks always pass.
 *
 * @example trades$.pipe(filterRecords((t) => t.qty * t.price > 1e6))
 */
export function filterRecords<T>(predicate: (record: T) => boolean): OperatorFunction<Element<T>, Element<T>> {
  return linkOperator<T, T>((out) => new FilterLink<T>(out, predicate));
}
