import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grown, unwrapRing } from '../../../src/core/typed-arrays.js';

describe('typed-array state helpers', () => {
  it('grown keeps the elements and doubles the length until it fits', () => {
    const a = Int32Array.of(1, 2, 3);
    const b = grown(a, 7);
    expect(b).toBeInstanceOf(Int32Array);
    expect(b.length).toBe(12);
    expect([...b.subarray(0, 3)]).toEqual([1, 2, 3]);
    expect(grown(new Float64Array(0), 5).length).toBe(8);
  });

  it('unwrapRing copies a ring oldest first, contiguous, and touches nothing else (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (log2, width, h, m, at) => {
        const cap = 1 << log2;
        const head = h % cap;
        const n = m % (cap + 1);
        const src = Float64Array.from({ length: at + cap * width + 3 }, (_, i) => i + 0.5);
        const to = 2;
        const dst = new Float64Array(to + cap * width + 2).fill(-1);
        unwrapRing(src, at, cap, head, n, width, dst, to);
        // Reference: entry j of the ring is ring slot (head + j) mod cap.
        const want = new Float64Array(dst.length).fill(-1);
        for (let j = 0; j < n; j++) for (let w = 0; w < width; w++) want[to + j * width + w] = src[at + ((head + j) % cap) * width + w]!;
        expect([...dst]).toEqual([...want]);
      }),
      { numRuns: 500 },
    );
  });
});
