import { Observable, Subscriber, Subscription, type OperatorFunction } from 'rxjs';

/**
 * A lean Subject for the per-record hot path. RxJS's `Subject.next` allocates a closure per call
 * (its error context) and copies observers lazily; this one keeps a copy-on-write array of
 * subscribers, so `next` is a plain loop. Subscribing or unsubscribing (rare: graph build and
 * teardown) replaces the array, so a subscriber leaving during `next` is safe.
 *
 * @example
 * const m = new Multicast<number>();
 * m.subscribe((x) => console.log(x));
 * m.next(1);
 */
export class Multicast<T> extends Observable<T> {
  protected subs: ReadonlyArray<Subscriber<T>> = [];
  private stopped = false;
  private failed = false;
  private failure: unknown;

  constructor() {
    super((subscriber) => {
      if (this.stopped) {
        if (this.failed) subscriber.error(this.failure);
        else subscriber.complete();
        return undefined;
      }
      this.subs = [...this.subs, subscriber];
      return () => {
        this.subs = this.subs.filter((s) => s !== subscriber);
      };
    });
  }

  get observed(): boolean {
    return this.subs.length > 0;
  }

  next(value: T): void {
    const s = this.subs;
    for (let i = 0; i < s.length; i++) s[i]!.next(value);
  }

  error(err: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.failed = true;
    this.failure = err;
    const s = this.subs;
    this.subs = [];
    for (const x of s) x.error(err);
  }

  complete(): void {
    if (this.stopped) return;
    this.stopped = true;
    const s = this.subs;
    this.subs = [];
    for (const x of s) x.complete();
  }
}

/**
 * Forwards everything from upstream into a Multicast (a Subscriber, so RxJS calls it directly). It
 * overrides `next` itself: `Subscriber.prototype.next` is shared by every subscriber of the
 * process, so its `this._next(...)` call site is megamorphic.
 */
class Forwarder<T> extends Subscriber<T> {
  constructor(private readonly target: Multicast<T>) {
    super();
  }
  override next(v: T): void {
    // Stopped: RxJS's own handling (the stopped-notification hook).
    if (this.isStopped) super.next(v);
    else this.target.next(v);
  }
  protected override _error(e: unknown): void {
    this.target.error(e);
    this.unsubscribe();
  }
  protected override _complete(): void {
    this.target.complete();
    this.unsubscribe();
  }
}

/**
 * Multicasts `source` through a {@link Multicast} that is connected only when `connect()` is
 * called: every reader subscribes first, then data flows (RxJS `connectable` without the Subject).
 *
 * @example
 * const { stream, connect } = deferredMulticast(input$);
 * stream.subscribe(a); stream.subscribe(b); connect();
 */
export function deferredMulticast<T>(source: Observable<T>): { stream: Observable<T>; connect(): Subscription } {
  const m = new Multicast<T>();
  return { stream: m, connect: () => source.subscribe(new Forwarder(m)) };
}

/**
 * Shares one subscription to `source` among every subscriber (RxJS `share()` for a graph that is
 * wired before data flows): the first subscriber connects it; it is never reset.
 *
 * @example step$.pipe(shareLean())
 */
export function shareLean<T>(): OperatorFunction<T, T> {
  return (source) => {
    const m = new Multicast<T>();
    let connected = false;
    return new Observable<T>((subscriber) => {
      const inner = m.subscribe(subscriber);
      if (!connected) {
        connected = true;
        inner.add(source.subscribe(new Forwarder(m)));
      }
      return inner;
    });
  };
}
