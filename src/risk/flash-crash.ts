import type { MonotonicDequeSnapshot } from './deque.js';
import { durationText, InstrumentSlots, instrumentAlert, instrumentId, pctText, type AlertSink, type MarketQuote } from './market.js';

/**
 * Parameters of {@link FlashCrashDetector} (CONTRACTS.md 4, FLASH_CRASH).
 *
 * @example const p: FlashCrashParams = { ...FLASH_CRASH_DEFAULTS, movePct: 0.07 };
 */
export interface FlashCrashParams {
  /** Trailing window of the max/min (default 60 s). */
  windowMs: number;
  /** Move that alerts, as a fraction (default 0.05). */
  movePct: number;
  /** The episode ends, and the rule re-arms, once the move is back within this (default 0.02). */
  rearmPct: number;
}

/**
 * The defaults of CONTRACTS.md 4: 60 s window, 5% move, re-armed within 2%.
 *
 * @example new FlashCrashDetector(FLASH_CRASH_DEFAULTS, sink)
 */
export const FLASH_CRASH_DEFAULTS: FlashCrashParams = { windowMs: 60_000, movePct: 0.05, rearmPct: 0.02 };

/**
 * One instrument's state in one typed array (one allocation, a few cache lines per quote): a
 * header, then the max deque and the min deque of the mark as ring buffers of (value, ts, end)
 * triples, each with the semantics of a step-mode {@link MonotonicDeque} (deque.ts: dominated
 * entries dropped on push, ties keep the newest, `end` = when the entry stopped holding).
 */
const MARK = 0;
const DOWN_ARMED = 1;
const UP_ARMED = 2;
const HI_HEAD = 3;
const HI_N = 4;
const LO_HEAD = 5;
const LO_N = 6;
const CAP = 7;
const HEADER = 8;
const INITIAL_CAP = 8;

function newBook(cap: number): Float64Array {
  const b = new Float64Array(HEADER + cap * 6);
  b[MARK] = Number.NaN;
  b[DOWN_ARMED] = 1;
  b[UP_ARMED] = 1;
  b[CAP] = cap;
  return b;
}

/** Offset of the deque (hi: HEADER, lo: HEADER + 3 * cap) entry k (0 = front). */
function at(b: Float64Array, base: number, head: number, k: number): number {
  return base + ((head + k) & ((b[CAP] as number) - 1)) * 3;
}

/** The book with twice the capacity (entries re-laid from the front). */
function grow(b: Float64Array): Float64Array {
  const cap = b[CAP] as number;
  const g = newBook(cap * 2);
  for (let i = 0; i < HEADER; i++) g[i] = b[i] as number;
  g[CAP] = cap * 2;
  for (const [base, head, n, nbase] of [
    [HEADER, b[HI_HEAD] as number, b[HI_N] as number, HEADER],
    [HEADER + cap * 3, b[LO_HEAD] as number, b[LO_N] as number, HEADER + cap * 6],
  ] as const) {
    for (let k = 0; k < n; k++) {
      const from = at(b, base, head, k);
      g[nbase + k * 3] = b[from] as number;
      g[nbase + k * 3 + 1] = b[from + 1] as number;
      g[nbase + k * 3 + 2] = b[from + 2] as number;
    }
  }
  g[HI_HEAD] = 0;
  g[LO_HEAD] = 0;
  return g;
}

/** A deque of a book as a {@link MonotonicDequeSnapshot} (the checkpoint form). */
function dequeSnapshot(b: Float64Array, lo: boolean): MonotonicDequeSnapshot {
  const cap = b[CAP] as number;
  const base = lo ? HEADER + cap * 3 : HEADER;
  const head = b[lo ? LO_HEAD : HI_HEAD] as number;
  const n = b[lo ? LO_N : HI_N] as number;
  const value = new Float64Array(n);
  const ts = new Float64Array(n);
  const end = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const i = at(b, base, head, k);
    value[k] = b[i] as number;
    ts[k] = b[i + 1] as number;
    end[k] = b[i + 2] as number;
  }
  return { mode: lo ? 'min' : 'max', step: true, value, ts, end };
}

