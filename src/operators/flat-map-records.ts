import type { OperatorFunction, Subscriber } from 'rxjs';
import { Watermark, type Element } from '../core/element.js';
import { LinkSubscriber, linkOperator } from './internals.js';

class FlatMapLink<I, O> extends LinkSubscriber<I, O> {
  constructor(
    out: Subscriber<Element<O>>,
    private readonly fn: (record: I) => Iterable<O>,
  ) {
    super(out);
  }

  override next(e: Element<I>): void {
    if (this.isStopped) {
      super.next(e);
      return;
    }
    try {
      if (e instanceof Watermark) {
        this.out.next(e);
        return;
      }
      const out = this.out;
      for (const o of this.fn(e)) out.next(o);
    } catch (err) {
      this.fail(err);
    }
  }
}

/**
 * Turns each record into zero or more records; watermarks pass.
 *
 * @example orders$.pipe(flatMapRecords((o) => (o.action === 'REPLACE' ? [cancelOf(o), newOf(o)] : [o])))
 */
export function flatMapRecords<I, O>(fn: (record: I) => Iterable<O>): OperatorFunction<Element<I>, Element<O>> {
  return linkOperator<I, O>((out) => new FlatMapLink<I, O>(out, fn));
}
