import { describe, expect, it } from 'vitest';
import { from, Subject, type Observable } from 'rxjs';
import { serialize, deserialize } from 'node:v8';
import { END_OF_TIME, Watermark, type Element } from '../../../src/core/element.js';
import { JobContext, SideOutput } from '../../../src/core/context.js';
import { UserFunctionError } from '../../../src/core/errors.js';
import {
  keyedProcess,
  type KeyedProcessFunction,
  type ProcessContext,
} from '../../../src/operators/keyed-process.js';

interface Ev {
  ts: number;
  k: string;
  v: number;
}
interface Out {
  ts: number;
  k: string;
  what: string;
}

const ev = (ts: number, k: string, v = 0): Ev => ({ ts, k, v });
const W = (ts: number): Watermark => new Watermark(ts);

/** Records as-is, watermarks as { wm }. */
function collect<T>(obs: Observable<Element<T>>): Array<T | { wm: number }> {
  const out: Array<T | { wm: number }> = [];
  obs.subscribe({
    next: (e) => out.push(e instanceof Watermark ? { wm: e.ts } : e),
    error: (e: unknown) => {
      throw e;
    },
  });
  return out;
}

describe('keyedProcess', () => {
  it('keeps state per key', () => {
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx, out) {
        const s = ctx.value<number>('sum');
        s.update((s.value() ?? 0) + e.v);
        out({ ts: e.ts, k: ctx.key, what: `sum=${s.value()}` });
      },
    };
    const out = collect(from([ev(1, 'a', 1), ev(2, 'b', 10), ev(3, 'a', 2), ev(4, 'b', 20)]).pipe(keyedProcess({ key: (e: Ev) => e.k, fn })));
    expect(out.filter((o) => !('wm' in o)).map((o) => (o as Out).what)).toEqual(['sum=1', 'sum=10', 'sum=3', 'sum=30']);
  });

  it('fires timers in (ts, registration) order, before forwarding the watermark, with ctx.key/timestamp set', () => {
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx) {
        ctx.registerTimer(e.v);
      },
      onTimer(ts, ctx, out) {
        out({ ts, k: ctx.key, what: `timer@${ctx.timestamp}` });
      },
    };
    const out = collect(
      from([ev(1, 'b', 20), ev(2, 'a', 10), ev(3, 'a', 20), ev(4, 'c', 20), ev(5, 'a', 20), W(15), W(15), W(25), ev(30, 'z', 40), END_OF_TIME]).pipe(
        keyedProcess({ key: (e: Ev) => e.k, fn }),
      ),
    );
    expect(out).toEqual([
      { ts: 10, k: 'a', what: 'timer@10' },
      { wm: 15 }, // the repeated W(15) is not forwarded
      { ts: 20, k: 'b', what: 'timer@20' },
      { ts: 20, k: 'a', what: 'timer@20' }, // (a, 20) registered twice: fires once
      { ts: 20, k: 'c', what: 'timer@20' },
      { wm: 25 },
      { ts: 40, k: 'z', what: 'timer@40' },
      { wm: Infinity },
    ]);
  });

  it('deleteTimer cancels a timer of the current key only', () => {
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx) {
        if (e.v < 0) ctx.deleteTimer(-e.v);
        else ctx.registerTimer(e.v);
      },
      onTimer(ts, ctx, out) {
        out({ ts, k: ctx.key, what: 'fired' });
      },
    };
    const out = collect(from([ev(1, 'a', 10), ev(1, 'b', 10), ev(2, 'a', -10), END_OF_TIME]).pipe(keyedProcess({ key: (e: Ev) => e.k, fn })));
    expect(out).toEqual([{ ts: 10, k: 'b', what: 'fired' }, { wm: Infinity }]);
  });

  it('a timer registered in onTimer at or before the watermark fires in the same pass', () => {
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx) {
        ctx.registerTimer(e.ts + 10);
      },
      onTimer(ts, ctx, out) {
        out({ ts, k: ctx.key, what: 'tick' });
        if (ts < 40) ctx.registerTimer(ts + 10); // a chain of timers
      },
    };
    const out = collect(from([ev(0, 'a'), W(35), W(100)]).pipe(keyedProcess({ key: (e: Ev) => e.k, fn })));
    expect(out).toEqual([
      { ts: 10, k: 'a', what: 'tick' },
      { ts: 20, k: 'a', what: 'tick' },
      { ts: 30, k: 'a', what: 'tick' },
      { wm: 35 },
      { ts: 40, k: 'a', what: 'tick' },
      { wm: 100 },
      { wm: Infinity }, // from the completion of the input
    ]);
  });

  it('processes late records (ts <= watermark) instead of dropping them', () => {
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx, out) {
        out({ ts: e.ts, k: ctx.key, what: ctx.timestamp <= ctx.currentWatermark() ? 'late' : 'on time' });
      },
    };
    const out = collect(from([ev(10, 'a'), W(50), ev(20, 'a'), ev(60, 'a')]).pipe(keyedProcess({ key: (e: Ev) => e.k, fn })));
    expect(out).toEqual([
      { ts: 10, k: 'a', what: 'on time' },
      { wm: 50 },
      { ts: 20, k: 'a', what: 'late' },
      { ts: 60, k: 'a', what: 'on time' },
      { wm: Infinity },
    ]);
  });

  it('uses one context object for every call', () => {
    const seen = new Set<ProcessContext>();
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx) {
        seen.add(ctx);
        ctx.registerTimer(e.ts);
      },
      onTimer(_ts, ctx) {
        seen.add(ctx);
      },
    };
    collect(from([ev(1, 'a'), ev(2, 'b'), END_OF_TIME]).pipe(keyedProcess({ key: (e: Ev) => e.k, fn })));
    expect(seen.size).toBe(1);
  });

  it('state TTL runs on event time: expired before timers at the same watermark see it', () => {
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx) {
        ctx.value<number>('last', { ttlMs: 100 }).update(e.v);
        ctx.registerTimer(e.ts + 99);
        ctx.registerTimer(e.ts + 100);
      },
      onTimer(ts, ctx, out) {
        out({ ts, k: ctx.key, what: String(ctx.value<number>('last').value()) });
      },
    };
    const out = collect(from([ev(1000, 'a', 7), END_OF_TIME]).pipe(keyedProcess({ key: (e: Ev) => e.k, fn })));
    // END_OF_TIME purges first: both timers then see nothing.
    expect(out).toEqual([{ ts: 1099, k: 'a', what: 'undefined' }, { ts: 1100, k: 'a', what: 'undefined' }, { wm: Infinity }]);

    const out2 = collect(from([ev(1000, 'a', 7), W(1099), W(1100)]).pipe(keyedProcess({ key: (e: Ev) => e.k, fn })));
    expect(out2).toEqual([{ ts: 1099, k: 'a', what: '7' }, { wm: 1099 }, { ts: 1100, k: 'a', what: 'undefined' }, { wm: 1100 }, { wm: Infinity }]);
  });

  it('treats completion without END_OF_TIME as END_OF_TIME: pending timers fire', () => {
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx) {
        ctx.registerTimer(e.ts + 1000);
      },
      onTimer(ts, ctx, out) {
        out({ ts, k: ctx.key, what: 'flushed' });
      },
    };
    const out = collect(from([ev(1, 'a'), W(5)]).pipe(keyedProcess({ key: (e: Ev) => e.k, fn })));
    expect(out).toEqual([{ wm: 5 }, { ts: 1001, k: 'a', what: 'flushed' }, { wm: Infinity }]);
  });

  it('writes to side outputs', () => {
    const side = new SideOutput<string>('side');
    const got: string[] = [];
    side.stream.subscribe((s) => got.push(s));
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx) {
        ctx.output(side, `${ctx.key}:${e.ts}`);
      },
    };
    collect(from([ev(1, 'a'), ev(2, 'b')]).pipe(keyedProcess({ key: (e: Ev) => e.k, fn })));
    expect(got).toEqual(['a:1', 'b:2']);
    expect(side.count).toBe(2);
  });

  it('wraps an exception of the user function in a UserFunctionError naming the step', () => {
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement() {
        throw new Error('boom');
      },
    };
    let err: unknown;
    from([ev(1, 'a')])
      .pipe(keyedProcess({ id: 'p1', key: (e: Ev) => e.k, fn }))
      .subscribe({ error: (e: unknown) => (err = e) });
    expect(err).toBeInstanceOf(UserFunctionError);
    expect((err as UserFunctionError).step).toBe('p1');
    expect((err as Error).message).toContain('boom');
  });

  describe('snapshot/restore', () => {
    // A function that uses everything: value + map state with TTL, timers, timers from timers.
    const fn: KeyedProcessFunction<Ev, Out> = {
      processElement(e, ctx, out) {
        const n = ctx.value<number>('n', { ttlMs: 50, ttlUpdateOnRead: true });
        const seen = ctx.map<number, number>('seen', { ttlMs: 30 });
        n.update((n.value() ?? 0) + 1);
        seen.put(e.v, e.ts);
        out({ ts: e.ts, k: ctx.key, what: `n=${n.value()} seen=${[...seen.keys()].join(',')}` });
        ctx.registerTimer(e.ts + 25);
      },
      onTimer(ts, ctx, out) {
        const n = ctx.value<number>('n');
        out({ ts, k: ctx.key, what: `timer n=${n.value()} size=${ctx.map('seen').size}` });
        if (ts % 2 === 0) ctx.registerTimer(ts + 1);
      },
    };

    function events(): Array<Element<Ev>> {
      const out: Array<Element<Ev>> = [];
      let seed = 7;
      const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      let maxTs = 0;
      for (let i = 0; i < 300; i++) {
        const ts = Math.max(0, maxTs + Math.floor(rnd() * 10) - 4);
        maxTs = Math.max(maxTs, ts);
        out.push(ev(ts, `k${Math.floor(rnd() * 4)}`, Math.floor(rnd() * 5)));
        if (i % 7 === 6) out.push(W(maxTs - 5));
      }
      out.push(END_OF_TIME);
      return out;
    }

    const run = (ctx: JobContext, input: Subject<Element<Ev>>) => collect(input.pipe(keyedProcess({ id: 'kp', ctx, key: (e: Ev) => e.k, fn })));

    it('continuing from a snapshot gives the output of an uninterrupted run, at any split', () => {
      const all = events();
      const s0 = new Subject<Element<Ev>>();
      const expected = run(new JobContext(), s0);
      for (const e of all) s0.next(e);
      expect(expected.filter((o) => 'what' in o && o.what.startsWith('timer')).length).toBeGreaterThan(100);

      for (const split of [0, 1, 13, 50, 151, 290, all.length - 1, all.length]) {
        const s1 = new Subject<Element<Ev>>();
        const ctx1 = new JobContext();
        const part1 = run(ctx1, s1);
        for (const e of all.slice(0, split)) s1.next(e);
        const snap = deserialize(serialize(ctx1.snapshot())) as Map<string, unknown>;
        const s2 = new Subject<Element<Ev>>();
        const part2 = run(new JobContext({ restore: snap }), s2);
        for (const e of all.slice(split)) s2.next(e);
        expect([...part1, ...part2], `split ${split}`).toEqual(expected);
      }
    });
  });
});
