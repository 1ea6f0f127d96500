/**
 * The data structures behind the market-risk calculators' fast paths: typed rings that grow
 * (ultrafast runs, LULD's queues, the liquidity baseline, the market table's mark changes, the
 * flash-crash books), correlation windows kept as typed arrays, and the rule tape that drives
 * every rule step of a `marketEvents` input. Each is checked against a brute-force computation
 * past its initial capacity, and through a snapshot/restore in the middle.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import '../../../src/topology/steps/market-risk.js';
import type { Alert } from '../../../src/core/alerts.js';
import { JobContext } from '../../../src/core/context.js';
import { END_OF_TIME, Watermark, type Element } from '../../../src/core/element.js';
import { emptyReference, type ReferenceData } from '../../../src/core/reference.js';
import { ManualClock } from '../../../src/core/time.js';
import { CORRELATION_DEFAULTS, CorrelationMatrix, CorrelationWindow, type CorrelationRow } from '../../../src/risk/correlation.js';
import { FLASH_CRASH_DEFAULTS, FlashCrashDetector } from '../../../src/risk/flash-crash.js';
import { LIQUIDITY_DEFAULTS, LiquidityMonitor, type LiquidityParams, type LiquidityWindow } from '../../../src/risk/liquidity.js';
import { LULD_DEFAULTS, LuldMonitor } from '../../../src/risk/luld.js';
import { instrumentId, MarketStateTracker, type MarketAlert, type MarketQuote, type MarketTrade } from '../../../src/risk/market.js';
import { ULTRAFAST_DEFAULTS, UltrafastDetector } from '../../../src/risk/ultrafast.js';
import { compileTopology } from '../../../src/topology/index.js';

const T0 = Date.parse('2024-03-15T14:00:00Z');
const S = 1000;

function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
}

function reference(names: string[], prevClose = 100, isIndex = false): ReferenceData {
  const ref = emptyReference();
  for (const n of names) ref.instruments.set(n, { instrument: n, sector: 'X', currency: 'USD', tier: 1, prevClose, adv: 1e6, isIndex });
  return ref;
}

const quote = (ts: number, instrument: string, mid: number, half = 0.01): MarketQuote => ({ ts, instrument, bid: mid - half, ask: mid + half, bidSize: 1000, askSize: 1000 });
const trade = (ts: number, instrument: string, price: number): MarketTrade => ({ ts, instrument, price, qty: 100 });

describe('ultrafast runs in a typed ring', () => {
  it('a run far longer than the ring holds alerts where the brute-force scan says, through a restore mid-run', () => {
    // 80 strictly falling trades 15 ms apart (1.2 s for the lot): a tiny step, so the 0.8% move
    // builds up over the whole run, with every trade still a possible start (80 > 32 slots).
    const trades = Array.from({ length: 80 }, (_, i) => trade(T0 + i * 15, 'ACME', 100 * (1 - 0.00012 * i)));
    // Brute force: the first trade b with some start a (b - a + 1 >= 10, ts_b - ts_a < 1500) whose move reaches 0.8%.
    let want: { eventTime: number; trades: number; firstTs: number } | undefined;
    for (let b = 0; b < trades.length && !want; b++) {
      for (let a = 0; a <= b - 9; a++) {
        if (trades[b]!.ts - trades[a]!.ts >= 1500) continue;
        if (Math.abs(trades[b]!.price / trades[a]!.price - 1) >= 0.008) {
          want = { eventTime: trades[b]!.ts, trades: b - a + 1, firstTs: trades[a]!.ts };
          break;
        }
      }
    }
    expect(want).toBeDefined();
    const whole: MarketAlert[] = [];
    const u = new UltrafastDetector(ULTRAFAST_DEFAULTS, (a) => whole.push(a));
    for (const t of trades) u.onTrade(t);
    expect(whole).toHaveLength(1);
    expect(whole[0]).toMatchObject({ eventTime: want!.eventTime, details: { trades: want!.trades, firstTs: want!.firstTs } });

    const split: MarketAlert[] = [];
    const u1 = new UltrafastDetector(ULTRAFAST_DEFAULTS, (a) => split.push(a));
    trades.slice(0, 40).forEach((t) => u1.onTrade(t));
    const u2 = new UltrafastDetector(ULTRAFAST_DEFAULTS, (a) => split.push(a));
    u2.restore(structuredClone(u1.snapshot()));
    // The 40 trades of the run so far, in order, across the ring's growth (past 32).
    expect(u2.snapshot().runs[0]![1]).toMatchObject({ ts: trades.slice(0, 40).map((t) => t.ts), px: trades.slice(0, 40).map((t) => t.price), count: 40 });
    trades.slice(40).forEach((t) => u2.onTrade(t));
    expect(split).toEqual(whole);
  });
});

describe('liquidity baseline in a typed ring with its sorted means', () => {
  it('medians of 200 windows (past the ring capacity of 128) equal a sort of the baseline, through a restore', () => {
    const rnd = rng(7);
    const p = { ...LIQUIDITY_DEFAULTS, baselineMs: 150 * 30 * S, minBaselineWindows: 1 };
    const quotes: MarketQuote[] = [];
    for (let w = 0; w < 200; w++) {
      // Some windows without quotes (they leave the baseline alone); some means repeated (ties).
      if (w % 17 === 5) continue;
      const bps = w % 9 === 0 ? 12 : 5 + rnd() * 40;
      const mid = 50;
      const half = (mid * bps) / 2e4;
      quotes.push({ ts: T0 + w * 30 * S + 1000, instrument: 'ACME', bid: mid - half, ask: mid + half, bidSize: 1e5, askSize: 1e5 });
    }
    const windows: LiquidityWindow[] = [];
    const l = new LiquidityMonitor(p, () => undefined, (w) => windows.push(w));
    feedLiquidity(l, quotes);
    l.finish();
    expect(windows.length).toBe(quotes.length);
    for (let i = 0; i < windows.length; i++) {
      const w = windows[i]!;
      const base = windows.slice(0, i).filter((x) => x.windowStart >= w.windowStart - p.baselineMs).map((x) => x.meanSpreadBps);
      expect(w.baselineWindows).toBe(base.length);
      if (base.length === 0) continue;
      const sorted = base.slice().sort((a, b) => a - b);
      const m = sorted.length >> 1;
      const median = sorted.length % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
      expect(w.baselineBps).toBe(median);
    }
    expect(Math.max(...windows.map((w) => w.baselineWindows))).toBeGreaterThan(128);
    // The kept means, in time order and sorted, are exactly the baseline's.
    const kept = l.snapshot().insts[0]!;
    expect(kept.histMean).toEqual(windows.filter((w) => w.windowStart >= windows.at(-1)!.windowStart - p.baselineMs).map((w) => w.meanSpreadBps));
    expect(kept.sorted).toEqual(kept.histMean.slice().sort((x, y) => x - y));

    // Restored at window 170 (baseline of ~150 windows), it goes on exactly as before.
    expect(windowsRestoredAt(p, quotes, 170)).toEqual(windows);
  });
});

describe('liquidity baseline: a leaving window and a joining one in one move', () => {
  it('the sorted means after every close are those of a removal then an insertion by binary search (ties, gaps, NaN means)', () => {
    const rnd = rng(23);
    // A 5-minute baseline of 30 s windows: from the eleventh window on, one leaves at nearly
    // every close; windows without quotes make two or more leave at once; a quote at an infinite
    // price makes a NaN mean (the binary searches then see an unsorted array).
    const p = { ...LIQUIDITY_DEFAULTS, baselineMs: 300 * S, minBaselineWindows: 1 };
    const names = ['ACME', 'BOLT'];
    const quotes: MarketQuote[] = [];
    for (let w = 0; w < 90; w++) {
      names.forEach((name, i) => {
        if ((w + i * 3) % 11 === 4 || (i === 1 && w >= 40 && w < 46)) return;
        const bps = w % 7 === 0 ? 12 : 5 + Math.floor(rnd() * 30);
        const half = (50 * bps) / 2e4;
        const nan = i === 0 && (w === 30 || w === 61);
        quotes.push({ ts: T0 + w * 30 * S + 1000 + i, instrument: name, bid: nan ? Infinity : 50 - half, ask: nan ? Infinity : 50 + half, bidSize: 1e5, askSize: 1e5 });
      });
    }
    // The plain path: per instrument, its windows (start, mean) and the means kept sorted by a
    // removal and an insertion at the lower bound (as the monitor did before the fused move).
    const lowerBound = (a: number[], x: number): number => {
      let lo = 0;
      let hi = a.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (a[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const plain = new Map(names.map((n) => [n, { starts: [] as number[], means: [] as number[], sorted: [] as number[] }]));
    const l = new LiquidityMonitor(p, () => undefined, (w) => {
      const b = plain.get(w.instrument)!;
      while (b.starts.length > 0 && b.starts[0]! < w.windowStart - p.baselineMs) {
        b.starts.shift();
        b.sorted.splice(lowerBound(b.sorted, b.means.shift()!), 1);
      }
      b.starts.push(w.windowStart);
      b.means.push(w.meanSpreadBps);
      b.sorted.splice(lowerBound(b.sorted, w.meanSpreadBps), 0, w.meanSpreadBps);
    });
    let closes = 0;
    let moved = 0;
    let withNaN = 0;
    for (const q of quotes) {
      const before = l.snapshot();
      l.advance(q.ts);
      const after = l.snapshot();
      if (after.open !== before.open) {
        closes++;
        for (const x of after.insts) {
          expect(x.sorted).toEqual(plain.get(x.name)!.sorted);
          expect(x.histMean).toEqual(plain.get(x.name)!.means);
          moved += x.histStart[0]! > T0 ? 1 : 0;
          withNaN += x.sorted.some(Number.isNaN) ? 1 : 0;
        }
      }
      l.onQuote(q);
    }
    expect(closes).toBeGreaterThan(80);
    expect(moved).toBeGreaterThan(100);
    expect(withNaN).toBeGreaterThan(10);
  });
});

/**
 * The windows of a monitor fed `quotes` up to window `cutWindow`, then snapshotted and restored
 * into a fresh monitor fed the rest (to equal those of one uninterrupted monitor).
 */
