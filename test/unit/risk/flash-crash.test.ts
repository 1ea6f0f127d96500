import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MonotonicDeque } from '../../../src/risk/deque.js';
import { FLASH_CRASH_DEFAULTS, FlashCrashDetector, type FlashCrashParams, type FlashCrashSnapshot } from '../../../src/risk/flash-crash.js';
import { durationText, instrumentAlert, pctText, type MarketAlert, type MarketQuote } from '../../../src/risk/market.js';

const T0 = 1_710_511_200_000;

describe('MonotonicDeque', () => {
  const opArb = fc.array(
    fc.record({ dt: fc.integer({ min: 0, max: 30 }), v: fc.integer({ min: 0, max: 20 }), w: fc.integer({ min: 1, max: 80 }) }),
    { maxLength: 200 },
  );

  for (const mode of ['max', 'min'] as const) {
    it(`${mode} over points in (t - w, t] equals a scan`, () => {
      fc.assert(
        fc.property(opArb, (ops) => {
          const d = new MonotonicDeque(mode);
          const pts: Array<[number, number]> = [];
          let t = 0;
          let cutoff = Number.NEGATIVE_INFINITY;
          for (const op of ops) {
            t += op.dt;
            d.push(t, op.v);
            pts.push([t, op.v]);
            // Windows only ever move forward: the cutoff never decreases.
            cutoff = Math.max(cutoff, t - op.w);
            d.evict(cutoff);
            const live = pts.filter(([ts]) => ts > cutoff);
            const ext = mode === 'max' ? Math.max(...live.map((p) => p[1])) : Math.min(...live.map((p) => p[1]));
            expect(d.extreme).toBe(ext);
            expect(d.extremeTs).toBe(Math.max(...live.filter((p) => p[1] === ext).map((p) => p[0])));
          }
        }),
      );
    });

    it(`${mode} of a step function over [t - w, t] equals a scan (value carried in from before the window)`, () => {
      fc.assert(
        fc.property(opArb, (ops) => {
          const d = new MonotonicDeque(mode, { step: true });
          const pts: Array<[number, number]> = [];
          let t = 0;
          let cutoff = Number.NEGATIVE_INFINITY;
          for (const op of ops) {
            t += op.dt;
            d.push(t, op.v);
            pts.push([t, op.v]);
            cutoff = Math.max(cutoff, t - op.w);
            d.evict(cutoff);
            // In effect during [cutoff, t]: pushed later than cutoff, or the next push came after cutoff.
            const live = pts.filter((p, i) => i === pts.length - 1 || pts[i + 1]![0] > cutoff);
            const ext = mode === 'max' ? Math.max(...live.map((p) => p[1])) : Math.min(...live.map((p) => p[1]));
            expect(d.extreme).toBe(ext);
          }
        }),
        { numRuns: 200 },
      );
    });
  }

  it('grows past its initial capacity and round-trips a snapshot', () => {
    const d = new MonotonicDeque('min', { capacity: 2 });
    for (let i = 0; i < 100; i++) d.push(i, i); // increasing: every value stays a candidate for the min
    d.evict(49);
    expect(d.size).toBe(50);
    const e = MonotonicDeque.restore(structuredClone(d.snapshot()));
    expect(e.extreme).toBe(50);
    e.evict(98);
    expect(e.extreme).toBe(99);
  });
});

