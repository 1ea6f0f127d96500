import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  MarkingTheCloseDetector,
  Sequencer,
  closeAtOrAfter,
  localDate,
  runDetector,
  zonedTimeToEpoch,
  type MarkingTheCloseParams,
  type SurvTrade,
} from '../../../src/surveillance/index.js';
import { feed, flatten, pick, resetIds, rng, trade } from './helpers.js';
import { refMarkingTheClose } from './reference.js';

const CLOSE = Date.parse('2024-03-15T16:00:00-04:00'); // EDT
const P: MarkingTheCloseParams = { windowMs: 600_000, minShare: 0.2, minMove: 0.01, close: '16:00', timeZone: 'America/New_York' };
const keyOf = (d: Record<string, any>) => d.instrument as string;
const run = (trades: SurvTrade[], p: MarkingTheCloseParams = P) => runDetector(new MarkingTheCloseDetector(p), trades, []);
const m = (min: number) => CLOSE + min * 60_000;

beforeEach(resetIds);

describe('close time in the day.json time zone', () => {
  it.each([
    ['2024-03-15', '16:00', 'America/New_York', '2024-03-15T20:00:00Z'], // EDT
    ['2024-03-08', '16:00', 'America/New_York', '2024-03-08T21:00:00Z'], // EST, the week before
    ['2024-03-10', '16:00', 'America/New_York', '2024-03-10T20:00:00Z'], // the day DST starts
    ['2024-11-03', '16:00', 'America/New_York', '2024-11-03T21:00:00Z'], // the day DST ends
    ['2024-03-10', '02:30', 'America/New_York', '2024-03-10T07:30:00Z'], // in the spring-forward gap: one hour later
    ['2024-11-03', '01:30', 'America/New_York', '2024-11-03T05:30:00Z'], // ambiguous: the earlier
    ['2024-03-29', '16:30', 'Europe/London', '2024-03-29T16:30:00Z'],
    ['2024-04-02', '16:30', 'Europe/London', '2024-04-02T15:30:00Z'],
    ['2024-03-15', '15:30', 'Asia/Kolkata', '2024-03-15T10:00:00Z'],
    ['2024-03-15', '15:00', 'Asia/Tokyo', '2024-03-15T06:00:00Z'],
  ])('%s %s %s is %s', (date, time, tz, iso) => {
    expect(zonedTimeToEpoch(date, time, tz)).toBe(Date.parse(iso));
  });

  it('finds the local date and the next close', () => {
    expect(localDate(Date.parse('2024-03-16T02:00:00Z'), 'America/New_York')).toBe('2024-03-15');
    expect(closeAtOrAfter(Date.parse('2024-03-15T14:00:00Z'), '16:00', 'America/New_York')).toBe(CLOSE);
    expect(closeAtOrAfter(CLOSE, '16:00', 'America/New_York')).toBe(CLOSE);
    expect(closeAtOrAfter(CLOSE + 1, '16:00', 'America/New_York')).toBe(Date.parse('2024-03-16T20:00:00Z'));
  });
});

/**
 * A reference print 15 min before the close at 100; in the last 10 min TR03 buys 3 x 1,000 (the last
 * time as the counterparty) among 9,000 of two-way flow between traders that each have 1,000.
 */
function scenario(o: { trQty?: number; last?: number; trSide?: 'BUY' | 'SELL'; firstAt?: number; extra?: SurvTrade[] } = {}): SurvTrade[] {
  const q = o.trQty ?? 1000;
  const side = o.trSide ?? 'BUY';
  const others = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) =>
    trade(m(-9.5 + i), `X${2 * i}`, i % 2 ? 'SELL' : 'BUY', 1000, 100.5 + i * 0.05, { cp: `X${2 * i + 1}` }),
  );
  return [
    trade(m(-15), 'TR01', 'BUY', 500, 100, { cp: 'TR02', tradeId: 'R' }),
    trade(m(o.firstAt ?? -9), 'TR03', side, q, 100.4, { cp: 'TR01', tradeId: 'A1' }),
    trade(m(-6), 'TR03', side, q, 100.8, { cp: 'TR02', tradeId: 'A2' }),
    trade(m(-0.5), 'TR05', side === 'BUY' ? 'SELL' : 'BUY', q, o.last ?? 101.5, { cp: 'TR03', tradeId: 'A3' }),
    ...others,
    ...(o.extra ?? []),
  ].sort((a, b) => a.ts - b.ts);
}

