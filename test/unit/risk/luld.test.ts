import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyReference, type Instrument, type ReferenceData } from '../../../src/core/reference.js';
import { LULD_DEFAULTS, LuldMonitor, luldBandWidth, type LuldParams } from '../../../src/risk/luld.js';
import type { MarketAlert, MarketQuote, MarketTrade } from '../../../src/risk/market.js';

const T0 = 1_710_511_200_000;
const S = 1000;

function reference(list: Array<Partial<Instrument> & { instrument: string }>): ReferenceData {
  const ref = emptyReference();
  for (const i of list) ref.instruments.set(i.instrument, { sector: 'X', currency: 'USD', tier: 1, prevClose: 0, adv: 0, isIndex: false, ...i });
  return ref;
}

type Rec = (MarketQuote & { kind: 'quote' }) | (MarketTrade & { kind: 'trade' });
const q = (ts: number, instrument: string, bid: number, ask: number): Rec => ({ kind: 'quote', ts, instrument, bid, ask, bidSize: 100, askSize: 100 });
const t = (ts: number, instrument: string, price: number): Rec => ({ kind: 'trade', ts, instrument, price, qty: 100 });

/** Drives a monitor as the step does: records in order, then settle at each `settleAt` and at the end. */
function drive(recs: Rec[], ref: ReferenceData, p: LuldParams = LULD_DEFAULTS, settleAt: number[] = []): { alerts: MarketAlert[]; m: LuldMonitor } {
  const alerts: MarketAlert[] = [];
  const m = new LuldMonitor(p, ref, (a) => alerts.push(a));
  const marks = [...settleAt];
  for (const r of recs) {
    while (marks.length && marks[0]! < r.ts) m.settle(marks.shift()!);
    m.advance(r.ts);
    if (r.kind === 'quote') m.onQuote(r);
    else m.onTrade(r);
  }
  for (const s of marks) m.settle(s);
  if (recs.length) m.settle(recs[recs.length - 1]!.ts);
  return { alerts, m };
}

describe('LULD band table (SEC LULD plan, Appendix A)', () => {
  const cases: Array<[number, number, number]> = [
    // [reference, tier, expected half-width]
    [100, 1, 5],
    [100, 2, 10],
    [3.01, 1, 3.01 * 0.05],
    [3.01, 2, 3.01 * 0.1],
    [3, 1, 0.6], // $3.00 itself is in the $0.75-$3.00 row: 20% for both tiers
    [3, 2, 0.6],
    [0.75, 1, 0.15],
    [0.75, 2, 0.15],
    [0.74, 1, 0.15], // lesser of $0.15 and 75% (0.555)
    [0.2, 2, 0.15], // 75% = 0.15 exactly
    [0.1, 1, 0.075], // 75% is less than $0.15
  ];
  for (const [ref, tier, w] of cases) {
    it(`reference ${ref}, tier ${tier}: +/- ${w}`, () => expect(luldBandWidth(ref, tier, LULD_DEFAULTS)).toBeCloseTo(w, 12));
  }

  it('an instrument not in the reference data, or of another tier, is Tier 2', () => {
    const ref = reference([{ instrument: 'T3', tier: 3, prevClose: 50 }]);
    const { m } = drive([t(T0, 'T3', 50), t(T0 + 1, 'NEW', 20)], ref);
    expect(m.bands('T3')).toMatchObject({ lower: 45, upper: 55 });
    expect(m.bands('NEW')).toMatchObject({ lower: 18, upper: 22 });
  });
});

