import type { OperatorFunction } from 'rxjs';
import type { Element, Stream, Timestamped } from '../core/element.js';
import type { JobContext, SideOutput } from '../core/context.js';
import { TopologyError } from '../core/errors.js';
import { BinaryHeap } from '../core/timers.js';
import { SortedRun, twoInputOperator } from './join-internals.js';

/**
 * Options of `intervalJoin` (see there): both bounds are inclusive offsets from the left record's
 * time; `combine` also receives the pair's output time max(l.ts, r.ts).
 *
 * @example
 * const opts: IntervalJoinOptions<Order, Trade, Fill> = {
 *   leftKey: (o) => o.orderId, rightKey: (t) => t.orderId ?? '', lowerBoundMs: 0, upperBoundMs: 60_000,
 *   combine: (o, t, ts) => ({ ts, orderId: o.orderId, qty: t.qty }),
 * };
 */
export interface IntervalJoinOptions<L, R, O> {
  id?: string;
  ctx?: JobContext;
  leftKey: (l: L) => string;
  rightKey: (r: R) => string;
  /** r.ts >= l.ts + lowerBoundMs (inclusive; may be negative). */
  lowerBoundMs: number;
  /** r.ts <= l.ts + upperBoundMs (inclusive). */
  upperBoundMs: number;
  /** Builds the output of a pair; `ts` = max(l.ts, r.ts) is the time the output should carry. */
  combine: (l: L, r: R, ts: number) => O;
  /** Left records that arrived behind the watermark (joined anyway). Extension to the notes. */
  late?: SideOutput<L>;
  /** Right records that arrived behind the watermark (joined anyway). Extension to the notes. */
  lateRight?: SideOutput<R>;
}

/** Both sides' buffers of one key; `item` is its single valid entry in the purge schedule. */
interface Bucket<L extends Timestamped, R extends Timestamped> {
  key: string;
  left: SortedRun<L>;
  right: SortedRun<R>;
  item: Scheduled<L, R> | undefined;
}

interface Scheduled<L extends Timestamped, R extends Timestamped> {
  exp: number;
  bucket: Bucket<L, R>;
}

interface IntervalSnapshot<L, R> {
  buckets: Array<[string, L[], R[]]>;
  lateLeft: number;
  lateRight: number;
}

/**
 * Interval join (Flink's): pairs each left record with every right record of the same key with
 * `l.ts + lowerBoundMs <= r.ts <= l.ts + upperBoundMs` (both bounds inclusive). A pair is emitted
 * as soon as its second record arrives (matches in the other side's (ts, arrival) order), so
 * outputs are not sorted by time, but every output's time max(l.ts, r.ts) is ahead of the
 * forwarded watermark (passed to `combine` as `ts`). Buffers are purged once the watermark makes
 * a match impossible: a left record when `l.ts + upper <= wm`, a right one when `r.ts - lower <= wm`,
 * through a per-key schedule, not a scan. Late records (ts <= the watermark) are joined against
 * what is still buffered (so some of their pairs may be missing), written to `late`/`lateRight`
 * when given, and never dropped silently.
 *
 * @example
 * orders$.pipe(intervalJoin(trades$, {
 *   leftKey: (o) => o.instrument, rightKey: (t) => t.instrument,
 *   lowerBoundMs: 0, upperBoundMs: 5_000,
 *   combine: (o, t, ts) => ({ ts, orderId: o.orderId, tradeId: t.tradeId }),
 * }))
 */
