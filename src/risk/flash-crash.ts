import { grown, unwrapRing } from '../core/typed-arrays.js';
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
 * Every instrument's state in one typed array (the books), instrument k at k * stride: a header,
 * then the max deque and the min deque of the mark as ring buffers of `cap` (value, ts, end)
 * triples, each with the semantics of a step-mode {@link MonotonicDeque} (deque.ts: dominated
 * entries dropped on push, ties keep the newest, `end` = when the entry stopped holding). One
 * array rather than one per instrument: a quote reads its book without first loading a typed
 * array object of its own. All books share `cap`; a deque that fills it doubles it for all.
 */
const MARK = 0;
const DOWN_ARMED = 1;
const UP_ARMED = 2;
const HI_HEAD = 3;
const HI_N = 4;
const LO_HEAD = 5;
const LO_N = 6;
const HEADER = 8;
const INITIAL_CAP = 8;

/** Doubles of one book with deques of `cap` entries. */
function strideOf(cap: number): number {
  return HEADER + cap * 6;
}

/** A fresh book at `base`: no mark, both directions armed, empty deques. */
function initBook(b: Float64Array, base: number): void {
  b[base + MARK] = Number.NaN;
  b[base + DOWN_ARMED] = 1;
  b[base + UP_ARMED] = 1;
  b[base + HI_HEAD] = 0;
  b[base + HI_N] = 0;
  b[base + LO_HEAD] = 0;
  b[base + LO_N] = 0;
}

/** Offset of entry j (0 = front) of the deque at `dq` (base + HEADER, or + 3 * cap) whose head is `head`. */
function entry(dq: number, head: number, j: number, cap: number): number {
  return dq + ((head + j) & (cap - 1)) * 3;
}

/** Copies n books laid out with deques of `cap` into `g` with deques of `gcap` (entries from the front). */
function relayout(b: Float64Array, cap: number, g: Float64Array, gcap: number, n: number): void {
  const s = strideOf(cap);
  const gs = strideOf(gcap);
  for (let k = 0; k < n; k++) {
    const base = k * s;
    const gb = k * gs;
    for (let i = 0; i < HEADER; i++) g[gb + i] = b[base + i] as number;
    for (const [dq, gdq, head, cnt] of [
      [base + HEADER, gb + HEADER, HI_HEAD, HI_N],
      [base + HEADER + cap * 3, gb + HEADER + gcap * 3, LO_HEAD, LO_N],
    ] as const) {
      unwrapRing(b, dq, cap, b[base + head] as number, b[base + cnt] as number, 3, g, gdq);
      g[gb + head] = 0;
    }
  }
}