function windowsRestoredAt(p: LiquidityParams, quotes: MarketQuote[], cutWindow: number): LiquidityWindow[] {
  const cut = quotes.findIndex((q) => q.ts >= T0 + cutWindow * 30 * S);
  const out: LiquidityWindow[] = [];
  const a = new LiquidityMonitor(p, () => undefined, (w) => out.push(w));
  feedLiquidity(a, quotes.slice(0, cut));
  const b = new LiquidityMonitor(p, () => undefined, (w) => out.push(w));
  b.restore(structuredClone(a.snapshot()));
  feedLiquidity(b, quotes.slice(cut));
  b.finish();
  return out;
}

/** Feeds `qs` to a liquidity monitor in order (advancing its clock to each). */
function feedLiquidity(l: LiquidityMonitor, qs: MarketQuote[]): void {
  for (const q of qs) {
    l.advance(q.ts);
    l.onQuote(q);
  }
}

/**
 * One quote per instrument per 30 s liquidity window for `windows` windows, except where `skip`
 * says, around 50 at a spread of `bps(i)` basis points (i: the instrument's place in `names`).
 */
function windowQuotes(windows: number, names: string[], skip: (w: number, i: number) => boolean, bps: (i: number) => number): MarketQuote[] {
  const quotes: MarketQuote[] = [];
  for (let w = 0; w < windows; w++) {
    names.forEach((name, i) => {
      if (skip(w, i)) return;
      const half = (50 * bps(i)) / 2e4;
      quotes.push({ ts: T0 + w * 30 * S + 1000 + i, instrument: name, bid: 50 - half, ask: 50 + half, bidSize: 1e5, askSize: 1e5 });
    });
  }
  return quotes;
}

