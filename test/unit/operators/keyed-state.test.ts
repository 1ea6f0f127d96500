import { describe, expect, it } from 'vitest';
import { serialize, deserialize } from 'node:v8';
import { KeyedStateBackend, type KeyedStateSnapshot } from '../../../src/core/keyed-state.js';
import { UserFunctionError } from '../../../src/core/errors.js';

function at(b: KeyedStateBackend, key: string, ts: number): void {
  b.currentKey = key;
  b.currentTs = ts;
}

describe('ValueState', () => {
  it('keeps one value per key', () => {
    const b = new KeyedStateBackend();
    const s = b.valueState<number>('n');
    at(b, 'a', 1);
    s.update(1);
    at(b, 'b', 2);
    expect(s.value()).toBeUndefined();
    s.update(2);
    at(b, 'a', 3);
    expect(s.value()).toBe(1);
    s.clear();
    expect(s.value()).toBeUndefined();
    at(b, 'b', 4);
    expect(s.value()).toBe(2);
    s.update(undefined as unknown as number); // same as clear
    expect(s.value()).toBeUndefined();
    expect(b.keys().size).toBe(0);
  });

  it('returns the same view for the same name and rejects a kind clash', () => {
    const b = new KeyedStateBackend();
    expect(b.valueState('x')).toBe(b.valueState('x'));
    expect(() => b.mapState('x')).toThrow(UserFunctionError);
  });

  it('expires in event time when watermark >= write ts + ttl, and purges', () => {
    const b = new KeyedStateBackend();
    const s = b.valueState<string>('v', { ttlMs: 100 });
    at(b, 'a', 1000);
    s.update('x');
    b.advanceWatermark(1099);
    expect(s.value()).toBe('x');
    b.advanceWatermark(1100);
    expect(s.value()).toBeUndefined();
    expect(b.keys().size).toBe(0);
  });

  it('a write moves the expiry; a late write never shortens it', () => {
    const b = new KeyedStateBackend();
    const s = b.valueState<string>('v', { ttlMs: 100 });
    at(b, 'a', 1000);
    s.update('x');
    at(b, 'a', 1050);
    s.update('y'); // expires at 1150 now
    at(b, 'a', 1010);
    s.update('z'); // out of order: value changes, expiry stays 1150
    b.advanceWatermark(1149);
    expect(s.value()).toBe('z');
    b.advanceWatermark(1150);
    expect(s.value()).toBeUndefined();
  });

  it('a read refreshes the TTL only with ttlUpdateOnRead', () => {
    const b = new KeyedStateBackend();
    const plain = b.valueState<number>('p', { ttlMs: 100 });
    const refreshed = b.valueState<number>('r', { ttlMs: 100, ttlUpdateOnRead: true });
    at(b, 'a', 1000);
    plain.update(1);
    refreshed.update(2);
    at(b, 'a', 1080);
    expect(plain.value()).toBe(1);
    expect(refreshed.value()).toBe(2); // now expires at 1180
    b.advanceWatermark(1100);
    expect(plain.value()).toBeUndefined();
    expect(refreshed.value()).toBe(2);
    b.advanceWatermark(1180);
    expect(refreshed.value()).toBeUndefined();
    expect(b.keys().size).toBe(0);
  });

  it('a write whose ts + ttl is already behind the watermark is not kept', () => {
    const b = new KeyedStateBackend();
    const s = b.valueState<number>('v', { ttlMs: 100 });
    b.advanceWatermark(5000);
    at(b, 'a', 4000);
    s.update(1);
    expect(s.value()).toBeUndefined();
    expect(b.keys().size).toBe(0);
  });

  it('purges through the expiry queue without touching live entries', () => {
    const b = new KeyedStateBackend();
    const s = b.valueState<number>('v', { ttlMs: 10 });
    for (let i = 0; i < 1000; i++) {
      at(b, `k${i}`, i);
      s.update(i);
    }
    b.advanceWatermark(509); // expires ts 0..499
    expect(b.keys().size).toBe(500);
    expect(b.expiry.size).toBe(500);
    at(b, 'k500', 0);
    expect(s.value()).toBe(500);
  });
});

