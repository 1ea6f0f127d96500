import { Observable, Subscriber, type OperatorFunction } from 'rxjs';
import { Watermark, type Element } from '../core/element.js';
import type { Checkpointable, JobContext } from '../core/context.js';

/**
 * Module-local alias of the watermark class for the per-element `instanceof`: V8 reloads an
 * imported binding from its module cell (with a hole check) at every use in optimised code.
 */
const W = Watermark;

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
 * The per-subscription link of an operator: subscribing upstream with a `Subscriber` (rather than
 * a plain observer) lets RxJS call it directly, without the SafeSubscriber wrapper it adds per hop
 * otherwise. Subclasses override `next` itself rather than `_next`: `Subscriber.prototype.next`
 * is shared by every subscriber in the process, so its `this._next(...)` call site goes
 * megamorphic in a real job, while a subclass's own `next` is a call site of its own.
 * `next` must check `isStopped` first (and hand over to `super.next`, which reports the stopped
 * notification as RxJS does).
 */
export class LinkSubscriber<I, O> extends Subscriber<Element<I>> {
  protected readonly out: Subscriber<Element<O>>;

  constructor(out: Subscriber<Element<O>>) {
    super();
    this.out = out;
  }

  /** Sends an exception thrown while handling an element downstream, and stops. */
  protected fail(err: unknown): void {
    this.out.error(err);
    this.unsubscribe();
  }

  protected override _error(err: unknown): void {
    this.out.error(err);
    this.unsubscribe();
  }

  protected override _complete(): void {
    try {
      this.out.complete();
    } catch (err) {
      this.out.error(err);
    }
    this.unsubscribe();
  }
}

/**
 * Builds a pipeable operator whose per-subscription link is the subscriber `make` returns (one
 * per subscription). A link with state exposes it as `checkpoint`; with `reg` it is registered
 * with the job context (which restores it) before the upstream is subscribed.
 *
 * @example
 * const op = linkOperator<Rec, Rec>((out) => new MyLink(out));
 */
export function linkOperator<I, O>(
  make: (out: Subscriber<Element<O>>) => Subscriber<Element<I>> & { checkpoint?: Checkpointable },
  reg?: { id: string; ctx?: JobContext | undefined },
): OperatorFunction<Element<I>, Element<O>> {
  return (source) =>
    new Observable<Element<O>>((subscriber) => {
      const link = make(subscriber);
      if (reg?.ctx && link.checkpoint) reg.ctx.register(reg.id, link.checkpoint);
      source.subscribe(link);
      return link;
    });
}

/** The link of `elementOperator`: calls the handler, whose `emit` goes downstream. */
class ElementSubscriber<I, O> extends LinkSubscriber<I, O> {
  private readonly h: ElementHandler<I, O>;
  private readonly emit: (e: Element<O>) => void;
  /**
   * The handler's `onRecord`, read once: handlers of different operators have different shapes,
   * so `h.onRecord` read per record would be a megamorphic load.
   */
  private readonly onRecord: ElementHandler<I, O>['onRecord'];

  constructor(out: Subscriber<Element<O>>, h: ElementHandler<I, O>) {
    super(out);
    this.h = h;
    this.emit = (e) => out.next(e);
    this.onRecord = h.onRecord;
  }

  override next(e: Element<I>): void {
    if (this.isStopped) {
      super.next(e);
      return;
    }
    try {
      if (e instanceof W) {
        if (this.h.onWatermark) this.h.onWatermark(e, this.emit);
        else this.out.next(e);
      } else {
        this.onRecord.call(this.h, e, this.emit);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  protected override _complete(): void {
    try {
      this.h.onComplete?.(this.emit);
      this.out.complete();
    } catch (err) {
      this.out.error(err);
    }
    this.unsubscribe();
  }
}

/**
 * Builds a pipeable operator from a per-subscription handler factory. The factory runs once per
 * subscription, so each subscription has its own state; stateful handlers register with the job
 * context under `id` so that checkpoints include them.
 *
 * @example
 * const double = elementOperator<{ ts: number; v: number }, { ts: number; v: number }>(() => ({
 *   onRecord: (r, emit) => emit({ ts: r.ts, v: r.v * 2 }),
 * }));
 */
export function elementOperator<I, O>(
  factory: () => ElementHandler<I, O>,
  reg?: { id: string; ctx?: JobContext | undefined },
): OperatorFunction<Element<I>, Element<O>> {
  return (source) =>
    new Observable<Element<O>>((subscriber) => {
      const h = factory();
      if (reg?.ctx && h.checkpoint) reg.ctx.register(reg.id, h.checkpoint);
      const link = new ElementSubscriber<I, O>(subscriber, h);
      source.subscribe(link);
      return link;
    });
}
