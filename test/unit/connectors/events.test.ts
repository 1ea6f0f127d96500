import { describe, expect, it } from 'vitest';
import { validateEvent, type StreamName } from '../../../src/connectors/events.js';

const trade = (): Record<string, unknown> => ({
  type: 'trade',
  ts: 1710509401334,
  tradeId: 'T1',
  instrument: 'ACME',
  traderId: 'TR01',
  side: 'BUY',
  qty: 100,
  price: 142.5,
  counterpartyTraderId: 'TR02',
  orderId: 'O1',
});
const quote = (): Record<string, unknown> => ({
  type: 'quote',
  ts: 1710509401334,
  instrument: 'ACME',
  bid: 142.49,
  ask: 142.51,
  bidSize: 5000,
  askSize: 4000,
});
const order = (): Record<string, unknown> => ({
  type: 'order',
  ts: 1710509401334,
  orderId: 'O1',
  traderId: 'TR01',
  instrument: 'ACME',
  side: 'SELL',
  qty: 300,
  price: 142.6,
  action: 'NEW',
});
const make: Record<StreamName, () => Record<string, unknown>> = { trade, quote, order };

function rejects(stream: StreamName, patch: Record<string, unknown>, field: string | undefined, reason?: RegExp): void {
  const o = { ...make[stream](), ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete o[k];
  const r = validateEvent(stream, o);
  expect(r.ok, JSON.stringify(patch)).toBe(false);
  if (!r.ok) {
    expect(r.field).toBe(field);
    if (reason) expect(r.reason).toMatch(reason);
  }
}

describe('validateEvent', () => {
  it('accepts valid events of each stream and returns the same object', () => {
    for (const s of ['trade', 'quote', 'order'] as const) {
      const o = make[s]();
      const r = validateEvent(s, o);
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.record).toBe(o);
    }
  });

  it('rejects non-objects', () => {
    for (const v of [null, 42, 'x', [1, 2], undefined, true]) {
      const r = validateEvent('trade', v);
      expect(r.ok).toBe(false);
    }
  });

  it('requires type to equal the stream', () => {
    rejects('trade', { type: 'quote' }, 'type', /"trade"/);
    rejects('quote', { type: undefined }, 'type', /missing/);
    rejects('order', { type: 'ORDER' }, 'type');
  });

  it('accepts ts as epoch ms (with fractions) or ISO-8601 with an offset, normalising to ms in place', () => {
    const a = { ...trade(), ts: 1710509401334.25 };
    expect(validateEvent('trade', a).ok).toBe(true);
    expect(a.ts).toBe(1710509401334.25);
    const b = { ...trade(), ts: '2024-03-15T09:30:01.334-04:00' };
    const r = validateEvent('trade', b);
    expect(r.ok).toBe(true);
    expect(b.ts).toBe(1710509401334);
    const c = { ...quote(), ts: '2024-03-15T13:30:01.334Z' };
    expect(validateEvent('quote', c).ok).toBe(true);
    expect(c.ts).toBe(1710509401334);
  });

  it('rejects a missing, local-time, garbage, NaN or infinite ts', () => {
    rejects('trade', { ts: undefined }, 'ts', /missing/);
    rejects('trade', { ts: '2024-03-15T09:30:01' }, 'ts', /offset/);
    rejects('trade', { ts: 'yesterday' }, 'ts');
    rejects('trade', { ts: 'NaN' }, 'ts');
    rejects('trade', { ts: Number.NaN }, 'ts');
    rejects('trade', { ts: Number.POSITIVE_INFINITY }, 'ts');
    rejects('trade', { ts: null }, 'ts');
  });

  it('checks every required trade field', () => {
    for (const f of ['tradeId', 'instrument', 'traderId', 'side', 'qty', 'price']) {
      rejects('trade', { [f]: undefined }, f, /missing/);
    }
    rejects('trade', { tradeId: 7 }, 'tradeId', /string/);
    rejects('trade', { instrument: '' }, 'instrument');
    rejects('trade', { side: 'HOLD' }, 'side', /BUY or SELL/);
    rejects('trade', { side: 'buy' }, 'side');
    rejects('trade', { qty: -5 }, 'qty', /> 0/);
    rejects('trade', { qty: 0 }, 'qty');
    rejects('trade', { qty: '100' }, 'qty', /finite number/);
    rejects('trade', { price: 0 }, 'price');
    rejects('trade', { price: -1 }, 'price');
    rejects('trade', { price: 'NaN' }, 'price', /finite number/);
    rejects('trade', { price: Number.NaN }, 'price');
    rejects('trade', { price: Number.POSITIVE_INFINITY }, 'price');
    rejects('trade', { counterpartyTraderId: 5 }, 'counterpartyTraderId');
    rejects('trade', { venue: {} }, 'venue');
  });

  it('checks every required quote field, bid <= ask and sizes >= 0', () => {
    for (const f of ['instrument', 'bid', 'ask', 'bidSize', 'askSize']) rejects('quote', { [f]: undefined }, f, /missing/);
    rejects('quote', { bid: 142.52 }, 'bid', /bid 142.52 > ask 142.51/);
    rejects('quote', { bidSize: -1 }, 'bidSize', />= 0/);
    rejects('quote', { askSize: 'NaN' }, 'askSize');
    rejects('quote', { ask: 'NaN' }, 'ask');
    rejects('quote', { bid: 0 }, 'bid');
    rejects('quote', { last: -3 }, 'last');
    rejects('quote', { volume: 'x' }, 'volume');
    const locked = { ...quote(), bid: 10, ask: 10, bidSize: 0, askSize: 0 };
    expect(validateEvent('quote', locked).ok).toBe(true);
  });

  it('checks every required order field and the action', () => {
    for (const f of ['orderId', 'traderId', 'instrument', 'side', 'qty', 'price', 'action']) {
      rejects('order', { [f]: undefined }, f, /missing/);
    }
    rejects('order', { action: 'AMEND' }, 'action', /NEW, CANCEL or REPLACE/);
    rejects('order', { qty: -1 }, 'qty');
    rejects('order', { clientOrder: 'yes' }, 'clientOrder');
    for (const action of ['NEW', 'CANCEL', 'REPLACE']) expect(validateEvent('order', { ...order(), action }).ok).toBe(true);
    expect(validateEvent('order', { ...order(), clientOrder: true, account: 'A1' }).ok).toBe(true);
  });

  it('keeps unknown extra fields and null optional fields', () => {
    const o = { ...trade(), strategy: 'mm', nested: { a: 1 }, venue: null };
    const r = validateEvent('trade', o);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.record).toEqual(o);
  });
});