/** Brute force of CONTRACTS.md 4 FLASH_CRASH as documented on FlashCrashDetector, by scanning each window. */
function bruteFlash(quotes: MarketQuote[], p: FlashCrashParams): Array<{ instrument: string; eventTime: number; value: number; message: string; direction: string }> {
  const out: Array<{ instrument: string; eventTime: number; value: number; message: string; direction: string }> = [];
  const byInst = new Map<string, MarketQuote[]>();
  for (const q of quotes) (byInst.get(q.instrument) ?? byInst.set(q.instrument, []).get(q.instrument)!).push(q);
  const events: Array<{ seq: number; a: (typeof out)[number] }> = [];
  for (const [name, qs] of byInst) {
    const ts = qs.map((q) => q.ts);
    const m = qs.map((q) => (q.bid + q.ask) / 2);
    let down = true;
    let up = true;
    for (let i = 0; i < qs.length; i++) {
      const t = ts[i]!;
      const cut = t - p.windowMs;
      // Quote j is in effect somewhere in [cut, t] when the next quote came after cut.
      const live = (upto: number) => [...Array(upto + 1).keys()].filter((j) => j === upto || ts[j + 1]! > cut);
      if (i > 0) {
        const pre = live(i - 1);
        const hi = Math.max(...pre.map((j) => m[j]!));
        const lo = Math.min(...pre.map((j) => m[j]!));
        if (!down && 1 - m[i - 1]! / hi <= p.rearmPct) down = true;
        if (!up && m[i - 1]! / lo - 1 <= p.rearmPct) up = true;
      }
      const post = live(i);
      const hi = Math.max(...post.map((j) => m[j]!));
      const lo = Math.min(...post.map((j) => m[j]!));
      const hiTs = Math.max(...post.filter((j) => m[j] === hi).map((j) => ts[j]!));
      const loTs = Math.max(...post.filter((j) => m[j] === lo).map((j) => ts[j]!));
      const fall = 1 - m[i]! / hi;
      const rise = m[i]! / lo - 1;
      const pct = (x: number) => `${(x * 100).toFixed(1).replace(/\.?0+$/, '')}%`;
      const secs = (ms: number) => (ms < 1000 ? `${Math.round(ms)}ms` : ms < 9950 ? `${(ms / 1000).toFixed(1).replace(/\.0$/, '')}s` : `${Math.round(ms / 1000)}s`);
      const fd = down && fall >= p.movePct;
      const fu = up && rise >= p.movePct;
      if (fd) down = false;
      else if (!down && fall <= p.rearmPct) down = true;
      if (fu) up = false;
      else if (!up && rise <= p.rearmPct) up = true;
      if (fd && (!fu || fall >= rise)) {
        events.push({ seq: quotes.indexOf(qs[i]!), a: { instrument: name, eventTime: t, value: fall, direction: 'down', message: `${name} fell ${pct(fall)} in ${secs(t - Math.max(hiTs, cut))} (limit ${pct(p.movePct)})` } });
      } else if (fu) {
        events.push({ seq: quotes.indexOf(qs[i]!) + 0.5, a: { instrument: name, eventTime: t, value: rise, direction: 'up', message: `${name} rose ${pct(rise)} in ${secs(t - Math.max(loTs, cut))} (limit ${pct(p.movePct)})` } });
      }
    }
  }
  events.sort((x, y) => x.seq - y.seq);
  for (const e of events) out.push(e.a);
  return out;
}

function run(quotes: MarketQuote[], p: FlashCrashParams = FLASH_CRASH_DEFAULTS): MarketAlert[] {
  const alerts: MarketAlert[] = [];
  const d = new FlashCrashDetector(p, (a) => alerts.push(a));
  for (const q of quotes) d.onQuote(q);
  return alerts;
}

const quote = (ts: number, instrument: string, mid: number): MarketQuote => ({ ts, instrument, bid: mid - 0.01, ask: mid + 0.01, bidSize: 1000, askSize: 1000 });

