import fc from 'fast-check';
import { sampleCorrelation } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import { emptyReference, type ReferenceData } from '../../../src/core/reference.js';
import { CORRELATION_DEFAULTS, CorrelationMatrix, CorrelationWindow, historicalCorrelation, pearsonFromSums, type CorrelationParams, type CorrelationRow } from '../../../src/risk/correlation.js';
import type { MarketAlert, MarketQuote } from '../../../src/risk/market.js';

const T0 = Date.parse('2024-03-15T14:00:00Z'); // a multiple of 5 min
const S = 1000;

function reference(names: string[], history?: Record<string, number[]>): ReferenceData {
  const ref = emptyReference();
  for (const n of names) ref.instruments.set(n, { instrument: n, sector: 'X', currency: 'USD', tier: 1, prevClose: 100, adv: 0, isIndex: false });
  if (history) {
    const len = Object.values(history)[0]!.length;
    ref.history = { dates: Array.from({ length: len }, (_, i) => `d${i}`), closes: new Map(Object.entries(history).map(([k, v]) => [k, Float64Array.from(v)])) };
  }
  return ref;
}

function run(quotes: MarketQuote[], ref: ReferenceData, p: CorrelationParams = CORRELATION_DEFAULTS): { rows: CorrelationRow[]; alerts: MarketAlert[]; windows: number[] } {
  const rows: CorrelationRow[] = [];
  const alerts: MarketAlert[] = [];
  const windows: number[] = [];
  const c = new CorrelationMatrix(p, ref, (a) => alerts.push(a), (r, ws) => {
    rows.push(...r);
    windows.push(ws);
  });
  for (const q of quotes) {
    c.advance(q.ts);
    c.onQuote(q);
  }
  c.finish();
  return { rows, alerts, windows };
}

/**
 * The reference computation of CONTRACTS.md 4 (Correlation matrix), by brute force: bars from the
 * quote list by scanning, then a two-pass Pearson per pair over the bars where both returns exist.
 */
function bruteRows(quotes: MarketQuote[], names: string[], p: CorrelationParams): CorrelationRow[] {
  const windows = [...new Set(quotes.map((q) => Math.floor(q.ts / p.windowMs) * p.windowMs))].sort((a, b) => a - b);
  const M = p.windowMs / p.stepMs;
  const closeAt = (inst: string, t: number): number => {
    let mid = Number.NaN;
    for (const q of quotes) if (q.instrument === inst && q.ts < t) mid = (q.bid + q.ask) / 2; // ties: the later one
    return mid;
  };
  const rows: CorrelationRow[] = [];
  for (const ws of windows) {
    // The instruments known when the window closes: the reference ones and those quoted before its end.
    const all = [...new Set([...names, ...quotes.filter((q) => q.ts < ws + p.windowMs).map((q) => q.instrument)])].sort();
    const ret = new Map<string, number[]>();
    for (const inst of all) {
      const closes = Array.from({ length: M + 1 }, (_, j) => closeAt(inst, ws + j * p.stepMs));
      ret.set(inst, Array.from({ length: M }, (_, j) => closes[j + 1]! / closes[j]! - 1));
    }
    for (let a = 0; a < all.length; a++) {
      for (let b = a + 1; b < all.length; b++) {
        const xs: number[] = [];
        const ys: number[] = [];
        ret.get(all[a]!)!.forEach((x, j) => {
          const y = ret.get(all[b]!)![j]!;
          if (!Number.isNaN(x) && !Number.isNaN(y)) {
            xs.push(x);
            ys.push(y);
          }
        });
        const n = xs.length;
        let rho: number | null = null;
        if (n >= p.minObs) {
          const mx = xs.reduce((s, v) => s + v, 0) / n;
          const my = ys.reduce((s, v) => s + v, 0) / n;
          let cxy = 0;
          let vx = 0;
          let vy = 0;
          for (let k = 0; k < n; k++) {
            cxy += (xs[k]! - mx) * (ys[k]! - my);
            vx += (xs[k]! - mx) ** 2;
            vy += (ys[k]! - my) ** 2;
          }
          rho = vx > 0 && vy > 0 ? cxy / Math.sqrt(vx * vy) : null;
        }
        rows.push({ window_start: ws, window_end: ws + p.windowMs, instrument_a: all[a]!, instrument_b: all[b]!, correlation: rho, n });
      }
    }
  }
  return rows;
}