/**
 * Every window's baseline (count and median) equals a sort of the earlier window means of its
 * instrument within `baselineMs`, and some baseline passed 128 windows (a ring grew).
 */
function expectBaselinesOfSorts(windows: LiquidityWindow[], baselineMs: number): void {
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    const base = windows
      .slice(0, i)
      .filter((x) => x.instrument === w.instrument && x.windowStart >= w.windowStart - baselineMs)
      .map((x) => x.meanSpreadBps)
      .sort((a, b) => a - b);
    expect([w.instrument, w.windowStart, w.baselineWindows]).toEqual([w.instrument, w.windowStart, base.length]);
    if (base.length === 0) continue;
    const m = base.length >> 1;
    expect(w.baselineBps).toBe(base.length % 2 === 1 ? base[m]! : (base[m - 1]! + base[m]!) / 2);
  }
  expect(Math.max(...windows.map((w) => w.baselineWindows))).toBeGreaterThan(128);
}

describe('liquidity baselines growing while windows leave them', () => {
  it('medians per instrument equal a sort of its baseline when a ring grows at a close after windows have left', () => {
    const rnd = rng(31);
    // Quoted every other window for 300 windows (baselines of ~100 of 200 windows, leaving at
    // every other close), then every window: BOLT's ring fills its 128 slots at a close where
    // CART, later in name order, has a window leaving (the rings grow under the closing loop).
    const p = { ...LIQUIDITY_DEFAULTS, baselineMs: 200 * 30 * S, minBaselineWindows: 1 };
    const quotes = windowQuotes(420, ['ACME', 'BOLT', 'CART'], (w, i) => w < 300 && (w + i) % 2 === 1, () => 5 + Math.floor(rnd() * 40));
    const windows: LiquidityWindow[] = [];
    const l = new LiquidityMonitor(p, () => undefined, (w) => windows.push(w));
    feedLiquidity(l, quotes);
    l.finish();
    expectBaselinesOfSorts(windows, p.baselineMs);
  });
});

describe('liquidity baselines of several instruments in one typed array', () => {
  it('medians per instrument equal a sort of its baseline while the shared rings grow past 128, through a restore', () => {
    const rnd = rng(11);
    const p = { ...LIQUIDITY_DEFAULTS, baselineMs: 150 * 30 * S, minBaselineWindows: 1 };
    // Each instrument skips its own windows (the rings fill at different paces) and has its own level.
    const quotes = windowQuotes(200, ['CART', 'ACME', 'BOLT'], (w, i) => (w + i * 5) % (13 + i * 4) === 3, (i) => (i + 1) * 6 + rnd() * 30);
    const windows: LiquidityWindow[] = [];
    const l = new LiquidityMonitor(p, () => undefined, (w) => windows.push(w));
    feedLiquidity(l, quotes);
    l.finish();
    expect(windows.length).toBe(quotes.length);
    expectBaselinesOfSorts(windows, p.baselineMs);
    for (const cutWindow of [60, 130, 170]) expect(windowsRestoredAt(p, quotes, cutWindow)).toEqual(windows);
  });
});

