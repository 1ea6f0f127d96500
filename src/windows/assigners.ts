import { TopologyError } from '../core/errors.js';
import { parseDuration } from '../core/time.js';

/**
 * An event-time window `[start, end)`: end-exclusive, so a record at `ts === end` belongs to the
 * next window. A window is complete once the watermark reaches `end - 1`.
 *
 * @example
 * const w: TimeWindow = { start: 60_000, end: 120_000 }; // holds ts 60_000 .. 119_999.999
 */
export interface TimeWindow {
  start: number;
  end: number;
}

/**
 * Decides which windows a record belongs to (Flink's `WindowAssigner`). Tumbling and sliding
 * windows are aligned to the epoch plus `offsetMs`; session windows start as `[ts, ts + gapMs)`
 * and merge while they overlap. The window operator reads the numbers (`sizeMs`, `slideMs`,
 * `gapMs`, `offsetMs`) and does the arithmetic inline rather than calling `assignWindows`, so
 * that assigning allocates nothing; `assignWindows` is the reference form, for tests and tools.
 *
 * @example
 * const out: TimeWindow[] = [];
 * sliding('10s', '5s').assignWindows(12_000, out); // [{start: 5000, end: 15000}, {start: 10000, end: 20000}]
 */
export interface WindowAssigner {
  readonly kind: 'tumbling' | 'sliding' | 'session';
  /** Window length; for sessions, the gap (the length of a one-record session). */
  readonly sizeMs: number;
  /** Sliding windows only: distance between consecutive window starts. */
  readonly slideMs?: number;
  /** Session windows only: a session ends after this much event time without a record. */
  readonly gapMs?: number;
  /** Alignment: windows start at `offsetMs + k * (slide or size)`. 0 for sessions. */
  readonly offsetMs: number;
  /** Appends the windows holding `ts` to `out`, in ascending start order (nothing for a non-finite ts). */
  assignWindows(ts: number, out: TimeWindow[]): void;
  /** A short text for `describe` output and checkpoint compatibility checks, e.g. `tumbling(60000ms)`. */
  describe(): string;
}

/**
 * Start of the aligned window of length `size` (ms) that holds `ts`: the largest
 * `offset + k * size <= ts`. Plain arithmetic, so it works for negative event times too.
 *
 * @example
 * windowStart(125_000, 60_000) === 120_000
 * windowStart(125_000, 60_000, 30_000) === 90_000
 */
export function windowStart(ts: number, size: number, offset = 0): number {
  const m = (ts - offset) % size;
  return ts - (m < 0 ? m + size : m);
}

function positiveDuration(value: number | string, field: string): number {
  let ms: number;
  try {
    ms = parseDuration(value, field);
  } catch (cause) {
    throw new TopologyError(`window ${field}: invalid duration '${String(value)}'`, { field, cause });
  }
  if (!(ms > 0)) throw new TopologyError(`window ${field} must be > 0, got '${String(value)}'`, { field });
  return ms;
}

/** Offsets may be negative (e.g. to align daily windows to a trading-day boundary before midnight UTC). */
function offsetOf(value: number | string | undefined): number {
  if (value === undefined) return 0;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TopologyError(`window offset must be finite, got ${value}`, { field: 'offset' });
    return value;
  }
  const text = value.trim();
  const negative = text.startsWith('-');
  let ms: number;
  try {
    ms = parseDuration(negative ? text.slice(1) : text, 'offset');
  } catch (cause) {
    throw new TopologyError(`window offset: invalid duration '${value}'`, { field: 'offset', cause });
  }
  return negative ? -ms : ms;
}

/**
 * Fixed-size, non-overlapping windows aligned to the epoch plus `offset`: every record belongs to
 * exactly one window `[start, start + size)`. Durations are ms or strings such as `'1m'`.
 *
 * @example
 * windowAggregate({ key: (t) => t.symbol, assigner: tumbling('1m'), aggregate: sum((t) => t.qty) })
 */
export function tumbling(size: number | string, offset?: number | string): WindowAssigner {
  const sizeMs = positiveDuration(size, 'size');
  const offsetMs = offsetOf(offset);
  return {
    kind: 'tumbling',
    sizeMs,
    offsetMs,
    assignWindows(ts, out) {
      if (!Number.isFinite(ts)) return;
      const start = windowStart(ts, sizeMs, offsetMs);
      out.push({ start, end: start + sizeMs });
    },
    describe: () => `tumbling(${sizeMs}ms${offsetMs ? `, offset ${offsetMs}ms` : ''})`,
  };
}

/**
 * Overlapping windows of length `size` starting every `slide` (aligned to the epoch plus
 * `offset`): a record belongs to about `size / slide` windows, each with its own accumulator.
 * `slide` must not exceed `size`, otherwise some records would belong to no window at all.
 *
 * @example
 * // 5-minute volume, updated every minute
 * windowAggregate({ key: (t) => t.symbol, assigner: sliding('5m', '1m'), aggregate: sum((t) => t.qty) })
 */
export function sliding(size: number | string, slide: number | string, offset?: number | string): WindowAssigner {
  const sizeMs = positiveDuration(size, 'size');
  const slideMs = positiveDuration(slide, 'slide');
  if (slideMs > sizeMs) {
    throw new TopologyError(`window slide (${slideMs}ms) must not exceed the size (${sizeMs}ms)`, { field: 'slide' });
  }
  const offsetMs = offsetOf(offset);
  return {
    kind: 'sliding',
    sizeMs,
    slideMs,
    offsetMs,
    assignWindows(ts, out) {
      if (!Number.isFinite(ts)) return;
      const last = windowStart(ts, slideMs, offsetMs);
      let first = last;
      while (first - slideMs > ts - sizeMs) first -= slideMs;
      for (let s = first; s <= last; s += slideMs) out.push({ start: s, end: s + sizeMs });
    },
    describe: () => `sliding(${sizeMs}ms, ${slideMs}ms${offsetMs ? `, offset ${offsetMs}ms` : ''})`,
  };
}

/**
 * Per-key activity sessions: a record at `ts` opens `[ts, ts + gap)`, and sessions that overlap
 * merge (their accumulators combined with `AggregateFunction.merge`), so a session is
 * `[firstTs, lastTs + gap)`. Overlap is strict: a record exactly `gap` after the last one starts
 * a new session, which keeps results independent of arrival order (that session may already have
 * fired, since the watermark can reach `lastTs + gap - 1` before such a record arrives).
 *
 * @example
 * windowAggregate({ key: (o) => o.trader, assigner: session('30s'), aggregate: count() })
 */
export function session(gap: number | string): WindowAssigner {
  const gapMs = positiveDuration(gap, 'gap');
  return {
    kind: 'session',
    sizeMs: gapMs,
    gapMs,
    offsetMs: 0,
    assignWindows(ts, out) {
      if (Number.isFinite(ts)) out.push({ start: ts, end: ts + gapMs });
    },
    describe: () => `session(${gapMs}ms)`,
  };
}
