import { TopologyError } from '../core/errors.js';

/**
 * Early firings for a window operator, on top of the watermark-driven final firing (Flink's
 * `ContinuousEventTimeTrigger` and `CountTrigger`, combined with the default event-time trigger).
 * Every firing emits the window's current (cumulative) result; nothing is ever purged early.
 *
 * - `earlyEveryMs` (event time): a window `[start, end)` has early thresholds
 *   `start + k * earlyEveryMs` for k >= 1 with threshold < end - 1 (at end - 1 the final firing
 *   takes over). When a watermark W reaches one or more thresholds of an open window that were
 *   still ahead when the window was created (or last fired early), the window fires 'early' once,
 *   whatever the number of thresholds crossed: the result could not differ between them. Early
 *   firings on one watermark are emitted after that watermark's final firings, ordered by
 *   (windowEnd, key), then the watermark is forwarded. A session window's thresholds follow its
 *   current start; a threshold already behind the watermark when the window was created or
 *   merged does not fire.
 * - `earlyEveryCount`: every `earlyEveryCount`-th record added to an open (key, window) fires
 *   'early' immediately after that record. The count restarts after each count firing and at the
 *   final firing; merged session windows add up their counts.
 *
 * Early results carry `ts = windowEnd - 1`, like final ones, so they are never behind the
 * watermark.
 *
 * @example
 * // 1-hour window reporting a running result every 5 minutes of event time and every 1000 records
 * windowAggregate({ ..., assigner: tumbling('1h'), trigger: { earlyEveryMs: 300_000, earlyEveryCount: 1000 } })
 */
export interface TriggerSpec {
  earlyEveryMs?: number;
  earlyEveryCount?: number;
}

/**
 * Checks a `TriggerSpec` and returns its two periods, 0 meaning "off".
 *
 * @example normalizeTrigger({ earlyEveryMs: 60_000 }) // { everyMs: 60000, everyCount: 0 }
 */
export function normalizeTrigger(spec: TriggerSpec | undefined): { everyMs: number; everyCount: number } {
  const everyMs = spec?.earlyEveryMs ?? 0;
  const everyCount = spec?.earlyEveryCount ?? 0;
  if (!(Number.isFinite(everyMs) && everyMs >= 0)) {
    throw new TopologyError(`trigger earlyEveryMs must be a finite number of ms >= 0, got ${everyMs}`, {
      field: 'earlyEveryMs',
    });
  }
  if (!(Number.isInteger(everyCount) && everyCount >= 0)) {
    throw new TopologyError(`trigger earlyEveryCount must be an integer >= 0, got ${everyCount}`, {
      field: 'earlyEveryCount',
    });
  }
  return { everyMs, everyCount };
}
