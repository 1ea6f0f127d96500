import { Observable, Subscriber, Subscription, isObservable, type OperatorFunction } from 'rxjs';
import { END_OF_TIME, Watermark, type Element, type Stream } from '../core/element.js';
import type { JobContext } from '../core/context.js';
import { MinWatermark } from './join-internals.js';

/**
 * Module-local alias of the watermark class for the per-element `instanceof`: V8 reloads an
 * imported binding from its module cell (with a hole check) at every use in optimised code.
 */
const W = Watermark;

/**
 * Optional trailing argument of `union`/`unionWith`: with `{ id, ctx }` the per-input watermarks
 * are checkpointed, so that a restored job forwards exactly the watermarks an uninterrupted one
 * would (an extension to the notes' signature; without it union is stateless across restarts).
 *
 * @example
 * union(a$, b$, { id: 'ab', ctx: job })
 */
export interface UnionOptions {
  id?: string;
  ctx?: JobContext;
}

type UnionArgs<T> = Array<Stream<T> | UnionOptions>;

function split<T>(args: UnionArgs<T>): { streams: Stream<T>[]; opts: UnionOptions } {
  const last = args[args.length - 1];
  if (last !== undefined && !isObservable(last)) {
    return { streams: args.slice(0, -1) as Stream<T>[], opts: last };
  }
  return { streams: args as Stream<T>[], opts: {} };
}

/**
 * One input of a union. A `Subscriber` subclass, so that the upstream calls it directly (a plain
 * observer would be wrapped in a SafeSubscriber: two more calls per record).
 */
class UnionInput<T> extends Subscriber<Element<T>> {
  constructor(
    private readonly i: number,
    private readonly wms: MinWatermark,
    private readonly out: Subscriber<Element<T>>,
    private readonly completed: (i: number) => void,
  ) {
    super();
  }

  override next(e: Element<T>): void {
    if (this.isStopped) return;
    try {
      if (e instanceof W) {
        const wms = this.wms;
        if (wms.update(this.i, e.ts)) this.out.next(e.ts === wms.current ? e : new W(wms.current));
      } else {
        this.out.next(e);
      }
    } catch (err) {
      // Downstream threw: the union's output fails (a plain observer would report it asynchronously).
      this.out.error(err);
    }
  }

  protected override _error(err: unknown): void {
    this.out.error(err);
    this.unsubscribe();
  }

  protected override _complete(): void {
    this.completed(this.i);
    this.unsubscribe();
  }
}

/**
 * Merges N streams of the same record type. Records pass through as they arrive; the output
 * watermark is the minimum of the inputs' watermarks and is forwarded only when it advances. An
 * input that completes counts as END_OF_TIME for the minimum (so an input that only ever sends
 * END_OF_TIME, or nothing, does not hold the others back); the union completes when every input
 * has. A union of zero streams completes at once. Pass `{ id, ctx }` last to checkpoint the
 * per-input watermarks.
 *
 * @example
 * const allTrades$ = union(tradesVenueA$, tradesVenueB$, { id: 'all-trades', ctx: job });
 */
export function union<T>(...args: UnionArgs<T>): Stream<T> {
  const { streams, opts } = split(args);
  return new Observable<Element<T>>((subscriber) => {
    const n = streams.length;
    if (n === 0) {
      subscriber.complete();
      return undefined;
    }
    const wms = new MinWatermark(n);
    if (opts.id !== undefined && opts.ctx !== undefined) {
      opts.ctx.register(opts.id, {
        snapshot: () => wms.snapshot(),
        restore: (s: unknown) => wms.restore(s as ReturnType<MinWatermark['snapshot']>),
      });
    }
    let done = 0;
    const subs = new Subscription();
    const completed = (i: number): void => {
      if (wms.update(i, Number.POSITIVE_INFINITY)) subscriber.next(wms.current === END_OF_TIME.ts ? END_OF_TIME : new Watermark(wms.current));
      if (++done === n) subscriber.complete();
    };
    for (let i = 0; i < n && !subscriber.closed; i++) {
      subs.add((streams[i] as Stream<T>).subscribe(new UnionInput<T>(i, wms, subscriber, completed)));
    }
    return subs;
  });
}

/**
 * Pipeable form of `union`: the piped stream is the first input.
 *
 * @example
 * tradesVenueA$.pipe(unionWith(tradesVenueB$, tradesVenueC$))
 */
export function unionWith<T>(...args: UnionArgs<T>): OperatorFunction<Element<T>, Element<T>> {
  return (source) => union<T>(source, ...args);
}