describe('LULD queues in typed rings', () => {
  it('the reference price over 3000 trades in a 5-minute window (past the ring capacity) is the mean of the window', () => {
    const rnd = rng(3);
    const ref = reference(['ACME']);
    const m = new LuldMonitor(LULD_DEFAULTS, ref, () => undefined);
    const trades: MarketTrade[] = [];
    for (let i = 0; i < 3000; i++) trades.push(trade(T0 + i * 150, 'ACME', 100 + Math.round((rnd() - 0.5) * 200) / 100));
    const check = (t: number) => {
      const inWindow = trades.filter((x) => x.ts > t - LULD_DEFAULTS.referenceWindowMs && x.ts <= t);
      const mean = inWindow.reduce((s, x) => s + x.price, 0) / inWindow.length;
      expect(m.bands('ACME')!.reference).toBeCloseTo(mean, 9);
    };
    let i = 0;
    for (const x of trades) {
      m.advance(x.ts);
      m.onTrade(x);
      if (++i % 500 === 0) check(x.ts);
    }
    // Past the end: the trades leave, the last ones in the window set the reference.
    m.settle(trades.at(-1)!.ts + 200 * S);
    check(trades.at(-1)!.ts + 200 * S);
  });

  it('snapshot -> restore with thousands of queued trades continues like an uninterrupted run', () => {
    const rnd = rng(9);
    const ref = reference(['ACME', 'BETA'], 20);
    const recs: Array<MarketQuote | MarketTrade> = [];
    for (let i = 0; i < 6000; i++) {
      const name = i % 3 === 0 ? 'BETA' : 'ACME';
      const px = 20 * (1 + (rnd() - 0.5) * 0.3);
      recs.push(i % 2 === 0 ? trade(T0 + i * 100, name, px) : quote(T0 + i * 100, name, px, 0.02));
    }
    const drive = (m: LuldMonitor, rs: Array<MarketQuote | MarketTrade>) => {
      for (const r of rs) {
        m.advance(r.ts);
        if ('price' in r) m.onTrade(r);
        else m.onQuote(r);
      }
    };
    const whole: MarketAlert[] = [];
    const m = new LuldMonitor(LULD_DEFAULTS, ref, (a) => whole.push(a));
    drive(m, recs);
    m.settle(recs.at(-1)!.ts);
    expect(whole.length).toBeGreaterThan(0);
    const split: MarketAlert[] = [];
    const a = new LuldMonitor(LULD_DEFAULTS, ref, (x) => split.push(x));
    drive(a, recs.slice(0, 4000));
    const snap = a.snapshot();
    expect(snap.trades.t.length).toBeGreaterThan(1024);
    const b = new LuldMonitor(LULD_DEFAULTS, ref, (x) => split.push(x));
    b.restore(structuredClone(snap));
    drive(b, recs.slice(4000));
    b.settle(recs.at(-1)!.ts);
    expect(split).toEqual(whole);
    expect(b.bands('ACME')).toEqual(m.bands('ACME'));
  });
});

describe('instrument ids through their two-way cache', () => {
  it('gives every name one id, distinct names distinct ids, whatever the order and however many share a cache set', () => {
    // 3000 names for 1024 cache sets of two slots: most sets hold more names than slots, and the
    // lookups alternate between the names of a set at random (each name moving through both slots).
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed % n;
    };
    const names = Array.from({ length: 3000 }, (_, i) => `I${i.toString(36).toUpperCase()}${'XYZ'[i % 3]}`);
    names.push('', 'É', 'ÉÉ', 'A');
    const seen = new Map<string, number>();
    for (let k = 0; k < 60_000; k++) {
      const name = names[rand(names.length)]!;
      // The same text as a string built at run time (not the interned literal) half the time.
      const asked = k % 2 === 0 ? name : [...name].join('');
      const id = instrumentId(asked);
      const had = seen.get(name);
      if (had === undefined) seen.set(name, id);
      else expect(id).toBe(had);
    }
    expect(new Set(seen.values()).size).toBe(seen.size);
    for (const [name, id] of seen) expect(instrumentId(name)).toBe(id);
  });

  it('takes a name that is not a string (a record a mapping step broke) without failing', () => {
    const bad = undefined as unknown as string;
    expect(instrumentId(bad)).toBe(instrumentId(bad));
    expect(instrumentId(bad)).not.toBe(instrumentId('undefined'));
  });
});

