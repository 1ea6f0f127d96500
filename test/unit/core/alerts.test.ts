import { describe, expect, it } from 'vitest';
import { alertIdOf, canonicalJson, makeAlert } from '../../../src/core/alerts.js';

describe('alerts', () => {
  const input = {
    type: 'FLASH_CRASH',
    severity: 'critical' as const,
    topic: 'market-risk-alerts',
    rule: 'flash-crash',
    topology: 'market-risk',
    entity: { instrument: 'ACME' },
    eventTime: 1_710_513_000_000,
    value: 0.072,
    threshold: 0.05,
    message: 'ACME fell 7.2% in 38s (limit 5%)',
    details: { hi: 100, last: 92.8 },
  };

  it('alertId is a deterministic hash of topology, rule, entity and event time', () => {
    const a = makeAlert(input, 1);
    const b = makeAlert({ ...input, value: 0.9, message: 'other' }, 2);
    expect(a.alertId).toBe(b.alertId);
    expect(a.alertId).toMatch(/^[0-9a-f]{32}$/);
    expect(makeAlert({ ...input, eventTime: input.eventTime + 1 }, 1).alertId).not.toBe(a.alertId);
    expect(makeAlert({ ...input, rule: 'other' }, 1).alertId).not.toBe(a.alertId);
    expect(makeAlert({ ...input, entity: { instrument: 'BOLT' } }, 1).alertId).not.toBe(a.alertId);
    expect(alertIdOf('t', 'r', { b: '1', a: '2' }, 5)).toBe(alertIdOf('t', 'r', { a: '2', b: '1' }, 5));
  });

  it('serialises in the contract field order, without absent window bounds', () => {
    const a = makeAlert(input, 123);
    expect(Object.keys(a)).toEqual([
      'alertId', 'type', 'severity', 'topic', 'rule', 'topology', 'entity', 'eventTime',
      'value', 'threshold', 'message', 'details', 'emittedAt',
    ]);
    const w = makeAlert({ ...input, windowStart: 10, windowEnd: 20 }, 123);
    expect(Object.keys(w).slice(7, 10)).toEqual(['eventTime', 'windowStart', 'windowEnd']);
  });

  it('canonical JSON sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
  });
});
