import { describe, expect, it } from 'vitest';
import { tumbling, sliding, session, windowStart, type TimeWindow } from '../../../src/windows/assigners.js';
import { TopologyError } from '../../../src/core/errors.js';

const assign = (a: ReturnType<typeof tumbling>, ts: number): TimeWindow[] => {
  const out: TimeWindow[] = [];
  a.assignWindows(ts, out);
  return out;
};

describe('windowStart', () => {
  it('aligns to the epoch, end-exclusive', () => {
    expect(windowStart(0, 1000)).toBe(0);
    expect(windowStart(999, 1000)).toBe(0);
    expect(windowStart(1000, 1000)).toBe(1000);
    expect(windowStart(125_000, 60_000)).toBe(120_000);
  });
  it('handles negative times and offsets', () => {
    expect(windowStart(-1, 1000)).toBe(-1000);
    expect(windowStart(-1000, 1000)).toBe(-1000);
    expect(windowStart(125_000, 60_000, 30_000)).toBe(90_000);
    expect(windowStart(29_999, 60_000, 30_000)).toBe(-30_000);
    expect(windowStart(100, 1000, -200)).toBe(-200);
    expect(windowStart(800, 1000, -200)).toBe(800);
  });
});

describe('tumbling', () => {
  it('puts a record at ts = end in the next window', () => {
    const a = tumbling('1s');
    expect(assign(a, 999)).toEqual([{ start: 0, end: 1000 }]);
    expect(assign(a, 1000)).toEqual([{ start: 1000, end: 2000 }]);
    expect(a).toMatchObject({ kind: 'tumbling', sizeMs: 1000, offsetMs: 0 });
  });
  it('takes an offset, also as a (negative) duration string', () => {
    expect(assign(tumbling(1000, 250), 1249)).toEqual([{ start: 250, end: 1250 }]);
    expect(assign(tumbling('1h', '-30m'), 0)).toEqual([{ start: -1_800_000, end: 1_800_000 }]);
    expect(tumbling('1m', '15s').describe()).toBe('tumbling(60000ms, offset 15000ms)');
  });
  it('assigns nothing to a non-finite time', () => {
    expect(assign(tumbling(10), Number.NaN)).toEqual([]);
  });
  it('rejects bad sizes', () => {
    expect(() => tumbling(0)).toThrow(TopologyError);
    expect(() => tumbling('soon')).toThrow(TopologyError);
    expect(() => tumbling(10, Number.POSITIVE_INFINITY)).toThrow(TopologyError);
  });
});

describe('sliding', () => {
  it('assigns every window holding ts, oldest first', () => {
    const a = sliding('10s', '5s');
    expect(assign(a, 12_000)).toEqual([
      { start: 5000, end: 15_000 },
      { start: 10_000, end: 20_000 },
    ]);
    expect(assign(a, 10_000)).toEqual([
      { start: 5000, end: 15_000 },
      { start: 10_000, end: 20_000 },
    ]);
    expect(assign(a, 9999)).toEqual([
      { start: 0, end: 10_000 },
      { start: 5000, end: 15_000 },
    ]);
  });
  it('handles a size that is not a multiple of the slide', () => {
    const a = sliding(10, 4);
    for (let ts = -20; ts < 40; ts++) {
      const ws = assign(a, ts);
      const expected = [];
      for (let s = -40; s <= 40; s += 4) if (s <= ts && ts < s + 10) expected.push({ start: s, end: s + 10 });
      expect(ws).toEqual(expected);
    }
  });
  it('with an offset', () => {
    expect(assign(sliding(10, 5, 2), 8)).toEqual([
      { start: 2, end: 12 },
      { start: 7, end: 17 },
    ]);
    // [-3, 7) does not hold 7: end-exclusive.
    expect(assign(sliding(10, 5, 2), 7)).toEqual([
      { start: 2, end: 12 },
      { start: 7, end: 17 },
    ]);
    expect(assign(sliding(10, 5, 2), 6)).toEqual([
      { start: -3, end: 7 },
      { start: 2, end: 12 },
    ]);
  });
  it('rejects a slide larger than the size', () => {
    expect(() => sliding(10, 20)).toThrow(/must not exceed/);
    expect(() => sliding(10, 0)).toThrow(TopologyError);
  });
});

describe('session', () => {
  it('opens [ts, ts + gap)', () => {
    const a = session('30s');
    expect(assign(a, 5)).toEqual([{ start: 5, end: 30_005 }]);
    expect(a).toMatchObject({ kind: 'session', gapMs: 30_000, sizeMs: 30_000, offsetMs: 0 });
    expect(a.describe()).toBe('session(30000ms)');
  });
});
