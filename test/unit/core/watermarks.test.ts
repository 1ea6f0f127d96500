import { describe, expect, it } from 'vitest';
import { from } from 'rxjs';
import { WatermarkTracker } from '../../../src/core/watermarks.js';
import { assignWatermarks } from '../../../src/operators/assign-watermarks.js';
import { Watermark, END_OF_TIME, isWatermark } from '../../../src/core/element.js';

describe('WatermarkTracker', () => {
  it('is max ts minus the bound minus 1, and never goes back', () => {
    const t = new WatermarkTracker({ outOfOrdernessMs: 100 });
    t.observe('p', 1000);
    expect(t.current()).toBe(899);
    t.observe('p', 950); // out of order: does not move it back
    expect(t.current()).toBe(899);
    t.observe('p', 2000);
    expect(t.current()).toBe(1899);
  });

  it('is the minimum over partitions', () => {
    const t = new WatermarkTracker({ outOfOrdernessMs: 0 });
    t.observe('a', 1000);
    t.observe('b', 500);
    expect(t.current()).toBe(499);
    t.observe('b', 3000);
    expect(t.current()).toBe(999);
  });

  it('a declared partition without data holds the watermark back until it is idle', () => {
    const t = new WatermarkTracker({ outOfOrdernessMs: 0, idleTimeoutMs: 10_000 });
    t.addPartition('silent');
    t.observe('busy', 1000);
    expect(t.current()).toBe(Number.NEGATIVE_INFINITY);
    t.observe('busy', 10_999);
    expect(t.current()).toBe(Number.NEGATIVE_INFINITY);
    t.observe('busy', 11_000); // the silent partition has been inactive for 10 s of event time
    expect(t.current()).toBe(10_999);
  });

  it('an idle partition stops holding the minimum back and wakes up when it has data again', () => {
    const t = new WatermarkTracker({ outOfOrdernessMs: 0, idleTimeoutMs: 5000 });
    t.observe('a', 1000);
    t.observe('b', 1000);
    t.observe('a', 4000);
    expect(t.current()).toBe(999); // b is behind but not idle yet
    t.observe('a', 6000);
    expect(t.current()).toBe(5999); // b idle: follows the clock
    t.observe('b', 6500); // b active again
    t.observe('a', 9000);
    expect(t.current()).toBe(6499);
  });

  it('idleness is judged against a clock moved from outside', () => {
    const t = new WatermarkTracker({ outOfOrdernessMs: 0, idleTimeoutMs: 5000 });
    t.observe('a', 1000);
    t.advanceClock(5999);
    expect(t.current()).toBe(999);
    t.advanceClock(6000);
    expect(t.current()).toBe(5999);
  });

  it('snapshot and restore give the same future', () => {
    const a = new WatermarkTracker({ outOfOrdernessMs: 10, idleTimeoutMs: 100 });
    a.observe('x', 50);
    a.observe('y', 70);
    const b = new WatermarkTracker({ outOfOrdernessMs: 10, idleTimeoutMs: 100 });
    b.restore(structuredClone(a.snapshot()));
    for (const [p, ts] of [['x', 80], ['y', 300], ['x', 420]] as const) {
      a.observe(p, ts);
      b.observe(p, ts);
      expect(b.current()).toBe(a.current());
    }
  });
});

describe('WatermarkTracker.observeCurrent', () => {
  /** A deterministic pseudo-random sequence (LCG), so a failure reproduces. */
  function rng(seed: number): () => number {
    let x = seed >>> 0;
    return () => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return x / 2 ** 32;
    };
  }

  it('gives what observe then current give, on random sequences (one partition or several, idle or not)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const idle = [0, 5, 50, Number.POSITIVE_INFINITY, undefined][seed % 5];
      const opts = { outOfOrdernessMs: Math.floor(r() * 20), idleTimeoutMs: idle };
      const fast = new WatermarkTracker(opts);
      const plain = new WatermarkTracker(opts);
      const names = seed % 3 === 0 ? ['a', 'b'] : ['a'];
      if (seed % 2 === 0) {
        fast.addPartition('a');
        plain.addPartition('a');
      }
      let ts = 1000;
      for (let k = 0; k < 300; k++) {
        const u = r();
        ts += Math.floor(r() * 30) - 8;
        if (u < 0.1) {
          fast.advanceClock(ts + 40);
          plain.advanceClock(ts + 40);
        } else if (u < 0.12) {
          // a partition appearing later turns the single-partition path off
          fast.observe('late', ts);
          plain.observe('late', ts);
        } else {
          const name = names[Math.floor(r() * names.length)]!;
          const t = u > 0.995 ? Number.POSITIVE_INFINITY : ts;
          const got = fast.observeCurrent(name, t);
          plain.observe(name, t);
          expect(got).toBe(plain.current());
        }
        expect(fast.snapshot()).toEqual(plain.snapshot());
      }
    }
  });
});

describe('assignWatermarks', () => {
  it('emits a watermark after the record that moved it, and passes END_OF_TIME', () => {
    const out: unknown[] = [];
    from([{ ts: 100 }, { ts: 90 }, { ts: 200 }, new Watermark(5), END_OF_TIME])
      .pipe(assignWatermarks({ outOfOrdernessMs: 20 }))
      .subscribe((e) => out.push(isWatermark(e) ? `wm:${e.ts}` : e.ts));
    expect(out).toEqual([100, 'wm:79', 90, 200, 'wm:179', 'wm:Infinity']);
  });

  it('respects emitEveryMs and per-partition tracking', () => {
    const out: unknown[] = [];
    const recs = [
      { ts: 100, p: 'a' },
      { ts: 100, p: 'b' },
      { ts: 150, p: 'a' },
      { ts: 400, p: 'b' },
      { ts: 400, p: 'a' },
    ];
    from(recs)
      .pipe(assignWatermarks({ outOfOrdernessMs: 0, emitEveryMs: 100, partitionOf: (r) => r.p, partitions: ['a', 'b'] }))
      .subscribe((e) => out.push(isWatermark(e) ? `wm:${e.ts}` : e.ts));
    expect(out).toEqual([100, 100, 'wm:99', 150, 400, 400, 'wm:399']);
  });
});
