import { describe, expect, it } from 'vitest';
import { from, NEVER, Subject, type Observable } from 'rxjs';
import { serialize, deserialize } from 'node:v8';
import { END_OF_TIME, Watermark, type Element } from '../../../src/core/element.js';
import { JobContext, SideOutput } from '../../../src/core/context.js';
import { TopologyError, UserFunctionError } from '../../../src/core/errors.js';
import { asofJoin, type AsofJoinOptions } from '../../../src/operators/asof-join.js';

interface Trade {
  ts: number;
  sym: string;
  id: string;
}
interface Quote {
  ts: number;
  sym: string;
  px: number;
}
interface Out {
  ts: number;
  id: string;
  px: number | null;
}

const T = (ts: number, sym: string, id: string): Trade => ({ ts, sym, id });
const Q = (ts: number, sym: string, px: number): Quote => ({ ts, sym, px });
const W = (ts: number): Watermark => new Watermark(ts);

const base: AsofJoinOptions<Trade, Quote, Out> = {
  leftKey: (t) => t.sym,
  rightKey: (q) => q.sym,
  combine: (t, q) => ({ ts: t.ts, id: t.id, px: q === undefined ? null : q.px }),
};

function collect<T>(obs: Observable<Element<T>>): { out: Array<T | { wm: number }>; done: () => boolean } {
  const out: Array<T | { wm: number }> = [];
  let completed = false;
  obs.subscribe({
    next: (e) => out.push(e instanceof Watermark ? { wm: e.ts } : e),
    error: (e: unknown) => {
      throw e;
    },
    complete: () => (completed = true),
  });
  return { out, done: () => completed };
}

type Step = ['L', Element<Trade>] | ['R', Element<Quote>];

/** Drives both inputs through Subjects in the given interleaving. */
function drive(steps: Step[], opts: Partial<AsofJoinOptions<Trade, Quote, Out>> = {}, complete = true) {
  const left = new Subject<Element<Trade>>();
  const right = new Subject<Element<Quote>>();
  const res = collect(left.pipe(asofJoin(right, { ...base, ...opts })));
  for (const [side, e] of steps) (side === 'L' ? left : right).next(e as never);
  if (complete) {
    left.complete();
    right.complete();
  }
  return res;
}

