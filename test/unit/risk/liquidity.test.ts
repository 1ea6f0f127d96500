import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LIQUIDITY_DEFAULTS, LiquidityMonitor, medianOf, type LiquidityParams, type LiquidityWindow } from '../../../src/risk/liquidity.js';
import type { MarketAlert, MarketQuote } from '../../../src/risk/market.js';

const T0 = Date.parse('2024-03-15T14:00:00Z'); // a multiple of 30 s
const S = 1000;

function run(quotes: MarketQuote[], p: LiquidityParams = LIQUIDITY_DEFAULTS): { alerts: MarketAlert[]; windows: LiquidityWindow[] } {
  const alerts: MarketAlert[] = [];
  const windows: LiquidityWindow[] = [];
  const m = new LiquidityMonitor(p, (a) => alerts.push(a), (w) => windows.push(w));
  for (const q of quotes) {
    m.advance(q.ts);
    m.onQuote(q);
  }
  m.finish();
  return { alerts, windows };
}

/** A quote with the given spread in bps around `mid` and per-side size. */
function quote(ts: number, instrument: string, mid: number, bps: number, size = 20_000): MarketQuote {
  const half = (mid * bps) / 2e4;
  return { ts, instrument, bid: mid - half, ask: mid + half, bidSize: size, askSize: size };
}

interface BruteWindow {
  instrument: string;
  start: number;
  mean: number;
  minDepth: number;
  baseline: number;
  nb: number;
  limit: number;
}

/** Brute force: group quotes into (instrument, window), then walk each instrument's windows in time order. */
function brute(quotes: MarketQuote[], p: LiquidityParams): { windows: BruteWindow[]; alerts: Array<[string, string, number, number]> } {
  const groups = new Map<string, { instrument: string; start: number; spreads: number[]; depths: number[] }>();
  for (const q of quotes) {
    const start = Math.floor(q.ts / p.windowMs) * p.windowMs;
    const key = `${q.instrument}|${start}`;
    const g = groups.get(key) ?? groups.set(key, { instrument: q.instrument, start, spreads: [], depths: [] }).get(key)!;
    const mid = (q.bid + q.ask) / 2;
    g.spreads.push(((q.ask - q.bid) / mid) * 1e4);
    g.depths.push(q.bid * q.bidSize + q.ask * q.askSize);
  }
  const all = [...groups.values()].sort((a, b) => a.start - b.start || (a.instrument < b.instrument ? -1 : 1));
  const windows: BruteWindow[] = [];
  const alerts: Array<[string, string, number, number]> = [];
  const episode = new Map<string, boolean>();
  for (const g of all) {
    const mean = g.spreads.reduce((a, b) => a + b, 0) / g.spreads.length;
    const minDepth = Math.min(...g.depths);
    const prev = windows.filter((w) => w.instrument === g.instrument && w.start >= g.start - p.baselineMs && w.start < g.start).map((w) => w.mean);
    const sorted = [...prev].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    const baseline = prev.length >= p.minBaselineWindows ? median : Number.NaN;
    const limit = Number.isNaN(baseline) ? p.spreadFloorBps : Math.max(p.spreadFloorBps, p.spreadMultiple * baseline);
    windows.push({ instrument: g.instrument, start: g.start, mean, minDepth, baseline, nb: prev.length, limit });
    const end = g.start + p.windowMs;
    const sKey = `s|${g.instrument}`;
    const dKey = `d|${g.instrument}`;
    if (mean > limit && !episode.get(sKey)) alerts.push([g.instrument, 'LIQUIDITY_SPREAD', end - 1, mean]);
    if (minDepth < p.minDepth && !episode.get(dKey)) alerts.push([g.instrument, 'LIQUIDITY_DEPTH', end - 1, minDepth]);
    episode.set(sKey, mean > limit);
    episode.set(dKey, minDepth < p.minDepth);
  }
  return { windows, alerts };
}

