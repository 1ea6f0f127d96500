import { describe, expect, it } from 'vitest';
import { from, NEVER, Subject, type Observable } from 'rxjs';
import { serialize, deserialize } from 'node:v8';
import { END_OF_TIME, Watermark, type Element } from '../../../src/core/element.js';
import { JobContext, SideOutput } from '../../../src/core/context.js';
import { TopologyError } from '../../../src/core/errors.js';
import { intervalJoin, type IntervalJoinOptions } from '../../../src/operators/interval-join.js';

interface Ord {
  ts: number;
  sym: string;
  id: string;
}
interface Fill {
  ts: number;
  sym: string;
  id: string;
}
interface Pair {
  ts: number;
  o: string;
  f: string;
}

const O = (ts: number, sym: string, id: string): Ord => ({ ts, sym, id });
const F = (ts: number, sym: string, id: string): Fill => ({ ts, sym, id });
const W = (ts: number): Watermark => new Watermark(ts);

const base: IntervalJoinOptions<Ord, Fill, Pair> = {
  leftKey: (o) => o.sym,
  rightKey: (f) => f.sym,
  lowerBoundMs: -2,
  upperBoundMs: 5,
  combine: (o, f, ts) => ({ ts, o: o.id, f: f.id }),
};

type Step = ['L', Element<Ord>] | ['R', Element<Fill>];

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

function start(opts: Partial<IntervalJoinOptions<Ord, Fill, Pair>> = {}) {
  const left = new Subject<Element<Ord>>();
  const right = new Subject<Element<Fill>>();
  const out = collect(left.pipe(intervalJoin(right, { ...base, ...opts })));
  const feed = (steps: Step[]): void => {
    for (const [side, e] of steps) (side === 'L' ? left : right).next(e as never);
  };
  return { out, feed, left, right };
}

/** What the pairs must be: every (l, r) of a key with l.ts + lower <= r.ts <= l.ts + upper. */
function brute(ls: Ord[], rs: Fill[], lower: number, upper: number): string[] {
  const out: string[] = [];
  for (const l of ls) for (const r of rs) if (l.sym === r.sym && r.ts >= l.ts + lower && r.ts <= l.ts + upper) out.push(`${l.id}|${r.id}|${Math.max(l.ts, r.ts)}`);
  return out.sort();
}