describe('market table: mark changes of the return window in one ring', () => {
  /** ret_60s by brute force: the mark in effect at t - 60 s from the whole history of marks. */
  function bruteRet(hist: Array<[number, string, number]>, prev: Map<string, number>, name: string, t: number): number | null {
    let now = prev.get(name) ?? Number.NaN;
    let past = now;
    for (const [ts, n, mark] of hist) {
      if (n !== name || ts > t) continue;
      now = mark;
      if (ts <= t - 60 * S) past = mark;
    }
    return Number.isNaN(past) || Number.isNaN(now) ? null : now / past - 1;
  }

  it('ret_60s equals a scan of every mark, with 10,000 changes inside one window (past the ring capacity), through a restore', () => {
    const rnd = rng(21);
    const names = ['AAA', 'BBB', 'CCC'];
    const ref = reference(['AAA', 'BBB'], 50);
    const prev = new Map([
      ['AAA', 50],
      ['BBB', 50],
    ]);
    const recs: Array<MarketQuote | MarketTrade> = [];
    let t = T0;
    for (let i = 0; i < 30_000; i++) {
      // Bursts: 10,000 quotes in 20 s, then sparse quotes and trades for a few minutes.
      t += i >= 5000 && i < 15_000 ? 2 : 37;
      const name = names[Math.floor(rnd() * 3)]!;
      const px = 50 * (1 + (rnd() - 0.5) * 0.1);
      recs.push(i % 11 === 0 ? trade(t, name, px) : quote(t, name, px));
    }
    const hist: Array<[number, string, number]> = [];
    const source = new Map<string, number>();
    const instants: number[] = [];
    for (let x = Math.ceil(T0 / (60 * S)) * 60 * S; x < t; x += 60 * S) instants.push(x);
    instants.push(T0 + 5000 * 37 + 15 * S); // inside the burst

    const run = (restoreAt?: number) => {
      let m = new MarketStateTracker({ returnWindowMs: 60 * S }, ref);
      const rows: unknown[] = [];
      let k = 0;
      const order = instants.slice().sort((a, b) => a - b);
      for (let i = 0; i < recs.length; i++) {
        const r = recs[i]!;
        while (k < order.length && order[k]! < r.ts) rows.push(m.rows(order[k++]!));
        if (restoreAt === i) {
          const m2 = new MarketStateTracker({ returnWindowMs: 60 * S }, ref);
          m2.restore(structuredClone(m.snapshot()));
          m = m2;
        }
        m.advance(r.ts);
        if ('price' in r) m.onTrade(r);
        else m.onQuote(r);
      }
      return rows;
    };
    for (const r of recs) {
      const isTrade = 'price' in r;
      if (isTrade && source.get(r.instrument) === 2) continue;
      source.set(r.instrument, isTrade ? 1 : 2);
      hist.push([r.ts, r.instrument, isTrade ? r.price : (r.bid + r.ask) / 2]);
    }
    const rows = run();
    const order = instants.slice().sort((a, b) => a - b);
    rows.forEach((table, j) => {
      for (const row of table as Array<{ instrument: string; ret_60s: number | null }>) {
        expect(row.ret_60s).toBe(bruteRet(hist, prev, row.instrument, order[j]!));
      }
    });
    expect(run(12_000)).toEqual(rows);
  });

  it('ret_60s equals a scan of every mark when the full ring folds its old changes again and again, through a restore', () => {
    // 70,000 quotes 10 ms apart (6,000 in a window, under the ring's 8,192): the ring fills every
    // few thousand changes and folds what is a window old, at instants that fall anywhere between
    // the tables (every 7 s here). A restore mid-way carries changes older than the window.
    const rnd = rng(5);
    const names = ['AAA', 'BBB', 'CCC', 'DDD'];
    const ref = reference(['AAA', 'BBB'], 50);
    const prev = new Map([
      ['AAA', 50],
      ['BBB', 50],
    ]);
    const recs = Array.from({ length: 70_000 }, (_, i) => quote(T0 + i * 10, names[Math.floor(rnd() * 4)]!, 50 * (1 + (rnd() - 0.5) * 0.1)));
    const hist: Array<[number, string, number]> = recs.map((q) => [q.ts, q.instrument, (q.bid + q.ask) / 2]);
    const run = (restoreAt?: number) => {
      let m = new MarketStateTracker({ returnWindowMs: 60 * S }, ref);
      const tables: Array<[number, unknown[]]> = [];
      let next = T0 + 7 * S;
      for (let i = 0; i < recs.length; i++) {
        const q = recs[i]!;
        while (next < q.ts) {
          tables.push([next, m.rows(next)]);
          next += 7 * S;
        }
        if (restoreAt === i) {
          const m2 = new MarketStateTracker({ returnWindowMs: 60 * S }, ref);
          m2.restore(structuredClone(m.snapshot()));
          m = m2;
        }
        m.onQuote(q);
      }
      return tables;
    };
    const tables = run();
    expect(tables.length).toBe(99);
    for (const [t, rows] of tables) {
      for (const row of rows as Array<{ instrument: string; ret_60s: number | null }>) expect(row.ret_60s).toBe(bruteRet(hist, prev, row.instrument, t));
    }
    expect(run(41_234)).toEqual(tables);
  });
});