function bookFrom(v: { hi: MonotonicDequeSnapshot; lo: MonotonicDequeSnapshot; mark: number; downArmed: boolean; upArmed: boolean }): Float64Array {
  let cap = INITIAL_CAP;
  while (cap < v.hi.value.length || cap < v.lo.value.length) cap *= 2;
  const b = newBook(cap);
  b[MARK] = v.mark;
  b[DOWN_ARMED] = v.downArmed ? 1 : 0;
  b[UP_ARMED] = v.upArmed ? 1 : 0;
  for (const [d, base, nIdx] of [
    [v.hi, HEADER, HI_N],
    [v.lo, HEADER + cap * 3, LO_N],
  ] as const) {
    for (let k = 0; k < d.value.length; k++) {
      b[base + k * 3] = d.value[k] as number;
      b[base + k * 3 + 1] = d.ts[k] as number;
      b[base + k * 3 + 2] = d.end[k] as number;
    }
    b[nIdx] = d.value.length;
  }
  return b;
}

/**
 * Checkpoint form of a {@link FlashCrashDetector} (structured-cloneable).
 *
 * @example detector.restore(structuredClone(detector.snapshot()))
 */
export interface FlashCrashSnapshot {
  states: Array<[string, { hi: MonotonicDequeSnapshot; lo: MonotonicDequeSnapshot; mark: number; downArmed: boolean; upArmed: boolean }]>;
}

/**
 * FLASH_CRASH (CONTRACTS.md 4): the mark (mid of the latest quote) is >= `movePct` below its
 * maximum over the trailing window, or >= `movePct` above its minimum. The mark is a step
 * function of time, so the trailing max/min is that of the function over [t - window, t]: it
 * includes the mark carried in from before the window (monotonic deques, O(1) amortised).
 *
 * Episodes: a fall and a rise are separate episodes. A fall alerts once, then stays quiet until
 * the mark is back within `rearmPct` of its trailing max (a rise: of its trailing min); it is then
 * re-armed. The mark only changes at quotes, and the passage of time can only shrink a move (old
 * extremes leave the window), so both tests run at each quote: the re-arm test first with the
 * previous mark over the window ending at the quote (so a move that faded between quotes re-arms),
 * then the alert test with the new mark.
 *
 * Alert value: the move as a fraction; the message gives the seconds since the extreme (clipped
 * to the window): "ACME fell 7.2% in 38s (limit 5%)". If a whipsaw breaks both ways at one quote,
 * both episodes start but one alert reports the larger move (two would share an alert id).
 *
 * @example
 * const fc = new FlashCrashDetector(FLASH_CRASH_DEFAULTS, (a) => alerts.push(a));
 * for (const q of quotesInTimeOrder) fc.onQuote(q);
 */
export class FlashCrashDetector {
  private readonly p: FlashCrashParams;
  private readonly out: AlertSink;
  /** Instrument names in first-seen order (the snapshot's order). */
  private names: string[] = [];
  /** The books by instrument id (the per-quote lookup). */
  private slots = new InstrumentSlots<Float64Array>();

  constructor(p: FlashCrashParams, out: AlertSink) {
    this.p = p;
    this.out = out;
  }