describe('LULD reference price', () => {
  it('starts at prevClose, then is the mean of the trades in (t - 5m, t], and keeps the last value once the window empties', () => {
    const ref = reference([{ instrument: 'A', prevClose: 100 }]);
    const m = new LuldMonitor(LULD_DEFAULTS, ref, () => undefined);
    expect(m.bands('A')).toMatchObject({ reference: 100, lower: 95, upper: 105, state: 'normal' });
    m.advance(T0);
    m.onTrade({ ts: T0, instrument: 'A', price: 102 });
    m.advance(T0 + 60 * S);
    m.onTrade({ ts: T0 + 60 * S, instrument: 'A', price: 104 });
    expect(m.bands('A')!.reference).toBe(103);
    m.settle(T0 + 300 * S - 1);
    expect(m.bands('A')!.reference).toBe(103);
    m.settle(T0 + 300 * S); // the first trade leaves at exactly +5m
    expect(m.bands('A')!.reference).toBe(104);
    m.settle(T0 + 999 * S); // window empty: the previous reference stays
    expect(m.bands('A')!.reference).toBe(104);
    m.advance(T0 + 1000 * S);
    m.onTrade({ ts: T0 + 1000 * S, instrument: 'A', price: 90 });
    expect(m.bands('A')!.reference).toBe(90);
  });

  it('matches a brute-force mean at every record (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 90 * S }), px: fc.integer({ min: 9000, max: 11000 }), inst: fc.constantFrom('A', 'B') }), { minLength: 1, maxLength: 150 }),
        (steps) => {
          const ref = reference([{ instrument: 'A', prevClose: 100 }]);
          const m = new LuldMonitor(LULD_DEFAULTS, ref, () => undefined);
          const seen: MarketTrade[] = [];
          const last = new Map<string, number>([['A', 100]]); // A starts at its prevClose
          let ts = T0;
          for (const s of steps) {
            ts += s.dt;
            const tr = { ts, instrument: s.inst, price: s.px / 100 };
            m.advance(ts);
            m.onTrade(tr);
            seen.push(tr);
            for (const inst of ['A', 'B']) {
              const mine = seen.filter((x) => x.instrument === inst);
              let win = mine.filter((x) => x.ts > ts - 300 * S);
              // An empty window keeps the reference of just before it emptied: the latest trades alone.
              if (win.length === 0 && mine.length) win = mine.filter((x) => x.ts === mine[mine.length - 1]!.ts);
              if (win.length) last.set(inst, win.reduce((a, x) => a + x.price, 0) / win.length);
              const want = last.get(inst);
              const got = m.bands(inst)?.reference;
              if (want === undefined) expect(got).toBeUndefined();
              else expect(Math.abs(got! - want)).toBeLessThan(1e-9);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('LULD limit state and pause', () => {
  const ref = reference([{ instrument: 'ACME', tier: 1, prevClose: 100 }]);

  it('enters limit down when the offer reaches the lower band and pauses 15 s later', () => {
    const recs = [t(T0, 'ACME', 100), q(T0 + 1 * S, 'ACME', 96, 96.1), q(T0 + 10 * S, 'ACME', 94.9, 95)];
    const { alerts, m } = drive(recs, ref, LULD_DEFAULTS, [T0 + 24_999, T0 + 25 * S]);
    expect(alerts.map((a) => [a.type, a.eventTime, a.severity])).toEqual([
      ['LULD_LIMIT_STATE', T0 + 10 * S, 'warning'],
      ['LULD_PAUSE', T0 + 25 * S, 'critical'],
    ]);
    expect(alerts[0]!.message).toBe('ACME limit down: best offer 95 at the lower band 95 (reference 100, band 5%)');
    expect(alerts[0]).toMatchObject({ value: 95, threshold: 95 });
    expect(alerts[1]!.message).toBe('ACME LULD trading pause: limit down state not cleared after 15s (lower band 95)');
    expect(m.bands('ACME')!.state).toBe('paused');
  });

  it('does not pause when the state clears before 15 s, or at exactly 15 s (a quote at the timer instant comes first)', () => {
    for (const clearAt of [T0 + 24_999, T0 + 25 * S]) {
      const recs = [t(T0, 'ACME', 100), q(T0 + 10 * S, 'ACME', 94.9, 95), q(clearAt, 'ACME', 95, 95.1)];
      const { alerts, m } = drive(recs, ref, LULD_DEFAULTS, [T0 + 60 * S]);
      expect(alerts.map((a) => a.type)).toEqual(['LULD_LIMIT_STATE']);
      expect(m.bands('ACME')!.state).toBe('normal');
    }
  });

  it('limit up on the bid; a cleared state that re-enters alerts again and restarts the 15 s', () => {
    const recs = [
      t(T0, 'ACME', 100),
      q(T0 + 1 * S, 'ACME', 105, 105.1), // bid at the upper band
      q(T0 + 5 * S, 'ACME', 104.9, 105), // cleared
      q(T0 + 12 * S, 'ACME', 105.2, 105.3), // again
    ];
    const { alerts } = drive(recs, ref, LULD_DEFAULTS, [T0 + 26 * S, T0 + 27 * S]);
    expect(alerts.map((a) => [a.type, a.eventTime])).toEqual([
      ['LULD_LIMIT_STATE', T0 + 1 * S],
      ['LULD_LIMIT_STATE', T0 + 12 * S],
      ['LULD_PAUSE', T0 + 27 * S],
    ]);
    expect(alerts[0]!.message).toMatch(/^ACME limit up: best bid 105 at the upper band 105/);
  });

  it('stays quiet during the 5-minute pause, then is tested again at once', () => {
    const recs = [t(T0, 'ACME', 100), q(T0 + 10 * S, 'ACME', 94, 94.5), q(T0 + 100 * S, 'ACME', 93, 93.5), q(T0 + 400 * S, 'ACME', 93, 93.5)];
    // The reference stays at 100 (the window empties at +5m: the previous one stays in effect).
    const { alerts } = drive(recs, ref, LULD_DEFAULTS, [T0 + 325 * S, T0 + 326 * S]);
    expect(alerts.map((a) => [a.type, a.eventTime])).toEqual([
      ['LULD_LIMIT_STATE', T0 + 10 * S],
      ['LULD_PAUSE', T0 + 25 * S],
      ['LULD_LIMIT_STATE', T0 + 325 * S], // resumes at 25 s + 5 m, still at the band
      ['LULD_PAUSE', T0 + 340 * S],
    ]);
  });

  it('bands move with trades and with trades leaving the window, and the state follows them', () => {
    // Trades at 110 and 80: reference 95, lower band 90.25, so an ask of 90.2 is limit down at 61 s.
    const recs = [t(T0, 'ACME', 110), t(T0 + 60 * S, 'ACME', 80), q(T0 + 61 * S, 'ACME', 90, 90.2)];
    const { alerts } = drive(recs, ref, LULD_DEFAULTS, [T0 + 299 * S, T0 + 300 * S]);
    expect(alerts.map((a) => [a.type, a.eventTime])).toEqual([
      ['LULD_LIMIT_STATE', T0 + 61 * S],
      ['LULD_PAUSE', T0 + 76 * S],
    ]);
    // Without the pause: the 110 trade leaving at +5m moves the reference to 80 (bands 76-84): the
    // limit down state clears and the standing bid of 90 is now limit up, at that very instant.
    const noPause = { ...LULD_DEFAULTS, pauseAfterMs: 10_000_000 };
    const r2 = drive(recs, ref, noPause, [T0 + 299 * S, T0 + 300 * S]);
    expect(r2.alerts.map((a) => [a.type, a.eventTime, a.details.direction])).toEqual([
      ['LULD_LIMIT_STATE', T0 + 61 * S, 'down'],
      ['LULD_LIMIT_STATE', T0 + 300 * S, 'up'],
    ]);
    expect(r2.m.bands('ACME')).toMatchObject({ reference: 80, state: 'limit_up' });
  });

  it('quotes flickering across the band within one instant make one alert', () => {
    const recs = [t(T0, 'ACME', 100), q(T0 + S, 'ACME', 94.9, 95), q(T0 + S, 'ACME', 95, 95.1), q(T0 + S, 'ACME', 94.9, 95)];
    const { alerts } = drive(recs, ref, LULD_DEFAULTS, [T0 + 20 * S]);
    expect(alerts.map((a) => [a.type, a.eventTime])).toEqual([
      ['LULD_LIMIT_STATE', T0 + S],
      ['LULD_PAUSE', T0 + 16 * S],
    ]);
  });

  it('timers after the last record do not fire at the end of input', () => {
    const recs = [t(T0, 'ACME', 100), q(T0 + 10 * S, 'ACME', 94.9, 95)];
    const { alerts } = drive(recs, ref);
    expect(alerts.map((a) => a.type)).toEqual(['LULD_LIMIT_STATE']);
  });
});

/** Brute-force LULD: a discrete-event simulation with means recomputed by scanning every trade. */
function bruteLuld(recs: Rec[], ref: ReferenceData, p: LuldParams): Array<[string, string, number]> {
  interface St {
    last: number;
    bid: number;
    ask: number;
    state: number;
    since: number;
    pauseAt: number;
    resumeAt: number;
    tier: number;
    alertedAt: number;
  }
  const st = new Map<string, St>();
  const get = (name: string): St => {
    let s = st.get(name);
    if (!s) {
      const ins = ref.instruments.get(name);
      s = { last: ins && ins.prevClose > 0 ? ins.prevClose : Number.NaN, bid: Number.NaN, ask: Number.NaN, state: 0, since: Number.NaN, pauseAt: Number.NaN, resumeAt: Number.NaN, tier: ins?.tier === 1 ? 1 : 2, alertedAt: Number.NaN };
      st.set(name, s);
    }
    return s;
  };
  const applied: MarketTrade[] = [];
  const out: Array<[string, string, number]> = [];
  const refAt = (name: string, at: number): number => {
    const s = get(name);
    const win = applied.filter((x) => x.instrument === name && x.ts > at - p.referenceWindowMs);
    if (win.length) s.last = win.reduce((a, x) => a + x.price, 0) / win.length;
    return s.last;
  };
  const evaluate = (name: string, at: number): void => {
    const s = get(name);
    const r = refAt(name, at);
    if (s.state === 2) return;
    let cond = 0;
    if (!Number.isNaN(r) && !Number.isNaN(s.ask)) {
      const w = luldBandWidth(r, s.tier, p);
      if (s.ask <= r - w) cond = -1;
      else if (s.bid >= r + w) cond = 1;
    }
    if (cond === s.state) return;
    s.state = cond;
    s.pauseAt = Number.NaN;
    if (cond !== 0) {
      s.since = at;
      s.pauseAt = at + p.pauseAfterMs;
      if (s.alertedAt !== at) out.push([name, 'LULD_LIMIT_STATE', at]);
      s.alertedAt = at;
    }
  };
  const fireTimers = (upto: number, inclusive: boolean): void => {
    for (;;) {
      let best = Number.POSITIVE_INFINITY;
      for (const s of st.values()) best = Math.min(best, Number.isNaN(s.pauseAt) ? Infinity : s.pauseAt, Number.isNaN(s.resumeAt) ? Infinity : s.resumeAt);
      // Exits before (or at) the timer go first.
      const exits = applied.map((x) => x.ts + p.referenceWindowMs).filter((e) => e > lastExit && e <= upto);
      const nextExit = exits.length ? Math.min(...exits) : Infinity;
      if (nextExit <= best && nextExit <= upto) {
        lastExit = nextExit;
        const names = [...new Set(applied.filter((x) => x.ts + p.referenceWindowMs === nextExit).map((x) => x.instrument))];
        for (const n of names) evaluate(n, nextExit);
        continue;
      }
      if (!(best < upto || (inclusive && best <= upto))) return;
      for (const [name, s] of st) {
        if (s.pauseAt === best) {
          s.pauseAt = Number.NaN;
          out.push([name, 'LULD_PAUSE', best]);
          s.state = 2;
          s.resumeAt = best + p.pauseDurationMs;
        } else if (s.resumeAt === best) {
          s.resumeAt = Number.NaN;
          s.state = 0;
          evaluate(name, best);
        }
      }
    }
  };
  let lastExit = Number.NEGATIVE_INFINITY;
  for (const r of recs) {
    fireTimers(r.ts, false);
    const s = get(r.instrument);
    if (r.kind === 'quote') {
      s.bid = r.bid;
      s.ask = r.ask;
    } else applied.push(r);
    evaluate(r.instrument, r.ts);
  }
  if (recs.length) fireTimers(recs[recs.length - 1]!.ts, true);
  return out;
}

describe('LULD vs a brute-force simulation (property)', () => {
  it('gives the same limit states and pauses at the same times', () => {
    let seen = 0;
    const ref = reference([
      { instrument: 'BIG', tier: 1, prevClose: 100 },
      { instrument: 'T2', tier: 2, prevClose: 40 },
      { instrument: 'LOW', tier: 1, prevClose: 2 },
    ]);
    const base: Record<string, number> = { BIG: 100, T2: 40, LOW: 2 };
    const stepArb = fc.record({
      dt: fc.integer({ min: 0, max: 20 * S }),
      inst: fc.constantFrom('BIG', 'T2', 'LOW'),
      trade: fc.boolean(),
      shock: fc.integer({ min: -30, max: 30 }),
    });
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 120 }), (steps) => {
        const level = { ...base };
        let ts = T0;
        const recs: Rec[] = [];
        for (const s of steps) {
          ts += s.dt;
          // Jumps of up to 30% so that prices reach the bands now and then.
          level[s.inst] = Math.max(0.05, base[s.inst]! * (1 + s.shock / 100));
          const mid = Math.round(level[s.inst]! * 100) / 100;
          recs.push(s.trade ? t(ts, s.inst, mid) : q(ts, s.inst, Math.max(0.01, mid - 0.01), mid + 0.01));
        }
        const { alerts } = drive(recs, ref);
        seen += alerts.length;
        const got = alerts.map((a): [string, string, number] => [a.entity.instrument!, a.type, a.eventTime]);
        const key = (x: [string, string, number]) => `${x[2]}|${x[0]}|${x[1]}`;
        expect(got.map(key).sort()).toEqual(bruteLuld(recs, ref, LULD_DEFAULTS).map(key).sort());
      }),
      { numRuns: 300 },
    );
    // The generator does reach the bands: the comparison is not between two empty lists.
    expect(seen).toBeGreaterThan(300);
  });
});

describe('LULD bands kept with the reference (property)', () => {
  it('the state after every record is the condition of the latest quote and the bands of the trades in the window, through trades leaving it and restores', () => {
    const ref = reference([
      { instrument: 'BIG', tier: 1, prevClose: 100 },
      { instrument: 'T2', tier: 2, prevClose: 40 },
      { instrument: 'LOW', tier: 1, prevClose: 2 },
      { instrument: 'NONE', tier: 2, prevClose: 0 },
    ]);
    const base: Record<string, number> = { BIG: 100, T2: 40, LOW: 2, NONE: 0.5 };
    // A short window (trades leave between quotes all the time) and no pause (the state is the condition).
    const p: LuldParams = { ...LULD_DEFAULTS, referenceWindowMs: 3 * S, pauseAfterMs: 1e12 };
    const stepArb = fc.record({
      dt: fc.integer({ min: 0, max: 2 * S }),
      inst: fc.constantFrom('BIG', 'T2', 'LOW', 'NONE'),
      trade: fc.boolean(),
      shock: fc.integer({ min: -40, max: 40 }),
      noAsk: fc.integer({ min: 0, max: 9 }),
      cut: fc.integer({ min: 0, max: 14 }),
    });
    let limits = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 80 }), (steps) => {
        let m = new LuldMonitor(p, ref, () => undefined);
        let ts = T0;
        const trades: Rec[] = [];
        const quote = new Map<string, [number, number]>();
        // The reference in effect at `at`: the mean of the trades in (u - window, u] at the latest
        // instant u <= at when that window held a trade (instants: trade times and exit times), else prevClose.
        const refAt = (name: string, at: number): number => {
          const mine = trades.filter((x) => x.instrument === name && x.ts <= at);
          const mean = (u: number): number => {
            const win = mine.filter((x) => x.ts > u - p.referenceWindowMs && x.ts <= u);
            return win.length === 0 ? Number.NaN : win.reduce((a, x) => a + (x as MarketTrade).price, 0) / win.length;
          };
          if (mine.length === 0) {
            const prev = ref.instruments.get(name)!.prevClose;
            return prev > 0 ? prev : Number.NaN;
          }
          const until = mine[mine.length - 1]!.ts + p.referenceWindowMs;
          const u = Math.max(...mine.flatMap((x) => [x.ts, x.ts + p.referenceWindowMs]).filter((v) => v < until && v <= at));
          return mean(u);
        };
        for (const s of steps) {
          ts += s.dt;
          // Prices in 64ths: the monitor's running sums and the brute force's sums are then exact
          // (the same reference to the bit, so a quote at a band edge is judged alike).
          const mid = Math.max(1, Math.round(base[s.inst]! * (1 + s.shock / 100) * 64)) / 64;
          // Now and then a quote without an ask (NaN).
          const r = s.trade ? t(ts, s.inst, mid) : q(ts, s.inst, Math.max(1 / 64, mid - 1 / 64), s.noAsk === 0 ? Number.NaN : mid + 1 / 64);
          m.advance(r.ts);
          if (r.kind === 'quote') {
            m.onQuote(r);
            quote.set(r.instrument, [r.bid, r.ask]);
          } else {
            m.onTrade(r);
            trades.push(r);
          }
          if (s.cut === 0) {
            const restored = new LuldMonitor(p, ref, () => undefined);
            restored.restore(structuredClone(m.snapshot()));
            m = restored;
          }
          for (const name of Object.keys(base)) {
            const rp = refAt(name, ts);
            const [bid, ask] = quote.get(name) ?? [Number.NaN, Number.NaN];
            let want = 'normal';
            if (!Number.isNaN(rp) && !Number.isNaN(ask)) {
              const w = luldBandWidth(rp, ref.instruments.get(name)!.tier, p);
              if (ask <= rp - w) want = 'limit_down';
              else if (bid >= rp + w) want = 'limit_up';
            }
            if (want !== 'normal') limits++;
            const got = m.bands(name);
            expect(got === undefined ? 'normal' : got.state).toBe(want);
          }
        }
      }),
      { numRuns: 300 },
    );
    expect(limits).toBeGreaterThan(300);
  });
});

