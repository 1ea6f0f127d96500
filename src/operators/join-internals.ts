/**
 * Shared machinery of the multi-input operators (asofJoin, intervalJoin, union): the minimum
 * watermark over inputs, the two-input subscription, and the time-ordered record buffer.
 */
import { Observable, Subscriber, Subscription, type OperatorFunction } from 'rxjs';
import { END_OF_TIME, Watermark, type Element, type Stream } from '../core/element.js';
import type { JobContext } from '../core/context.js';
import { RiskflowError, UserFunctionError } from '../core/errors.js';
import { BinaryHeap } from '../core/timers.js';

/**
 * Module-local alias of the watermark class for the per-element `instanceof`: V8 reloads an
 * imported binding from its module cell (with a hole check) at every use in optimised code.
 */
const W = Watermark;

/**
 * The watermark of an operator with N inputs: the minimum of the inputs' watermarks, which only
 * ever moves forward. An input that completed counts as +Infinity (Flink: a finished input sends
 * the max watermark), so that it cannot hold the others back.
 *
 * @example
 * const m = new MinWatermark(2);
 * m.update(0, 10); // false: input 1 still at -Infinity
 * m.update(1, 5);  // true: m.current === 5
 */
export class MinWatermark {
  readonly inputs: number[];
  current = Number.NEGATIVE_INFINITY;

  constructor(n: number) {
    this.inputs = new Array<number>(n).fill(Number.NEGATIVE_INFINITY);
  }

  /** Records input i's watermark; true when the combined watermark advanced. */
  update(i: number, ts: number): boolean {
    const w = this.inputs;
    if (!(ts > (w[i] as number))) return false;
    w[i] = ts;
    let min = Number.POSITIVE_INFINITY;
    for (let j = 0; j < w.length; j++) if ((w[j] as number) < min) min = w[j] as number;
    if (min <= this.current) return false;
    this.current = min;
    return true;
  }

  snapshot(): { inputs: number[]; current: number } {
    return { inputs: this.inputs.slice(), current: this.current };
  }

  restore(s: { inputs: number[]; current: number }): void {
    for (let i = 0; i < this.inputs.length; i++) this.inputs[i] = s.inputs[i] ?? Number.NEGATIVE_INFINITY;
    this.current = s.current;
  }
}

/**
 * What a two-input handler gets: where to emit, and the combined watermark forwarded so far.
 *
 * @example
 * onLeft(l) { if (l.ts <= scope.wm) lateCount++; scope.emit(toOut(l)); }
 */
export interface TwoInputScope<O> {
  /** The combined (min) watermark last forwarded; records with ts <= wm are late. */
  wm: number;
  emit(o: O): void;
}

/**
 * The per-subscription logic of a two-input operator; `snapshot`/`restore` cover its buffers (the
 * per-input watermarks are checkpointed by `twoInputOperator` itself).
 *
 * @example
 * const h: TwoInputHandler<Trade, Quote> = { onLeft: buffer, onRight: keep, onWatermark: fireUpTo };
 */
export interface TwoInputHandler<L, R> {
  onLeft(l: L): void;
  onRight(r: R): void;
  /** Fire everything `wm` (the new combined watermark) closes; the watermark is forwarded after. */
  onWatermark(wm: number): void;
  snapshot?(): unknown;
  restore?(s: unknown): void;
}

/**
 * How a multi-input operator names itself (in errors) and registers for checkpoints.
 *
 * @example
 * { name: 'asofJoin', id: 'trade-quote', ctx: job }
 */
export interface OperatorRegistration {
  /** Operator name used in error messages ('asofJoin', ...). */
  name: string;
  id?: string | undefined;
  ctx?: JobContext | undefined;
}

/**
 * Wraps an exception from user code (key/combine functions) in a `UserFunctionError` that names
 * the operator and step; engine errors (`RiskflowError`) pass unchanged.
 *
 * @example
 * try { h.onLeft(l) } catch (e) { subscriber.error(asUserError({ name: 'asofJoin', id }, e)) }
 */
export function asUserError(reg: OperatorRegistration, cause: unknown): Error {
  if (cause instanceof RiskflowError) return cause;
  const msg = cause instanceof Error ? cause.message : String(cause);
  const where = reg.id !== undefined ? `${reg.name} '${reg.id}'` : reg.name;
  return new UserFunctionError(`${where}: a user function threw: ${msg}`, { step: reg.id, cause });
}

/**
 * One input of a multi-input operator. A `Subscriber` subclass, so that the upstream calls it
 * directly (a plain observer would be wrapped in a SafeSubscriber, two more calls per record).
 */
