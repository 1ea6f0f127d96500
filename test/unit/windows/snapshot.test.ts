import { describe, expect, it } from 'vitest';
import { from, Subject } from 'rxjs';
import { serialize, deserialize } from 'node:v8';
import { END_OF_TIME, type Element } from '../../../src/core/element.js';
import { JobContext, SideOutput } from '../../../src/core/context.js';
import { CheckpointError } from '../../../src/core/errors.js';
import { tumbling, sliding, session, type WindowAssigner } from '../../../src/windows/assigners.js';
import { count, sum, composite, first, last, variance } from '../../../src/windows/aggregates.js';
import type { TriggerSpec } from '../../../src/windows/triggers.js';
import { windowAggregate, type WindowResult } from '../../../src/operators/window-aggregate.js';
import { rec, wm, lcg, type Rec } from './helpers.js';

const agg = composite({
  n: count(),
  s: sum((r: Rec) => r.v),
  f: first((r: Rec) => r.v),
  l: last((r: Rec) => r.v),
  var: variance((r: Rec) => r.v),
});

interface Setup {
  assigner: WindowAssigner;
  allowedLatenessMs?: number;
  trigger?: TriggerSpec;
}

type Out = Element<WindowResult<unknown>> | { lateRecord: Rec };

/**
 * Runs `input` cut into segments at `cuts`: each segment in a fresh JobContext restored from the
 * previous segment's checkpoint (through v8 serialisation, as the checkpoint store does).
 */
function runSegments(input: Element<Rec>[], setup: Setup, cuts: number[]): { out: Out[]; late: number } {
  const out: Out[] = [];
  let state: Map<string, unknown> | undefined;
  let prev = 0;
  let lateSeen = 0;
  for (const cut of [...cuts, input.length]) {
    const ctx = new JobContext({ restore: state });
    const late = new SideOutput<Rec>('late');
    late.stream.subscribe((r) => out.push({ lateRecord: r }));
    const stats = { late: 0 };
    from(input.slice(prev, cut))
      .pipe(windowAggregate({ id: 'win', ctx, key: (r: Rec) => r.k, aggregate: agg, late, stats, ...setup }))
      .subscribe({
        next: (e) => out.push(e),
        error: (e) => {
          throw e;
        },
      });
    expect(ctx.unclaimed()).toEqual([]);
    lateSeen = stats.late;
    state = deserialize(serialize(ctx.snapshot())) as Map<string, unknown>;
    prev = cut;
  }
  return { out, late: lateSeen };
}

/** Disordered records with some far behind the watermark, watermarks every few records. */
function scenario(seed: number, n: number, keys: number, spread: number): Element<Rec>[] {
  const rnd = lcg(seed);
  const input: Element<Rec>[] = [];
  let clock = 1000;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    clock += Math.floor(rnd() * 7);
    const behind = rnd() < 0.1 ? Math.floor(rnd() * 4 * spread) : Math.floor(rnd() * spread);
    const r = rec(clock - behind, 'k' + Math.floor(rnd() * keys), Math.floor(rnd() * 100) - 50);
    input.push(r);
    if (r.ts > max) max = r.ts;
    if (rnd() < 0.3) input.push(wm(max - spread - 1));
  }
  input.push(END_OF_TIME);
  return input;
}

const setups: Array<[string, Setup]> = [
  ['tumbling', { assigner: tumbling(40) }],
  ['tumbling + lateness + triggers', { assigner: tumbling(40, 13), allowedLatenessMs: 30, trigger: { earlyEveryMs: 15, earlyEveryCount: 3 } }],
  ['sliding + lateness + triggers', { assigner: sliding(40, 10), allowedLatenessMs: 25, trigger: { earlyEveryMs: 7, earlyEveryCount: 4 } }],
  ['session', { assigner: session(12) }],
  ['session + lateness + triggers', { assigner: session(9), allowedLatenessMs: 20, trigger: { earlyEveryMs: 5, earlyEveryCount: 2 } }],
];

