import { describe, expect, it } from 'vitest';
import { businessDaysBefore, clockOf } from '../../../src/cli/gen/calendar.js';
import { zonedTimeToEpoch } from '../../../src/core/time.js';
import { sortByTime } from '../../../src/cli/gen/book.js';
import { Rng } from '../../../src/cli/gen/prng.js';

const draw = (r: Rng, n: number, f: (r: Rng) => number): number[] => Array.from({ length: n }, () => f(r));
const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const variance = (xs: number[]): number => {
  const m = mean(xs);
  return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
};

describe('Rng', () => {
  it('is a pure function of seed and label', () => {
    expect(draw(new Rng(42, 'a'), 50, (r) => r.u32())).toEqual(draw(new Rng(42, 'a'), 50, (r) => r.u32()));
    expect(draw(new Rng(42, 'a'), 50, (r) => r.u32())).not.toEqual(draw(new Rng(42, 'b'), 50, (r) => r.u32()));
    expect(draw(new Rng(42, 'a'), 50, (r) => r.u32())).not.toEqual(draw(new Rng(43, 'a'), 50, (r) => r.u32()));
    // Seeds above 2^32 use their high bits too.
    expect(new Rng(2 ** 40, 'a').u32()).not.toBe(new Rng(0, 'a').u32());
  });

  it('gives uniform, normal and exponential deviates with the right moments', () => {
    const u = draw(new Rng(1, 'u'), 100_000, (r) => r.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(mean(u)).toBeCloseTo(0.5, 2);
    expect(variance(u)).toBeCloseTo(1 / 12, 2);
    const z = draw(new Rng(1, 'z'), 100_000, (r) => r.normal());
    expect(Math.abs(mean(z))).toBeLessThan(0.015);
    expect(variance(z)).toBeCloseTo(1, 1);
    expect(z.filter((x) => Math.abs(x) > 1.96).length / z.length).toBeCloseTo(0.05, 2);
    const e = draw(new Rng(1, 'e'), 100_000, (r) => r.exp(3));
    expect(mean(e)).toBeCloseTo(3, 1);
    const k = draw(new Rng(1, 'k'), 60_000, (r) => r.int(1, 6));
    for (let v = 1; v <= 6; v++) expect(k.filter((x) => x === v).length / k.length).toBeCloseTo(1 / 6, 1);
    expect(() => new Rng(-1)).toThrow(RangeError);
  });
});

describe('calendar and ordering helpers', () => {
  it('converts New York wall-clock times across daylight saving', () => {
    expect(zonedTimeToEpoch('2024-03-15', '09:30', 'America/New_York')).toBe(Date.parse('2024-03-15T13:30:00Z'));
    expect(zonedTimeToEpoch('2024-01-09', '09:30', 'America/New_York')).toBe(Date.parse('2024-01-09T14:30:00Z'));
    expect(clockOf(570)).toBe('09:30');
    expect(clockOf(960)).toBe('16:00');
  });

  it('lists business days before a date, oldest first', () => {
    expect(businessDaysBefore('2024-03-18', 3)).toEqual(['2024-03-13', '2024-03-14', '2024-03-15']);
    expect(businessDaysBefore('2024-03-15', 300).length).toBe(300);
  });

  it('sorts event indices by time with ties in insertion order', () => {
    const ts = new Float64Array([5, 3, 5, 1, 3]);
    expect([...sortByTime(ts, 5)]).toEqual([3, 1, 4, 0, 2]);
    expect(() => sortByTime(new Float64Array([1.5, 2]), 2)).toThrow(RangeError);
  });
});