describe('FLASH_CRASH', () => {
  it('reports a fall with the seconds since the trailing max, once per episode', () => {
    const qs = [quote(T0, 'ACME', 100), quote(T0 + 10_000, 'ACME', 99), quote(T0 + 30_000, 'ACME', 96), quote(T0 + 48_000, 'ACME', 92.8), quote(T0 + 50_000, 'ACME', 92)];
    const a = run(qs);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ type: 'FLASH_CRASH', severity: 'critical', entity: { instrument: 'ACME' }, eventTime: T0 + 48_000, threshold: 0.05 });
    expect(a[0]!.value).toBeCloseTo(0.072, 12);
    expect(a[0]!.message).toBe('ACME fell 7.2% in 48s (limit 5%)');
    expect(a[0]!.details).toMatchObject({ direction: 'down', high: 100, highTs: T0 });
  });

  it('re-arms once the move has retraced to within rearmPct, then alerts on a new fall', () => {
    const qs = [
      quote(T0, 'X', 100),
      quote(T0 + 1000, 'X', 94), // fall 6%: alert
      quote(T0 + 2000, 'X', 97), // 3% below the max: still the same episode
      quote(T0 + 3000, 'X', 94.5), // 5.5%: no second alert
      quote(T0 + 4000, 'X', 98.5), // 1.5%: re-armed
      quote(T0 + 5000, 'X', 94.9), // 5.1%: a new episode
    ];
    expect(run(qs).map((a) => a.eventTime)).toEqual([T0 + 1000, T0 + 5000]);
  });

  it('re-arms when the old max has left the window, even without a quote at the recovery', () => {
    // After 94 holds for over 60 s the trailing max is 94 itself: the episode has ended.
    const qs = [quote(T0, 'X', 100), quote(T0 + 1000, 'X', 94), quote(T0 + 70_000, 'X', 89)];
    const a = run(qs);
    expect(a.map((x) => [x.eventTime, x.message])).toEqual([
      [T0 + 1000, 'X fell 6% in 1s (limit 5%)'],
      [T0 + 70_000, 'X fell 5.3% in 60s (limit 5%)'],
    ]);
  });

  it('counts the mark carried in from before the window (the mark is a step function)', () => {
    // 100 until 59 s, then 94.9 at 59 s: at 61 s the trailing 60 s window [1 s, 61 s] still saw 100.
    const qs = [quote(T0, 'X', 100), quote(T0 + 59_000, 'X', 96), quote(T0 + 61_000, 'X', 94.9)];
    expect(run(qs).map((a) => a.eventTime)).toEqual([T0 + 61_000]);
    // Had 96 come at 0.5 s, 100 would have stopped holding before the window.
    const qs2 = [quote(T0, 'X', 100), quote(T0 + 500, 'X', 96), quote(T0 + 61_000, 'X', 94.9)];
    expect(run(qs2)).toEqual([]);
  });

  it('reports a rise above the trailing min', () => {
    const a = run([quote(T0, 'X', 50), quote(T0 + 2000, 'X', 53)]);
    expect(a.map((x) => x.message)).toEqual(['X rose 6% in 2s (limit 5%)']);
  });

  it('a whipsaw is two episodes, one each way', () => {
    // The rise to 110 alerts up; the drop to 100 is 9.1% below that max: a fall, alerted too.
    const a = run([quote(T0, 'X', 90), quote(T0 + 1000, 'X', 91), quote(T0 + 2000, 'X', 110), quote(T0 + 2500, 'X', 100)]);
    expect(a.map((x) => [x.eventTime, x.details.direction])).toEqual([
      [T0 + 2000, 'up'],
      [T0 + 2500, 'down'],
    ]);
  });

  it('keeps instruments apart', () => {
    const a = run([quote(T0, 'A', 100), quote(T0 + 1, 'B', 10), quote(T0 + 2, 'A', 94), quote(T0 + 3, 'B', 10)]);
    expect(a.map((x) => x.entity.instrument)).toEqual(['A']);
  });

  it('matches a brute-force scan of the trailing windows on random paths (property)', () => {
    const pathArb = fc.array(
      fc.record({ inst: fc.constantFrom('A', 'B', 'C'), dt: fc.integer({ min: 0, max: 9000 }), step: fc.integer({ min: -300, max: 300 }) }),
      { minLength: 1, maxLength: 250 },
    );
    fc.assert(
      fc.property(pathArb, fc.constantFrom(FLASH_CRASH_DEFAULTS, { windowMs: 20_000, movePct: 0.03, rearmPct: 0.01 }), (steps, p) => {
        const level = new Map<string, number>();
        let t = T0;
        const qs: MarketQuote[] = [];
        for (const s of steps) {
          t += s.dt;
          const l = Math.max(10, (level.get(s.inst) ?? 100) * (1 + s.step / 10_000));
          level.set(s.inst, l);
          qs.push(quote(t, s.inst, Math.round(l * 100) / 100));
        }
        const got = run(qs, p).map((a) => ({ instrument: a.entity.instrument!, eventTime: a.eventTime, value: a.value, message: a.message, direction: a.details.direction as string }));
        expect(got).toEqual(bruteFlash(qs, p));
      }),
      { numRuns: 300 },
    );
  });

  it('snapshot -> restore -> continue equals an uninterrupted run', () => {
    const qs: MarketQuote[] = [];
    let l = 100;
    for (let i = 0; i < 400; i++) {
      l *= 1 + Math.sin(i * 1.7) * 0.004 + (i % 100 === 50 ? -0.07 : i % 100 === 75 ? 0.08 : 0);
      qs.push(quote(T0 + i * 700, i % 3 === 0 ? 'B' : 'A', Math.round(l * 100) / 100));
    }
    const whole = run(qs);
    expect(whole.length).toBeGreaterThan(1);
    const first: MarketAlert[] = [];
    const d1 = new FlashCrashDetector(FLASH_CRASH_DEFAULTS, (a) => first.push(a));
    qs.slice(0, 200).forEach((q) => d1.onQuote(q));
    const d2 = new FlashCrashDetector(FLASH_CRASH_DEFAULTS, (a) => first.push(a));
    d2.restore(structuredClone(d1.snapshot()));
    qs.slice(200).forEach((q) => d2.onQuote(q));
    expect(first).toEqual(whole);
  });
});