describe('MARKING_THE_CLOSE', () => {
  it("alerts when a trader's trades are >= 20% of the last 10 minutes' volume and the price moves >= 1% their way", () => {
    const a = run(scenario());
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ type: 'MARKING_THE_CLOSE', traderId: 'TR03', eventTime: CLOSE, value: 0.25, threshold: 0.2, windowStart: m(-10), windowEnd: CLOSE });
    expect(a[0]!.message).toBe(
      'TR03 made 25% of ACME volume (3,000 of 12,000) in the 10 min before the 16:00 close, net buying 3,000, while the price rose 1.5% (100.00 -> 101.50; limits 20% of volume, 1% move)',
    );
    expect(a[0]!.details).toMatchObject({
      orderIds: [],
      tradeIds: ['A1', 'A2', 'A3'],
      findings: [{ instrument: 'ACME', side: 'BUY', share: 0.25, volume: 12_000, referencePrice: 100, lastPrice: 101.5, referenceIsLastBeforeInterval: true }],
    });
  });

  it('is judged when the watermark passes the close, or at the end of input', () => {
    const det = new MarkingTheCloseDetector(P);
    const seq = new Sequencer();
    for (const t of scenario()) seq.offerTrade(t);
    seq.release(CLOSE - 1, det);
    expect(det.takeAlerts()).toEqual([]);
    seq.offerTrade(trade(CLOSE, 'TR09', 'SELL', 10, 101.6)); // a closing print at exactly the close counts
    seq.release(CLOSE, det);
    const a = det.takeAlerts();
    expect(a.map((x) => x.details.findings)).toEqual([[expect.objectContaining({ volume: 12_010, lastPrice: 101.6 })]]);
  });

  it('alerts for a net seller when the price falls', () => {
    const a = run(scenario({ trSide: 'SELL', last: 98.9 }));
    expect(a.map((x) => x.traderId)).toEqual(['TR03']);
    expect(a[0]!.message).toContain('net selling 3,000, while the price fell 1.1%');
  });

  it('uses the first trade in the interval when nothing traded before it', () => {
    const trades = scenario().filter((t) => t.tradeId !== 'R');
    const a = run(trades, { ...P, minMove: 0.005 });
    expect(a[0]!.details.findings).toEqual([expect.objectContaining({ referencePrice: 100.5, referenceIsLastBeforeInterval: false })]);
  });

  it.each([
    ['a share just under 20%', scenario({ trQty: 749 })], // 2,247 of 11,247
    ['a move just under 1%', scenario({ last: 100.99 })],
    ['a move against the trader', scenario({ trSide: 'SELL' })],
    ['the first trade 1 ms before the interval', scenario({ firstAt: -10 - 1 / 60_000 })],
    ['volume after the close', scenario({ last: 100.5, extra: [trade(CLOSE + 1, 'TR03', 'BUY', 5000, 103, { cp: 'TR09' })] })],
  ])('does not alert just outside a limit: %s', (_n, trades) => {
    expect(run(trades)).toEqual([]);
  });

  it('judges each day at its own close and merges instruments of one trader', () => {
    const day2 = Date.parse('2024-03-18T16:00:00-04:00');
    const shift = (t: SurvTrade, d: number, ins: string) => ({ ...t, ts: t.ts + d, instrument: ins, tradeId: `${t.tradeId}-${ins}-${d}` });
    const trades = [...scenario().map((t) => shift(t, 0, 'ACME')), ...scenario().map((t) => shift(t, 0, 'BETA'))];
    trades.sort((a, b) => a.ts - b.ts);
    const later = scenario().map((t) => shift(t, day2 - CLOSE, 'ACME'));
    const a = run([...trades, ...later]);
    expect(a.map((x) => [x.traderId, x.eventTime, (x.details.findings as Array<{ instrument: string }>).map((f) => f.instrument)])).toEqual([
      ['TR03', CLOSE, ['ACME', 'BETA']],
      ['TR03', day2, ['ACME']],
    ]);
  });
});

