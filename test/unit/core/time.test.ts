import { describe, expect, it } from 'vitest';
import { parseDuration, toEventTime, formatEventTime, ManualClock } from '../../../src/core/time.js';
import { RiskflowError } from '../../../src/core/errors.js';

describe('parseDuration', () => {
  it.each([
    ['1500ms', 1500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['250us', 0.25],
    ['2d', 172_800_000],
    ['100', 100],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it('passes numbers through', () => expect(parseDuration(42)).toBe(42));

  it.each(['', '5 minutes', 'm5', '5x', '-1s', 'abc'])('rejects %j with a coded error', (text) => {
    expect(() => parseDuration(text, 'window.size')).toThrow(RiskflowError);
    try {
      parseDuration(text, 'window.size');
    } catch (e) {
      expect((e as RiskflowError).code).toBe('E_DURATION');
      expect((e as RiskflowError).field).toBe('window.size');
    }
  });

  it('rejects negative and non-finite numbers', () => {
    expect(() => parseDuration(-1)).toThrow(RiskflowError);
    expect(() => parseDuration(Number.NaN)).toThrow(RiskflowError);
  });
});

describe('toEventTime', () => {
  it('accepts epoch ms with fractions', () => expect(toEventTime(1710513000123.5)).toBe(1710513000123.5));
  it('accepts ISO-8601 with Z or an offset', () => {
    expect(toEventTime('2024-03-15T14:30:00.250Z')).toBe(Date.UTC(2024, 2, 15, 14, 30, 0, 250));
    expect(toEventTime('2024-03-15T10:30:00-04:00')).toBe(Date.UTC(2024, 2, 15, 14, 30, 0));
  });
  it('rejects local times, junk, NaN and Infinity', () => {
    expect(toEventTime('2024-03-15T10:30:00')).toBeNaN();
    expect(toEventTime('yesterday')).toBeNaN();
    expect(toEventTime(Number.NaN)).toBeNaN();
    expect(toEventTime(Number.POSITIVE_INFINITY)).toBeNaN();
    expect(toEventTime(null)).toBeNaN();
  });
  it('formats', () => {
    expect(formatEventTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(formatEventTime(Number.POSITIVE_INFINITY)).toBe('+inf');
  });
  it('manual clock moves only when told', () => {
    const c = new ManualClock(10);
    c.advance(5);
    expect(c.now()).toBe(15);
    c.set(3);
    expect(c.now()).toBe(3);
  });
});