function expectSameRows(got: CorrelationRow[], want: CorrelationRow[]): void {
  expect(got.map((r) => [r.window_start, r.window_end, r.instrument_a, r.instrument_b, r.n, r.correlation === null])).toEqual(
    want.map((r) => [r.window_start, r.window_end, r.instrument_a, r.instrument_b, r.n, r.correlation === null]),
  );
  got.forEach((r, i) => {
    if (r.correlation !== null) expect(Math.abs(r.correlation - want[i]!.correlation!)).toBeLessThan(1e-9);
  });
}

/** Quotes from a one-factor model: each event moves every level, then quotes some instruments. */
function factorQuotes(steps: Array<{ dt: number; f: number; e: number[]; who: number }>, names: string[], betas: number[]): MarketQuote[] {
  const level = names.map(() => 100);
  const out: MarketQuote[] = [];
  let ts = T0 - 7 * S;
  for (const s of steps) {
    ts += s.dt;
    names.forEach((_, i) => (level[i]! *= 1 + betas[i]! * s.f * 1e-4 + (s.e[i] ?? 0) * 1e-4));
    names.forEach((n, i) => {
      if ((s.who >> i) & 1) {
        const mid = Math.round(level[i]! * 100) / 100;
        out.push({ ts, instrument: n, bid: mid - 0.01, ask: mid + 0.01, bidSize: 100, askSize: 100 });
      }
    });
  }
  return out;
}

describe('correlation matrix vs brute force', () => {
  const small: CorrelationParams = { windowMs: 60 * S, stepMs: S, minObs: 10, highAbs: 0.9, breakAbs: 0.5 };

  it('matches bars built by brute force and a two-pass Pearson, to 1e-9 (property)', () => {
    const names = ['A', 'B', 'C', 'D'];
    const stepArb = fc.record({
      // Whole seconds half of the time: quotes exactly at grid instants belong to the next bar.
      dt: fc.oneof(fc.integer({ min: 0, max: 3 }).map((k) => k * S), fc.integer({ min: 0, max: 2500 }), fc.constant(200 * S)),
      f: fc.integer({ min: -20, max: 20 }),
      e: fc.array(fc.integer({ min: -10, max: 10 }), { minLength: 4, maxLength: 4 }),
      who: fc.integer({ min: 1, max: 15 }),
    });
    let nonNull = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 200 }), fc.boolean(), (steps, withRef) => {
        // With reference data, 'A' and 'Z' are known up front ('Z' is never quoted); 'D' only ever appears in quotes.
        const ref = reference(withRef ? ['A', 'Z'] : []);
        const quotes = factorQuotes(steps, names, [1, 0.8, -0.5, 0]);
        const got = run(quotes, ref, small);
        nonNull += got.rows.filter((r) => r.correlation !== null).length;
        expectSameRows(got.rows, bruteRows(quotes, withRef ? ['A', 'Z'] : [], small));
      }),
      { numRuns: 150 },
    );
    expect(nonNull).toBeGreaterThan(200);
  });

  it('matches on the default 5 min / 1 s grid with late starters, gaps and ties', () => {
    const names = ['A', 'B', 'C', 'D', 'E'];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const steps = Array.from({ length: 2500 }, (_, i) => ({
      dt: i === 1200 ? 1_000_000 : Math.floor((rnd() + 1) * 700),
      f: rnd() * 20,
      e: names.map(() => rnd() * 8),
      // 'E' starts quoting a third of the way in (a late starter in its first window).
      who: i < 800 ? 15 & Math.floor((rnd() + 1) * 8 + 1) : Math.floor((rnd() + 1) * 15.99 + 1),
    }));
    const quotes = factorQuotes(steps, names, [1, 1.2, 0.7, -0.4, 0.9]);
    const got = run(quotes, reference(['A', 'B']));
    const want = bruteRows(quotes, ['A', 'B'], CORRELATION_DEFAULTS);
    expect(got.rows.length).toBe(want.length);
    expect(got.rows.filter((r) => r.correlation !== null).length).toBeGreaterThan(20);
    expectSameRows(got.rows, want);
  });

  it('null below minObs and for a zero variance; n counts returns defined on both sides', () => {
    // B is quoted once, before the window: its returns are all 0 (zero variance).
    const quotes: MarketQuote[] = [{ ts: T0 - 1, instrument: 'B', bid: 10, ask: 10.02, bidSize: 1, askSize: 1 }];
    for (let i = 0; i < 60; i++) quotes.push({ ts: T0 + i * S + 500, instrument: 'A', bid: 100 + (i % 3), ask: 100.02 + (i % 3), bidSize: 1, askSize: 1 });
    const { rows } = run(quotes, reference([]));
    // A's first quote is in bar 1 (at 0.5 s): closes from bar 1, returns from bar 2: 59 of them.
    expect(rows.filter((r) => r.window_start === T0)).toEqual([{ window_start: T0, window_end: T0 + 300 * S, instrument_a: 'A', instrument_b: 'B', correlation: null, n: 299 }]);
    const few = run(quotes.slice(0, 20), reference([]), { ...small, minObs: 100 });
    expect(few.rows.every((r) => r.correlation === null)).toBe(true);
  });
});

