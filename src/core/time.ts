import { RiskflowError } from './errors.js';

/** Event time in epoch milliseconds (fractions allowed for sub-millisecond precision). */
export type EventTime = number;

const UNIT_MS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * A duration as milliseconds: a number (already ms) or a string such as `"1500ms"`, `"30s"`,
 * `"5m"`, `"1h"`, `"1m30s"`.
 *
 * @example parseDuration('5m') === 300_000
 */
export function parseDuration(value: number | string, field = 'duration'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new RiskflowError('E_DURATION', `invalid duration ${value}: must be a finite number of ms >= 0`, { field });
    }
    return value;
  }
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const re = /(\d+(?:\.\d+)?)\s*(us|ms|sec|min|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? NaN);
    matched = re.lastIndex;
  }
  if (matched !== text.length || matched === 0 || !Number.isFinite(total)) {
    throw new RiskflowError('E_DURATION', `invalid duration '${value}': use e.g. 1500ms, 30s, 5m, 1h`, { field });
  }
  return total;
}

/**
 * Event time of an input field: epoch ms as a number, or an ISO-8601 string with an offset
 * (CONTRACTS.md section 1). Returns NaN when the value is neither.
 */
export function toEventTime(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : NaN;
  if (typeof value === 'string') {
    // An ISO string must carry an offset (Z or +hh:mm): a local time would make replays depend on
    // the machine's time zone.
    if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim())) return NaN;
    const ms = Date.parse(value);
    return Number.isFinite(ms) ? ms : NaN;
  }
  return NaN;
}

/** ISO-8601 UTC text of an event time, for messages and progress output. */
export function formatEventTime(ts: number): string {
  if (!Number.isFinite(ts)) return ts > 0 ? '+inf' : '-inf';
  return new Date(ts).toISOString();
}

/** A clock the engine reads processing time from; tests inject a virtual one. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock whose time only moves when told to: for tests under virtual time. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

// Wall-clock time in IANA zones, with Intl only (no time-zone library).

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Wall-clock fields of an instant in a time zone. */
function wallClock(ts: number, timeZone: string): { y: number; m: number; d: number; hh: number; mm: number; ss: number } {
  const out = { y: 0, m: 0, d: 0, hh: 0, mm: 0, ss: 0 };
  for (const p of formatter(timeZone).formatToParts(new Date(ts))) {
    const v = Number(p.value);
    if (p.type === 'year') out.y = v;
    else if (p.type === 'month') out.m = v;
    else if (p.type === 'day') out.d = v;
    else if (p.type === 'hour') out.hh = v;
    else if (p.type === 'minute') out.mm = v;
    else if (p.type === 'second') out.ss = v;
  }
  return out;
}

/** Offset of the zone from UTC at an instant, in ms (wall clock minus UTC; whole seconds). */
function offsetAt(ts: number, timeZone: string): number {
  const w = wallClock(ts, timeZone);
  return Date.UTC(w.y, w.m - 1, w.d, w.hh, w.mm, w.ss) - (Math.floor(ts / 1000) * 1000);
}

/**
 * Epoch ms of a wall-clock time on a date in an IANA time zone, DST included, with Intl only: the
 * zone's offset is read at a first guess and again at the corrected instant (they differ only
 * across a transition). A wall time skipped by a spring-forward gap resolves to the instant one
 * offset later, like `Temporal`'s "compatible" disambiguation.
 *
 * @example zonedTimeToEpoch('2024-03-15', '16:00', 'America/New_York'); // 1710532800000 (20:00Z, EDT)
 */
export function zonedTimeToEpoch(date: string, time: string, timeZone: string): number {
  const dm = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const tm = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(time);
  if (!dm || !tm) throw new RangeError(`bad date '${date}' or time '${time}' (want YYYY-MM-DD and HH:MM)`);
  const guess = Date.UTC(Number(dm[1]), Number(dm[2]) - 1, Number(dm[3]), Number(tm[1]), Number(tm[2]), Number(tm[3] ?? 0));
  const off1 = offsetAt(guess, timeZone);
  let t = guess - off1;
  const off2 = offsetAt(t, timeZone);
  if (off2 !== off1) {
    const t2 = guess - off2;
    // In a gap neither candidate maps back to the wall time; keep the later reading.
    t = offsetAt(t2, timeZone) === off2 ? t2 : Math.max(t, t2);
  }
  return t;
}

/**
 * The calendar date (YYYY-MM-DD) of an instant in a time zone.
 *
 * @example localDate(1710532800000, 'America/New_York'); // '2024-03-15'
 */
export function localDate(ts: number, timeZone: string): string {
  const w = wallClock(ts, timeZone);
  return `${String(w.y).padStart(4, '0')}-${String(w.m).padStart(2, '0')}-${String(w.d).padStart(2, '0')}`;
}
