import { describe, expect, it } from 'vitest';
import { EventTimeBuffer } from '../../../src/operators/join-internals.js';

/** A deterministic pseudo-random sequence (LCG), so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe('EventTimeBuffer.releaseInto', () => {
  it('releases what releaseUpTo releases, in the same order, into a reused array', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const r = rng(seed);
      const a = new EventTimeBuffer<{ id: number; ts: number }>();
      const b = new EventTimeBuffer<{ id: number; ts: number }>();
      const out: Array<{ id: number; ts: number }> = [];
      let id = 0;
      let ts = 0;
      let wm = -1;
      for (let step = 0; step < 400; step++) {
        // mostly in order, sometimes disordered (the heap path), sometimes equal times
        const u = r();
        const t = u < 0.2 ? ts - Math.floor(r() * 20) : u < 0.3 ? ts : (ts += 1 + Math.floor(r() * 5));
        const rec = { id: id++, ts: t };
        a.push(t, rec);
        b.push(t, rec);
        if (r() < 0.15) {
          wm += Math.floor(r() * 15);
          const want: Array<{ id: number; ts: number }> = [];
          a.releaseUpTo(wm, (x) => want.push(x));
          // A stale tail from an earlier, longer release must not leak into the count.
          const start = Math.floor(r() * 3);
          for (let k = 0; k < start; k++) out[k] = { id: -1, ts: -1 };
          const n = b.releaseInto(wm, out, start);
          expect(out.slice(start, n)).toEqual(want);
          expect(b.size).toBe(a.size);
        }
      }
      expect(b.snapshot()).toEqual(a.snapshot());
    }
  });
});