/** Random trades from 20 min before the close to 1 min after, on two instruments, with a few heavy traders. */
function randomDay(seed: number, n: number, instruments = ['ACME', 'BETA']): SurvTrade[] {
  const r = rng(seed);
  const out: SurvTrade[] = [];
  const px: Record<string, number> = { ACME: 100, BETA: 50 };
  for (const ins of instruments) px[ins] ??= 20 + r() * 100;
  let ts = m(-20);
  const heavy = pick(r, ['TR01', 'TR02']);
  const dir = r() < 0.5 ? 1 : -1;
  for (let i = 0; i < n; i++) {
    ts += Math.floor(r() * (21 * 60_000 / n) * 2);
    const ins = pick(r, instruments);
    const isHeavy = ts >= m(-10) && r() < 0.4;
    const trader = isHeavy ? heavy : pick(r, ['TR01', 'TR02', 'TR03', 'TR04', 'TR05']);
    const side = isHeavy ? (dir > 0 ? 'BUY' : 'SELL') : r() < 0.5 ? 'BUY' : 'SELL';
    px[ins] = Math.round(px[ins]! * (1 + (isHeavy ? dir * 0.002 : (r() - 0.5) * 0.004)) * 100) / 100;
    out.push(trade(ts, trader, side, pick(r, [100, 200, 500, 1000]), px[ins]!, { instrument: ins, cp: r() < 0.7 ? pick(r, ['TR01', 'TR02', 'TR03', 'TR04', 'TR05']) : undefined }));
  }
  return out;
}

describe('MARKING_THE_CLOSE against a brute-force reference', () => {
  it('finds exactly the reference findings on random closing sessions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.constantFrom(0.1, 0.2, 0.3), fc.constantFrom(0.005, 0.01), (seed, minShare, minMove) => {
        const trades = randomDay(seed, 200);
        const p = { ...P, minShare, minMove };
        expect(flatten(run(trades, p), keyOf)).toEqual(refMarkingTheClose(trades, { ...p, closeTs: CLOSE }));
        return true;
      }),
      { numRuns: 60 },
    );
  });

  it('finds the reference findings on many instruments (last prices before the interval, kept through snapshot/restore)', { timeout: 60_000 }, () => {
    const instruments = Array.from({ length: 150 }, (_, i) => `I${i}`);
    for (const seed of [1, 2]) {
      const trades = randomDay(seed, 3000, instruments);
      const p = { ...P, minShare: 0.05, minMove: 0.003 };
      const got = flatten(run(trades, p), keyOf);
      expect(got).toEqual(refMarkingTheClose(trades, { ...p, closeTs: CLOSE }));
      expect(got.length).toBeGreaterThan(0);
      const shuffled = feed(() => new MarkingTheCloseDetector(p), trades, [], { seed, bound: 5000, restoreEvery: 400 });
      expect(JSON.stringify(shuffled)).toBe(JSON.stringify(run(trades, p)));
    }
  });

  it('the random sessions are not vacuous', () => {
    let n = 0;
    for (let seed = 1; seed <= 20; seed++) n += refMarkingTheClose(randomDay(seed, 200), { ...P, closeTs: CLOSE }).length;
    expect(n).toBeGreaterThan(5);
    expect(n).toBeLessThan(20 * 2 * 5);
  });

  it('gives the same alerts under shuffles within the watermark bound, any batching, and snapshot/restore', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const trades = randomDay(seed, 200);
        const whole = run(trades);
        const shuffled = feed(() => new MarkingTheCloseDetector(P), trades, [], { seed, bound: 5000, restoreEvery: 30 });
        expect(JSON.stringify(shuffled)).toBe(JSON.stringify(whole));
        return true;
      }),
      { numRuns: 30 },
    );
  });
});