describe('LULD snapshot', () => {
  it('snapshot -> restore -> continue equals an uninterrupted run', () => {
    const ref = reference([{ instrument: 'ACME', tier: 1, prevClose: 100 }]);
    const recs: Rec[] = [];
    for (let i = 0; i < 300; i++) {
      const mid = 100 * (1 + 0.07 * Math.sin(i / 13));
      recs.push(i % 3 === 0 ? t(T0 + i * 2 * S, 'ACME', Math.round(mid * 100) / 100) : q(T0 + i * 2 * S, 'ACME', mid - 0.02, mid + 0.02));
    }
    const whole = drive(recs, ref).alerts;
    expect(whole.length).toBeGreaterThan(3);
    const got: MarketAlert[] = [];
    const m1 = new LuldMonitor(LULD_DEFAULTS, ref, (a) => got.push(a));
    const feed = (m: LuldMonitor, rs: Rec[]) => {
      for (const r of rs) {
        m.advance(r.ts);
        if (r.kind === 'quote') m.onQuote(r);
        else m.onTrade(r);
      }
    };
    feed(m1, recs.slice(0, 137));
    const m2 = new LuldMonitor(LULD_DEFAULTS, ref, (a) => got.push(a));
    m2.restore(structuredClone(m1.snapshot()));
    feed(m2, recs.slice(137));
    m2.settle(recs[recs.length - 1]!.ts);
    expect(got).toEqual(whole);
  });

  it('the snapshot carries each instrument\'s state and tier: restored at every cut, the bands and the rest of the run are the same', () => {
    // Two tiers, limit states both ways and pauses: every state is in some snapshot.
    const ref = reference([
      { instrument: 'ACME', tier: 1, prevClose: 100 },
      { instrument: 'BOLT', tier: 2, prevClose: 50 },
    ]);
    const recs: Rec[] = [];
    for (let i = 0; i < 240; i++) {
      const ts = T0 + i * 3 * S;
      const a = 100 * (1 + 0.09 * Math.sin(i / 9));
      const b = 50 * (1 + 0.14 * Math.sin(i / 7 + 1));
      if (i % 4 === 0) recs.push(t(ts, 'ACME', Math.round(a * 100) / 100), t(ts + 1, 'BOLT', Math.round(b * 100) / 100));
      else recs.push(q(ts, 'ACME', a - 0.02, a + 0.02), q(ts + 1, 'BOLT', b - 0.02, b + 0.02));
    }
    const feed = (m: LuldMonitor, rs: Rec[]) => {
      for (const r of rs) {
        m.advance(r.ts);
        if (r.kind === 'quote') m.onQuote(r);
        else m.onTrade(r);
      }
    };
    const whole: MarketAlert[] = [];
    const m0 = new LuldMonitor(LULD_DEFAULTS, ref, (a) => whole.push(a));
    const states = new Set<string>();
    const bandsAt: string[] = [];
    for (const r of recs) {
      feed(m0, [r]);
      for (const name of ['ACME', 'BOLT']) states.add(m0.bands(name)!.state);
      bandsAt.push(JSON.stringify([m0.bands('ACME'), m0.bands('BOLT')]));
    }
    m0.settle(recs[recs.length - 1]!.ts);
    expect([...states].sort()).toEqual(['limit_down', 'limit_up', 'normal', 'paused']);
    for (let cut = 2; cut < recs.length; cut += 7) {
      const got: MarketAlert[] = [];
      const m1 = new LuldMonitor(LULD_DEFAULTS, ref, (a) => got.push(a));
      feed(m1, recs.slice(0, cut));
      const snap = m1.snapshot();
      const m2 = new LuldMonitor(LULD_DEFAULTS, ref, (a) => got.push(a));
      m2.restore(structuredClone(snap));
      expect(JSON.stringify([m2.bands('ACME'), m2.bands('BOLT')])).toBe(bandsAt[cut - 1]);
      expect(snap.insts.map((x) => [x.name, x.tier])).toEqual([
        ['ACME', 1],
        ['BOLT', 2],
      ]);
      feed(m2, recs.slice(cut));
      m2.settle(recs[recs.length - 1]!.ts);
      expect(got).toEqual(whole);
    }
  });
});
