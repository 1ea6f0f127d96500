import type { OperatorFunction, Subscriber } from 'rxjs';
import { Watermark, type Element } from '../core/element.js';
import { LinkSubscriber, linkOperator } from './internals.js';

class MapLink<I, O> extends LinkSubscriber<I, O> {
  constructor(
    out: Subscriber<Element<O>>,
    private readonly fn: (record: I) => O,
  ) {
    super(out);
  }

  override next(e: Element<I>): void {
    if (this.isStopped) {
      super.next(e);
      return;
    }
    try {
      this.out.next(e instanceof Watermark ? e : this.fn(e));
    } catch (err) {
      this.fail(err);
    }
  }
}

/**
 * Transforms each record; watermarks pass. The result must keep an event time in `ts` (usually the
 * input's own).
 *
 * @example trades$.pipe(mapRecords((t) => ({ ...t, notional: t.qty * t.price })))
 */
export function mapRecords<I, O>(fn: (record: I) => O): OperatorFunction<Element<I>, Element<O>> {
  return linkOperator<I, O>((out) => new MapLink<I, O>(out, fn));
}