describe('correlation pair sums', () => {
  it('sum of r_a r_b per pair is bit-identical to a plain pair-by-pair loop, bar by bar (many instruments moving per bar)', () => {
    // 13 instruments (the per-bar pair loop goes four rows at a time: blocks and a remainder),
    // each quoted in most bars, some quotes leaving the mid unchanged (a zero return), one
    // instrument only from bar 10 on (its first close mid-window).
    const names = Array.from({ length: 13 }, (_, i) => `I${String(i).padStart(2, '0')}`);
    let seed = 11;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const level = names.map(() => 100);
    const quotes: MarketQuote[] = [];
    const BARS = 40;
    for (let j = 0; j < BARS; j++) {
      names.forEach((n, i) => {
        if (rnd() < 0.25 || (i === 12 && j < 10)) return;
        if (rnd() < 0.8) level[i] = Math.round(level[i]! * (1 + (rnd() - 0.5) * 0.01) * 100) / 100;
        quotes.push({ ts: T0 + j * S + Math.floor(rnd() * 999), instrument: n, bid: level[i]! - 0.01, ask: level[i]! + 0.01, bidSize: 1, askSize: 1 });
      });
    }
    quotes.sort((x, y) => x.ts - y.ts);
    expectPairSumsOfPlainLoop(names, quotes, BARS);
  });

  it('a bar with an infinite return takes the sparse loop: pairs with an unmoved side stay as they are (not NaN)', () => {
    // 9 instruments all moving each bar (the WebAssembly path), one of them once from a tiny mid
    // to a huge one (r = Infinity) while two others do not move in that bar.
    const names = Array.from({ length: 9 }, (_, i) => `J${i}`);
    const quotes: MarketQuote[] = [];
    const BARS = 12;
    for (let j = 0; j < BARS; j++) {
      names.forEach((n, i) => {
        if (j === 6 && (i === 2 || i === 7)) return;
        const mid = i === 4 && j === 5 ? 1e-300 : i === 4 && j === 6 ? 1e300 : 100 + ((i * 7 + j * 13) % 17) / 10;
        quotes.push({ ts: T0 + j * S + 10 * i, instrument: n, bid: mid, ask: mid, bidSize: 1, askSize: 1 });
      });
    }
    expectPairSumsOfPlainLoop(names, quotes, BARS, 100);
  });

  it('bars buffered for the kernel, sparse bars between them and instruments added mid-window keep each sum in bar order', () => {
    // 20 instruments of the reference and two first seen in quotes (bars 70 and 150: a new
    // instrument, then a larger capacity), over 200 bars (more than a block of buffered bars):
    // bars where most move (buffered), few move (the sparse loop, after the buffered bars), none.
    const names = Array.from({ length: 20 }, (_, i) => `K${String(i).padStart(2, '0')}`);
    const all = [...names, 'L00', 'L01'];
    let seed = 5;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const level = all.map(() => 100);
    const quotes: MarketQuote[] = [];
    const BARS = 200;
    for (let j = 0; j < BARS; j++) {
      const kind = rnd();
      const moveP = kind < 0.6 ? 0.9 : kind < 0.85 ? 0.15 : 0;
      all.forEach((n, i) => {
        if ((i === 20 && j < 70) || (i === 21 && j < 150) || rnd() >= moveP) return;
        level[i] = Math.round(level[i]! * (1 + (rnd() - 0.5) * 0.01) * 100) / 100;
        quotes.push({ ts: T0 + j * S + Math.floor(rnd() * 999), instrument: n, bid: level[i]! - 0.01, ask: level[i]! + 0.01, bidSize: 1, askSize: 1 });
      });
    }
    quotes.sort((x, y) => x.ts - y.ts);
    expectPairSumsOfPlainLoop(names, quotes, BARS, 10_000);
  });
});

