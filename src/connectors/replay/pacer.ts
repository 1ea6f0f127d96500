import { UsageError } from '../../core/errors.js';

/**
 * Parses `--speed` (CONTRACTS.md section 6): `max` (as fast as possible, returned as Infinity) or
 * `<N>x` with N a positive number (`1x` = real time, `60x` = an hour a minute, `0.5x` = half
 * speed); a bare number is read the same way. Anything else is a {@link UsageError}.
 *
 * @example
 * parseSpeed('max') === Infinity; parseSpeed('10x') === 10; parseSpeed('0.5x') === 0.5
 */
export function parseSpeed(text: string): number {
  const t = String(text).trim().toLowerCase();
  if (t === 'max') return Number.POSITIVE_INFINITY;
  const body = t.endsWith('x') ? t.slice(0, -1) : t;
  const n = body.length > 0 && /^\d*\.?\d+(e[+-]?\d+)?$/.test(body) ? Number(body) : NaN;
  if (!Number.isFinite(n) || n <= 0) {
    throw new UsageError(`invalid --speed '${text}': use max or <N>x, e.g. 1x, 10x, 0.5x`, { field: 'speed' });
  }
  return n;
}

/**
 * Wall time for the pacer: a clock and a way to wait; tests inject virtual ones.
 *
 * @example
 * const fake: PacerClock = { now: () => t, sleep: async (ms) => { t += ms; } };
 */
export interface PacerClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/**
 * The real wall clock and timer.
 *
 * @example
 * new Pacer(parseSpeed('10x'), systemPacerClock)
 */
export const systemPacerClock: PacerClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Holds a replay back so that event time advances `speed` times faster than wall time. The
 * first event time seen starts both clocks; after each batch, `pace(lastEventTime)` waits until
 * wall time has caught up with `start + (eventTime - firstEventTime) / speed`. A batch behind the
 * furthest event time so far never waits, and with `speed` Infinity (`--speed max`) nothing ever
 * waits. If processing is slower than the requested speed the replay just runs behind; the pacer
 * never tries to catch up by skipping.
 *
 * @example
 * const pacer = new Pacer(parseSpeed(opts.speed), systemPacerClock);
 * for (let b = await src.nextBatch(); b; b = await src.nextBatch()) { push(b); await pacer.pace(src.progress().eventTime); }
 */
export class Pacer {
  private wallStart = NaN;
  private eventStart = NaN;
  private furthest = Number.NEGATIVE_INFINITY;

  constructor(
    readonly speed: number,
    private readonly clock: PacerClock = systemPacerClock,
  ) {
    if (!(speed > 0)) throw new UsageError(`speed must be > 0, got ${speed}`, { field: 'speed' });
  }

  /** Waits as long as needed after a batch whose last record has event time `eventTime`. */
  async pace(eventTime: number): Promise<void> {
    if (this.speed === Number.POSITIVE_INFINITY || !Number.isFinite(eventTime)) return;
    if (Number.isNaN(this.wallStart)) {
      this.wallStart = this.clock.now();
      this.eventStart = eventTime;
      this.furthest = eventTime;
      return;
    }
    if (eventTime <= this.furthest) return;
    this.furthest = eventTime;
    const due = this.wallStart + (eventTime - this.eventStart) / this.speed;
    const wait = due - this.clock.now();
    // Sub-millisecond waits cost more in timer overhead than they smooth anything.
    if (wait >= 1) await this.clock.sleep(wait);
  }

  /** Forgets the start point, e.g. after a seek: the next `pace()` restarts the clocks. */
  reset(): void {
    this.wallStart = NaN;
    this.eventStart = NaN;
    this.furthest = Number.NEGATIVE_INFINITY;
  }
}
