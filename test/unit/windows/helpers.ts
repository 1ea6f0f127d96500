import { from } from 'rxjs';
import { Watermark, isWatermark, type Element } from '../../../src/core/element.js';
import type { WindowAssigner, TimeWindow } from '../../../src/windows/assigners.js';
import type { AggregateFunction } from '../../../src/windows/aggregate.js';
import {
  windowAggregate,
  type WindowAggregateOptions,
  type WindowResult,
} from '../../../src/operators/window-aggregate.js';

export interface Rec {
  ts: number;
  k: string;
  v: number;
}

export const rec = (ts: number, k = 'a', v = 1): Rec => ({ ts, k, v });
export const wm = (ts: number): Watermark => new Watermark(ts);

/** Runs the operator over `input` synchronously and returns everything it emitted. */
export function run<OUT>(
  input: Element<Rec>[],
  opts: Omit<WindowAggregateOptions<Rec, any, OUT>, 'key'> & { key?: (r: Rec) => string },
): Element<WindowResult<OUT>>[] {
  const out: Element<WindowResult<OUT>>[] = [];
  let error: unknown;
  from(input)
    .pipe(windowAggregate<Rec, any, OUT>({ key: (r) => r.k, ...opts }))
    .subscribe({ next: (e) => out.push(e), error: (e) => (error = e) });
  if (error !== undefined) throw error;
  return out;
}

/** Emitted results only, without watermarks. */
export function results<OUT>(out: Element<WindowResult<OUT>>[]): WindowResult<OUT>[] {
  return out.filter((e): e is WindowResult<OUT> => !isWatermark(e));
}

/** A compact text of an output sequence, for readable assertions. */
export function show(out: Element<WindowResult<unknown>>[]): string[] {
  return out.map((e) => {
    if (isWatermark(e)) return `W${e.ts}`;
    // A cast, not narrowing: WindowResult has a `ts`, so structurally it is also a Watermark.
    const r = e as WindowResult<unknown>;
    return `${r.firing} ${r.key}[${r.windowStart},${r.windowEnd}) ${JSON.stringify(r.result)}`;
  });
}

/** Attaches watermarks `maxTsSoFar - bound - 1` after every record, then END_OF_TIME. */
export function withWatermarks(records: Rec[], bound: number): Element<Rec>[] {
  const out: Element<Rec>[] = [];
  let max = Number.NEGATIVE_INFINITY;
  for (const r of records) {
    out.push(r);
    if (r.ts > max) max = r.ts;
    out.push(wm(max - bound - 1));
  }
  out.push(wm(Number.POSITIVE_INFINITY));
  return out;
}

/**
 * Brute force: every window of every key with the records it holds (folded in arrival order),
 * sorted by (windowEnd, key). Sessions are the connected components of the records' `[ts, ts+gap)`
 * intervals under strict overlap.
 */
export function reference<OUT>(
  records: Rec[],
  assigner: WindowAssigner,
  agg: AggregateFunction<Rec, any, OUT>,
): Array<{ key: string; windowStart: number; windowEnd: number; result: OUT }> {
  const groups = new Map<string, { key: string; w: TimeWindow; recs: Rec[] }>();
  if (assigner.kind === 'session') {
    const gap = assigner.gapMs!;
    const byKey = new Map<string, Rec[]>();
    for (const r of records) {
      if (!byKey.has(r.k)) byKey.set(r.k, []);
      byKey.get(r.k)!.push(r);
    }
    for (const [key, rs] of byKey) {
      const sorted = [...rs].sort((a, b) => a.ts - b.ts);
      let cur: { start: number; end: number; members: Set<Rec> } | undefined;
      const sessions: Array<{ start: number; end: number; members: Set<Rec> }> = [];
      for (const r of sorted) {
        if (cur && r.ts < cur.end) {
          cur.end = Math.max(cur.end, r.ts + gap);
          cur.members.add(r);
        } else {
          cur = { start: r.ts, end: r.ts + gap, members: new Set([r]) };
          sessions.push(cur);
        }
      }
      for (const s of sessions) {
        // Keep arrival order inside a session (ties in first/last are by arrival).
        const recs = rs.filter((r) => s.members.has(r));
        groups.set(`${key}|${s.start}`, { key, w: { start: s.start, end: s.end }, recs });
      }
    }
  } else {
    const ws: TimeWindow[] = [];
    for (const r of records) {
      ws.length = 0;
      assigner.assignWindows(r.ts, ws);
      for (const w of ws) {
        const id = `${r.k}|${w.start}`;
        if (!groups.has(id)) groups.set(id, { key: r.k, w: { ...w }, recs: [] });
        groups.get(id)!.recs.push(r);
      }
    }
  }
  const out = [...groups.values()].map((g) => {
    let acc = agg.createAccumulator();
    for (const r of g.recs) acc = agg.add(acc, r);
    return { key: g.key, windowStart: g.w.start, windowEnd: g.w.end, result: agg.getResult(acc) };
  });
  out.sort((a, b) => a.windowEnd - b.windowEnd || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return out;
}

/** Final results stripped to the fields the reference has. */
export function finals<OUT>(out: Element<WindowResult<OUT>>[]) {
  return results(out)
    .filter((r) => r.firing === 'final')
    .map((r) => ({ key: r.key, windowStart: r.windowStart, windowEnd: r.windowEnd, result: r.result }));
}

/** Deterministic pseudo-random numbers for hand-written randomised tests. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