/** Runs `quotes` through a matrix for `bars` bars and expects its sxy bit for bit equal to a plain pair-by-pair loop. */
function expectPairSumsOfPlainLoop(names: string[], quotes: MarketQuote[], bars: number, minPairs = 1000): void {
  {
    const BARS = bars;
    const c = new CorrelationMatrix(CORRELATION_DEFAULTS, reference(names), () => undefined);
    for (const q of quotes) {
      c.advance(q.ts);
      c.onQuote(q);
    }
    c.advance(T0 + BARS * S);
    const snap = c.snapshot();
    const cap = snap.cap;
    // The reference: closes at each grid instant (the latest mid before it), the returns where
    // both closes exist, and each pair's sum in bar order.
    const closeAt = (inst: string, t: number): number => {
      let mid = Number.NaN;
      for (const q of quotes) if (q.instrument === inst && q.ts < t) mid = (q.bid + q.ask) / 2;
      return mid;
    };
    const idx = c.instruments;
    const want = new Float64Array(cap * cap);
    let pairsAdded = 0;
    for (let j = 1; j <= BARS; j++) {
      const r = idx.map((n) => closeAt(n, T0 + j * S) / closeAt(n, T0 + (j - 1) * S) - 1);
      for (let a = 0; a < idx.length; a++) {
        for (let b = a + 1; b < idx.length; b++) {
          const x = r[a]!;
          const y = r[b]!;
          if (Number.isNaN(x) || Number.isNaN(y) || x === 0 || y === 0) continue;
          want[a * cap + b] = want[a * cap + b]! + x * y;
          pairsAdded++;
        }
      }
    }
    expect(pairsAdded).toBeGreaterThan(minPairs);
    const got = Array.from(snap.sxy);
    const bad = got.findIndex((v, i) => !Object.is(v, want[i]));
    expect(bad).toBe(-1);
  }
}

describe('correlation with and without WebAssembly', () => {
  it('every window, correlation and count, and every alert are bit-identical to the plain JavaScript path', () => {
    // 24 instruments over 40 minutes (8 windows): most quoted in most bars, some bars with few
    // quotes (the sparse loop) or none, late starters and an instrument first seen mid-day
    // (late pairs, short windows below minObs), and a pair of instruments that move together
    // (CORRELATION_HIGH and BREAK episodes against the history).
    const names = Array.from({ length: 24 }, (_, i) => `W${String(i).padStart(2, '0')}`);
    let seed = 41;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const history: Record<string, number[]> = {};
    names.forEach((n, i) => {
      let c = 30 + i;
      history[n] = Array.from({ length: 80 }, () => (c *= 1 + (rnd() - 0.5) * 0.03));
    });
    const all = [...names, 'X99'];
    const level = all.map(() => 100);
    const quotes: MarketQuote[] = [];
    for (let j = 0; j < 2400; j++) {
      const moveP = j % 9 === 4 ? 0.1 : j % 13 === 7 ? 0 : 0.85;
      const f = (rnd() - 0.5) * 0.004;
      all.forEach((n, i) => {
        if ((i === 5 && j < 200) || (i === 9 && j > 700 && j < 1000) || (i === 24 && j < 1478) || rnd() >= moveP) return;
        level[i] = level[i]! * (1 + (i < 2 ? f : (rnd() - 0.5) * 0.004));
        quotes.push({ ts: T0 + j * S + Math.floor(rnd() * 999), instrument: n, bid: level[i]! - 0.001, ask: level[i]! + 0.001, bidSize: 1, askSize: 1 });
      });
    }
    quotes.sort((x, y) => x.ts - y.ts);
    const ref = reference(names, history);
    const runOnce = () => {
      const windows: Array<{ rho: Float64Array; n: Float64Array; ws: number }> = [];
      const alerts: MarketAlert[] = [];
      const c = new CorrelationMatrix(CORRELATION_DEFAULTS, ref, (a) => alerts.push(a), undefined, (w) => windows.push({ rho: w.rho, n: w.n, ws: w.windowStart }));
      for (const q of quotes) {
        c.advance(q.ts);
        c.onQuote(q);
      }
      c.finish();
      return { windows, alerts, kern: (c as unknown as { kern: unknown }).kern };
    };
    const withWasm = runOnce();
    const g = globalThis as { WebAssembly?: unknown };
    const saved = g.WebAssembly;
    g.WebAssembly = undefined;
    let plain: ReturnType<typeof runOnce>;
    try {
      plain = runOnce();
    } finally {
      g.WebAssembly = saved;
    }
    expect(withWasm.kern).toBeDefined();
    expect(plain.kern).toBeUndefined();
    expect(withWasm.windows.length).toBe(8);
    expect(withWasm.windows.map((w) => w.ws)).toEqual(plain.windows.map((w) => w.ws));
    let defined = 0;
    withWasm.windows.forEach((w, x) => {
      const p = plain.windows[x]!;
      expect(Array.from(w.n)).toEqual(Array.from(p.n));
      const bad = Array.from(w.rho).findIndex((v, i) => !(Object.is(v, p.rho[i]) || (Number.isNaN(v) && Number.isNaN(p.rho[i]!))));
      expect(bad).toBe(-1);
      defined += Array.from(w.rho).filter((v) => !Number.isNaN(v)).length;
    });
    expect(defined).toBeGreaterThan(1500);
    // Windows with pairs below minObs (the late instrument) and pairs whose sides started apart.
    expect(withWasm.windows.some((w) => Array.from(w.rho).some(Number.isNaN))).toBe(true);
    expect(withWasm.windows.some((w) => new Set(w.n).size > 2)).toBe(true);
    expect(withWasm.alerts).toEqual(plain.alerts);
    expect(withWasm.alerts.length).toBeGreaterThan(0);
  });
});

