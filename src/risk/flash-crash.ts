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
 * then the marks of its trailing window as a ring buffer of `cap` (value, ts, end) triples, oldest
 * first: `end` is when the mark stopped holding (the next mark's ts; +Inf for the current one).
 * One array rather than one per instrument: a quote reads its book without first loading a typed
 * array object of its own. All books share `cap`; a ring that fills it doubles it for all.
 *
 * The header also bounds the trailing max and min: over the blocks of `window` (block b is
 * [b * window, (b + 1) * window)), the max and min of the marks that held in the current block
 * and in the one before it (HI_CUR, HI_PREV, LO_CUR, LO_PREV; from the mark carried in at a
 * block's start). A window [t - window, t] lies in those two blocks, so its max is at most the
 * larger bound and its min at least the smaller: a quote whose move from them is under the limit
 * (nearly every quote) needs neither, and the ring is only read when an episode might start or
 * is open. Marks that stopped holding a window ago leave the ring when it is full, in one pass.
 */
const MARK = 0;
const DOWN_ARMED = 1;
const UP_ARMED = 2;
const HEAD = 3;
const N = 4;
/** The block of HI_CUR and LO_CUR (NaN: no mark yet, or restored: both bounds cover every mark in the ring). */
const BLOCK = 5;
const HI_CUR = 6;
const HI_PREV = 7;
const LO_CUR = 8;
const LO_PREV = 9;
const HEADER = 10;
const INITIAL_CAP = 32;
/** The slot of {@link FlashCrashDetector}'s `ext` that passes the window's start to `extremes`. */
const CUTOFF = 4;

/** Doubles of one book with a ring of `cap` entries. */
function strideOf(cap: number): number {
  return HEADER + cap * 3;
}

/** A fresh book at `base`: no mark, both directions armed, an empty ring. */
function initBook(b: Float64Array, base: number): void {
  b[base + MARK] = Number.NaN;
  b[base + DOWN_ARMED] = 1;
  b[base + UP_ARMED] = 1;
  b[base + HEAD] = 0;
  b[base + N] = 0;
  b[base + BLOCK] = Number.NaN;
  b[base + HI_CUR] = Number.NEGATIVE_INFINITY;
  b[base + HI_PREV] = Number.NEGATIVE_INFINITY;
  b[base + LO_CUR] = Number.POSITIVE_INFINITY;
  b[base + LO_PREV] = Number.POSITIVE_INFINITY;
}

/** Offset of entry j (0 = oldest) of the ring of the book at `base` whose head is `head`. */
function entry(base: number, head: number, j: number, cap: number): number {
  return base + HEADER + ((head + j) & (cap - 1)) * 3;
}

/** Copies n books laid out with rings of `cap` into `g` with rings of `gcap` (entries from the oldest). */
function relayout(b: Float64Array, cap: number, g: Float64Array, gcap: number, n: number): void {
  const s = strideOf(cap);
  const gs = strideOf(gcap);
  for (let k = 0; k < n; k++) {
    const base = k * s;
    const gb = k * gs;
    for (let i = 0; i < HEADER; i++) g[gb + i] = b[base + i] as number;
    unwrapRing(b, base + HEADER, cap, b[base + HEAD] as number, b[base + N] as number, 3, g, gb + HEADER);
    g[gb + HEAD] = 0;
  }
}

/**
 * The monotonic deque of the marks of a book that still counted at the last quote (end after its
 * window's start), as a {@link MonotonicDequeSnapshot} (the checkpoint form): the marks no newer
 * mark reaches (a newer equal one replaces an older), oldest first, what a step-mode
 * {@link MonotonicDeque} holds after the same pushes and evictions.
 */
function dequeSnapshot(b: Float64Array, base: number, cap: number, windowMs: number, lo: boolean): MonotonicDequeSnapshot {
  const head = b[base + HEAD] as number;
  const n = b[base + N] as number;
  const keep: number[] = [];
  if (n > 0) {
    const cutoff = (b[entry(base, head, n - 1, cap) + 1] as number) - windowMs;
    let best = lo ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    for (let j = n - 1; j >= 0; j--) {
      const i = entry(base, head, j, cap);
      const v = b[i] as number;
      if ((b[i + 2] as number) <= cutoff) break;
      if (lo ? v < best : v > best) {
        best = v;
        keep.push(i);
      }
    }
  }
  keep.reverse();
  return {
    mode: lo ? 'min' : 'max',
    step: true,
    value: Float64Array.from(keep, (i) => b[i] as number),
    ts: Float64Array.from(keep, (i) => b[i + 1] as number),
    end: Float64Array.from(keep, (i) => b[i + 2] as number),
  };
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
 * includes the mark carried in from before the window. Each instrument keeps the marks of its
 * window (and bounds of their max and min, see the books above): the window's max and min are
 * read from them only at a quote that could start an episode, or while one is open.
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
  /** Entries per ring, shared by every book (a power of two). */
  private cap = INITIAL_CAP;
  private books: Float64Array = new Float64Array(64 * strideOf(INITIAL_CAP));
  /**
   * What {@link extremes} found: max, its newest ts, min, its newest ts; and at CUTOFF its
   * argument. The cutoff goes through here rather than as a parameter: a double passed to a call
   * that is not inlined is boxed, and TurboFan boxed it ahead of both (rare) calls, at every quote.
   */
  private readonly ext = new Float64Array(5);

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
    const prev = b[base + MARK] as number;
    let downArmed = b[base + DOWN_ARMED] === 1;
    let upArmed = b[base + UP_ARMED] === 1;
    const ext = this.ext;
    if (!Number.isNaN(prev) && (!downArmed || !upArmed)) {
      // Re-arm with the mark that held until now, over [t - window, t].
      ext[CUTOFF] = cutoff;
      this.extremes(k);
      if (!downArmed && 1 - prev / (ext[0] as number) <= rearmPct) downArmed = true;
      if (!upArmed && prev / (ext[2] as number) - 1 <= rearmPct) upArmed = true;
    }
    // The bounds: the block of t and the one before it.
    const blk = Math.floor(t / windowMs);
    const sb = b[base + BLOCK] as number;
    if (blk === sb) {
      if (mark > (b[base + HI_CUR] as number)) b[base + HI_CUR] = mark;
      if (mark < (b[base + LO_CUR] as number)) b[base + LO_CUR] = mark;
    } else if (Number.isNaN(prev)) {
      b[base + HI_PREV] = Number.NEGATIVE_INFINITY;
      b[base + LO_PREV] = Number.POSITIVE_INFINITY;
      b[base + HI_CUR] = mark;
      b[base + LO_CUR] = mark;
    } else if (!Number.isNaN(sb)) {
      // A new block: the previous one's marks are those of the block of the last quote, or the
      // mark that held through it; this one starts with the mark carried in.
      const near = blk === sb + 1;
      b[base + HI_PREV] = near ? (b[base + HI_CUR] as number) : prev;
      b[base + LO_PREV] = near ? (b[base + LO_CUR] as number) : prev;
      b[base + HI_CUR] = mark > prev ? mark : prev;
      b[base + LO_CUR] = mark < prev ? mark : prev;
    } else {
      // Restored: the bounds cover every mark in the ring; they cover this block from now on.
      if (mark > (b[base + HI_CUR] as number)) b[base + HI_CUR] = mark;
      if (mark < (b[base + LO_CUR] as number)) b[base + LO_CUR] = mark;
    }
    b[base + BLOCK] = blk;
    b[base + MARK] = mark;
    // Append the mark: the newest entry stops holding now.
    let head = b[base + HEAD] as number;
    let n = b[base + N] as number;
    if (n === cap) {
      // Full: the marks that stopped holding a window ago leave first.
      while (n > 0 && (b[entry(base, head, 0, cap) + 2] as number) <= cutoff) {
        head = (head + 1) & (cap - 1);
        n--;
      }
      b[base + HEAD] = head;
      b[base + N] = n;
      if (n === cap) {
        this.grow();
        cap = this.cap;
        b = this.books;
        base = k * strideOf(cap);
        head = 0;
      }
    }
    if (n > 0) b[entry(base, head, n - 1, cap) + 2] = t;
    const i = entry(base, head, n, cap);
    b[i] = mark;
    b[i + 1] = t;
    b[i + 2] = Number.POSITIVE_INFINITY;
    b[base + N] = n + 1;
    // CONTRACTS.md 4, FLASH_CRASH: fall from the trailing max / rise from the trailing min. The
    // bounds give a larger move than the window's (or the same): under the limit with them, the
    // window's is too, and an armed episode neither starts nor changes.
    const hiBound = b[base + HI_CUR]! > b[base + HI_PREV]! ? (b[base + HI_CUR] as number) : (b[base + HI_PREV] as number);
    const loBound = b[base + LO_CUR]! < b[base + LO_PREV]! ? (b[base + LO_CUR] as number) : (b[base + LO_PREV] as number);
    if (downArmed && upArmed && 1 - mark / hiBound < movePct && mark / loBound - 1 < movePct) {
      b[base + DOWN_ARMED] = 1;
      b[base + UP_ARMED] = 1;
      return;
    }
    ext[CUTOFF] = cutoff;
    this.extremes(k);
    const hi = ext[0] as number;
    const hiTs = ext[1] as number;
    const lo = ext[2] as number;
    const loTs = ext[3] as number;
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
    const w = this.p.windowMs;
    return {
      states: this.names.map((name, k) => {
        const base = k * strideOf(cap);
        return [
          name,
          {
            hi: dequeSnapshot(b, base, cap, w, false),
            lo: dequeSnapshot(b, base, cap, w, true),
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
    // Each book's ring: the entries of both deques merged in time order (each deque's own order
    // kept: marks of one instant, each held for no time, are in push order), each once (the
    // newest mark is in both). A mark in neither was below a newer one and above another newer
    // one: it can be neither the max nor the min of a window to come, nor a deque's entry again.
    const rings = s.states.map(([, v]) => {
      const es: Array<[number, number, number]> = [];
      const { hi, lo } = v;
      let i = 0;
      let j = 0;
      while (i < hi.value.length || j < lo.value.length) {
        const fromHi = j >= lo.value.length || (i < hi.value.length && (hi.ts[i]! < lo.ts[j]! || (hi.ts[i] === lo.ts[j] && hi.end[i]! <= lo.end[j]!)));
        const d = fromHi ? hi : lo;
        const x = fromHi ? i++ : j++;
        const e: [number, number, number] = [d.ts[x] as number, d.end[x] as number, d.value[x] as number];
        const last = es[es.length - 1];
        if (last === undefined || last[0] !== e[0] || last[1] !== e[1] || last[2] !== e[2]) es.push(e);
      }
      return es;
    });
    let cap = INITIAL_CAP;
    for (const r of rings) while (cap < r.length + 1) cap *= 2;
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
      const r = rings[k]!;
      r.forEach(([ts, end, value], j) => {
        const i = entry(base, 0, j, cap);
        b[i] = value;
        b[i + 1] = ts;
        b[i + 2] = end;
        // The bounds cover every mark kept (BLOCK stays NaN: see onQuote).
        if (value > (b[base + HI_CUR] as number)) b[base + HI_CUR] = value;
        if (value < (b[base + LO_CUR] as number)) b[base + LO_CUR] = value;
      });
      b[base + N] = r.length;
    });
  }

  /**
   * The max and min of instrument k's marks over [cutoff, now] (cutoff: `ext[CUTOFF]`) into
   * `ext`, each with the newest ts it was set at (NaN: no mark), dropping the marks that stopped
   * holding at or before cutoff.
   */
  private extremes(k: number): void {
    const cutoff = this.ext[CUTOFF] as number;
    const cap = this.cap;
    const b = this.books;
    const base = k * strideOf(cap);
    let head = b[base + HEAD] as number;
    let n = b[base + N] as number;
    while (n > 0 && (b[entry(base, head, 0, cap) + 2] as number) <= cutoff) {
      head = (head + 1) & (cap - 1);
      n--;
    }
    b[base + HEAD] = head;
    b[base + N] = n;
    let hi = Number.NaN;
    let hiTs = Number.NaN;
    let lo = Number.NaN;
    let loTs = Number.NaN;
    for (let j = 0; j < n; j++) {
      const i = entry(base, head, j, cap);
      const v = b[i] as number;
      // Ties: the newest (a deque keeps the newest of equal values).
      if (!(v < hi)) {
        hi = v;
        hiTs = b[i + 1] as number;
      }
      if (!(v > lo)) {
        lo = v;
        loTs = b[i + 1] as number;
      }
    }
    const ext = this.ext;
    ext[0] = hi;
    ext[1] = hiTs;
    ext[2] = lo;
    ext[3] = loTs;
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

  /** Doubles the rings' capacity of every book (one of them is full). */
  private grow(): void {
    const cap = this.cap * 2;
    const n = this.names.length;
    const g = new Float64Array(Math.max(64, n * 2) * strideOf(cap));
    relayout(this.books, this.cap, g, cap, n);
    this.books = g;
    this.cap = cap;
  }
}