describe('liquidity windows', () => {
  it('mean spread and minimum depth per 30 s window, alerts at windowEnd - 1 with the window bounds', () => {
    const qs = [quote(T0, 'A', 100, 10, 20_000), quote(T0 + 10 * S, 'A', 100, 50, 2_000), quote(T0 + 29_999, 'A', 100, 30, 20_000), quote(T0 + 30 * S, 'A', 100, 5)];
    const { alerts, windows } = run(qs);
    expect(windows[0]).toMatchObject({ instrument: 'A', windowStart: T0, windowEnd: T0 + 30 * S, quotes: 3 });
    expect(windows[0]!.meanSpreadBps).toBeCloseTo(30, 9);
    expect(windows[0]!.minDepth).toBeCloseTo(400_000, 6);
    expect(alerts.map((a) => [a.type, a.eventTime, a.windowStart, a.windowEnd, a.threshold])).toEqual([
      ['LIQUIDITY_SPREAD', T0 + 29_999, T0, T0 + 30 * S, 25],
      ['LIQUIDITY_DEPTH', T0 + 29_999, T0, T0 + 30 * S, 1_000_000],
    ]);
    expect(alerts[0]!.message).toBe('A spread 30 bps on average in the 30s to 14:00:30Z (limit 25 bps)');
    expect(alerts[1]!.message).toBe('A depth at touch down to 400k in the 30s to 14:00:30Z (limit 1M)');
    expect(alerts.every((a) => a.severity === 'warning')).toBe(true);
  });

  it('one alert per episode: consecutive breaching windows alert once; a good window ends the episode; an empty one does not', () => {
    const qs: MarketQuote[] = [];
    const bpsByWindow = [30, 30, 10, 30, 30, null, 30];
    bpsByWindow.forEach((b, w) => {
      if (b !== null) qs.push(quote(T0 + w * 30 * S + 1000, 'A', 100, b, 20_000));
    });
    const { alerts } = run(qs);
    expect(alerts.filter((a) => a.type === 'LIQUIDITY_SPREAD').map((a) => a.windowStart)).toEqual([T0, T0 + 90 * S]);
  });

  it('the relative test needs minBaselineWindows previous windows, and uses max(25 bps, 4x their median)', () => {
    const history = (n: number) => Array.from({ length: n }, (_, w) => quote(T0 + (12 - n + w) * 30 * S, 'A', 100, 8));
    const at = (bps: number) => quote(T0 + 12 * 30 * S, 'A', 100, bps);
    // 12 windows at 8 bps: the limit is 4 x 8 = 32 bps, so 30 bps is fine and 33 bps is not.
    expect(run([...history(12), at(30)]).alerts).toEqual([]);
    const { alerts, windows } = run([...history(12), at(33)]);
    expect(alerts.map((a) => [a.type, a.windowStart])).toEqual([['LIQUIDITY_SPREAD', T0 + 12 * 30 * S]]);
    expect(alerts[0]!.threshold).toBeCloseTo(32, 9);
    expect(alerts[0]!.message).toBe('A spread 33 bps on average in the 30s to 14:06:30Z (limit 32 bps, 4x the 30-min median 8 bps)');
    expect(windows[10]!.baselineWindows).toBe(10);
    expect(windows[10]!.baselineBps).toBeCloseTo(8, 9);
    // With 9 windows of history only the 25 bps floor applies: 30 bps alerts.
    const short = run([...history(9), at(30)]);
    expect(short.alerts.map((a) => a.threshold)).toEqual([25]);
    expect(short.windows[9]!.baselineBps).toBeNaN();
    // Windows older than 30 minutes leave the baseline.
    const old = run([...history(12).map((q) => ({ ...q, ts: q.ts - 3_600_000 })), at(30)]);
    expect(old.windows[12]!.baselineWindows).toBe(0);
  });

  it('medianOf', () => {
    expect(medianOf([3, 1, 2])).toBe(2);
    expect(medianOf([4, 1, 3, 2])).toBe(2.5);
    expect(medianOf([])).toBeNaN();
  });

  it('matches a brute-force grouping, baseline median and episodes (property)', () => {
    const stepArb = fc.record({
      dt: fc.integer({ min: 0, max: 20 * S }),
      inst: fc.constantFrom('A', 'B', 'C'),
      bps: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 60 })),
      size: fc.oneof(fc.constant(20_000), fc.integer({ min: 1000, max: 30_000 })),
    });
    const pArb = fc.constantFrom(LIQUIDITY_DEFAULTS, { ...LIQUIDITY_DEFAULTS, windowMs: 10 * S, baselineMs: 120 * S, minBaselineWindows: 3 });
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 250 }), pArb, (steps, p) => {
        let ts = T0 + 7;
        const qs = steps.map((s) => quote((ts += s.dt), s.inst, 50, s.bps, s.size));
        const got = run(qs, p);
        const want = brute(qs, p);
        expect(got.windows.map((w) => [w.instrument, w.windowStart, w.baselineWindows])).toEqual(want.windows.map((w) => [w.instrument, w.start, w.nb]));
        got.windows.forEach((w, i) => {
          const b = want.windows[i]!;
          expect(w.meanSpreadBps).toBeCloseTo(b.mean, 9);
          expect(w.minDepth).toBe(b.minDepth);
          if (Number.isNaN(b.baseline)) expect(w.baselineBps).toBeNaN();
          else expect(w.baselineBps).toBeCloseTo(b.baseline, 9);
        });
        expect(got.alerts.map((a) => [a.entity.instrument, a.type, a.eventTime])).toEqual(want.alerts.map((a) => [a[0], a[1], a[2]]));
      }),
      { numRuns: 200 },
    );
  });

  it('snapshot -> restore -> continue equals an uninterrupted run', () => {
    const qs: MarketQuote[] = [];
    for (let i = 0; i < 600; i++) qs.push(quote(T0 + i * 2500, i % 2 ? 'A' : 'B', 40, 3 + (i % 97 > 80 ? 40 : i % 5), i % 150 > 140 ? 500 : 20_000));
    const whole = run(qs);
    expect(whole.alerts.length).toBeGreaterThan(4);
    const alerts: MarketAlert[] = [];
    const m1 = new LiquidityMonitor(LIQUIDITY_DEFAULTS, (a) => alerts.push(a));
    for (const q of qs.slice(0, 333)) {
      m1.advance(q.ts);
      m1.onQuote(q);
    }
    const m2 = new LiquidityMonitor(LIQUIDITY_DEFAULTS, (a) => alerts.push(a));
    m2.restore(structuredClone(m1.snapshot()));
    for (const q of qs.slice(333)) {
      m2.advance(q.ts);
      m2.onQuote(q);
    }
    m2.finish();
    expect(alerts).toEqual(whole.alerts);
  });
});