describe('windowAggregate checkpoints', () => {
  for (const [name, setup] of setups) {
    it(`${name}: snapshot -> restore -> continue equals an uninterrupted run, at every cut`, () => {
      const input = scenario(name.length * 31 + 5, 120, 3, 20);
      const whole = runSegments(input, setup, []);
      // the scenario exercises late data and, where configured, every kind of firing
      expect(whole.out.some((e) => 'lateRecord' in e)).toBe(true);
      const firings = new Set(whole.out.map((e) => (e as WindowResult<unknown>).firing).filter(Boolean));
      if (setup.allowedLatenessMs) expect(firings).toContain('late');
      if (setup.trigger) expect(firings).toContain('early');
      for (let cut = 0; cut <= input.length; cut++) {
        const split = runSegments(input, setup, [cut]);
        expect(split.out, `cut at ${cut}`).toEqual(whole.out);
        expect(split.late).toBe(whole.late);
      }
    });

    it(`${name}: several cuts in one run`, () => {
      const input = scenario(name.length * 17 + 1, 200, 4, 25);
      const whole = runSegments(input, setup, []);
      const rnd = lcg(99);
      for (let round = 0; round < 10; round++) {
        const cuts = [...new Set(Array.from({ length: 5 }, () => Math.floor(rnd() * input.length)))].sort((a, b) => a - b);
        expect(runSegments(input, setup, cuts).out, `cuts ${cuts.join(',')}`).toEqual(whole.out);
      }
    });
  }

  it('a snapshot is a copy: records after it do not change it, and it can be restored twice', () => {
    const ctx = new JobContext();
    const input = new Subject<Element<Rec>>();
    const first: unknown[] = [];
    input
      .pipe(windowAggregate({ id: 'w', ctx, key: (r: Rec) => r.k, assigner: tumbling(10), aggregate: agg }))
      .subscribe((e) => first.push(e));
    input.next(rec(1, 'a', 5));
    input.next(rec(2, 'a', 6));
    const snap = ctx.snapshot();
    const before = JSON.stringify([...snap]);
    input.next(rec(3, 'a', 7)); // mutates the live accumulator in place
    input.next(END_OF_TIME);
    expect(JSON.stringify([...snap])).toBe(before);

    const resume = (): unknown[] => {
      const out: unknown[] = [];
      from([rec(3, 'a', 7), END_OF_TIME])
        .pipe(windowAggregate({ id: 'w', ctx: new JobContext({ restore: snap }), key: (r: Rec) => r.k, assigner: tumbling(10), aggregate: agg }))
        .subscribe((e) => out.push(e));
      return out;
    };
    expect(resume()).toEqual(first);
    expect(resume()).toEqual(first);
  });

  it('refuses a checkpoint taken with different windows', () => {
    const ctx = new JobContext();
    from([rec(1)]).pipe(windowAggregate({ id: 'w', ctx, key: (r: Rec) => r.k, assigner: tumbling(10), aggregate: count() })).subscribe();
    const ctx2 = new JobContext({ restore: ctx.snapshot() });
    let error: unknown;
    from([rec(2)])
      .pipe(windowAggregate({ id: 'w', ctx: ctx2, key: (r: Rec) => r.k, assigner: tumbling(20), aggregate: count() }))
      .subscribe({ error: (e) => (error = e) });
    expect(error).toBeInstanceOf(CheckpointError);
    expect(String((error as CheckpointError).cause)).toMatch(/tumbling\(10ms\).*tumbling\(20ms\)/);
  });

  it('the checkpoint carries the watermark and the late count', () => {
    const ctx = new JobContext();
    from([rec(1), wm(50), rec(2)])
      .pipe(windowAggregate({ id: 'w', ctx, key: (r: Rec) => r.k, assigner: tumbling(10), aggregate: count(), stats: { late: 0 } }))
      .subscribe();
    expect(ctx.snapshot().get('w')).toMatchObject({ version: 1, watermark: 50, lateCount: 1, slots: [] });
  });
});