/**
 * The detector as it was built on two step-mode {@link MonotonicDeque}s per instrument, evicted
 * and pushed at every quote: the plain path the books (window marks and block bounds) must match
 * alert for alert and snapshot for snapshot.
 */
class DequeFlash {
  private readonly s = new Map<string, { hi: MonotonicDeque; lo: MonotonicDeque; mark: number; downArmed: boolean; upArmed: boolean }>();
  constructor(
    private readonly p: FlashCrashParams,
    private readonly out: (a: MarketAlert) => void,
  ) {}

  onQuote(q: MarketQuote): void {
    const mark = (q.bid + q.ask) / 2;
    if (!(mark > 0)) return;
    let st = this.s.get(q.instrument);
    if (!st) this.s.set(q.instrument, (st = { hi: new MonotonicDeque('max', { step: true }), lo: new MonotonicDeque('min', { step: true }), mark: Number.NaN, downArmed: true, upArmed: true }));
    const { windowMs, movePct, rearmPct } = this.p;
    const t = q.ts;
    const cutoff = t - windowMs;
    st.hi.evict(cutoff);
    st.lo.evict(cutoff);
    if (!Number.isNaN(st.mark)) {
      if (!st.downArmed && 1 - st.mark / st.hi.extreme <= rearmPct) st.downArmed = true;
      if (!st.upArmed && st.mark / st.lo.extreme - 1 <= rearmPct) st.upArmed = true;
    }
    st.mark = mark;
    st.hi.push(t, mark);
    st.lo.push(t, mark);
    const fall = 1 - mark / st.hi.extreme;
    const rise = mark / st.lo.extreme - 1;
    const down = st.downArmed && fall >= movePct;
    const up = st.upArmed && rise >= movePct;
    if (down) st.downArmed = false;
    else if (!st.downArmed && fall <= rearmPct) st.downArmed = true;
    if (up) st.upArmed = false;
    else if (!st.upArmed && rise <= rearmPct) st.upArmed = true;
    if (down && (!up || fall >= rise)) {
      const hiTs = st.hi.extremeTs;
      this.out(instrumentAlert('FLASH_CRASH', 'critical', q.instrument, t, fall, movePct, `${q.instrument} fell ${pctText(fall)} in ${durationText(t - Math.max(hiTs, cutoff))} (limit ${pctText(movePct)})`, { direction: 'down', mark, high: st.hi.extreme, highTs: hiTs, windowMs }));
    } else if (up) {
      const loTs = st.lo.extremeTs;
      this.out(instrumentAlert('FLASH_CRASH', 'critical', q.instrument, t, rise, movePct, `${q.instrument} rose ${pctText(rise)} in ${durationText(t - Math.max(loTs, cutoff))} (limit ${pctText(movePct)})`, { direction: 'up', mark, low: st.lo.extreme, lowTs: loTs, windowMs }));
    }
  }

  snapshot(): FlashCrashSnapshot {
    return { states: [...this.s].map(([name, v]) => [name, { hi: v.hi.snapshot(), lo: v.lo.snapshot(), mark: v.mark, downArmed: v.downArmed, upArmed: v.upArmed }]) };
  }
}