describe('market table as columns', () => {
  it('columns(t) are rows(t) cell for cell (nulls, a NaN return, LULD bands with and without bandsInto), at every record', () => {
    const rnd = rng(21);
    // ZZZ and AAA have prevCloses; NEW is not in the reference (no mark, no bands until it
    // quotes); NIL quotes a mid of 0 twice, a minute apart (a NaN return, not a null).
    const ref = reference(['ZZZ', 'AAA'], 40);
    const recs: Array<MarketQuote | MarketTrade> = [];
    let t = T0;
    for (let i = 0; i < 700; i++) {
      t += 1 + Math.floor(rnd() * 400);
      const name = ['ZZZ', 'AAA', 'NEW'][i % 3]!;
      const px = Math.round(40 * (1 + (rnd() - 0.5) * (i > 400 ? 0.4 : 0.05)) * 100) / 100;
      recs.push(i > 50 && rnd() < 0.25 ? trade(t, name, px) : quote(t, name, px, 0.01 + Math.floor(rnd() * 5) / 100));
      if (i === 100 || i === 400) recs.push({ ts: t, instrument: 'NIL', bid: 0, ask: 0, bidSize: 1, askSize: 1 });
    }
    const luld = new LuldMonitor(LULD_DEFAULTS, ref, () => undefined);
    // The same monitor seen through bands() alone (a view without bandsInto).
    const plainView = { advance: (x: number) => luld.advance(x), settle: (x: number) => luld.settle(x), snapshot: () => luld.snapshot(), restore: (x: unknown) => luld.restore(x), onQuote: (q: MarketQuote) => luld.onQuote(q), onTrade: (x: MarketTrade) => luld.onTrade(x), bands: (n: string) => luld.bands(n) };
    const luld2 = new LuldMonitor(LULD_DEFAULTS, ref, () => undefined);
    const trackers = [new MarketStateTracker({ returnWindowMs: 60 * S }, ref, luld2), new MarketStateTracker({ returnWindowMs: 60 * S }, ref, plainView), new MarketStateTracker({ returnWindowMs: 60 * S }, ref)];
    let nanReturns = 0;
    for (const r of recs) {
      trackers.forEach((m) => {
        m.advance(r.ts);
        if ('price' in r) m.onTrade(r);
        else m.onQuote(r);
      });
      for (const m of trackers) {
        const rows = m.rows(r.ts);
        expect(m.columns(r.ts).toRows()).toEqual(rows);
        nanReturns += rows.filter((x) => x.ret_60s !== null && Number.isNaN(x.ret_60s)).length;
      }
    }
    // The cases above all happened: nulls and values in the LULD and spread columns, a NaN return.
    expect(nanReturns).toBeGreaterThan(0);
    const last = trackers[0]!.rows(t);
    expect(last.some((x) => x.luld_lower === null) && last.some((x) => x.luld_lower !== null)).toBe(true);
    expect(trackers[0]!.rows(T0 + 1).some((x) => x.spread_bps === null)).toBe(true);
  });
});

describe('market table: mark, spread, depth and source per instrument in one typed array', () => {
  it('the mark is the latest quote\'s mid, else the latest trade price, else prevClose: rows equal a scan, restored at every cut', () => {
    // AAA (prevClose 50) trades for a while before its first quote; BBB (no prevClose) only
    // trades; CCC (not in the reference) quotes first, then trades that must not move its mark.
    const rnd = rng(8);
    const ref = reference(['AAA'], 50);
    const recs: Array<MarketQuote | MarketTrade> = [];
    let t = T0;
    for (let i = 0; i < 600; i++) {
      t += 1 + Math.floor(rnd() * 900);
      const name = ['AAA', 'BBB', 'CCC'][i % 3]!;
      const px = Math.round(50 * (1 + (rnd() - 0.5) * 0.1) * 100) / 100;
      const isTrade = name === 'BBB' || (name === 'AAA' ? i < 300 || rnd() < 0.3 : i > 5 && rnd() < 0.6);
      recs.push(isTrade ? trade(t, name, px) : quote(t, name, px, 0.01 + Math.floor(rnd() * 5) / 100));
    }
    const expected = (upto: number): Array<Record<string, unknown>> => {
      const mark = new Map<string, number>([['AAA', 50]]);
      const quoted = new Set<string>();
      const last = new Map<string, MarketQuote>();
      for (const r of recs.slice(0, upto)) {
        if ('price' in r) {
          if (!quoted.has(r.instrument)) mark.set(r.instrument, r.price);
        } else {
          quoted.add(r.instrument);
          last.set(r.instrument, r);
          mark.set(r.instrument, (r.bid + r.ask) / 2);
        }
      }
      return ['AAA', 'BBB', 'CCC']
        .filter((n) => n === 'AAA' || recs.slice(0, upto).some((r) => r.instrument === n))
        .map((n) => {
          const q = last.get(n);
          const mid = q ? (q.bid + q.ask) / 2 : Number.NaN;
          return { instrument: n, mark_price: mark.get(n) ?? null, spread_bps: q ? ((q.ask - q.bid) / mid) * 1e4 : null, depth: q ? q.bid * q.bidSize + q.ask * q.askSize : null };
        });
    };
    const feed = (m: MarketStateTracker, rs: Array<MarketQuote | MarketTrade>) => {
      for (const r of rs) {
        m.advance(r.ts);
        if ('price' in r) m.onTrade(r);
        else m.onQuote(r);
      }
    };
    const pick = (rows: Array<Record<string, unknown>>) => rows.map((r) => ({ instrument: r['instrument'], mark_price: r['mark_price'], spread_bps: r['spread_bps'], depth: r['depth'] }));
    for (let cut = 1; cut < recs.length; cut += 23) {
      const m1 = new MarketStateTracker({ returnWindowMs: 60 * S }, ref);
      feed(m1, recs.slice(0, cut));
      expect(pick(m1.rows(recs[cut - 1]!.ts))).toEqual(expected(cut));
      const m2 = new MarketStateTracker({ returnWindowMs: 60 * S }, ref);
      m2.restore(structuredClone(m1.snapshot()));
      // After the restore, record by record: the same rows as the uninterrupted tracker.
      for (const r of recs.slice(cut)) {
        feed(m1, [r]);
        feed(m2, [r]);
        expect(m2.rows(r.ts)).toEqual(m1.rows(r.ts));
      }
      expect(pick(m2.rows(recs[recs.length - 1]!.ts))).toEqual(expected(recs.length));
    }
  });
});

