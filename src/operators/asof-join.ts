import type { OperatorFunction } from 'rxjs';
import type { Element, Stream, Timestamped } from '../core/element.js';
import type { JobContext, SideOutput } from '../core/context.js';
import { TopologyError } from '../core/errors.js';
import {
  EventTimeBuffer,
  SortedRun,
  twoInputOperator,
  type EventTimeBufferSnapshot,
} from './join-internals.js';

/**
 * Options of `asofJoin` (see there). `late` and `lateRight` are where records that arrived behind
 * the watermark are reported; they are joined/kept all the same.
 *
 * @example
 * const opts: AsofJoinOptions<Trade, Quote, Enriched> = {
 *   leftKey: (t) => t.instrument, rightKey: (q) => q.instrument, combine: (t, q) => ({ ...t, quote: q }),
 * };
 */
export interface AsofJoinOptions<L, R, O> {
  id?: string;
  ctx?: JobContext;
  leftKey: (l: L) => string;
  rightKey: (r: R) => string;
  /** Builds the output; `r` is undefined when the key has no version at or before `l.ts` (within maxLagMs). */
  combine: (l: L, r: R | undefined) => O;
  /** A version older than this (l.ts - r.ts > maxLagMs) counts as none. Default: no limit. */
  maxLagMs?: number;
  /** Left records that arrived behind the watermark (they are joined and emitted anyway). */
  late?: SideOutput<L>;
  /** Right records that arrived behind the watermark (kept as versions anyway). Extension to the notes. */
  lateRight?: SideOutput<R>;
}

interface AsofSnapshot<L, R> {
  pending: EventTimeBufferSnapshot<L>;
  versions: Array<[string, R[]]>;
  lateLeft: number;
  lateRight: number;
}

/**
 * As-of (temporal) join: each left record is joined with the version of its key on the right
 * stream that was current at the left record's event time, i.e. the right record with the
 * greatest `ts <= l.ts` (equal timestamps: the one that arrived last), or `undefined` when there
 * is none or it is older than `maxLagMs`. Event-time correct: a left record is held until the
 * combined watermark min(left, right) reaches its ts, so right versions that arrive out of order
 * within the watermark bound are taken into account; outputs are emitted in (ts, arrival) order,
 * then the watermark is forwarded. Per key only the latest version at or before the watermark and
 * the newer ones are kept (pruned when the key is next touched, so there is no per-watermark scan
 * of all keys); every key seen keeps at least its latest version.
 *
 * Late left records (ts <= the forwarded watermark) are never dropped: they are joined at once
 * against the versions still kept (which may no longer include the exact one, so the result is
 * best effort), emitted behind the watermark, and also written to `late` when given. Late right
 * records are inserted as versions (written to `lateRight` when given); they cannot change outputs
 * already emitted. Output records are whatever `combine` returns: give them `ts = l.ts`.
 *
 * @example
 * trades$.pipe(asofJoin(quotes$, {
 *   id: 'trade-quote', ctx: job,
 *   leftKey: (t) => t.instrument, rightKey: (q) => q.instrument, maxLagMs: 60_000,
 *   combine: (t, q) => ({ ...t, mid: q ? (q.bid + q.ask) / 2 : undefined }),
 * }))
 */
export function asofJoin<L extends Timestamped, R extends Timestamped, O>(
  right$: Stream<R>,
  opts: AsofJoinOptions<L, R, O>,
): OperatorFunction<Element<L>, Element<O>> {
  const { leftKey, rightKey, combine, late, lateRight } = opts;
  const maxLag = opts.maxLagMs ?? Number.POSITIVE_INFINITY;
  if (!(maxLag >= 0)) {
    throw new TopologyError(`asofJoin: maxLagMs must be >= 0, got ${opts.maxLagMs}`, { step: opts.id, field: 'maxLagMs' });
  }
  return twoInputOperator<L, R, O>(
    right$,
    (scope) => {
      const pending = new EventTimeBuffer<L>();
      let versions = new Map<string, SortedRun<R>>();
      let lateLeft = 0;
      let lateRightCount = 0;

      /** In-order lookup during a release: releases come in ts order, so older versions can go. */
      const fire = (l: L, t: number): void => {
        const v = versions.get(leftKey(l));
        let r: R | undefined;
        if (v !== undefined) {
          v.keepLatestAtOrBefore(t);
          const head = v.recs[v.head];
          if (head !== undefined) {
            const vt = head.ts;
            if (vt <= t && t - vt <= maxLag) r = head;
          }
        }
        scope.emit(combine(l, r));
      };

      /** Lookup for a late record: searches what is kept, drops nothing. */
      const lookupKept = (l: L): R | undefined => {
        const v = versions.get(leftKey(l));
        if (v === undefined) return undefined;
        const i = v.upperBound(l.ts) - 1;
        if (i < v.head) return undefined;
        const r = v.recs[i] as R;
        return l.ts - r.ts <= maxLag ? r : undefined;
      };

      return {
        onLeft(l) {
          if (l.ts > scope.wm) {
            pending.push(l.ts, l);
            return;
          }
          lateLeft++;
          scope.emit(combine(l, lookupKept(l)));
          late?.emit(l);
        },
        onRight(r) {
          const key = rightKey(r);
          let v = versions.get(key);
          if (v === undefined) {
            v = new SortedRun<R>();
            versions.set(key, v);
          }
          const t = r.ts;
          const wm = scope.wm;
          v.insert(r);
          // Versions older than the latest one at or before the watermark could only serve late
          // left records, which are best effort: dropping them here bounds memory per key.
          v.keepLatestAtOrBefore(wm);
          if (t <= wm) {
            lateRightCount++;
            lateRight?.emit(r);
          }
        },
        onWatermark(wm) {
          pending.releaseUpTo(wm, fire);
        },
        snapshot(): AsofSnapshot<L, R> {
          const vs: Array<[string, R[]]> = [];
          for (const [k, v] of versions) vs.push([k, v.live()]);
          return { pending: pending.snapshot(), versions: vs, lateLeft, lateRight: lateRightCount };
        },
        restore(s: unknown) {
          const st = s as AsofSnapshot<L, R>;
          pending.restore(st.pending);
          versions = new Map();
          for (const [k, recs] of st.versions) versions.set(k, SortedRun.from(recs));
          lateLeft = st.lateLeft;
          lateRightCount = st.lateRight;
        },
      };
    },
    { name: 'asofJoin', id: opts.id, ctx: opts.ctx },
  );
}
