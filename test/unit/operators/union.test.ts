import { describe, expect, it } from 'vitest';
import { from, Subject, Subscriber, type Observable } from 'rxjs';
import { serialize, deserialize } from 'node:v8';
import { END_OF_TIME, Watermark, type Element } from '../../../src/core/element.js';
import { JobContext } from '../../../src/core/context.js';
import { union, unionWith } from '../../../src/operators/union.js';

interface R {
  ts: number;
  s: string;
}
const r = (ts: number, s: string): R => ({ ts, s });
const W = (ts: number): Watermark => new Watermark(ts);

function collect<T>(obs: Observable<Element<T>>): { out: Array<T | { wm: number }>; done: () => boolean } {
  const out: Array<T | { wm: number }> = [];
  let completed = false;
  obs.subscribe({ next: (e) => out.push(e instanceof Watermark ? { wm: e.ts } : e), complete: () => (completed = true) });
  return { out, done: () => completed };
}

describe('union', () => {
  it('passes records through and forwards the minimum watermark only when it advances', () => {
    const a = new Subject<Element<R>>();
    const b = new Subject<Element<R>>();
    const c = new Subject<Element<R>>();
    const { out, done } = collect(union(a, b, c));
    a.next(r(1, 'a'));
    a.next(W(10));
    b.next(W(5));
    b.next(r(6, 'b'));
    expect(out).toEqual([r(1, 'a'), r(6, 'b')]); // c still at -Infinity
    c.next(W(7));
    expect(out.at(-1)).toEqual({ wm: 5 });
    b.next(W(8));
    expect(out.at(-1)).toEqual({ wm: 7 });
    b.next(W(8));
    c.next(W(6)); // going back on one input changes nothing
    expect(out.filter((o) => 'wm' in o)).toEqual([{ wm: 5 }, { wm: 7 }]);
    a.next(END_OF_TIME);
    b.next(END_OF_TIME);
    c.next(END_OF_TIME);
    expect(out.at(-1)).toEqual({ wm: Infinity });
    expect(done()).toBe(false);
    a.complete();
    b.complete();
    expect(done()).toBe(false);
    c.complete();
    expect(done()).toBe(true);
  });

  it('an idle input that only sends END_OF_TIME does not hold the others back', () => {
    // Synchronous sources run one after the other: the idle one goes first so that it matters.
    // The second stream completes without END_OF_TIME: its completion counts as one.
    const { out, done } = collect(union(from([END_OF_TIME]), from([r(1, 'x'), W(3), r(4, 'y'), W(9)])));
    expect(out).toEqual([r(1, 'x'), { wm: 3 }, r(4, 'y'), { wm: 9 }, { wm: Infinity }]);
    expect(done()).toBe(true);
  });

  it('a downstream subscriber that throws fails the union\'s output (synchronously, not as an unhandled error)', () => {
    class Throwing extends Subscriber<Element<R>> {
      errors: unknown[] = [];
      override next(): void {
        throw new Error('boom');
      }
      override error(e: unknown): void {
        this.errors.push(e);
      }
    }
    const a = new Subject<Element<R>>();
    const s = new Throwing();
    union(a, from([END_OF_TIME])).subscribe(s);
    a.next(r(1, 'a'));
    expect(s.errors).toHaveLength(1);
    expect((s.errors[0] as Error).message).toBe('boom');
  });

  it('unionWith is the pipeable form; a union of nothing completes at once', () => {
    const { out } = collect(from([r(1, 'a'), W(1)]).pipe(unionWith(from([r(2, 'b'), W(2)]))));
    expect(out.filter((o) => !('wm' in o))).toEqual([r(1, 'a'), r(2, 'b')]);
    expect(collect(union()).done()).toBe(true);
  });

  it('checkpoints the per-input watermarks with { id, ctx }', () => {
    const steps: Array<[number, Element<R>]> = [
      [0, W(100)],
      [1, W(50)],
      [1, r(60, 'b')],
      [0, r(101, 'a')],
      [1, W(70)],
      [0, W(105)],
      [1, W(120)],
      [0, END_OF_TIME],
      [1, END_OF_TIME],
    ];
    const run = (ctx: JobContext) => {
      const s = [new Subject<Element<R>>(), new Subject<Element<R>>()] as const;
      const { out } = collect(s[0].pipe(unionWith<R>(s[1], { id: 'u', ctx })));
      return { out, feed: (xs: typeof steps) => xs.forEach(([i, e]) => s[i as 0 | 1].next(e)) };
    };
    const full = run(new JobContext());
    full.feed(steps);
    for (let split = 0; split <= steps.length; split++) {
      const ctx1 = new JobContext();
      const a = run(ctx1);
      a.feed(steps.slice(0, split));
      const b = run(new JobContext({ restore: deserialize(serialize(ctx1.snapshot())) as Map<string, unknown> }));
      b.feed(steps.slice(split));
      expect([...a.out, ...b.out], `split ${split}`).toEqual(full.out);
    }
  });
});
