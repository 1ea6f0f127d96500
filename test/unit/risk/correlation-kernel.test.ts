import { describe, expect, it } from 'vitest';
import { pairKernel, pairRAt, pairRowsAt } from '../../../src/risk/correlation-kernel.js';

describe('correlation pair kernel', () => {
  it('adds r_i r_k to every pair of the moved instruments bit for bit as a plain sparse loop, bar after bar', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    // Capacities with n below them, odd and even row lengths, few and most instruments moving.
    for (const [cap, n, moveP] of [
      [8, 8, 0.6],
      [13, 11, 0.4],
      [64, 61, 0.9],
      [200, 200, 0.4],
      [203, 197, 0.15],
    ] as const) {
      const k = pairKernel(cap);
      expect(k).toBeDefined();
      const want = new Float64Array(cap * cap);
      let added = 0;
      for (let bar = 0; bar < 30; bar++) {
        const moved: number[] = [];
        const r: number[] = [];
        for (let i = 0; i < n; i++) {
          if (rnd() >= moveP) continue;
          // Returns of both signs over many magnitudes (products that round differently if reordered).
          const x = (rnd() - 0.5) * 10 ** Math.floor(rnd() * 12 - 9);
          if (x === 0) continue;
          moved.push(i);
          r.push(x);
        }
        // The plain loop: each pair of moved instruments, lower index first.
        for (let a = 0; a < moved.length; a++) {
          for (let b = a + 1; b < moved.length; b++) {
            const p = moved[a]! * cap + moved[b]!;
            want[p] = want[p]! + r[a]! * r[b]!;
            added++;
          }
        }
        moved.forEach((i, q) => {
          k!.rows[q] = i;
          k!.r[i] = r[q]!;
        });
        k!.run(pairRowsAt(cap), moved.length, pairRAt(cap), n, cap);
        for (const i of moved) k!.r[i] = 0;
      }
      expect(added).toBeGreaterThan(100);
      // Every slot, the unused ones (diagonal, lower triangle, columns past n) included, the same bits.
      const bad = Array.from(k!.sxy).findIndex((v, i) => !Object.is(v, want[i]));
      expect(bad).toBe(-1);
    }
  });
});
