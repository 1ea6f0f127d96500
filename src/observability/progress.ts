import { systemClock, type Clock } from '../core/time.js';

/**
 * What a replay reports after each batch (the replay source's `progress()`).
 *
 * @example
 * reporter.update(source.progress())
 */
export interface ProgressSnapshot {
  events: number;
  eventTime: number;
  bytesRead: number;
  totalBytes: number;
  deadLetters: number;
}

/**
 * The part of a writable stream the reporter uses; `isTTY` selects the redrawn bar.
 *
 * @example
 * const fake: ProgressStream = { isTTY: true, write: (s) => chunks.push(s) };
 */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
}

/**
 * Options of {@link ProgressReporter}; every one has a default.
 *
 * @example
 * { stream: process.stderr, clock: systemClock, intervalMs: 200, plainIntervalMs: 5000, barWidth: 10 }
 */
export interface ProgressOptions {
  stream?: ProgressStream;
  clock?: Clock;
  /** Minimum time between redraws of the bar on a terminal. */
  intervalMs?: number;
  /** Minimum time between lines when the output is not a terminal (a log file, CI). */
  plainIntervalMs?: number;
  /** Width of the bar in characters. */
  barWidth?: number;
}

/**
 * A count in a short human form: `950`, `9.5k`, `812k`, `1.2M`, `3.4G`.
 *
 * @example
 * formatCount(1_234_567) === '1.2M'
 */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  const unit = (v: number, s: string): string => `${v < 10 ? (Math.floor(v * 10) / 10).toFixed(1) : Math.floor(v).toFixed(0)}${s}`;
  if (a < 1000) return String(Math.round(n));
  if (a < 1e6) return unit(n / 1e3, 'k');
  if (a < 1e9) return unit(n / 1e6, 'M');
  return unit(n / 1e9, 'G');
}

/**
 * A duration as `m:ss`, or `h:mm:ss` from an hour up.
 *
 * @example
 * formatEta(7_000) === '0:07'; formatEta(3_725_000) === '1:02:05'
 */
export function formatEta(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--:--';
  const s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function eventTimeText(ts: number): string {
  if (!Number.isFinite(ts)) return '-';
  // Seconds are enough to follow a replay; the millis only make the line jitter.
  return `${new Date(ts).toISOString().slice(0, 19)}Z`;
}

/**
 * The progress line for a snapshot, `elapsedMs` after the start:
 * `[#####.....] 43% 1.2M ev  812k ev/s  event time 2024-03-15T14:02:11Z  ETA 0:07` (without the bar
 * when `barWidth` is 0), followed by `  N dead letters` when there are any. The fraction done is
 * bytes read over total bytes; the rate is the average since the start.
 *
 * @example
 * formatProgress({ events: 1.2e6, eventTime: Date.UTC(2024, 2, 15, 14, 2, 11), bytesRead: 43, totalBytes: 100, deadLetters: 0 }, 1478, 10)
 */
export function formatProgress(p: ProgressSnapshot, elapsedMs: number, barWidth = 10): string {
  const known = p.totalBytes > 0;
  const frac = known ? Math.min(1, Math.max(0, p.bytesRead / p.totalBytes)) : 0;
  const parts: string[] = [];
  if (barWidth > 0) {
    const filled = known ? Math.floor(frac * barWidth) : 0;
    parts.push(`[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`);
  }
  parts.push(known ? `${Math.floor(frac * 100)}%` : '?%');
  const head = `${parts.join(' ')} ${formatCount(p.events)} ev`;
  const rate = elapsedMs > 0 ? (p.events * 1000) / elapsedMs : 0;
  const eta = known && frac > 0 ? formatEta((elapsedMs * (1 - frac)) / frac) : '--:--';
  let line = `${head}  ${formatCount(rate)} ev/s  event time ${eventTimeText(p.eventTime)}  ETA ${eta}`;
  if (p.deadLetters > 0) line += `  ${formatCount(p.deadLetters)} dead letter${p.deadLetters === 1 ? '' : 's'}`;
  return line;
}

/**
 * Shows a replay's progress on stderr. On a terminal it redraws one line in place (`\r`, no
 * newline per update) at most every `intervalMs`; on anything else (a log file, CI) it prints a
 * plain line at most every `plainIntervalMs` (5 s), the first one only after that long, so short
 * runs stay quiet. `finish()` prints the final line and ends it with a newline. The clock is
 * injected so that tests run in virtual time.
 *
 * @example
 * const progress = new ProgressReporter({ intervalMs: 100 });
 * for (let b = await src.nextBatch(); b; b = await src.nextBatch()) { push(b); progress.update(src.progress()); }
 * progress.finish(src.progress());
 */
export class ProgressReporter {
  private readonly stream: ProgressStream;
  private readonly clock: Clock;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly plainIntervalMs: number;
  private readonly barWidth: number;
  private readonly start: number;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private lastWidth = 0;
  private last: ProgressSnapshot | undefined;
  private finished = false;

  constructor(opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.clock = opts.clock ?? systemClock;
    this.tty = this.stream.isTTY === true;
    this.intervalMs = opts.intervalMs ?? 200;
    this.plainIntervalMs = opts.plainIntervalMs ?? 5000;
    this.barWidth = opts.barWidth ?? 10;
    this.start = this.clock.now();
    if (!this.tty) this.lastDraw = this.start;
  }

  /** Records the latest counters and redraws if enough time has passed. */
  update(p: ProgressSnapshot): void {
    if (this.finished) return;
    this.last = p;
    const now = this.clock.now();
    if (now - this.lastDraw < (this.tty ? this.intervalMs : this.plainIntervalMs)) return;
    this.lastDraw = now;
    this.draw(p, now, false);
  }

  /** Prints the final line (of `p`, or of the last update) and ends it with a newline. */
  finish(p?: ProgressSnapshot): void {
    if (this.finished) return;
    this.finished = true;
    const snap = p ?? this.last;
    if (!snap) return;
    this.draw(snap, this.clock.now(), true);
  }

  private draw(p: ProgressSnapshot, now: number, final: boolean): void {
    const elapsed = now - this.start;
    if (this.tty) {
      const line = formatProgress(p, elapsed, this.barWidth);
      // Pad over the tail of a longer previous line instead of relying on ANSI erase codes.
      const pad = this.lastWidth > line.length ? ' '.repeat(this.lastWidth - line.length) : '';
      this.lastWidth = line.length;
      this.stream.write(`\r${line}${pad}${final ? '\n' : ''}`);
    } else {
      this.stream.write(`progress ${formatProgress(p, elapsed, 0)}\n`);
    }
  }
}