describe('intervalJoin', () => {
  it('pairs records whose times are within [l + lower, l + upper], bounds inclusive, per key', () => {
    const { out, feed } = start();
    feed([
      ['L', O(10, 'A', 'o1')],
      ['R', F(7, 'A', 'too-early')],
      ['R', F(8, 'A', 'lower-edge')],
      ['R', F(15, 'A', 'upper-edge')],
      ['R', F(16, 'A', 'too-late')],
      ['R', F(12, 'B', 'other-key')],
    ]);
    expect(out).toEqual([
      { ts: 10, o: 'o1', f: 'lower-edge' },
      { ts: 15, o: 'o1', f: 'upper-edge' },
    ]);
  });

  it('emits a pair as soon as both sides are there, whichever comes second', () => {
    const { out, feed } = start();
    feed([['R', F(12, 'A', 'f1')]]);
    expect(out).toEqual([]);
    feed([['L', O(10, 'A', 'o1')]]);
    expect(out).toEqual([{ ts: 12, o: 'o1', f: 'f1' }]);
    feed([['L', O(9, 'A', 'o0')]]);
    feed([['L', O(11, 'A', 'o2')]]);
    expect(out.slice(1)).toEqual([
      { ts: 12, o: 'o0', f: 'f1' },
      { ts: 12, o: 'o2', f: 'f1' },
    ]);
  });

  it('lists the matches of an arriving record in the other side\'s (ts, arrival) order', () => {
    const { out, feed } = start();
    feed([
      ['R', F(14, 'A', 'c')],
      ['R', F(9, 'A', 'a')],
      ['R', F(14, 'A', 'd')],
      ['R', F(11, 'A', 'b')],
      ['L', O(10, 'A', 'o')],
    ]);
    expect(out.map((p) => (p as Pair).f)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('forwards min(left, right) watermark after purging, and purges what can no longer match', () => {
    const ctx = new JobContext();
    const { out, feed } = start({ id: 'ij', ctx });
    feed([
      ['L', O(10, 'A', 'o1')], // needs rights up to 15
      ['R', F(20, 'A', 'f1')], // needs lefts from 15 to 22
      ['L', W(14)],
      ['R', W(100)],
    ]);
    expect(out).toEqual([{ wm: 14 }]);
    const sizes = (): [number, number] => {
      const s = ctx.snapshot().get('ij') as { handler: { buckets: Array<[string, Ord[], Fill[]]> } };
      const b = s.handler.buckets[0];
      return b === undefined ? [0, 0] : [b[1].length, b[2].length];
    };
    expect(sizes()).toEqual([1, 1]);
    feed([['L', W(15)]]); // o1 can no longer match: 10 + 5 <= 15
    expect(sizes()).toEqual([0, 1]);
    feed([['L', O(16, 'A', 'o2')]]);
    expect(out.at(-1)).toEqual({ ts: 20, o: 'o2', f: 'f1' });
    feed([['L', W(22)]]); // f1 can no longer match: 20 - (-2) <= 22; o2 (16 + 5 = 21) neither
    expect(sizes()).toEqual([0, 0]);
    expect(out.at(-1)).toEqual({ wm: 22 });
  });

  it('joins late records against what is still buffered and reports them', () => {
    const late = new SideOutput<Ord>('late');
    const lateRight = new SideOutput<Fill>('lateRight');
    const { out, feed } = start({ late, lateRight });
    feed([
      ['R', F(30, 'A', 'f30')],
      ['L', W(26)],
      ['R', W(26)],
      ['L', O(26, 'A', 'late-o')], // 26 + 5 = 31 >= 30: still pairs with the buffered f30
      ['R', F(20, 'A', 'late-f')], // nothing buffered to pair with
    ]);
    expect(out).toEqual([{ wm: 26 }, { ts: 30, o: 'late-o', f: 'f30' }]);
    expect(late.count).toBe(1);
    expect(lateRight.count).toBe(1);
  });

  it('works with a negative-only window and rejects lower > upper', () => {
    const { out, feed } = start({ lowerBoundMs: -10, upperBoundMs: -5 });
    feed([
      ['R', F(0, 'A', 'f0')],
      ['R', F(5, 'A', 'f5')],
      ['L', O(10, 'A', 'o')],
    ]);
    expect(out).toEqual([
      { ts: 10, o: 'o', f: 'f0' },
      { ts: 10, o: 'o', f: 'f5' },
    ]);
    expect(() => intervalJoin(NEVER, { ...base, lowerBoundMs: 1, upperBoundMs: 0 })).toThrow(TopologyError);
  });

  it('does not let an input that only sends END_OF_TIME hold the watermark back', () => {
    const out = collect(from([O(1, 'A', 'a'), W(5), END_OF_TIME]).pipe(intervalJoin(from([END_OF_TIME]) as Observable<Element<Fill>>, base)));
    expect(out).toEqual([{ wm: 5 }, { wm: Infinity }]);
  });

  it('matches a brute-force join on random in-bound input', () => {
    let seed = 3;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const ls: Ord[] = [];
    const rs: Fill[] = [];
    const steps: Step[] = [];
    let lmax = 0;
    let rmax = 0;
    for (let i = 0; i < 600; i++) {
      const sym = rnd() < 0.5 ? 'A' : 'B';
      if (rnd() < 0.5) {
        const ts = Math.max(0, lmax + Math.floor(rnd() * 8) - 3);
        lmax = Math.max(lmax, ts);
        const o = O(ts, sym, `o${i}`);
        ls.push(o);
        steps.push(['L', o]);
        if (rnd() < 0.3) steps.push(['L', W(lmax - 4)]);
      } else {
        const ts = Math.max(0, rmax + Math.floor(rnd() * 8) - 3);
        rmax = Math.max(rmax, ts);
        const f = F(ts, sym, `f${i}`);
        rs.push(f);
        steps.push(['R', f]);
        if (rnd() < 0.3) steps.push(['R', W(rmax - 4)]);
      }
    }
    steps.push(['L', END_OF_TIME], ['R', END_OF_TIME]);
    const { out, feed } = start();
    feed(steps);
    // No output is behind the watermark forwarded before it.
    let wm = -Infinity;
    for (const o of out) {
      if ('wm' in o) wm = o.wm;
      else expect(o.ts).toBeGreaterThan(wm);
    }
    const got = out.filter((o): o is Pair => 'o' in o).map((p) => `${p.o}|${p.f}|${p.ts}`).sort();
    expect(got).toEqual(brute(ls, rs, base.lowerBoundMs, base.upperBoundMs));
    expect(got.length).toBeGreaterThan(100);
  });

  it('continuing from a snapshot gives the output of an uninterrupted run, at any split', () => {
    let seed = 5;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const steps: Step[] = [];
    let lmax = 0;
    let rmax = 0;
    for (let i = 0; i < 300; i++) {
      const sym = ['A', 'B', 'C'][Math.floor(rnd() * 3)]!;
      if (rnd() < 0.5) {
        lmax += Math.floor(rnd() * 4);
        steps.push(['L', O(Math.max(0, lmax - Math.floor(rnd() * 3)), sym, `o${i}`)]);
        if (rnd() < 0.3) steps.push(['L', W(lmax - 3)]);
      } else {
        rmax += Math.floor(rnd() * 4);
        steps.push(['R', F(Math.max(0, rmax - Math.floor(rnd() * 3)), sym, `f${i}`)]);
        if (rnd() < 0.3) steps.push(['R', W(rmax - 3)]);
      }
    }
    steps.push(['L', END_OF_TIME], ['R', END_OF_TIME]);
    const full = start({ id: 'ij', ctx: new JobContext() });
    full.feed(steps);
    for (const split of [0, 5, 77, 150, 299, steps.length - 1, steps.length]) {
      const ctx1 = new JobContext();
      const a = start({ id: 'ij', ctx: ctx1 });
      a.feed(steps.slice(0, split));
      const snap = deserialize(serialize(ctx1.snapshot())) as Map<string, unknown>;
      const b = start({ id: 'ij', ctx: new JobContext({ restore: snap }) });
      b.feed(steps.slice(split));
      expect([...a.out, ...b.out], `split ${split}`).toEqual(full.out);
    }
  });
});