describe('correlation alerts', () => {
  const p: CorrelationParams = { windowMs: 60 * S, stepMs: S, minObs: 10, highAbs: 0.9, breakAbs: 0.5 };
  /** One window of quotes for A and B: B follows A (rho 1) or moves on its own. */
  function windowQuotes(w: number, together: boolean): MarketQuote[] {
    const out: MarketQuote[] = [];
    for (let i = 0; i < 59; i++) {
      const ts = T0 + w * 60 * S + i * S + 100;
      const a = 100 + ((i * 7) % 5);
      const b = together ? 2 * a : 200 + ((i * 3) % 4) * ((i * 11) % 3);
      out.push({ ts, instrument: 'A', bid: a - 0.01, ask: a + 0.01, bidSize: 1, askSize: 1 });
      out.push({ ts, instrument: 'B', bid: b - 0.02, ask: b + 0.02, bidSize: 1, askSize: 1 });
    }
    return out;
  }

  it('CORRELATION_HIGH once per episode: a pair already high in the previous window does not alert again', () => {
    const quotes = [true, true, false, true].flatMap((t, w) => windowQuotes(w, t));
    const { alerts, rows } = run(quotes, reference(['A', 'B']), p);
    expect(rows.map((r) => (r.correlation === null ? null : Math.round(r.correlation * 100) / 100))).toEqual([1, 1, expect.any(Number), 1]);
    expect(Math.abs(rows[2]!.correlation!)).toBeLessThan(0.9);
    expect(alerts.map((a) => [a.type, a.windowStart, a.eventTime])).toEqual([
      ['CORRELATION_HIGH', T0, T0 + 60 * S - 1],
      ['CORRELATION_HIGH', T0 + 180 * S, T0 + 240 * S - 1],
    ]);
    expect(alerts[0]).toMatchObject({ entity: { instrumentA: 'A', instrumentB: 'B' }, severity: 'warning', threshold: 0.9, windowEnd: T0 + 60 * S });
    expect(alerts[0]!.message).toBe('A/B correlation 1 over the 1m window (limit 0.9 in absolute value)');
  });

  it('CORRELATION_BREAK against the correlation of daily returns in the history', () => {
    // Daily history where A and B move together (rho_hist ~ 1): an intraday window where B moves alone breaks.
    const a = [100, 101, 99, 102, 103, 101, 104];
    const history = { A: a, B: a.map((x) => x * 2 + (x % 2) * 0.01) };
    const ref = reference(['A', 'B'], history);
    const quotes = [false, false, true].flatMap((t, w) => windowQuotes(w, t));
    const { alerts, rows } = run(quotes, ref, p);
    const hist = historicalCorrelation(ref.history!, 'A', 'B');
    expect(hist).toBeGreaterThan(0.99);
    expect(alerts.map((x) => [x.type, x.windowStart])).toEqual([
      ['CORRELATION_BREAK', T0],
      ['CORRELATION_HIGH', T0 + 120 * S],
    ]);
    expect(alerts[0]!.value).toBeCloseTo(Math.abs(rows[0]!.correlation! - hist), 12);
    expect(alerts[0]!.details).toMatchObject({ historical: hist });
    expect(alerts[0]!.message).toMatch(/^A\/B correlation -?0\.\d+ over the 1m window against 1 in daily history: a break of \d\.\d+ \(limit 0\.5\)$/);
  });

  it('a null window neither starts nor ends an episode', () => {
    // In window 1 only A moves: B's returns are all 0, a zero variance, so the correlation is null.
    const quotes = [...windowQuotes(0, true), ...windowQuotes(1, true).filter((q) => q.instrument === 'A'), ...windowQuotes(2, true)];
    const { alerts, rows } = run(quotes, reference(['A', 'B']), p);
    expect(rows.map((r) => r.correlation === null)).toEqual([false, true, false]);
    expect(alerts).toHaveLength(1);
  });
});