class InputSubscriber<L, R> extends Subscriber<Element<L | R>> {
  /**
   * The handler's method for this input's records, read once: handlers of different operators
   * have different shapes, so `h.onLeft` read per record would be a megamorphic load.
   */
  private readonly onRecord: (this: TwoInputHandler<L, R>, e: L & R) => void;

  constructor(
    /** 0: left, 1: right. */
    private readonly i: number,
    private readonly h: TwoInputHandler<L, R>,
    private readonly onWm: (i: number, w: Watermark) => void,
    private readonly fail: (err: unknown) => void,
    private readonly out: Subscriber<unknown>,
    private readonly finish: (i: number) => void,
  ) {
    super();
    this.onRecord = (i === 0 ? h.onLeft : h.onRight) as (this: TwoInputHandler<L, R>, e: L & R) => void;
  }

  override next(e: Element<L | R>): void {
    if (this.isStopped) {
      super.next(e);
      return;
    }
    try {
      if (e instanceof W) this.onWm(this.i, e);
      else this.onRecord.call(this.h, e as L & R);
    } catch (err) {
      this.fail(err);
    }
  }

  protected override _error(err: unknown): void {
    this.out.error(err);
    this.unsubscribe();
  }

  protected override _complete(): void {
    this.finish(this.i);
    this.unsubscribe();
  }
}

interface TwoInputSnapshot {
  wms: { inputs: number[]; current: number };
  handler: unknown;
}

/**
 * Builds a pipeable two-input operator (the piped stream is the left input). Both inputs are
 * subscribed (the right one first, so that a finite reference stream given as `from([...])` is
 * loaded before the left one starts); records go to the handler, and when min(left wm, right wm)
 * advances the handler fires what it closes and then the new watermark is forwarded. An input's
 * completion counts as END_OF_TIME for it; the output completes when both inputs have. With
 * `{ id, ctx }` the per-input watermarks and the handler's state are checkpointed.
 *
 * @example
 * const join = twoInputOperator<Trade, Quote, Out>(quotes$, (scope) => ({
 *   onLeft(t) { scope.emit(...) }, onRight(q) {...}, onWatermark(wm) {...},
 * }), { name: 'myJoin' });
 */
export function twoInputOperator<L, R, O>(
  right$: Stream<R>,
  factory: (scope: TwoInputScope<O>) => TwoInputHandler<L, R>,
  reg: OperatorRegistration,
): OperatorFunction<Element<L>, Element<O>> {
  return (left$) =>
    new Observable<Element<O>>((subscriber) => {
      const wms = new MinWatermark(2);
      const scope: TwoInputScope<O> = {
        wm: Number.NEGATIVE_INFINITY,
        emit: (o: O) => subscriber.next(o),
      };
      const h = factory(scope);
      if (reg.id !== undefined && reg.ctx !== undefined) {
        reg.ctx.register(reg.id, {
          snapshot: (): TwoInputSnapshot => ({ wms: wms.snapshot(), handler: h.snapshot?.() }),
          restore: (s: unknown) => {
            const st = s as TwoInputSnapshot;
            wms.restore(st.wms);
            scope.wm = wms.current;
            h.restore?.(st.handler);
          },
        });
      }
      const onWm = (i: number, w: Watermark): void => {
        if (!wms.update(i, w.ts)) return;
        const wm = wms.current;
        scope.wm = wm;
        h.onWatermark(wm);
        subscriber.next(w.ts === wm ? w : new W(wm));
      };
      const fail = (err: unknown): void => subscriber.error(asUserError(reg, err));
      let done = 0;
      const finish = (i: number): void => {
        try {
          onWm(i, END_OF_TIME);
        } catch (err) {
          fail(err);
          return;
        }
        if (++done === 2) subscriber.complete();
      };
      const subs = new Subscription();
      subs.add(right$.subscribe(new InputSubscriber<L, R>(1, h, onWm, fail, subscriber, finish)));
      if (!subscriber.closed) {
        subs.add(left$.subscribe(new InputSubscriber<L, R>(0, h, onWm, fail, subscriber, finish)));
      }
      return subs;
    });
}

interface Disordered<T> {
  ts: number;
  seq: number;
  rec: T;
}

const disorderedLess = <T>(a: Disordered<T>, b: Disordered<T>): boolean =>
  a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);

/**
 * Checkpoint form of an `EventTimeBuffer`: entries as [ts, seq, record] in release order, and the
 * next arrival sequence number.
 *
 * @example
 * const snap: EventTimeBufferSnapshot<Trade> = buffer.snapshot();
 */
