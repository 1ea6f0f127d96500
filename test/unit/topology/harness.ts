import { Subject } from 'rxjs';
import type { Alert } from '../../../src/core/alerts.js';
import { JobContext } from '../../../src/core/context.js';
import { Multicast } from '../../../src/core/multicast.js';
import { END_OF_TIME, Watermark, type Element } from '../../../src/core/element.js';
import { emptyReference, type ReferenceData } from '../../../src/core/reference.js';
import { ManualClock } from '../../../src/core/time.js';
import { WatermarkTracker } from '../../../src/core/watermarks.js';
import type { LoadedTopology } from '../../../src/topology/index.js';

export interface RunResult {
  alerts: Alert[];
  outputs: Record<string, any[]>;
  late: Record<string, any[]>;
  errors: unknown[];
  ctx: JobContext;
}

/**
 * Runs a topology over in-memory inputs the way the runner does: records of all sources merged by
 * event time (ties: source order, then input order), a bounded-out-of-orderness watermark per
 * source after each record, END_OF_TIME at the end, then completion. Virtual clock.
 * `arrival` may give each source's records in arrival order instead (no sorting) when set.
 * `multicast` gives the inputs as the runner does (Multicasts, which build() reads directly)
 * instead of RxJS Subjects (which build() multicasts itself).
 */
export function runTopology(
  t: LoadedTopology,
  inputs: Record<string, Array<Record<string, unknown>>>,
  opts: { reference?: ReferenceData; ctx?: JobContext; arrivalOrder?: boolean; multicast?: boolean } = {},
): RunResult {
  const ctx = opts.ctx ?? new JobContext({ clock: new ManualClock(42) });
  const res: RunResult = { alerts: [], outputs: {}, late: {}, errors: [], ctx };
  const subjects: Record<string, Subject<Element<any>> | Multicast<Element<any>>> = {};
  const trackers: Record<string, { tr: WatermarkTracker; last: number }> = {};
  for (const s of t.sources) {
    subjects[s.name] = opts.multicast ? new Multicast() : new Subject();
    const tr = new WatermarkTracker({ outOfOrdernessMs: s.outOfOrdernessMs, idleTimeoutMs: s.idleTimeoutMs });
    tr.addPartition('0');
    trackers[s.name] = { tr, last: Number.NEGATIVE_INFINITY };
  }
  t.build({
    ctx,
    inputs: subjects,
    reference: opts.reference ?? emptyReference(),
    onAlert: (a) => res.alerts.push(a),
    onOutput: (n, r) => (res.outputs[n] ??= []).push(r),
    onLate: (s, r) => (res.late[s] ??= []).push(r),
    onError: (e) => res.errors.push(e),
  });
  const order = t.sources.map((s) => s.name);
  const events: Array<{ src: string; rec: Record<string, unknown>; o: number; i: number }> = [];
  for (const [src, recs] of Object.entries(inputs)) {
    recs.forEach((rec, i) => events.push({ src, rec, o: order.indexOf(src), i }));
  }
  if (!opts.arrivalOrder) events.sort((a, b) => (a.rec.ts as number) - (b.rec.ts as number) || a.o - b.o || a.i - b.i);
  for (const e of events) {
    const w = trackers[e.src]!;
    w.tr.observe('0', e.rec.ts as number);
    subjects[e.src]!.next(e.rec);
    for (const name of order) {
      const x = trackers[name]!;
      x.tr.advanceClock(e.rec.ts as number);
      const wm = x.tr.current();
      if (wm > x.last) {
        x.last = wm;
        subjects[name]!.next(new Watermark(wm));
      }
    }
  }
  for (const name of order) subjects[name]!.next(END_OF_TIME);
  for (const name of order) subjects[name]!.complete();
  return res;
}