describe('historical correlation and the Pearson formula', () => {
  it("every pair's rho_hist in the matrix is bit-identical to a pair-by-pair pass over the closes (returns worked out once per instrument)", () => {
    // Closes with gaps (NaN), a zero (an infinite return), series of different lengths and one
    // instrument without history.
    const names = Array.from({ length: 9 }, (_, i) => `I${i}`);
    let seed = 17;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const history: Record<string, number[]> = {};
    names.slice(0, 8).forEach((n, i) => {
      let c = 50 + i * 10;
      history[n] = Array.from({ length: 40 - (i % 3) * 5 }, (_, d) => {
        c *= 1 + (rnd() - 0.5) * 0.04;
        return d === 7 + i ? Number.NaN : i === 5 && d === 12 ? 0 : c;
      });
    });
    expectHistOfPlainPass(names, history, 40, 40);
  });

  it('rho_hist of instruments with a full history (one pass over the days for all pairs) is bit-identical to the pair-by-pair pass', () => {
    // 150 days (several blocks of days in the kernel): 26 instruments with every close, one with
    // a gap, one shorter, one with a zero close, one with a constant history, one without
    // history; their names out of index order against the pairs (Z before A).
    const names = [...Array.from({ length: 26 }, (_, i) => `F${String(25 - i).padStart(2, '0')}`), 'GAP', 'SHORT', 'ZERO', 'FLAT', 'NONE'];
    let seed = 29;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const history: Record<string, number[]> = {};
    names.slice(0, 30).forEach((n, i) => {
      let c = 20 + i * 3;
      history[n] = Array.from({ length: n === 'SHORT' ? 120 : 150 }, (_, d) => {
        c *= 1 + (rnd() - 0.5) * 0.05 * (d % 7 === 3 ? 3 : 1);
        return n === 'FLAT' ? 40 : n === 'GAP' && d === 70 ? Number.NaN : n === 'ZERO' && d === 90 ? 0 : c;
      });
    });
    expectHistOfPlainPass(names, history, 150, 350);
  });
  it('historicalCorrelation equals a two-pass sample correlation of the daily returns, skipping missing closes', () => {
    const a = [100, 101, 99.5, 102, Number.NaN, 103, 101.2, 104, 103.3, 106];
    const b = [50, 50.2, 49.1, 51, 51.5, 51.2, 50.1, 52.5, 51.8, 52.1];
    const ref = reference([], { A: a, B: b });
    const rets = (c: number[]) => c.slice(1).map((x, i) => x / c[i]! - 1);
    const ra = rets(a);
    const rb = rets(b);
    const keep = ra.map((x, i) => Number.isFinite(x) && Number.isFinite(rb[i]!));
    const want = sampleCorrelation(ra.filter((_, i) => keep[i]), rb.filter((_, i) => keep[i]));
    expect(historicalCorrelation(ref.history!, 'A', 'B')).toBeCloseTo(want, 12);
    expect(historicalCorrelation(ref.history!, 'A', 'NOPE')).toBeNaN();
  });

  it('pearsonFromSums', () => {
    expect(pearsonFromSums(3, 6, 6, 14, 14, 14, 2)).toBeCloseTo(1, 12);
    expect(pearsonFromSums(3, 6, -6, 14, 14, -14, 2)).toBeCloseTo(-1, 12);
    expect(pearsonFromSums(3, 3, 6, 3, 14, 6, 2)).toBeNaN(); // x constant
    expect(pearsonFromSums(3, 6, 6, 14, 14, 14, 4)).toBeNaN(); // below minObs
  });
});