export interface EventTimeBufferSnapshot<T> {
  entries: Array<[number, number, T]>;
  seq: number;
}

/**
 * Records held until the watermark passes them, released in (ts, arrival) order. Records that
 * arrive in ts order (the usual case) are appended to a queue of parallel arrays (no object per
 * record, capacity reused); only a record older than the queue's tail goes to a heap, and a release
 * merges the two. So the in-order path costs O(1) per record and disorder costs O(log n) for the
 * disordered records only, never a sort of the whole buffer.
 *
 * @example
 * const b = new EventTimeBuffer<Trade>();
 * b.push(t1.ts, t1); b.push(t0.ts, t0);
 * b.releaseUpTo(wm, (t) => out(t)); // t0, then t1
 */
export class EventTimeBuffer<T> {
  private ts: number[] = [];
  private seqs: number[] = [];
  private recs: Array<T | undefined> = [];
  private head = 0;
  private tail = 0;
  private seq = 0;
  private readonly heap = new BinaryHeap<Disordered<T>>(disorderedLess);

  get size(): number {
    return this.tail - this.head + this.heap.size;
  }

  push(ts: number, rec: T): void {
    const seq = this.seq++;
    const tail = this.tail;
    if (tail !== this.head && ts < (this.ts[tail - 1] as number)) {
      this.heap.push({ ts, seq, rec });
      return;
    }
    if (tail === this.ts.length) {
      this.ts.push(ts);
      this.seqs.push(seq);
      this.recs.push(rec);
    } else {
      this.ts[tail] = ts;
      this.seqs[tail] = seq;
      this.recs[tail] = rec;
    }
    this.tail = tail + 1;
  }

  /** Calls `cb` for every record with ts <= wm, in (ts, arrival) order, and forgets them. */
  releaseUpTo(wm: number, cb: (rec: T, ts: number) => void): void {
    for (;;) {
      const h = this.head;
      let r: T | undefined;
      let t: number;
      if (this.heap.size === 0) {
        // Nothing out of order (the usual case): the in-order run's head, while ts <= wm. Checked
        // per record: `cb` may push a record that goes to the heap.
        if (h >= this.tail || (t = this.ts[h] as number) > wm) break;
        r = this.recs[h] as T;
        this.recs[h] = undefined;
        this.head = h + 1;
      } else {
        r = this.take(wm);
        if (r === undefined) break;
        t = this.takenTs;
      }
      cb(r, t);
    }
    this.compact();
  }

  /**
   * `releaseUpTo` into an array instead of a callback: the records with ts <= wm, in the same
   * order, are written to `out` from index `n` on (overwriting or appending); returns the new
   * count. No callback per record (`releaseUpTo`'s call site sees every user's callback).
   */
  releaseInto(wm: number, out: T[], n: number): number {
    if (this.heap.size === 0) {
      // Nothing out of order (the usual case): the in-order run's head, while ts <= wm.
      const ts = this.ts;
      const recs = this.recs;
      const tail = this.tail;
      let h = this.head;
      for (; h < tail && (ts[h] as number) <= wm; h++) {
        const r = recs[h] as T;
        recs[h] = undefined;
        if (n < out.length) out[n] = r;
        else out.push(r);
        n++;
      }
      this.head = h;
    } else {
      for (let r = this.take(wm); r !== undefined; r = this.take(wm)) {
        if (n < out.length) out[n] = r;
        else out.push(r);
        n++;
      }
    }
    this.compact();
    return n;
  }

  /** The event time of the record `take` returned last. */
  private takenTs = 0;

  /**
   * The next record with ts <= wm in (ts, arrival) order, forgotten here; undefined when there
   * is none: the earlier of the in-order run's head and the heap's top (out-of-order arrivals).
   */
  private take(wm: number): T | undefined {
    const h = this.head;
    const top = this.heap.peek();
    if (h < this.tail) {
      const t = this.ts[h] as number;
      if (top === undefined || t < top.ts || (t === top.ts && (this.seqs[h] as number) < top.seq)) {
        if (t > wm) return undefined;
        const r = this.recs[h] as T;
        this.recs[h] = undefined;
        this.head = h + 1;
        this.takenTs = t;
        return r;
      }
    }
    if (top === undefined || top.ts > wm) return undefined;
    this.heap.pop();
    this.takenTs = top.ts;
    return top.rec;
  }