/** A deque of a book as a {@link MonotonicDequeSnapshot} (the checkpoint form). */
function dequeSnapshot(b: Float64Array, base: number, cap: number, lo: boolean): MonotonicDequeSnapshot {
  const dq = base + HEADER + (lo ? cap * 3 : 0);
  const head = b[base + (lo ? LO_HEAD : HI_HEAD)] as number;
  const n = b[base + (lo ? LO_N : HI_N)] as number;
  const value = new Float64Array(n);
  const ts = new Float64Array(n);
  const end = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const i = entry(dq, head, j, cap);
    value[j] = b[i] as number;
    ts[j] = b[i + 1] as number;
    end[j] = b[i + 2] as number;
  }
  return { mode: lo ? 'min' : 'max', step: true, value, ts, end };
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
  /** Instrument names by book index (first-seen order, the snapshot's order). */
  private names: string[] = [];
  /** Book indices by instrument id (the per-quote lookup). */
  private slots = new InstrumentSlots<number>();
  /** Entries per deque, shared by every book (a power of two). */
  private cap = INITIAL_CAP;
  private books: Float64Array = new Float64Array(64 * strideOf(INITIAL_CAP));

  constructor(p: FlashCrashParams, out: AlertSink) {
    this.p = p;
    this.out = out;
  }

  /** `id`: the instrument's {@link instrumentId}, when the caller has it. */
  onQuote(q: MarketQuote, id = instrumentId(q.instrument)): void {
    // midOf, inline (a double returned by a call that is not inlined is a heap number).
    const mark = (q.bid + q.ask) / 2;
    if (!(mark > 0)) return;
    let k = this.slots.at(id);
    if (k === undefined) k = this.add(q.instrument);
    const t = q.ts;
    const { windowMs, movePct, rearmPct } = this.p;
    const cutoff = t - windowMs;
    let cap = this.cap;
    let b = this.books;
    let base = k * strideOf(cap);
    let mask = cap - 1;
    let hiQ = base + HEADER;
    let loQ = hiQ + cap * 3;
    // Evict what stopped holding at or before the cutoff (the window is [t - window, t]).
    let hh = b[base + HI_HEAD] as number;
    let hn = b[base + HI_N] as number;
    while (hn > 0 && (b[hiQ + hh * 3 + 2] as number) <= cutoff) {
      hh = (hh + 1) & mask;
      hn--;
    }
    let lh = b[base + LO_HEAD] as number;
    let ln = b[base + LO_N] as number;
    while (ln > 0 && (b[loQ + lh * 3 + 2] as number) <= cutoff) {
      lh = (lh + 1) & mask;
      ln--;
    }
    const prev = b[base + MARK] as number;
    let downArmed = b[base + DOWN_ARMED] === 1;
    let upArmed = b[base + UP_ARMED] === 1;
    if (!Number.isNaN(prev)) {
      // Re-arm with the mark that held until now, over [t - window, t].
      if (!downArmed && 1 - prev / (hn === 0 ? Number.NaN : (b[hiQ + hh * 3] as number)) <= rearmPct) downArmed = true;
      if (!upArmed && prev / (ln === 0 ? Number.NaN : (b[loQ + lh * 3] as number)) - 1 <= rearmPct) upArmed = true;
    }
    b[base + MARK] = mark;
    // Push the mark on both deques: the newest entry stops holding now; dominated ones go.
    if (hn > 0) b[hiQ + ((hh + hn - 1) & mask) * 3 + 2] = t;
    while (hn > 0 && (b[hiQ + ((hh + hn - 1) & mask) * 3] as number) <= mark) hn--;
    if (ln > 0) b[loQ + ((lh + ln - 1) & mask) * 3 + 2] = t;
    while (ln > 0 && (b[loQ + ((lh + ln - 1) & mask) * 3] as number) >= mark) ln--;
    b[base + HI_HEAD] = hh;
    b[base + HI_N] = hn;
    b[base + LO_HEAD] = lh;
    b[base + LO_N] = ln;
    if (hn === cap || ln === cap) {
      this.growDeques();
      cap = this.cap;
      b = this.books;
      base = k * strideOf(cap);
      mask = cap - 1;
      hiQ = base + HEADER;
      loQ = hiQ + cap * 3;
      hh = 0;
      lh = 0;
    }
    let i = hiQ + ((hh + hn) & mask) * 3;
    b[i] = mark;
    b[i + 1] = t;
    b[i + 2] = Number.POSITIVE_INFINITY;
    b[base + HI_N] = ++hn;
    i = loQ + ((lh + ln) & mask) * 3;
    b[i] = mark;
    b[i + 1] = t;
    b[i + 2] = Number.POSITIVE_INFINITY;
    b[base + LO_N] = ++ln;
    const hi = b[hiQ + hh * 3] as number;
    const hiTs = b[hiQ + hh * 3 + 1] as number;
    const lo = b[loQ + lh * 3] as number;
    const loTs = b[loQ + lh * 3 + 1] as number;
    // CONTRACTS.md 4, FLASH_CRASH: fall from the trailing max / rise from the trailing min.
    const fall = 1 - mark / hi;
    const rise = mark / lo - 1;
    const down = downArmed && fall >= movePct;
    const up = upArmed && rise >= movePct;
    if (down) downArmed = false;
    else if (!downArmed && fall <= rearmPct) downArmed = true;
    if (up) upArmed = false;
    else if (!upArmed && rise <= rearmPct) upArmed = true;
    b[base + DOWN_ARMED] = downArmed ? 1 : 0;
    b[base + UP_ARMED] = upArmed ? 1 : 0;
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
    const b = this.books;
    const cap = this.cap;
    return {
      states: this.names.map((name, k) => {
        const base = k * strideOf(cap);
        return [
          name,
          {
            hi: dequeSnapshot(b, base, cap, false),
            lo: dequeSnapshot(b, base, cap, true),
            mark: b[base + MARK] as number,
            downArmed: b[base + DOWN_ARMED] === 1,
            upArmed: b[base + UP_ARMED] === 1,
          },
        ];
      }),
    };
  }

  restore(st: unknown): void {
    const s = st as FlashCrashSnapshot;
    let cap = INITIAL_CAP;
    for (const [, v] of s.states) while (cap < v.hi.value.length || cap < v.lo.value.length) cap *= 2;
    this.cap = cap;
    this.books = new Float64Array(Math.max(64, s.states.length) * strideOf(cap));
    this.names = [];
    this.slots = new InstrumentSlots<number>();
    const b = this.books;
    s.states.forEach(([name, v], k) => {
      this.names.push(name);
      this.slots.set(name, k);
      const base = k * strideOf(cap);
      initBook(b, base);
      b[base + MARK] = v.mark;
      b[base + DOWN_ARMED] = v.downArmed ? 1 : 0;
      b[base + UP_ARMED] = v.upArmed ? 1 : 0;
      for (const [d, dq, nIdx] of [
        [v.hi, base + HEADER, HI_N],
        [v.lo, base + HEADER + cap * 3, LO_N],
      ] as const) {
        for (let j = 0; j < d.value.length; j++) {
          b[dq + j * 3] = d.value[j] as number;
          b[dq + j * 3 + 1] = d.ts[j] as number;
          b[dq + j * 3 + 2] = d.end[j] as number;
        }
        b[base + nIdx] = d.value.length;
      }
    });
  }

  private add(name: string): number {
    const k = this.names.length;
    const stride = strideOf(this.cap);
    if ((k + 1) * stride > this.books.length) this.books = grown(this.books, (k + 1) * stride);
    initBook(this.books, k * stride);
    this.names.push(name);
    this.slots.set(name, k);
    return k;
  }

  /** Doubles the deques' capacity of every book (one of them is full). */
  private growDeques(): void {
    const cap = this.cap * 2;
    const n = this.names.length;
    const g = new Float64Array(Math.max(64, n * 2) * strideOf(cap));
    relayout(this.books, this.cap, g, cap, n);
    this.books = g;
    this.cap = cap;
  }
}