  /** `id`: the instrument's {@link instrumentId}, when the caller has it. */
  onQuote(q: MarketQuote, id = instrumentId(q.instrument)): void {
    // midOf, inline (a double returned by a call that is not inlined is a heap number).
    const mark = (q.bid + q.ask) / 2;
    if (!(mark > 0)) return;
    let b = this.slots.at(id);
    if (b === undefined) {
      b = newBook(INITIAL_CAP);
      this.names.push(q.instrument);
      this.slots.set(q.instrument, b);
    }
    const t = q.ts;
    const { windowMs, movePct, rearmPct } = this.p;
    const cutoff = t - windowMs;
    let cap = b[CAP] as number;
    let mask = cap - 1;
    let loBase = HEADER + cap * 3;
    // Evict what stopped holding at or before the cutoff (the window is [t - window, t]).
    let hh = b[HI_HEAD] as number;
    let hn = b[HI_N] as number;
    while (hn > 0 && (b[HEADER + hh * 3 + 2] as number) <= cutoff) {
      hh = (hh + 1) & mask;
      hn--;
    }
    let lh = b[LO_HEAD] as number;
    let ln = b[LO_N] as number;
    while (ln > 0 && (b[loBase + lh * 3 + 2] as number) <= cutoff) {
      lh = (lh + 1) & mask;
      ln--;
    }
    const prev = b[MARK] as number;
    let downArmed = b[DOWN_ARMED] === 1;
    let upArmed = b[UP_ARMED] === 1;
    if (!Number.isNaN(prev)) {
      // Re-arm with the mark that held until now, over [t - window, t].
      if (!downArmed && 1 - prev / (hn === 0 ? Number.NaN : (b[HEADER + hh * 3] as number)) <= rearmPct) downArmed = true;
      if (!upArmed && prev / (ln === 0 ? Number.NaN : (b[loBase + lh * 3] as number)) - 1 <= rearmPct) upArmed = true;
    }
    b[MARK] = mark;
    // Push the mark on both deques: the newest entry stops holding now; dominated ones go.
    if (hn > 0) b[HEADER + ((hh + hn - 1) & mask) * 3 + 2] = t;
    while (hn > 0 && (b[HEADER + ((hh + hn - 1) & mask) * 3] as number) <= mark) hn--;
    if (ln > 0) b[loBase + ((lh + ln - 1) & mask) * 3 + 2] = t;
    while (ln > 0 && (b[loBase + ((lh + ln - 1) & mask) * 3] as number) >= mark) ln--;
    if (hn === cap || ln === cap) {
      b[HI_HEAD] = hh;
      b[HI_N] = hn;
      b[LO_HEAD] = lh;
      b[LO_N] = ln;
      b = grow(b);
      this.slots.set(q.instrument, b);
      cap = b[CAP] as number;
      mask = cap - 1;
      loBase = HEADER + cap * 3;
      hh = 0;
      lh = 0;
    }
    let i = HEADER + ((hh + hn) & mask) * 3;
    b[i] = mark;
    b[i + 1] = t;
    b[i + 2] = Number.POSITIVE_INFINITY;
    hn++;
    i = loBase + ((lh + ln) & mask) * 3;
    b[i] = mark;
    b[i + 1] = t;
    b[i + 2] = Number.POSITIVE_INFINITY;
    ln++;
    b[HI_HEAD] = hh;
    b[HI_N] = hn;
    b[LO_HEAD] = lh;
    b[LO_N] = ln;
    const hi = b[HEADER + hh * 3] as number;
    const hiTs = b[HEADER + hh * 3 + 1] as number;
    const lo = b[loBase + lh * 3] as number;
    const loTs = b[loBase + lh * 3 + 1] as number;
    // CONTRACTS.md 4, FLASH_CRASH: fall from the trailing max / rise from the trailing min.
    const fall = 1 - mark / hi;
    const rise = mark / lo - 1;
    const down = downArmed && fall >= movePct;
    const up = upArmed && rise >= movePct;
    if (down) downArmed = false;
    else if (!downArmed && fall <= rearmPct) downArmed = true;
    if (up) upArmed = false;
    else if (!upArmed && rise <= rearmPct) upArmed = true;
    b[DOWN_ARMED] = downArmed ? 1 : 0;
    b[UP_ARMED] = upArmed ? 1 : 0;
    // A whipsaw can break both ways at one quote: one alert (the larger move), since two alerts of
    // one rule, instrument and instant would share an alert id.
    if (down && (!up || fall >= rise)) {
      const since = t - Math.max(hiTs, cutoff);
      this.out(
        instrumentAlert('FLASH_CRASH', 'critical', q.instrument, t, fall, movePct, `${q.instrument} fell ${pctText(fall)} in ${durationText(since)} (limit ${pctText(movePct)})`, {
          direction: 'down',
          mark,
          high: hi,
          highTs: hiTs,
          windowMs,
        }),
      );
    } else if (up) {
      const since = t - Math.max(loTs, cutoff);
      this.out(
        instrumentAlert('FLASH_CRASH', 'critical', q.instrument, t, rise, movePct, `${q.instrument} rose ${pctText(rise)} in ${durationText(since)} (limit ${pctText(movePct)})`, {
          direction: 'up',
          mark,
          low: lo,
          lowTs: loTs,
          windowMs,
        }),
      );
    }
  }

  snapshot(): FlashCrashSnapshot {
    return {
      states: this.names.map((k) => {
        const b = this.slots.get(k)!;
        return [k, { hi: dequeSnapshot(b, false), lo: dequeSnapshot(b, true), mark: b[MARK] as number, downArmed: b[DOWN_ARMED] === 1, upArmed: b[UP_ARMED] === 1 }];
      }),
    };
  }

  restore(st: unknown): void {
    const s = st as FlashCrashSnapshot;
    this.names = s.states.map(([k]) => k);
    this.slots = new InstrumentSlots<Float64Array>();
    for (const [k, v] of s.states) this.slots.set(k, bookFrom(v));
  }
}