  snapshot(): EventTimeBufferSnapshot<T> {
    const entries: Array<[number, number, T]> = [];
    for (let i = this.head; i < this.tail; i++) entries.push([this.ts[i] as number, this.seqs[i] as number, this.recs[i] as T]);
    for (const d of this.heap.toArray()) entries.push([d.ts, d.seq, d.rec]);
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return { entries, seq: this.seq };
  }

  restore(s: EventTimeBufferSnapshot<T>): void {
    // Sorted by (ts, seq), so everything goes back into the in-order queue.
    this.ts = s.entries.map((e) => e[0]);
    this.seqs = s.entries.map((e) => e[1]);
    this.recs = s.entries.map((e) => e[2]);
    this.head = 0;
    this.tail = s.entries.length;
    this.heap.clear();
    this.seq = s.seq;
  }

  private compact(): void {
    const h = this.head;
    if (h === this.tail) {
      this.head = this.tail = 0;
      return;
    }
    if (h < 4096 || h * 2 < this.tail) return;
    const n = this.tail - h;
    const ts = this.ts;
    const seqs = this.seqs;
    const recs = this.recs;
    for (let i = 0; i < n; i++) {
      ts[i] = ts[i + h] as number;
      seqs[i] = seqs[i + h] as number;
      recs[i] = recs[i + h];
    }
    for (let i = n; i < this.tail; i++) recs[i] = undefined;
    this.head = 0;
    this.tail = n;
  }
}

/**
 * A per-key list of timestamped records kept sorted by (ts, arrival), with a moving head so that
 * dropping the oldest entries is O(1) and in-order appends are O(1); disorder costs a binary search
 * and a splice of the (usually short) live part. Times are read from the records themselves: a
 * second array of times measured slower (more memory to grow and touch per lookup).
 *
 * @example
 * const v = new SortedRun<Quote>(); v.insert(q); v.keepLatestAtOrBefore(wm);
 */
export class SortedRun<T extends { ts: number }> {
  recs: Array<T | undefined> = [];
  head = 0;

  get size(): number {
    return this.recs.length - this.head;
  }

  insert(rec: T): void {
    const recs = this.recs;
    const n = recs.length;
    const t = rec.ts;
    if (n === this.head || t >= (recs[n - 1] as T).ts) {
      recs.push(rec);
      return;
    }
    const pos = this.upperBound(t);
    if (pos === this.head && pos > 0) {
      // The slot before the head is free: reuse it instead of shifting the live part.
      this.head = pos - 1;
      recs[pos - 1] = rec;
      return;
    }
    recs.splice(pos, 0, rec);
  }

  /** First index >= head whose ts is > t (the insert position after equal times). */
  upperBound(t: number): number {
    const recs = this.recs;
    let lo = this.head;
    let hi = recs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((recs[mid] as T).ts <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index >= head whose ts is >= t. */
  lowerBound(t: number): number {
    const recs = this.recs;
    let lo = this.head;
    let hi = recs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((recs[mid] as T).ts < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Drops entries older than the last one with ts <= t: that one becomes the head. */
  keepLatestAtOrBefore(t: number): void {
    const recs = this.recs;
    const n = recs.length;
    let h = this.head;
    if (!(h + 1 < n && (recs[h + 1] as T).ts <= t)) return;
    do recs[h++] = undefined;
    while (h + 1 < n && (recs[h + 1] as T).ts <= t);
    this.head = h;
    this.compact();
  }

  /** Drops entries from the head while `ts + offset <= wm` (records that can no longer match). */
  dropWhileAtOrBefore(wm: number, offset: number): void {
    const recs = this.recs;
    const n = recs.length;
    let h = this.head;
    while (h < n && (recs[h] as T).ts + offset <= wm) recs[h++] = undefined;
    if (h === this.head) return;
    this.head = h;
    this.compact();
  }

  private compact(): void {
    const h = this.head;
    const recs = this.recs;
    const n = recs.length;
    if (h === n) {
      recs.length = 0;
      this.head = 0;
      return;
    }
    if (h >= 64 && h * 2 >= n) {
      // A plain loop: splice allocates an array of the removed part, and copyWithin on a JS
      // array takes V8's slow generic path (measured: it dominated the as-of join benchmark).
      const m = n - h;
      for (let i = 0; i < m; i++) recs[i] = recs[i + h];
      recs.length = m;
      this.head = 0;
    }
  }

  /** Live entries, for checkpoints. */
  live(): T[] {
    return this.recs.slice(this.head) as T[];
  }

  static from<T extends { ts: number }>(recs: T[]): SortedRun<T> {
    const s = new SortedRun<T>();
    s.recs = recs.slice();
    return s;
  }
}