describe('flash-crash books: both deques of an instrument in one typed array', () => {
  it('deep deques (a long steady fall and rise) alert like a scan of the window, and survive a restore', () => {
    // 40 strictly falling marks then 40 rising, 1 s apart: the max deque holds up to 40 entries
    // during the fall, the min deque as many during the rise (the books start with room for 8).
    const marks = [...Array.from({ length: 40 }, (_, i) => 100 - i * 0.2), ...Array.from({ length: 40 }, (_, i) => 92 + i * 0.2)];
    const qs = marks.map((m, i) => quote(T0 + i * S, 'ACME', m));
    const alerts: MarketAlert[] = [];
    const f = new FlashCrashDetector(FLASH_CRASH_DEFAULTS, (a) => alerts.push(a));
    qs.forEach((q) => f.onQuote(q));
    // Brute force: the first quote whose fall from the max of the marks in [t - 60 s, t] reaches 5%.
    const mids = qs.map((q) => (q.bid + q.ask) / 2);
    const firstFall = mids.findIndex((m, i) => 1 - m / Math.max(...mids.slice(Math.max(0, i - 60), i + 1)) >= 0.05);
    const firstRise = mids.findIndex((m, i) => m / Math.min(...mids.slice(Math.max(0, i - 60), i + 1)) - 1 >= 0.05);
    // The time of the extreme: the newest quote in the window at the max (min).
    const extremeTs = (i: number, pick: (xs: number[]) => number) => {
      const from = Math.max(0, i - 60);
      const win = mids.slice(from, i + 1);
      return qs[from + win.lastIndexOf(pick(win))]!.ts;
    };
    expect(alerts.map((a) => [a.eventTime, a.details.direction, a.details.highTs ?? a.details.lowTs])).toEqual([
      [qs[firstFall]!.ts, 'down', extremeTs(firstFall, (xs) => Math.max(...xs))],
      [qs[firstRise]!.ts, 'up', extremeTs(firstRise, (xs) => Math.min(...xs))],
    ]);
    const snap = f.snapshot();
    expect(snap.states[0]![1].lo.value.length).toBeGreaterThan(8);

    const again: MarketAlert[] = [];
    const a = new FlashCrashDetector(FLASH_CRASH_DEFAULTS, (x) => again.push(x));
    qs.slice(0, 39).forEach((q) => a.onQuote(q));
    // After the fall every mark is still a candidate for the max (none dominates an older one).
    expect(a.snapshot().states[0]![1].hi.value.length).toBe(39);
    expect(a.snapshot().states[0]![1].lo.value.length).toBe(1);
    const b = new FlashCrashDetector(FLASH_CRASH_DEFAULTS, (x) => again.push(x));
    b.restore(structuredClone(a.snapshot()));
    qs.slice(39).forEach((q) => b.onQuote(q));
    expect(again).toEqual(alerts);
    expect(b.snapshot()).toEqual(snap);
  });
});

describe('correlation windows as typed arrays', () => {
  it('a window built into rows gives the rows the row callback gets, in name order', () => {
    const rnd = rng(5);
    const names = ['ZED', 'ACME', 'MID', 'BETA'];
    const ref = reference(names);
    const quotes: MarketQuote[] = [];
    for (let t = T0 + 7; t < T0 + 11 * 60 * S; t += 150) quotes.push(quote(t, names[Math.floor(rnd() * 4)]!, 100 * (1 + (rnd() - 0.5) * 0.02)));
    const rows: CorrelationRow[] = [];
    const wins: CorrelationWindow[] = [];
    const c1 = new CorrelationMatrix(CORRELATION_DEFAULTS, ref, () => undefined, (r) => rows.push(...r));
    const c2 = new CorrelationMatrix(CORRELATION_DEFAULTS, ref, () => undefined, undefined, (w) => wins.push(w));
    for (const q of quotes) {
      c1.advance(q.ts);
      c1.onQuote(q);
      c2.advance(q.ts);
      c2.onQuote(q);
    }
    c1.finish();
    c2.finish();
    const built = wins.flatMap((w) => w.rows());
    expect(built).toEqual(rows);
    expect(wins.reduce((s, w) => s + w.size, 0)).toBe(rows.length);
    expect(built.slice(0, 6).map((r) => `${r.instrument_a}/${r.instrument_b}`)).toEqual(['ACME/BETA', 'ACME/MID', 'ACME/ZED', 'BETA/MID', 'BETA/ZED', 'MID/ZED']);
    expect(built.some((r) => r.correlation !== null)).toBe(true);
    // As columns, one window at a time (its own arrays, pair names shared between windows) and
    // all at once (concatenated), the same rows; a window added later over more names gets its own.
    expect(wins.length).toBeGreaterThan(1);
    for (const w of wins) expect(CorrelationWindow.columns([w]).toRows()).toEqual(w.rows());
    expect(CorrelationWindow.columns(wins).toRows()).toEqual(rows);
    expect(CorrelationWindow.columns([wins[1]!]).columns.instrument_a).toBe(CorrelationWindow.columns([wins[0]!]).columns.instrument_a);
    const more = new CorrelationWindow(1, 2, ['ACME', 'BETA', 'MID', 'NEW', 'ZED'], new Float64Array(10).fill(Number.NaN), new Float64Array(10).fill(3));
    expect(CorrelationWindow.columns([more]).toRows()).toEqual(more.rows());
    expect(CorrelationWindow.columns([more]).toRows()[3]).toEqual({ window_start: 1, window_end: 2, instrument_a: 'ACME', instrument_b: 'ZED', correlation: null, n: 3 });
  });
});