describe('correlation state', () => {
  it('snapshot -> restore -> continue equals an uninterrupted run, also mid-window with a late starter', () => {
    const names = ['A', 'B', 'C'];
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const steps = Array.from({ length: 1500 }, (_, i) => ({ dt: Math.floor((rnd() + 1) * 600), f: rnd() * 20, e: names.map(() => rnd() * 10), who: i < 300 ? 3 : 7 }));
    const quotes = factorQuotes(steps, names, [1, 0.9, 1.1]);
    const ref = reference(['A']);
    const whole = run(quotes, ref);
    for (const cut of [100, 333, 1200]) {
      const rows: CorrelationRow[] = [];
      const alerts: MarketAlert[] = [];
      const onWindow = (r: CorrelationRow[]) => rows.push(...r);
      const c1 = new CorrelationMatrix(CORRELATION_DEFAULTS, ref, (a) => alerts.push(a), onWindow);
      for (const q of quotes.slice(0, cut)) {
        c1.advance(q.ts);
        c1.onQuote(q);
      }
      const c2 = new CorrelationMatrix(CORRELATION_DEFAULTS, ref, (a) => alerts.push(a), onWindow);
      c2.restore(structuredClone(c1.snapshot()));
      for (const q of quotes.slice(cut)) {
        c2.advance(q.ts);
        c2.onQuote(q);
      }
      c2.finish();
      expect(rows).toEqual(whole.rows);
      expect(alerts).toEqual(whole.alerts);
    }
  });

  it('rejects a window that is not a multiple of the step', () => {
    expect(() => new CorrelationMatrix({ ...CORRELATION_DEFAULTS, windowMs: 1500, stepMs: 1000 }, emptyReference(), () => undefined)).toThrow(/multiple/);
  });

  it('the columns of closed windows are their rows (NaN correlation as null), window after window', () => {
    const names = ['ACME', 'BOLT', 'CART', 'DATA'];
    const w1 = new CorrelationWindow(T0, T0 + 300_000, names, Float64Array.of(0.5, Number.NaN, -0.25, 1, 0, -0), Float64Array.of(30, 2, 31, 32, 33, 34));
    const w2 = new CorrelationWindow(T0 + 300_000, T0 + 600_000, names.slice(0, 2), Float64Array.of(0.125), Float64Array.of(299));
    const cols = CorrelationWindow.columns([w1, w2]);
    expect(cols.length).toBe(7);
    const rows = cols.toRows();
    expect(rows).toEqual([...w1.rows(), ...w2.rows()]);
    expect(rows[1]!['correlation']).toBeNull();
    expect(Object.is(rows[5]!['correlation'], -0)).toBe(true);
    expect(CorrelationWindow.columns([]).length).toBe(0);
  });

  it("one window's columns are its rows: its own correlation array without a NaN, a null per NaN otherwise", () => {
    const names = ['ACME', 'BOLT', 'CART'];
    const full = new CorrelationWindow(T0, T0 + 300_000, names, Float64Array.of(0.5, -0, 1), Float64Array.of(300, 300, 300));
    const cols = CorrelationWindow.columns([full]);
    expect(cols.toRows()).toEqual(full.rows());
    expect(cols.columns['correlation']).toBe(full.rho);
    expect(cols.columns['n']).toBe(full.n);
    const gaps = new CorrelationWindow(T0, T0 + 300_000, names, Float64Array.of(0.25, Number.NaN, -0.75), Float64Array.of(300, 2, 300));
    const rows = CorrelationWindow.columns([gaps]).toRows();
    expect(rows).toEqual(gaps.rows());
    expect(rows.map((r) => r['correlation'])).toEqual([0.25, null, -0.75]);
  });

  it("consecutive windows' columns: a window's start column is the previous window's end column, with the right times and lengths", () => {
    const names = ['ACME', 'BOLT', 'CART'];
    const rho = Float64Array.of(0.5, -0.5, 0.25);
    const n = Float64Array.of(300, 300, 300);
    // Three consecutive windows, a gap, one over fewer names, then the first window again.
    const ws = [T0, T0 + 300_000, T0 + 600_000, T0 + 1_500_000];
    const wins = ws.map((t) => new CorrelationWindow(t, t + 300_000, names, rho, n));
    wins.push(new CorrelationWindow(T0 + 1_800_000, T0 + 2_100_000, names.slice(0, 2), Float64Array.of(0.75), Float64Array.of(12)));
    wins.push(new CorrelationWindow(T0, T0 + 300_000, names, rho, n));
    const cols = wins.map((w) => w.columns());
    wins.forEach((w, i) => {
      expect(cols[i]!.toRows()).toEqual(w.rows());
      expect(Array.from(cols[i]!.columns['window_start'] as Float64Array)).toEqual(new Array(w.size).fill(w.windowStart));
      expect(Array.from(cols[i]!.columns['window_end'] as Float64Array)).toEqual(new Array(w.size).fill(w.windowEnd));
    });
    expect(cols[1]!.columns['window_start']).toBe(cols[0]!.columns['window_end']);
    expect(cols[2]!.columns['window_start']).toBe(cols[1]!.columns['window_end']);
    expect(cols[3]!.columns['window_start']).not.toBe(cols[2]!.columns['window_end']);
  });

  it('windows kept until the end read the counts they were closed with (a count array is shared only while equal)', () => {
    // C is quoted from the middle of the second window on: pairs with C count 0, then some, then
    // every return; the later windows have equal counts (one shared array).
    const names = ['A', 'B', 'C'];
    let seed = 3;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const level = [100, 50, 20];
    const quotes: MarketQuote[] = [];
    for (let j = 0; j < 1200; j++) {
      names.forEach((n, i) => {
        if (i === 2 && j < 450) return;
        level[i] = Math.round(level[i]! * (1 + (rnd() - 0.5) * 0.01) * 100) / 100;
        quotes.push({ ts: T0 + j * S + 100 + i, instrument: n, bid: level[i]! - 0.01, ask: level[i]! + 0.01, bidSize: 1, askSize: 1 });
      });
    }
    const eager: CorrelationRow[] = [];
    const kept: CorrelationWindow[] = [];
    const c = new CorrelationMatrix(CORRELATION_DEFAULTS, reference(names), () => undefined, (r) => void eager.push(...r), (w) => void kept.push(w));
    for (const q of quotes) {
      c.advance(q.ts);
      c.onQuote(q);
    }
    c.finish();
    expect(kept.length).toBe(4);
    expect(kept.flatMap((w) => w.rows())).toEqual(eager);
    expect(new Set(kept.map((w) => Array.from(w.n).join())).size).toBe(3);
    expect(kept[3]!.n).toBe(kept[2]!.n);
    expect(kept[1]!.n).not.toBe(kept[0]!.n);
    expectSameRows(eager, bruteRows(quotes, names, CORRELATION_DEFAULTS));
  });
});

