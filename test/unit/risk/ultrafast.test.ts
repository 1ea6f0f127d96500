import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MarketAlert, MarketTrade } from '../../../src/risk/market.js';
import { ULTRAFAST_DEFAULTS, UltrafastDetector, type UltrafastParams } from '../../../src/risk/ultrafast.js';

const T0 = 1_710_511_200_000;

function run(trades: MarketTrade[], p: UltrafastParams = ULTRAFAST_DEFAULTS): MarketAlert[] {
  const alerts: MarketAlert[] = [];
  const u = new UltrafastDetector(p, (a) => alerts.push(a));
  for (const t of trades) u.onTrade(t);
  return alerts;
}

/** The alerts of the tape run up to `cut`, checkpointed, restored into a new detector and run on. */
function runResumed(trades: MarketTrade[], cut: number, p: UltrafastParams = ULTRAFAST_DEFAULTS): MarketAlert[] {
  const got: MarketAlert[] = [];
  const u1 = new UltrafastDetector(p, (a) => got.push(a));
  trades.slice(0, cut).forEach((t) => u1.onTrade(t));
  const u2 = new UltrafastDetector(p, (a) => got.push(a));
  u2.restore(structuredClone(u1.snapshot()));
  trades.slice(cut).forEach((t) => u2.onTrade(t));
  return got;
}

/**
 * Brute force: a trade b is an event when some a <= b - minTrades + 1 has trades a..b all strictly
 * falling (or all strictly rising), ts_b - ts_a < maxDuration and |p_b / p_a - 1| >= minMove; the
 * first such b of each maximal run (run = its first trade and direction) alerts.
 */
function brute(trades: MarketTrade[], p: UltrafastParams): Array<{ instrument: string; eventTime: number; value: number; dir: string }> {
  const out: Array<{ seq: number; instrument: string; eventTime: number; value: number; dir: string }> = [];
  const byInst = new Map<string, number[]>();
  trades.forEach((t, i) => (byInst.get(t.instrument) ?? byInst.set(t.instrument, []).get(t.instrument)!).push(i));
  for (const [name, idx] of byInst) {
    const ts = idx.map((i) => trades[i]!.ts);
    const px = idx.map((i) => trades[i]!.price);
    const alerted = new Set<string>();
    for (let b = 0; b < px.length; b++) {
      for (const dir of [-1, 1]) {
        // Start of the maximal monotone run in this direction that ends at b.
        let s = b;
        while (s > 0 && (dir < 0 ? px[s - 1]! > px[s]! : px[s - 1]! < px[s]!)) s--;
        if (s === b) continue;
        let best = Number.NaN;
        for (let a = s; a <= b - p.minTrades + 1; a++) {
          const move = Math.abs(px[b]! / px[a]! - 1);
          if (ts[b]! - ts[a]! < p.maxDurationMs && move >= p.minMovePct) {
            best = move;
            break; // the earliest start has the largest move
          }
        }
        const run = `${s}:${dir}`;
        if (!Number.isNaN(best) && !alerted.has(run)) {
          alerted.add(run);
          out.push({ seq: idx[b]!, instrument: name, eventTime: ts[b]!, value: best, dir: dir < 0 ? 'down' : 'up' });
        }
      }
    }
  }
  return out.sort((x, y) => x.seq - y.seq).map(({ seq: _s, ...r }) => r);
}

const trade = (ts: number, price: number, instrument = 'ACME'): MarketTrade => ({ ts, instrument, price, qty: 100 });

