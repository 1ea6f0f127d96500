import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyReference, type ReferenceData } from '../../../src/core/reference.js';
import { MARKET_WIDE_HALT_DEFAULTS, MarketWideHaltMonitor } from '../../../src/risk/market-wide-halt.js';
import type { MarketAlert, MarketQuote } from '../../../src/risk/market.js';

// 2024-03-15 10:00 New York (EDT, UTC-4) = 14:00Z.
const T0 = Date.parse('2024-03-15T14:00:00Z');
const H = 3_600_000;

function reference(timezone?: string): ReferenceData {
  const ref = emptyReference();
  ref.instruments.set('IDX', { instrument: 'IDX', sector: 'Index', currency: 'USD', tier: 1, prevClose: 100, adv: 0, isIndex: true });
  ref.instruments.set('ACME', { instrument: 'ACME', sector: 'Tech', currency: 'USD', tier: 1, prevClose: 100, adv: 0, isIndex: false });
  if (timezone) ref.day = { date: '2024-03-15', timezone, open: '09:30', close: '16:00' };
  return ref;
}

const q = (ts: number, mid: number, instrument = 'IDX'): MarketQuote => ({ ts, instrument, bid: mid - 0.005, ask: mid + 0.005, bidSize: 1, askSize: 1 });

function run(quotes: MarketQuote[], ref = reference('America/New_York')): MarketAlert[] {
  const out: MarketAlert[] = [];
  const m = new MarketWideHaltMonitor(MARKET_WIDE_HALT_DEFAULTS, ref, (a) => out.push(a));
  for (const x of quotes) m.onQuote(x);
  return out;
}

describe('MARKET_WIDE_HALT', () => {
  it('levels 1-3 at 7%, 13%, 20% below prevClose, each once per day, critical', () => {
    const a = run([q(T0, 99), q(T0 + 1000, 93), q(T0 + 2000, 92), q(T0 + 3000, 95), q(T0 + 4000, 92.9), q(T0 + 5000, 86.9), q(T0 + 6000, 79.9), q(T0 + 7000, 70)]);
    expect(a.map((x) => [x.eventTime, x.details.level, x.severity, x.threshold])).toEqual([
      [T0 + 1000, 1, 'critical', 0.07],
      [T0 + 5000, 2, 'critical', 0.13],
      [T0 + 6000, 3, 'critical', 0.2],
    ]);
    expect(a[0]!.message).toBe('IDX market-wide halt level 1: 7% below the previous close 100 (limit 7%)');
    expect(a[0]!.entity).toEqual({ instrument: 'IDX' });
  });

  it('a fall through several levels at once reports the highest; lower levels count as fired', () => {
    const a = run([q(T0, 85), q(T0 + 1000, 92)]);
    expect(a.map((x) => x.details.level)).toEqual([2]);
  });

  it('fires again on the next day in the day time zone, not at UTC midnight', () => {
    // 23:30 New York on the 15th is 03:30Z on the 16th: still the 15th there.
    const late = Date.parse('2024-03-16T03:30:00Z');
    const nextDay = Date.parse('2024-03-16T13:30:00Z');
    expect(run([q(T0, 92), q(late, 92), q(nextDay, 92)]).map((x) => [x.eventTime, x.details.day])).toEqual([
      [T0, '2024-03-15'],
      [nextDay, '2024-03-16'],
    ]);
    // In UTC the late quote is on the 16th.
    expect(run([q(T0, 92), q(late, 92)], reference()).map((x) => x.details.day)).toEqual(['2024-03-15', '2024-03-16']);
  });

  it('ignores instruments without isIndex', () => {
    expect(run([q(T0, 50, 'ACME')])).toEqual([]);
  });

  it('uses the latest trade price as the mark until the first quote', () => {
    const out: MarketAlert[] = [];
    const m = new MarketWideHaltMonitor(MARKET_WIDE_HALT_DEFAULTS, reference('America/New_York'), (a) => out.push(a));
    m.onTrade({ ts: T0, instrument: 'IDX', price: 92 });
    m.onQuote(q(T0 + 1, 99));
    m.onTrade({ ts: T0 + 2, instrument: 'IDX', price: 80 }); // a quote's mid is the mark now
    expect(out.map((a) => [a.eventTime, a.details.level])).toEqual([[T0, 1]]);
  });

  it('matches a brute-force per-day scan (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3 * H }), mid: fc.integer({ min: 70, max: 101 }) }), { maxLength: 100 }), (steps) => {
        let ts = T0;
        const quotes = steps.map((s) => q((ts += s.dt), s.mid));
        const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York', year: 'numeric', month: '2-digit', day: '2-digit' });
        const want: Array<[number, number]> = [];
        const firedByDay = new Map<string, number>();
        for (const x of quotes) {
          const day = fmt.format(x.ts);
          const fall = 1 - (x.bid + x.ask) / 2 / 100;
          const e = 1e-12; // exactly 7% counts, whatever the rounding
          const level = fall >= 0.2 - e ? 3 : fall >= 0.13 - e ? 2 : fall >= 0.07 - e ? 1 : 0;
          if (level > (firedByDay.get(day) ?? 0)) {
            firedByDay.set(day, level);
            want.push([x.ts, level]);
          }
        }
        expect(run(quotes).map((a) => [a.eventTime, a.details.level])).toEqual(want);
      }),
    );
  });

  it('snapshot -> restore -> continue equals an uninterrupted run', () => {
    const quotes = [q(T0, 92), q(T0 + 1000, 86), q(T0 + 30 * H, 92), q(T0 + 31 * H, 75)];
    const whole = run(quotes);
    const out: MarketAlert[] = [];
    const m1 = new MarketWideHaltMonitor(MARKET_WIDE_HALT_DEFAULTS, reference('America/New_York'), (a) => out.push(a));
    quotes.slice(0, 2).forEach((x) => m1.onQuote(x));
    const m2 = new MarketWideHaltMonitor(MARKET_WIDE_HALT_DEFAULTS, reference('America/New_York'), (a) => out.push(a));
    m2.restore(structuredClone(m1.snapshot()));
    quotes.slice(2).forEach((x) => m2.onQuote(x));
    expect(out).toEqual(whole);
    expect(whole.map((a) => a.details.level)).toEqual([1, 2, 1, 3]);
  });
});