export function intervalJoin<L extends Timestamped, R extends Timestamped, O>(
  right$: Stream<R>,
  opts: IntervalJoinOptions<L, R, O>,
): OperatorFunction<Element<L>, Element<O>> {
  const { leftKey, rightKey, combine, late, lateRight } = opts;
  const lower = opts.lowerBoundMs;
  const upper = opts.upperBoundMs;
  if (!Number.isFinite(lower) || !Number.isFinite(upper) || lower > upper) {
    throw new TopologyError(`intervalJoin: need finite lowerBoundMs <= upperBoundMs, got [${lower}, ${upper}]`, {
      step: opts.id,
      field: 'lowerBoundMs',
    });
  }
  return twoInputOperator<L, R, O>(
    right$,
    (scope) => {
      let buckets = new Map<string, Bucket<L, R>>();
      const schedule = new BinaryHeap<Scheduled<L, R>>((a, b) => a.exp < b.exp);
      let lateLeft = 0;
      let lateRightCount = 0;

      const bucketOf = (key: string): Bucket<L, R> => {
        let b = buckets.get(key);
        if (b === undefined) {
          b = { key, left: new SortedRun<L>(), right: new SortedRun<R>(), item: undefined };
          buckets.set(key, b);
        }
        return b;
      };

      const scheduleAt = (b: Bucket<L, R>, exp: number): void => {
        if (b.item !== undefined && b.item.exp <= exp) return;
        // The older item stays in the heap but no longer matches `b.item`, so it is skipped.
        const it: Scheduled<L, R> = { exp, bucket: b };
        b.item = it;
        schedule.push(it);
      };

      /** Earliest time the watermark can purge something of `b`, +Infinity when empty. */
      const nextExpiry = (b: Bucket<L, R>): number => {
        const l = b.left.recs[b.left.head];
        const r = b.right.recs[b.right.head];
        const le = l === undefined ? Number.POSITIVE_INFINITY : l.ts + upper;
        const re = r === undefined ? Number.POSITIVE_INFINITY : r.ts - lower;
        return le < re ? le : re;
      };


      return {
        onLeft(l) {
          const t = l.ts;
          const wm = scope.wm;
          const b = bucketOf(leftKey(l));
          const recs = b.right.recs;
          const hi = t + upper;
          for (let i = b.right.lowerBound(t + lower); i < recs.length; i++) {
            const r = recs[i] as R;
            const rt = r.ts;
            if (rt > hi) break;
            scope.emit(combine(l, r, rt > t ? rt : t));
          }
          if (hi > wm) {
            b.left.insert(l);
            scheduleAt(b, hi);
          } else if (b.item === undefined) {
            buckets.delete(b.key);
          }
          if (t <= wm) {
            lateLeft++;
            late?.emit(l);
          }
        },
        onRight(r) {
          const t = r.ts;
          const wm = scope.wm;
          const b = bucketOf(rightKey(r));
          const recs = b.left.recs;
          const hi = t - lower;
          for (let i = b.left.lowerBound(t - upper); i < recs.length; i++) {
            const l = recs[i] as L;
            const lt = l.ts;
            if (lt > hi) break;
            scope.emit(combine(l, r, lt > t ? lt : t));
          }
          if (hi > wm) {
            b.right.insert(r);
            scheduleAt(b, hi);
          } else if (b.item === undefined) {
            buckets.delete(b.key);
          }
          if (t <= wm) {
            lateRightCount++;
            lateRight?.emit(r);
          }
        },
        onWatermark(wm) {
          for (let it = schedule.peek(); it !== undefined && it.exp <= wm; it = schedule.peek()) {
            schedule.pop();
            const b = it.bucket;
            if (b.item !== it) continue;
            b.left.dropWhileAtOrBefore(wm, upper);
            b.right.dropWhileAtOrBefore(wm, -lower);
            const exp = nextExpiry(b);
            if (exp === Number.POSITIVE_INFINITY) {
              b.item = undefined;
              buckets.delete(b.key);
            } else {
              it.exp = exp;
              schedule.push(it);
            }
          }
        },
        snapshot(): IntervalSnapshot<L, R> {
          const out: IntervalSnapshot<L, R>['buckets'] = [];
          for (const [k, b] of buckets) out.push([k, b.left.live(), b.right.live()]);
          return { buckets: out, lateLeft, lateRight: lateRightCount };
        },
        restore(s: unknown) {
          const st = s as IntervalSnapshot<L, R>;
          buckets = new Map();
          schedule.clear();
          for (const [key, lrecs, rrecs] of st.buckets) {
            const b: Bucket<L, R> = { key, left: SortedRun.from(lrecs), right: SortedRun.from(rrecs), item: undefined };
            buckets.set(key, b);
            const exp = nextExpiry(b);
            if (exp < Number.POSITIVE_INFINITY) scheduleAt(b, exp);
          }
          lateLeft = st.lateLeft;
          lateRightCount = st.lateRight;
        },
      };
    },
    { name: 'intervalJoin', id: opts.id, ctx: opts.ctx },
  );
}
