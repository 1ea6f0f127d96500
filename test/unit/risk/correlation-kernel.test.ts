import { describe, expect, it } from 'vitest';
import { PAIR_BLOCK_BARS, pairBarsAt, pairKernel } from '../../../src/risk/correlation-kernel.js';

describe('correlation pair kernel', () => {
  it('adds a block of bars to every pair bit for bit as a plain sparse loop bar after bar', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    // Capacities with n below them, n of every remainder by 8 (the passes of eight, two and one
    // pairs of a row), few and most instruments moving, blocks of one bar, some and a full block.
    for (const [cap, n, moveP, block] of [
      [8, 8, 0.6, 1],
      [13, 11, 0.4, 5],
      [16, 2, 0.9, 3],
      [17, 17, 0.9, PAIR_BLOCK_BARS],
      [64, 61, 0.9, 7],
      [200, 200, 0.8, PAIR_BLOCK_BARS],
      [203, 197, 0.15, 33],
      [40, 36, 0.5, 2],
      [40, 37, 0.5, PAIR_BLOCK_BARS - 1],
    ] as const) {
      const k = pairKernel(cap);
      expect(k).toBeDefined();
      const want = new Float64Array(cap * cap);
      let added = 0;
      let inBlock = 0;
      for (let bar = 0; bar < 150; bar++) {
        const moved: number[] = [];
        const r: number[] = [];
        const row = k!.bars.subarray(inBlock * cap, inBlock * cap + n);
        row.fill(0);
        for (let i = 0; i < n; i++) {
          if (rnd() >= moveP) continue;
          // Returns of both signs over many magnitudes (products that round differently if reordered).
          const x = (rnd() - 0.5) * 10 ** Math.floor(rnd() * 12 - 9);
          if (x === 0) continue;
          moved.push(i);
          r.push(x);
          row[i] = x;
        }
        // The plain loop: each pair of moved instruments, lower index first.
        for (let a = 0; a < moved.length; a++) {
          for (let b = a + 1; b < moved.length; b++) {
            const p = moved[a]! * cap + moved[b]!;
            want[p] = want[p]! + r[a]! * r[b]!;
            added++;
          }
        }
        if (++inBlock === block) {
          k!.run(pairBarsAt(cap), inBlock, n, cap);
          inBlock = 0;
        }
      }
      k!.run(pairBarsAt(cap), inBlock, n, cap);
      expect(added).toBeGreaterThan(100);
      // Every slot, the unused ones (diagonal, lower triangle, columns past n) included, the same bits.
      const bad = Array.from(k!.sxy).findIndex((v, i) => !Object.is(v, want[i]));
      expect(bad).toBe(-1);
    }
  });

  it('leaves the sums as they are for an empty block', () => {
    const k = pairKernel(10)!;
    k.sxy.fill(0.25);
    k.bars.fill(3);
    k.run(pairBarsAt(10), 0, 10, 10);
    expect(Array.from(k.sxy).every((v) => v === 0.25)).toBe(true);
  });
});

describe('correlation window kernel', () => {
  it("writes every pair's Pearson formula bit for bit as the window close's JavaScript, clamped, NaN for a zero variance", () => {
    let seed = 13;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (const [cap, n] of [
      [8, 8],
      [13, 11],
      [40, 37],
      [64, 2],
      [200, 200],
    ] as const) {
      const k = pairKernel(cap)!;
      const s = new Float64Array(n);
      const ss = new Float64Array(n);
      const own = new Float64Array(n);
      const cnt = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        cnt[i] = [300, 299, 30, 0][Math.floor(rnd() * 4)]!;
        s[i] = (rnd() - 0.5) * 10 ** Math.floor(rnd() * 6 - 4);
        ss[i] = rnd() * 10 ** Math.floor(rnd() * 6 - 6);
        // Some variances zero, negative or NaN (a series without returns), the rest as the sums give.
        const kind = rnd();
        own[i] = kind < 0.1 ? 0 : kind < 0.15 ? Number.NaN : kind < 0.2 ? -1e-9 : ss[i]! - (s[i]! * s[i]!) / cnt[i]!;
        k.s[i] = s[i]!;
        k.own[i] = own[i]!;
        k.zss[i] = 1e-12 * ss[i]!;
        k.n[i] = cnt[i]!;
      }
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          // Sums of products near the bound (clamped to +-1 when past it) and anywhere.
          // (Not 0 where a variance is 0: a pair with a zero-variance side must be NaN by the test, not by 0 / 0.)
          const bound = Math.sqrt(Math.abs(own[i]! * own[j]!)) || 1e-9;
          k.sxy[i * cap + j] = (s[i]! * s[j]!) / cnt[i]! + (rnd() < 0.1 ? (rnd() < 0.5 ? 1 : -1) * bound * (1 + rnd() * 1e-12) : (rnd() * 2 - 1) * bound);
        }
      }
      k.corr(n);
      let defined = 0;
      let clamped = 0;
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          let want = Number.NaN;
          const vx = own[i]!;
          const vy = own[j]!;
          if (vx > 1e-12 * ss[i]! && vy > 1e-12 * ss[j]!) {
            const r = (k.sxy[i * cap + j]! - (s[i]! * s[j]!) / cnt[i]!) / Math.sqrt(vx * vy);
            want = r > 1 ? 1 : r < -1 ? -1 : r;
            if (Number.isFinite(r)) defined++;
            if (Math.abs(r) > 1) clamped++;
          }
          const got = k.rho[i * cap + j]!;
          if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)))) expect([i, j, got]).toEqual([i, j, want]);
        }
      }
      if (n > 10) {
        expect(defined).toBeGreaterThan(n);
        expect(clamped).toBeGreaterThan(0);
      }
    }
  });
});