describe('the rule tape', () => {
  /** Runs marketEvents + the given rule steps synchronously; returns the alerts in the order the job got them. */
  function run(steps: Array<Record<string, unknown>>, recs: Array<(MarketQuote | MarketTrade) & { type: string }>, ref: ReferenceData): Alert[] {
    const t = compileTopology({
      name: 'tape',
      sources: { quotes: { stream: 'quote', outOfOrderness: '1s' }, trades: { stream: 'trade', outOfOrderness: '1s' } },
      steps: [{ id: 'm', type: 'marketEvents', quotes: 'quotes', trades: 'trades' }, ...steps.map((s) => ({ input: 'm', ...s }))],
    } as never);
    const quotes = new Subject<Element<unknown>>();
    const trades = new Subject<Element<unknown>>();
    const alerts: Alert[] = [];
    t.build({
      ctx: new JobContext({ clock: new ManualClock(0) }),
      inputs: { quotes, trades },
      reference: ref,
      onAlert: (a) => alerts.push(a),
      onOutput: () => undefined,
      onLate: () => undefined,
      onSnapshot: () => undefined,
    });
    let wm = Number.NEGATIVE_INFINITY;
    for (const r of recs) {
      (r.type === 'quote' ? quotes : trades).next(r);
      if (r.ts - 1001 - wm >= 100) {
        wm = r.ts - 1001;
        quotes.next(new Watermark(wm));
        trades.next(new Watermark(wm));
      }
    }
    quotes.next(END_OF_TIME);
    trades.next(END_OF_TIME);
    quotes.complete();
    trades.complete();
    return alerts;
  }

  it('hands each record to the rule steps in their order: alerts of one record come in step order', () => {
    const ref = reference(['IDX'], 100, true);
    // The index falls 8% in one quote: FLASH_CRASH and MARKET_WIDE_HALT at the same record.
    const recs = [
      ...Array.from({ length: 20 }, (_, i) => ({ type: 'quote', ...quote(T0 + i * S, 'IDX', 100) })),
      { type: 'quote', ...quote(T0 + 20 * S, 'IDX', 92) },
      ...Array.from({ length: 5 }, (_, i) => ({ type: 'quote', ...quote(T0 + (21 + i) * S, 'IDX', 92) })),
    ];
    const fc = { id: 'fc', type: 'flashCrash' };
    const mwh = { id: 'mwh', type: 'marketWideHalt' };
    const a = run([fc, mwh], recs, ref);
    expect(a.map((x) => [x.type, x.eventTime])).toEqual([
      ['FLASH_CRASH', T0 + 20 * S],
      ['MARKET_WIDE_HALT', T0 + 20 * S],
    ]);
    const b = run([mwh, fc], recs, ref);
    expect(b.map((x) => x.type)).toEqual(['MARKET_WIDE_HALT', 'FLASH_CRASH']);
  });

  it('drives each rule step as if it read the input alone', () => {
    const rnd = rng(13);
    const ref = reference(['AAA', 'BBB'], 30);
    const recs: Array<(MarketQuote | MarketTrade) & { type: string }> = [];
    for (let i = 0; i < 4000; i++) {
      const name = rnd() < 0.5 ? 'AAA' : 'BBB';
      const px = 30 * (1 + Math.sin(i / 300) * 0.08 + (rnd() - 0.5) * 0.01);
      const ts = T0 + i * 250;
      recs.push(i % 4 === 0 ? { type: 'trade', ...trade(ts, name, px) } : { type: 'quote', ...quote(ts, name, px, 0.03) });
    }
    const steps = [
      { id: 'fc', type: 'flashCrash', movePct: 0.03, rearmPct: 0.01 },
      { id: 'luld', type: 'luld' },
      { id: 'liq', type: 'liquidity', spreadFloorBps: 15 },
      { id: 'uf', type: 'ultrafastExtremeEvent', minTrades: 3, minMovePct: 0.001, maxDuration: '5s' },
    ];
    const together = run(steps, recs, ref);
    expect(new Set(together.map((a) => a.rule.split('/')[0])).size).toBe(4);
    const alone = steps.map((s) => run([s], recs, ref));
    const strip = (xs: Alert[]) => xs.map(({ emittedAt: _e, ...a }) => a);
    for (let k = 0; k < steps.length; k++) {
      expect(strip(together.filter((a) => a.rule.split('/')[0] === steps[k]!.id))).toEqual(strip(alone[k]!));
    }
  });
});