describe('MapState', () => {
  it('keeps a map per key', () => {
    const b = new KeyedStateBackend();
    const m = b.mapState<string, number>('m');
    at(b, 'a', 1);
    m.put('x', 1);
    m.put('y', 2);
    at(b, 'b', 1);
    m.put('x', 10);
    expect(m.size).toBe(1);
    at(b, 'a', 1);
    expect(m.get('x')).toBe(1);
    expect(m.has('y')).toBe(true);
    expect([...m.entries()]).toEqual([
      ['x', 1],
      ['y', 2],
    ]);
    expect([...m.keys()]).toEqual(['x', 'y']);
    m.remove('x');
    expect(m.size).toBe(1);
    m.clear();
    expect(m.size).toBe(0);
    at(b, 'b', 1);
    expect(m.get('x')).toBe(10);
  });

  it('supports number user keys', () => {
    const b = new KeyedStateBackend();
    const m = b.mapState<number, string>('m');
    at(b, 'a', 1);
    m.put(7, 'seven');
    expect(m.get(7)).toBe('seven');
    expect(m.get('7' as unknown as number)).toBeUndefined();
  });

  it('expires entries individually in event time, and read-refresh keeps them', () => {
    const b = new KeyedStateBackend();
    const m = b.mapState<string, number>('m', { ttlMs: 100 });
    const r = b.mapState<string, number>('r', { ttlMs: 100, ttlUpdateOnRead: true });
    at(b, 'a', 1000);
    m.put('old', 1);
    r.put('old', 1);
    at(b, 'a', 1050);
    m.put('new', 2);
    r.put('new', 2);
    at(b, 'a', 1090);
    expect(r.get('old')).toBe(1); // refreshed to 1190
    b.advanceWatermark(1100);
    expect(m.get('old')).toBeUndefined();
    expect(m.has('old')).toBe(false);
    expect([...m.entries()]).toEqual([['new', 2]]);
    expect(m.size).toBe(1);
    expect(r.size).toBe(2);
    b.advanceWatermark(1150);
    expect(m.size).toBe(0);
    expect(r.size).toBe(1);
    expect([...r.keys()]).toEqual(['old']);
    b.advanceWatermark(1190);
    expect(r.size).toBe(0);
    expect(b.keys().size).toBe(0);
  });

  it('a removed then re-put entry is not purged by the stale queue item', () => {
    const b = new KeyedStateBackend();
    const m = b.mapState<string, number>('m', { ttlMs: 100 });
    at(b, 'a', 1000);
    m.put('x', 1);
    m.remove('x');
    at(b, 'a', 1500);
    m.put('x', 2);
    b.advanceWatermark(1100);
    expect(m.get('x')).toBe(2);
    b.advanceWatermark(1600);
    expect(m.get('x')).toBeUndefined();
  });
});

describe('KeyedStateBackend snapshot/restore', () => {
  it('round-trips through v8.serialize, TTL included, independent of later writes', () => {
    const b = new KeyedStateBackend();
    const v = b.valueState<{ q: number }>('v', { ttlMs: 100 });
    const m = b.mapState<string, number>('m', { ttlMs: 200, ttlUpdateOnRead: true });
    const plain = b.valueState<number[]>('plain');
    at(b, 'a', 1000);
    v.update({ q: 1 });
    m.put('x', 1);
    plain.update([1, 2]);
    at(b, 'b', 1050);
    v.update({ q: 2 });
    b.advanceWatermark(1010);
    const snap = deserialize(serialize(b.snapshot())) as KeyedStateSnapshot;
    at(b, 'a', 1060);
    v.update({ q: 99 }); // after the snapshot: must not leak into it

    const r = new KeyedStateBackend();
    r.restore(snap);
    r.restoreWatermark(1010);
    const rv = r.valueState<{ q: number }>('v', { ttlMs: 100 });
    const rm = r.mapState<string, number>('m');
    at(r, 'a', 1020);
    expect(rv.value()).toEqual({ q: 1 });
    expect(rm.get('x')).toBe(1); // read-refresh restored: now expires at 1220
    expect(r.valueState<number[]>('plain').value()).toEqual([1, 2]);
    r.advanceWatermark(1100); // 'a' value expires; the queue was rebuilt on restore
    expect(rv.value()).toBeUndefined();
    at(r, 'b', 1100);
    expect(rv.value()).toEqual({ q: 2 });
    r.advanceWatermark(1219);
    at(r, 'a', 1219);
    expect(rm.get('x')).toBe(1);
  });
});
