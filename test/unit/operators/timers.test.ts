import { describe, expect, it } from 'vitest';
import { serialize, deserialize } from 'node:v8';
import { BinaryHeap, TimerQueue } from '../../../src/core/timers.js';

describe('BinaryHeap', () => {
  it('pops in order of `less`, with a total order making ties deterministic', () => {
    const h = new BinaryHeap<{ ts: number; seq: number }>((a, b) => a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq));
    const input = [5, 3, 9, 3, 1, 7, 1, 8, 2].map((ts, seq) => ({ ts, seq }));
    for (const x of input) h.push(x);
    const out: Array<[number, number]> = [];
    for (let x = h.pop(); x !== undefined; x = h.pop()) out.push([x.ts, x.seq]);
    expect(out).toEqual([...input].sort((a, b) => a.ts - b.ts || a.seq - b.seq).map((x) => [x.ts, x.seq]));
  });

  it('reset() heapifies an arbitrary array', () => {
    const h = new BinaryHeap<number>((a, b) => a < b);
    h.reset([9, 4, 7, 1, 8, 2, 2, 6]);
    const out: number[] = [];
    for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x);
    expect(out).toEqual([1, 2, 2, 4, 6, 7, 8, 9]);
  });
});

function fireAll(q: TimerQueue, wm: number): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  q.fireUpTo(wm, (k, ts) => out.push([k, ts]));
  return out;
}

describe('TimerQueue', () => {
  it('fires in (ts, registration sequence) order, only up to the watermark', () => {
    const q = new TimerQueue();
    q.register('b', 20);
    q.register('a', 10);
    q.register('c', 20);
    q.register('a', 20);
    q.register('z', 30);
    expect(fireAll(q, 20)).toEqual([
      ['a', 10],
      ['b', 20],
      ['c', 20],
      ['a', 20],
    ]);
    expect(q.size).toBe(1);
    expect(fireAll(q, 29)).toEqual([]);
    expect(fireAll(q, 30)).toEqual([['z', 30]]);
  });

  it('dedupes (key, ts): registering twice keeps the first registration and fires once', () => {
    const q = new TimerQueue();
    q.register('a', 10);
    q.register('b', 10);
    q.register('a', 10);
    expect(q.size).toBe(2);
    expect(fireAll(q, 10)).toEqual([
      ['a', 10],
      ['b', 10],
    ]);
  });

  it('deletes timers; a deleted then re-registered timer goes to the back of its ts', () => {
    const q = new TimerQueue();
    q.register('a', 10);
    q.register('b', 10);
    q.delete('a', 10);
    q.delete('zzz', 10); // unknown: no-op
    expect(q.has('a', 10)).toBe(false);
    q.register('a', 10);
    expect(fireAll(q, 100)).toEqual([
      ['b', 10],
      ['a', 10],
    ]);
  });

  it('timers registered while firing, at or behind the watermark, fire in the same pass after the current one', () => {
    const q = new TimerQueue();
    q.register('a', 10);
    q.register('b', 50);
    const out: Array<[string, number]> = [];
    q.fireUpTo(40, (k, ts) => {
      out.push([k, ts]);
      if (k === 'a' && ts === 10) {
        q.register('a', 5); // behind the current timer: still fires, right after
        q.register('a', 40); // at the watermark: fires in this pass
        q.register('a', 41); // ahead: waits
      }
    });
    expect(out).toEqual([
      ['a', 10],
      ['a', 5],
      ['a', 40],
    ]);
    expect(q.nextTimestamp()).toBe(41);
  });

  it('allows re-registering the (key, ts) that is firing', () => {
    const q = new TimerQueue();
    q.register('a', 10);
    let n = 0;
    q.fireUpTo(10, (k, ts) => {
      if (++n < 3) q.register(k, ts);
    });
    expect(n).toBe(3);
  });

  it('stays bounded under register/delete churn', () => {
    const q = new TimerQueue();
    for (let i = 0; i < 10_000; i++) {
      q.register('k', 1e9 + i);
      q.delete('k', 1e9 + i);
    }
    expect(q.size).toBe(0);
    expect(q.nextTimestamp()).toBe(Number.POSITIVE_INFINITY);
    expect((q as unknown as { heap: BinaryHeap<unknown> }).heap.size).toBeLessThan(2100);
  });

  it('snapshot/restore keeps the pending timers and their order', () => {
    const q = new TimerQueue();
    q.register('b', 20);
    q.register('a', 20);
    q.register('c', 5);
    q.delete('c', 5);
    const snap = deserialize(serialize(q.snapshot())) as ReturnType<TimerQueue['snapshot']>;
    const r = new TimerQueue();
    r.restore(snap);
    r.register('d', 20); // after the restored ones
    r.register('a', 20); // duplicate of a restored one
    expect(fireAll(r, 100)).toEqual([
      ['b', 20],
      ['a', 20],
      ['d', 20],
    ]);
  });
});