describe('ULTRAFAST_EXTREME_EVENT', () => {
  it('alerts on 10 strictly falling trades within 1500 ms moving >= 0.8%', () => {
    const ts = Array.from({ length: 10 }, (_, i) => trade(T0 + i * 150, 100 - i * 0.1));
    const a = run(ts);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ type: 'ULTRAFAST_EXTREME_EVENT', severity: 'warning', entity: { instrument: 'ACME' }, eventTime: T0 + 1350, threshold: 0.008 });
    expect(a[0]!.value).toBeCloseTo(0.009, 12);
    expect(a[0]!.message).toBe('ACME ultrafast crash: 10 consecutive trades down 0.9% in 1.4s (limit 0.8% in under 1.5s)');
  });

  it('does not alert on 9 trades, on 1500 ms or more, or on a move under 0.8%', () => {
    expect(run(Array.from({ length: 9 }, (_, i) => trade(T0 + i * 100, 100 - i * 0.2)))).toEqual([]);
    expect(run(Array.from({ length: 10 }, (_, i) => trade(T0 + (i * 1500) / 9, 100 - i * 0.2)))).toEqual([]);
    expect(run(Array.from({ length: 10 }, (_, i) => trade(T0 + i * 100, 100 - i * 0.05)))).toEqual([]);
  });

  it('an equal price breaks the run', () => {
    const px = [100, 99.9, 99.8, 99.7, 99.6, 99.6, 99.5, 99.4, 99.3, 99.2, 99.1];
    expect(run(px.map((p, i) => trade(T0 + i * 100, p)))).toEqual([]);
  });

  it('finds a fast burst at the end of a slow run', () => {
    // 5 slow down-ticks over 10 s, then 10 fast ones: the last 10 qualify.
    const px: number[] = [];
    const ts: number[] = [];
    for (let i = 0; i < 5; i++) {
      px.push(101 - i * 0.1);
      ts.push(T0 + i * 2000);
    }
    for (let i = 0; i < 10; i++) {
      px.push(100 - i * 0.1);
      ts.push(T0 + 10_000 + i * 100);
    }
    const a = run(px.map((p, i) => trade(ts[i]!, p)));
    expect(a.map((x) => x.eventTime)).toEqual([T0 + 10_900]);
  });

  it('a continuing run is one event; the next run can alert again', () => {
    const down = Array.from({ length: 30 }, (_, i) => trade(T0 + i * 100, 100 - i * 0.1));
    const up = Array.from({ length: 12 }, (_, i) => trade(T0 + 3000 + i * 100, 97.2 + i * 0.1));
    const a = run([...down, ...up]);
    expect(a.map((x) => [x.eventTime, x.details.direction])).toEqual([
      [T0 + 900, 'down'],
      [T0 + 3000 + 800, 'up'], // the up run includes the last down trade (97.1) as its first
    ]);
    expect(a[1]!.message).toMatch(/^ACME ultrafast spike: 10 consecutive trades up/);
  });

  it('keeps instruments apart', () => {
    const ts: MarketTrade[] = [];
    for (let i = 0; i < 10; i++) {
      ts.push(trade(T0 + i * 100, 100 - i * 0.1, 'A'));
      ts.push(trade(T0 + i * 100 + 1, 50 + (i % 2), 'B'));
    }
    expect(run(ts).map((a) => a.entity.instrument)).toEqual(['A']);
  });

  it('matches a brute-force search on random tapes (property)', () => {
    const tapeArb = fc.array(
      fc.record({ inst: fc.constantFrom('A', 'B'), dt: fc.integer({ min: 0, max: 400 }), tick: fc.integer({ min: -3, max: 3 }) }),
      { maxLength: 300 },
    );
    const paramsArb = fc.constantFrom(ULTRAFAST_DEFAULTS, { minTrades: 4, maxDurationMs: 600, minMovePct: 0.002 }, { minTrades: 2, maxDurationMs: 1, minMovePct: 0 });
    fc.assert(
      fc.property(tapeArb, paramsArb, fc.boolean(), (tape, p, biased) => {
        const px = new Map<string, number>();
        let t = T0;
        const trades: MarketTrade[] = [];
        for (const s of tape) {
          t += s.dt;
          // Biased tapes fall most of the time, to make long runs.
          const tick = biased ? (s.tick <= 1 ? -1 : s.tick - 1) : s.tick;
          const next = Math.max(1, (px.get(s.inst) ?? 100) + tick * 0.05);
          px.set(s.inst, next);
          trades.push(trade(t, Math.round(next * 100) / 100, s.inst));
        }
        const got = run(trades, p).map((a) => ({ instrument: a.entity.instrument!, eventTime: a.eventTime, value: a.value, dir: a.details.direction as string }));
        expect(got).toEqual(brute(trades, p));
      }),
      { numRuns: 400 },
    );
  });

  it('matches the brute-force search while long runs grow every instrument\'s ring (property)', () => {
    // Trades a few ms apart, 97% of them a tick down: runs of dozens of trades within 1.5 s, so
    // the rings (16 trades at first, shared capacity) grow while other instruments hold runs.
    const tapeArb = fc.array(
      fc.record({ inst: fc.constantFrom('A', 'B', 'C'), dt: fc.integer({ min: 0, max: 30 }), tick: fc.integer({ min: -60, max: 1 }) }),
      { minLength: 100, maxLength: 400 },
    );
    fc.assert(
      fc.property(tapeArb, fc.integer({ min: 0, max: 399 }), (tape, cutAt) => {
        const px = new Map<string, number>();
        let t = T0;
        const trades: MarketTrade[] = [];
        for (const s of tape) {
          t += s.dt;
          const next = Math.max(1, (px.get(s.inst) ?? 100) + (s.tick < 0 ? -0.01 : s.tick * 0.01));
          px.set(s.inst, next);
          trades.push(trade(t, Math.round(next * 100) / 100, s.inst));
        }
        const p = { minTrades: 25, maxDurationMs: 1500, minMovePct: 0.001 };
        const whole = run(trades, p);
        expect(whole.map((a) => ({ instrument: a.entity.instrument!, eventTime: a.eventTime, value: a.value, dir: a.details.direction as string }))).toEqual(brute(trades, p));
        // Through a checkpoint anywhere in the tape too.
        expect(runResumed(trades, cutAt % trades.length, p)).toEqual(whole);
      }),
      { numRuns: 150 },
    );
  });

  it('snapshot -> restore -> continue equals an uninterrupted run', () => {
    const trades: MarketTrade[] = [];
    let p = 100;
    for (let i = 0; i < 300; i++) {
      p += i % 40 < 15 ? -0.1 : (i % 7) - 3 > 0 ? 0.05 : -0.02;
      trades.push(trade(T0 + i * 90, Math.round(p * 100) / 100));
    }
    const whole = run(trades);
    expect(whole.length).toBeGreaterThan(2);
    for (const cut of [5, 50, 151]) expect(runResumed(trades, cut)).toEqual(whole);
  });
});
