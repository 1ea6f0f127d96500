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
