import { createHash } from 'node:crypto';

/** Alert severities (CONTRACTS.md section 3). */
export type Severity = 'info' | 'warning' | 'critical';

/** An alert exactly as CONTRACTS.md section 3 shapes it (field order is the serialised order). */
export interface Alert {
  alertId: string;
  type: string;
  severity: Severity;
  topic: string;
  rule: string;
  topology: string;
  entity: Record<string, string>;
  eventTime: number;
  windowStart?: number;
  windowEnd?: number;
  value: number;
  threshold: number;
  message: string;
  details: Record<string, unknown>;
  emittedAt: number;
}

export type AlertInput = Omit<Alert, 'alertId' | 'emittedAt'>;

/** The alert topics of CONTRACTS.md section 3. */
export const ALERT_TOPICS = [
  'position-risk-alerts',
  'portfolio-risk-alerts',
  'market-risk-alerts',
  'correlation-risk-alerts',
  'liquidity-risk-alerts',
  'surveillance-alerts',
] as const;
export const DEAD_LETTER_TOPIC = 'riskflow-dead-letters';

/** JSON with object keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * The deterministic alert id of CONTRACTS.md section 3: a hash of topology, rule, entity and
 * event time, so a replay gives the same ids and consumers can de-duplicate on them.
 *
 * @example alertIdOf('market-risk', 'flash-crash', { instrument: 'ACME' }, 1_700_000_000_000)
 */
export function alertIdOf(topology: string, rule: string, entity: Record<string, string>, eventTime: number): string {
  const h = createHash('sha256');
  h.update(`${topology}\u0000${rule}\u0000${canonicalJson(entity)}\u0000${eventTime}`);
  return h.digest('hex').slice(0, 32);
}

/**
 * Builds an alert with its id and `emittedAt`, keys in the contract's order.
 *
 * @example makeAlert({ type: 'FLASH_CRASH', ... }, Date.now())
 */
export function makeAlert(a: AlertInput, emittedAt: number): Alert {
  const out: Alert = {
    alertId: alertIdOf(a.topology, a.rule, a.entity, a.eventTime),
    type: a.type,
    severity: a.severity,
    topic: a.topic,
    rule: a.rule,
    topology: a.topology,
    entity: a.entity,
    eventTime: a.eventTime,
    value: a.value,
    threshold: a.threshold,
    message: a.message,
    details: a.details,
    emittedAt,
  };
  if (a.windowStart !== undefined) out.windowStart = a.windowStart;
  if (a.windowEnd !== undefined) out.windowEnd = a.windowEnd;
  return reorder(out);
}

const ORDER = ['alertId', 'type', 'severity', 'topic', 'rule', 'topology', 'entity', 'eventTime', 'windowStart', 'windowEnd', 'value', 'threshold', 'message', 'details', 'emittedAt'] as const;

function reorder(a: Alert): Alert {
  const o: Record<string, unknown> = {};
  for (const k of ORDER) if (a[k] !== undefined) o[k] = a[k];
  return o as unknown as Alert;
}