describe('asofJoin', () => {
  it('joins each left record with the latest right version at or before its ts, per key', () => {
    const { out, done } = drive([
      ['R', Q(1, 'A', 100)],
      ['R', Q(2, 'B', 200)],
      ['L', T(3, 'A', 't1')],
      ['R', Q(4, 'A', 101)],
      ['L', T(5, 'A', 't2')],
      ['L', T(5, 'B', 't3')],
      ['L', T(6, 'C', 't4')],
      ['L', END_OF_TIME],
      ['R', END_OF_TIME],
    ]);
    expect(out).toEqual([
      { ts: 3, id: 't1', px: 100 },
      { ts: 5, id: 't2', px: 101 },
      { ts: 5, id: 't3', px: 200 },
      { ts: 6, id: 't4', px: null },
      { wm: Infinity },
    ]);
    expect(done()).toBe(true);
  });

  it('holds left records until min(left wm, right wm) reaches them; forwards the watermark only when the minimum advances', () => {
    const left = new Subject<Element<Trade>>();
    const right = new Subject<Element<Quote>>();
    const { out } = collect(left.pipe(asofJoin(right, base)));
    left.next(T(10, 'A', 't1'));
    left.next(W(20));
    expect(out).toEqual([]); // the right side is still at -Infinity
    right.next(Q(5, 'A', 1));
    right.next(W(9));
    expect(out).toEqual([{ wm: 9 }]);
    right.next(Q(10, 'A', 2)); // same ts as t1: included
    right.next(W(15));
    expect(out).toEqual([{ wm: 9 }, { ts: 10, id: 't1', px: 2 }, { wm: 15 }]);
    right.next(W(15));
    left.next(W(12)); // a lower left watermark does not go back
    right.next(W(30));
    expect(out).toEqual([{ wm: 9 }, { ts: 10, id: 't1', px: 2 }, { wm: 15 }, { wm: 20 }]);
  });

  it('on equal right timestamps takes the version that arrived last', () => {
    const { out } = drive([
      ['R', Q(5, 'A', 1)],
      ['R', Q(5, 'A', 2)],
      ['R', Q(3, 'A', 0)],
      ['L', T(5, 'A', 't')],
      ['L', END_OF_TIME],
      ['R', END_OF_TIME],
    ]);
    expect(out[0]).toEqual({ ts: 5, id: 't', px: 2 });
  });

  it('uses right versions that arrive out of order within the watermark bound', () => {
    const { out } = drive([
      ['L', T(10, 'A', 't1')],
      ['L', T(20, 'A', 't2')],
      ['L', W(25)],
      ['R', Q(15, 'A', 15)],
      ['R', Q(8, 'A', 8)], // older than the previous one, but ahead of the right watermark
      ['R', Q(19, 'A', 19)],
      ['R', Q(21, 'A', 21)],
      ['R', Q(20, 'A', 20)],
      ['R', W(22)],
    ], {}, false);
    expect(out).toEqual([
      { ts: 10, id: 't1', px: 8 },
      { ts: 20, id: 't2', px: 20 },
      { wm: 22 },
    ]);
  });

  it('emits in (ts, arrival) order whatever the left arrival order', () => {
    const { out } = drive([
      ['R', Q(0, 'A', 0)],
      ['L', T(30, 'A', 'c')],
      ['L', T(10, 'A', 'a')],
      ['L', T(30, 'A', 'd')],
      ['L', T(20, 'A', 'b1')],
      ['L', T(20, 'A', 'b2')],
      ['L', T(40, 'A', 'e')],
      ['L', T(10, 'A', 'a2')],
      ['R', END_OF_TIME],
      ['L', W(30)],
      ['L', END_OF_TIME],
    ]);
    expect(out.map((o) => ('id' in o ? o.id : o.wm))).toEqual(['a', 'a2', 'b1', 'b2', 'c', 'd', 30, 'e', Infinity]);
  });

  it('treats a version older than maxLagMs as none (the bound is inclusive)', () => {
    const { out } = drive(
      [
        ['R', Q(100, 'A', 1)],
        ['L', T(150, 'A', 'in')],
        ['L', T(151, 'A', 'out')],
        ['R', Q(200, 'A', 2)],
        ['L', T(200, 'A', 'fresh')],
        ['L', END_OF_TIME],
        ['R', END_OF_TIME],
      ],
      { maxLagMs: 50 },
    );
    expect(out.slice(0, 3)).toEqual([
      { ts: 150, id: 'in', px: 1 },
      { ts: 151, id: 'out', px: null },
      { ts: 200, id: 'fresh', px: 2 },
    ]);
    expect(() => asofJoin(NEVER, { ...base, maxLagMs: -1 })).toThrow(TopologyError);
  });

  it('joins late left records at once against what is kept, emits them and writes them to the late output', () => {
    const late = new SideOutput<Trade>('late');
    const lateSeen: string[] = [];
    late.stream.subscribe((t) => lateSeen.push(t.id));
    const { out } = drive(
      [
        ['R', Q(10, 'A', 10)],
        ['R', Q(20, 'A', 20)],
        ['R', Q(60, 'A', 60)],
        ['R', W(100)],
        ['L', T(50, 'A', 'ok')],
        ['L', W(50)],
        ['L', T(45, 'A', 'late45')], // kept: the version at 20 (latest <= 50) and newer
        ['L', T(15, 'A', 'late15')], // the version at 10 was pruned: best effort gives none
        ['L', T(49, 'B', 'lateB')],
      ],
      { late },
      false,
    );
    expect(out).toEqual([
      { ts: 50, id: 'ok', px: 20 },
      { wm: 50 },
      { ts: 45, id: 'late45', px: 20 },
      { ts: 15, id: 'late15', px: null },
      { ts: 49, id: 'lateB', px: null },
    ]);
    expect(lateSeen).toEqual(['late45', 'late15', 'lateB']);
    expect(late.count).toBe(3);
  });

  it('never drops late left records, with or without a late output', () => {
    const { out } = drive([
      ['R', END_OF_TIME],
      ['L', W(100)],
      ['L', T(5, 'A', 'late')],
    ]);
    expect(out).toEqual([{ wm: 100 }, { ts: 5, id: 'late', px: null }, { wm: Infinity }]);
  });

  it('keeps only the latest right version at or before the watermark plus newer ones (pruned when the key is touched)', () => {
    const left = new Subject<Element<Trade>>();
    const right = new Subject<Element<Quote>>();
    const ctx = new JobContext();
    collect(left.pipe(asofJoin(right, { ...base, id: 'j', ctx })));
    left.next(W(1e9));
    for (let i = 0; i < 10_000; i++) {
      right.next(Q(i, 'A', i));
      right.next(W(i - 5));
    }
    const snap = ctx.snapshot().get('j') as { handler: { versions: Array<[string, Quote[]]> } };
    const [key, kept] = snap.handler.versions[0]!;
    expect(key).toBe('A');
    const ts = kept.map((q) => q.ts);
    // Pruned against the watermark in force when 9999 arrived (9993); W(9994) came after it.
    expect(ts).toEqual([9993, 9994, 9995, 9996, 9997, 9998, 9999]);
  });

  it('does not let an idle input that only sends END_OF_TIME hold the watermark back', () => {
    const { out, done } = collect(
      from([T(1, 'A', 'a'), W(1), T(2, 'A', 'b'), W(2), END_OF_TIME]).pipe(asofJoin(from([END_OF_TIME]) as Observable<Element<Quote>>, base)),
    );
    expect(out).toEqual([{ ts: 1, id: 'a', px: null }, { wm: 1 }, { ts: 2, id: 'b', px: null }, { wm: 2 }, { wm: Infinity }]);
    expect(done()).toBe(true);
  });

  it('treats a completed input as END_OF_TIME and completes when both inputs have', () => {
    const left = new Subject<Element<Trade>>();
    const right = new Subject<Element<Quote>>();
    const { out, done } = collect(left.pipe(asofJoin(right, base)));
    right.next(Q(1, 'A', 7));
    right.complete();
    left.next(T(5, 'A', 'x'));
    left.next(W(5));
    expect(out).toEqual([{ ts: 5, id: 'x', px: 7 }, { wm: 5 }]);
    expect(done()).toBe(false);
    left.next(T(9, 'A', 'y'));
    left.complete(); // flushes like END_OF_TIME
    expect(out.slice(2)).toEqual([{ ts: 9, id: 'y', px: 7 }, { wm: Infinity }]);
    expect(done()).toBe(true);
  });

  it('reports a throwing user function as a UserFunctionError naming the step', () => {
    let err: unknown;
    from([T(1, 'A', 'a'), END_OF_TIME])
      .pipe(
        asofJoin(from([END_OF_TIME]) as Observable<Element<Quote>>, {
          ...base,
          id: 'j1',
          combine: () => {
            throw new Error('bad combine');
          },
        }),
      )
      .subscribe({ error: (e: unknown) => (err = e) });
    expect(err).toBeInstanceOf(UserFunctionError);
    expect((err as UserFunctionError).step).toBe('j1');
  });

  describe('snapshot/restore', () => {
    function script(): Step[] {
      let seed = 11;
      const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      const steps: Step[] = [];
      let lmax = 0;
      let rmax = 0;
      for (let i = 0; i < 400; i++) {
        const sym = ['A', 'B', 'C'][Math.floor(rnd() * 3)]!;
        if (rnd() < 0.5) {
          const ts = Math.max(0, lmax + Math.floor(rnd() * 12) - 5);
          lmax = Math.max(lmax, ts);
          steps.push(['L', T(ts, sym, `t${i}`)]);
          if (rnd() < 0.2) steps.push(['L', W(lmax - 6)]);
          if (rnd() < 0.02) steps.push(['L', T(Math.max(0, lmax - 40), sym, `late${i}`)]);
        } else {
          const ts = Math.max(0, rmax + Math.floor(rnd() * 12) - 5);
          rmax = Math.max(rmax, ts);
          steps.push(['R', Q(ts, sym, i)]);
          if (rnd() < 0.2) steps.push(['R', W(rmax - 6)]);
        }
      }
      steps.push(['R', END_OF_TIME], ['L', END_OF_TIME]);
      return steps;
    }

    function start(ctx: JobContext) {
      const left = new Subject<Element<Trade>>();
      const right = new Subject<Element<Quote>>();
      const late = new SideOutput<Trade>('late');
      const res = collect(left.pipe(asofJoin(right, { ...base, id: 'asof', ctx, maxLagMs: 20, late })));
      const feed = (steps: Step[]): void => {
        for (const [side, e] of steps) (side === 'L' ? left : right).next(e as never);
      };
      return { out: res.out, feed };
    }

    it('continuing from a snapshot gives the output of an uninterrupted run, at any split', () => {
      const steps = script();
      const full = start(new JobContext());
      full.feed(steps);
      expect(full.out.filter((o) => 'id' in o).length).toBeGreaterThan(150);
      for (const split of [0, 1, 17, 100, 201, 333, steps.length - 2, steps.length]) {
        const ctx1 = new JobContext();
        const a = start(ctx1);
        a.feed(steps.slice(0, split));
        const snap = deserialize(serialize(ctx1.snapshot())) as Map<string, unknown>;
        const b = start(new JobContext({ restore: snap }));
        b.feed(steps.slice(split));
        expect([...a.out, ...b.out], `split ${split}`).toEqual(full.out);
      }
    });
  });
});
