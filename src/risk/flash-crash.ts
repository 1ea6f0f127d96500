import { MonotonicDeque, type MonotonicDequeSnapshot } from './deque.js';
import { durationText, InstrumentSlots, instrumentAlert, midOf, pctText, type AlertSink, type MarketQuote } from './market.js';

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

interface FlashState {
  hi: MonotonicDeque;
  lo: MonotonicDeque;
  mark: number;
  downArmed: boolean;
  upArmed: boolean;
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
  private states = new Map<string, FlashState>();
  /** The same states by instrument id (the per-quote lookup). */
  private slots = new InstrumentSlots<FlashState>();

  constructor(p: FlashCrashParams, out: AlertSink) {
    this.p = p;
    this.out = out;
  }

  onQuote(q: MarketQuote): void {
    const mark = midOf(q.bid, q.ask);
    if (!(mark > 0)) return;
    let s = this.slots.get(q.instrument);
    if (s === undefined) {
      s = { hi: new MonotonicDeque('max', { step: true }), lo: new MonotonicDeque('min', { step: true }), mark: Number.NaN, downArmed: true, upArmed: true };
      this.states.set(q.instrument, s);
      this.slots.set(q.instrument, s);
    }
    const t = q.ts;
    const { windowMs, movePct, rearmPct } = this.p;
    const cutoff = t - windowMs;
    s.hi.evict(cutoff);
    s.lo.evict(cutoff);
    if (!Number.isNaN(s.mark)) {
      // Re-arm with the mark that held until now, over [t - window, t].
      if (!s.downArmed && 1 - s.mark / s.hi.extreme <= rearmPct) s.downArmed = true;
      if (!s.upArmed && s.mark / s.lo.extreme - 1 <= rearmPct) s.upArmed = true;
    }
    s.mark = mark;
    s.hi.push(t, mark);
    s.lo.push(t, mark);
    const hi = s.hi.extreme;
    const lo = s.lo.extreme;
    // CONTRACTS.md 4, FLASH_CRASH: fall from the trailing max / rise from the trailing min.
    const fall = 1 - mark / hi;
    const rise = mark / lo - 1;
    const down = s.downArmed && fall >= movePct;
    const up = s.upArmed && rise >= movePct;
    if (down) s.downArmed = false;
    else if (!s.downArmed && fall <= rearmPct) s.downArmed = true;
    if (up) s.upArmed = false;
    else if (!s.upArmed && rise <= rearmPct) s.upArmed = true;
    // A whipsaw can break both ways at one quote: one alert (the larger move), since two alerts of
    // one rule, instrument and instant would share an alert id.
    if (down && (!up || fall >= rise)) {
      const since = t - Math.max(s.hi.extremeTs, cutoff);
      this.out(
        instrumentAlert('FLASH_CRASH', 'critical', q.instrument, t, fall, movePct, `${q.instrument} fell ${pctText(fall)} in ${durationText(since)} (limit ${pctText(movePct)})`, {
          direction: 'down',
          mark,
          high: hi,
          highTs: s.hi.extremeTs,
          windowMs,
        }),
      );
    } else if (up) {
      const since = t - Math.max(s.lo.extremeTs, cutoff);
      this.out(
        instrumentAlert('FLASH_CRASH', 'critical', q.instrument, t, rise, movePct, `${q.instrument} rose ${pctText(rise)} in ${durationText(since)} (limit ${pctText(movePct)})`, {
          direction: 'up',
          mark,
          low: lo,
          lowTs: s.lo.extremeTs,
          windowMs,
        }),
      );
    }
  }

  snapshot(): FlashCrashSnapshot {
    return {
      states: [...this.states].map(([k, s]) => [k, { hi: s.hi.snapshot(), lo: s.lo.snapshot(), mark: s.mark, downArmed: s.downArmed, upArmed: s.upArmed }]),
    };
  }

  restore(st: unknown): void {
    const s = st as FlashCrashSnapshot;
    this.states = new Map(
      s.states.map(([k, v]) => [k, { hi: MonotonicDeque.restore(v.hi), lo: MonotonicDeque.restore(v.lo), mark: v.mark, downArmed: v.downArmed, upArmed: v.upArmed }]),
    );
    this.slots = new InstrumentSlots<FlashState>();
    for (const [k, v] of this.states) this.slots.set(k, v);
  }
}