describe('FLASH_CRASH books against monotonic deques', () => {
  it('marks of one instant held for no time come back from a snapshot in push order', () => {
    // At one instant: 100, 91, 95 then 82.81 (each but the last held for no time); the max
    // deque holds 100, 95, 82.81, the min deque 82.81. Then 90 and 99 at a later instant.
    const marks = [100, 91, 95, 82.81];
    const qs = [...marks.map((m) => quote(T0, 'C', m)), quote(T0 + 5, 'C', 90), quote(T0 + 5, 'C', 99)];
    const want: MarketAlert[] = [];
    const ref = new DequeFlash(FLASH_CRASH_DEFAULTS, (a) => want.push(a));
    const got: MarketAlert[] = [];
    let d = new FlashCrashDetector(FLASH_CRASH_DEFAULTS, (a) => got.push(a));
    for (const q of qs) {
      d.onQuote(q);
      ref.onQuote(q);
      const snap = d.snapshot();
      expect(snap).toEqual(ref.snapshot());
      d = new FlashCrashDetector(FLASH_CRASH_DEFAULTS, (a) => got.push(a));
      d.restore(structuredClone(snap));
      expect(d.snapshot()).toEqual(snap);
    }
    expect(Array.from(ref.snapshot().states[0]![1].hi.value)).toEqual([100, 99]);
    expect(got).toEqual(want);
  });

  it('alerts and snapshots equal those of two deques per instrument, on paths with crashes, ties, gaps and restores (property)', () => {
    const stepArb = fc.record({
      inst: fc.constantFrom('A', 'B', 'C'),
      // Same-instant quotes, dense bursts, and gaps of up to three windows.
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 0, max: 200_000 })),
      // Unchanged marks, small moves, long runs one way (deep deques), crashes and spikes.
      move: fc.oneof(fc.constant(0), fc.integer({ min: -60, max: 60 }), fc.constantFrom(-900, -700, 650, 800)),
      run: fc.integer({ min: 1, max: 60 }),
      restore: fc.integer({ min: 0, max: 10 }),
    });
    let alerts = 0;
    let restores = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 120 }), fc.constantFrom(FLASH_CRASH_DEFAULTS, { windowMs: 20_000, movePct: 0.03, rearmPct: 0.01 }), (steps, p) => {
        const got: MarketAlert[] = [];
        const want: MarketAlert[] = [];
        let d = new FlashCrashDetector(p, (a) => got.push(a));
        const ref = new DequeFlash(p, (a) => want.push(a));
        const level = new Map<string, number>();
        let t = T0;
        for (const s of steps) {
          // A run of quotes of one instrument, each moving the same way (a tie when move is 0).
          for (let r = 0; r < (s.move === 0 || Math.abs(s.move) > 600 ? 1 : s.run); r++) {
            t += r === 0 ? s.dt : 700;
            const l = Math.round(Math.max(1, (level.get(s.inst) ?? 100) * (1 + s.move / 10_000)) * 100) / 100;
            level.set(s.inst, l);
            const q = quote(t, s.inst, l);
            d.onQuote(q);
            ref.onQuote(q);
          }
          expect(got).toEqual(want);
          if (s.restore === 0) {
            const snap = d.snapshot();
            expect(snap).toEqual(ref.snapshot());
            d = new FlashCrashDetector(p, (a) => got.push(a));
            d.restore(structuredClone(snap));
            restores++;
          }
        }
        expect(d.snapshot()).toEqual(ref.snapshot());
        alerts += want.length;
      }),
      { numRuns: 300 },
    );
    expect(alerts).toBeGreaterThan(30);
    expect(restores).toBeGreaterThan(100);
  });
  it('keeps 150 instruments apart while the books grow (past 64 books, rings past 32 marks), through a restore', () => {
    // Instruments join over time (the books grow for new instruments), some with bursts of
    // quotes every 100 ms (the shared ring capacity doubles while other books hold marks), with
    // crashes and spikes; alerts after every quote and snapshots against two deques per instrument.
    let seed = 11;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return (seed >>> 8) % n;
    };
    const p = FLASH_CRASH_DEFAULTS;
    const got: MarketAlert[] = [];
    const want: MarketAlert[] = [];
    let d = new FlashCrashDetector(p, (a) => got.push(a));
    const ref = new DequeFlash(p, (a) => want.push(a));
    const level = new Map<string, number>();
    let t = T0;
    for (let step = 0; step < 6000; step++) {
      const joined = Math.min(150, 5 + (step >> 5));
      const inst = `I${rand(joined)}`;
      const burst = rand(40) === 0 ? 20 + rand(700) : 1;
      for (let r = 0; r < burst; r++) {
        t += burst > 1 ? 100 : rand(400);
        const move = rand(200) === 0 ? (rand(2) === 0 ? -800 : 700) : rand(41) - 20;
        const l = Math.round(Math.max(1, (level.get(inst) ?? 100) * (1 + move / 10_000)) * 100) / 100;
        level.set(inst, l);
        const q = quote(t, inst, l);
        d.onQuote(q);
        ref.onQuote(q);
      }
      if (step === 3000) {
        const snap = d.snapshot();
        expect(snap).toEqual(ref.snapshot());
        d = new FlashCrashDetector(p, (a) => got.push(a));
        d.restore(structuredClone(snap));
      }
      expect(got.length).toBe(want.length);
    }
    expect(got).toEqual(want);
    expect(d.snapshot()).toEqual(ref.snapshot());
    expect(want.length).toBeGreaterThan(20);
  });
});
