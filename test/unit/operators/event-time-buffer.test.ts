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

/**
 * The reference: every record still held, as [ts, arrival, rec]; a release takes, one at a time,
 * the smallest (ts, arrival) at or below the watermark (so a record pushed by the callback during
 * a release is released by it too if it is due).
 */
class ModelBuffer<T> {
  private held: Array<[number, number, T]> = [];
  private seq = 0;
  push(ts: number, rec: T): void {
    this.held.push([ts, this.seq++, rec]);
  }
  releaseUpTo(wm: number, cb: (rec: T, ts: number) => void): void {
    for (;;) {
      let best = -1;
      for (let i = 0; i < this.held.length; i++) {
        const [ts, s] = this.held[i]!;
        if (ts <= wm && (best < 0 || ts < this.held[best]![0] || (ts === this.held[best]![0] && s < this.held[best]![1]))) best = i;
      }
      if (best < 0) return;
      const [ts, , rec] = this.held.splice(best, 1)[0]!;
      cb(rec, ts);
    }
  }
  get size(): number {
    return this.held.length;
  }
}

describe('EventTimeBuffer against a reference model', () => {
  it('releases in (ts, arrival) order: long in-order runs, disorder, and records pushed by the release callback', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed);
      const a = new EventTimeBuffer<{ id: number; ts: number }>();
      const m = new ModelBuffer<{ id: number; ts: number }>();
      const c = new EventTimeBuffer<{ id: number; ts: number }>();
      const mc = new ModelBuffer<{ id: number; ts: number }>();
      let id = 0;
      let ts = 0;
      let wm = -1;
      // Phases of 100 steps: in order only (the heap stays empty), then with disorder.
      for (let step = 0; step < 1200; step++) {
        const disorder = Math.floor(step / 100) % 2 === 1 ? 0.2 : 0;
        const u = r();
        const t = u < disorder ? ts - Math.floor(r() * 20) : u < disorder + 0.1 ? ts : (ts += 1 + Math.floor(r() * 5));
        const rec = { id: id++, ts: t };
        a.push(t, rec);
        m.push(t, rec);
        c.push(t, rec);
        mc.push(t, rec);
        if (r() < 0.1) {
          wm += Math.floor(r() * 20);
          const got: Array<[number, number]> = [];
          const want: Array<[number, number]> = [];
          a.releaseUpTo(wm, (x, xt) => got.push([x.id, xt]));
          m.releaseUpTo(wm, (x, xt) => want.push([x.id, xt]));
          expect(got).toEqual(want);
          expect(a.size).toBe(m.size);
          // releaseInto gives the same records as the model.
          const out: Array<{ id: number; ts: number }> = [];
          const n = c.releaseInto(wm, out, 0);
          const wantC: number[] = [];
          mc.releaseUpTo(wm, (x) => wantC.push(x.id));
          expect(out.slice(0, n).map((x) => x.id)).toEqual(wantC);
          // A callback that pushes while releasing: a due record (before or after the tail) is
          // released by the same call, a later one stays.
          const extra = [wm - 3, wm, wm + 5, ts + 1];
          const pushing = (buf: { push(ts: number, rec: { id: number; ts: number }): void }, log: number[]) => {
            let k = 0;
            return (x: { id: number; ts: number }) => {
              log.push(x.id);
              if (k < extra.length && r2() < 0.5) {
                const e = { id: 100_000 + k, ts: extra[k]! };
                k++;
                buf.push(e.ts, e);
              }
            };
          };
          const seedR = Math.floor(r() * 1000);
          let r2 = rng(seedR);
          const gotP: number[] = [];
          a.releaseUpTo(wm + 2, pushing(a, gotP));
          r2 = rng(seedR);
          const wantP: number[] = [];
          m.releaseUpTo(wm + 2, pushing(m, wantP));
          expect(gotP).toEqual(wantP);
          expect(a.size).toBe(m.size);
          // Keep the releaseInto pair in step with the pushed-to pair's watermark.
          const skip: Array<{ id: number; ts: number }> = [];
          c.releaseInto(wm + 2, skip, 0);
          mc.releaseUpTo(wm + 2, () => undefined);
          wm += 2;
        }
      }
    }
  });
});