/**
 * Expects every pair's rho_hist in a matrix over `names` with `history` (and in one restored
 * from its snapshot) bit for bit equal to the plain pass of historicalCorrelation as it was:
 * both returns from the closes, per pair.
 */
function expectHistOfPlainPass(names: string[], history: Record<string, number[]>, days: number, minDefined: number): void {
  const ref = reference(names);
  ref.history = { dates: Array.from({ length: days }, (_, d) => `d${d}`), closes: new Map(Object.entries(history).map(([k, v]) => [k, Float64Array.from(v)])) };
  const plain = (a: string, b: string): number => {
    const ca = ref.history!.closes.get(a);
    const cb = ref.history!.closes.get(b);
    if (ca === undefined || cb === undefined) return Number.NaN;
    let n = 0;
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    for (let d = 1; d < Math.min(ca.length, cb.length); d++) {
      const x = ca[d]! / ca[d - 1]! - 1;
      const y = cb[d]! / cb[d - 1]! - 1;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      n++;
      sx += x;
      sy += y;
      sxx += x * x;
      syy += y * y;
      sxy += x * y;
    }
    return pearsonFromSums(n, sx, sy, sxx, syy, sxy, 2);
  };
  // The matrix's rho_hist per pair (i < k at i * cap + k), as restored from a snapshot too, with
  // and without WebAssembly (the sums of products in the kernel or in a loop).
  const matrices: CorrelationMatrix[] = [];
  const g = globalThis as { WebAssembly?: unknown };
  const saved = g.WebAssembly;
  for (const wasm of [true, false]) {
    if (!wasm) g.WebAssembly = undefined;
    try {
      const c = new CorrelationMatrix(CORRELATION_DEFAULTS, ref, () => undefined);
      const again = new CorrelationMatrix(CORRELATION_DEFAULTS, emptyReference(), () => undefined);
      Object.assign(again, { ref });
      again.restore(structuredClone(c.snapshot()));
      expect((c as unknown as { kern: unknown }).kern !== undefined).toBe(wasm);
      matrices.push(c, again);
    } finally {
      g.WebAssembly = saved;
    }
  }
  let defined = 0;
  for (const m of matrices) {
    const { hist, cap, sxy } = m as unknown as { hist: Float64Array; cap: number; sxy: Float64Array };
    const idx = m.instruments;
    for (let i = 0; i < idx.length; i++) {
      for (let k = i + 1; k < idx.length; k++) {
        const want = plain(idx[i]! < idx[k]! ? idx[i]! : idx[k]!, idx[i]! < idx[k]! ? idx[k]! : idx[i]!);
        expect(Object.is(hist[i * cap + k], want)).toBe(true);
        expect(Object.is(historicalCorrelation(ref.history!, idx[i]!, idx[k]!), want)).toBe(true);
        if (!Number.isNaN(want)) defined++;
      }
    }
    // The pair sums of the bars start from zero.
    expect(sxy.every((v) => Object.is(v, 0))).toBe(true);
  }
  expect(defined).toBeGreaterThan(2 * minDefined);
}
