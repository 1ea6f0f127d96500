/**
 * Keyed state (Flink's ValueState / MapState) with time-to-live in event time.
 *
 * All state of one operator lives in one `KeyedStateBackend`; state objects are views on it that
 * read and write under the backend's current key, so one state object per name serves every key
 * and nothing is allocated per record to reach the state.
 */
import { UserFunctionError } from './errors.js';
import { BinaryHeap } from './timers.js';

/**
 * How a named state behaves. `ttlMs` is in EVENT time: an entry last written at event time `t`
 * (the timestamp of the record or timer being processed) expires once the watermark reaches
 * `t + ttlMs`. With `ttlUpdateOnRead`, reading a live entry also moves its expiry to
 * `now + ttlMs`. An entry's expiry only ever moves forward, so a late (out-of-order) write never
 * shortens the life of an entry that a newer record wrote.
 *
 * @example
 * ctx.value<number>('lastPrice', { ttlMs: parseDuration('15m'), ttlUpdateOnRead: true })
 */
export interface StateDescriptor {
  ttlMs?: number;
  ttlUpdateOnRead?: boolean;
}

/**
 * One value per key. `update(undefined)` is the same as `clear()`.
 *
 * @example
 * const count = ctx.value<number>('count');
 * count.update((count.value() ?? 0) + 1);
 */
export interface ValueState<T> {
  value(): T | undefined;
  update(v: T): void;
  clear(): void;
}

/**
 * A map per key. Iteration order is insertion order. Reads (`get`, `has`, iteration) refresh the
 * TTL of what they touch when the descriptor asks for it; `size` counts live entries.
 *
 * @example
 * const openOrders = ctx.map<string, number>('open');
 * openOrders.put(o.orderId, o.qty);
 * for (const [id, qty] of openOrders.entries()) total += qty;
 */
export interface MapState<K extends string | number, V> {
  get(k: K): V | undefined;
  put(k: K, v: V): void;
  remove(k: K): void;
  has(k: K): boolean;
  entries(): IterableIterator<[K, V]>;
  keys(): IterableIterator<K>;
  readonly size: number;
  clear(): void;
}

/** A value under TTL: `exp` is the event time at which it expires (watermark >= exp). */
interface TtlEntry<V> {
  v: V;
  exp: number;
}

type StateKind = 'value' | 'map';

/**
 * Checkpoint form of a backend: per state name its kind, descriptor and data (plain Maps of plain
 * values; TTL'd entries as `{ v, exp }`), so that the expiry queue can be rebuilt on restore.
 *
 * @example
 * const snap: KeyedStateSnapshot = backend.snapshot(); other.restore(snap);
 */
export interface KeyedStateSnapshot {
  states: Array<{ name: string; kind: StateKind; ttlMs: number; onRead: boolean; data: Map<string, unknown> }>;
}

/** Where an expiry-queue item points; stale items (entry replaced or removed) are skipped. */
interface ExpiryItem {
  exp: number;
  state: ValueStateImpl<unknown> | MapStateImpl<string | number, unknown>;
  key: string;
  uk: string | number | undefined;
  entry: TtlEntry<unknown>;
}

const expiryLess = (a: ExpiryItem, b: ExpiryItem): boolean => a.exp < b.exp;

/**
 * All keyed state of one operator instance. The operator sets `currentKey` and `currentTs` before
 * it calls user code and calls `advanceWatermark(wm)` when the watermark moves, which purges
 * expired entries through an expiry queue (a heap holding at most one live item per entry, so a
 * purge costs the entries that expire, not a scan of all state).
 *
 * @example
 * const backend = new KeyedStateBackend();
 * const last = backend.valueState<number>('last', { ttlMs: 60_000 });
 * backend.currentKey = 'ACME'; backend.currentTs = 1_000; last.update(101.5);
 * backend.advanceWatermark(61_000); last.value(); // undefined: expired
 */
export class KeyedStateBackend {
  currentKey = '';
  currentTs = Number.NEGATIVE_INFINITY;
  private wm = Number.NEGATIVE_INFINITY;
  private readonly states = new Map<string, ValueStateImpl<unknown> | MapStateImpl<string | number, unknown>>();
  /** @internal used by the state views */
  readonly expiry = new BinaryHeap<ExpiryItem>(expiryLess);

  get watermark(): number {
    return this.wm;
  }

  valueState<T>(name: string, desc?: StateDescriptor): ValueState<T> {
    const s = this.states.get(name);
    if (s !== undefined) {
      if (s instanceof ValueStateImpl) return s as ValueStateImpl<T>;
      throw new UserFunctionError(`state '${name}' is a map state, not a value state`);
    }
    const created = new ValueStateImpl<T>(this, name, ttlOf(desc), desc?.ttlUpdateOnRead === true);
    this.states.set(name, created as ValueStateImpl<unknown>);
    return created;
  }

  mapState<K extends string | number, V>(name: string, desc?: StateDescriptor): MapState<K, V> {
    const s = this.states.get(name);
    if (s !== undefined) {
      if (s instanceof MapStateImpl) return s as unknown as MapStateImpl<K, V>;
      throw new UserFunctionError(`state '${name}' is a value state, not a map state`);
    }
    const created = new MapStateImpl<K, V>(this, name, ttlOf(desc), desc?.ttlUpdateOnRead === true);
    this.states.set(name, created as unknown as MapStateImpl<string | number, unknown>);
    return created;
  }

  /** Moves the watermark (never backwards) and purges every entry it expires. */
  advanceWatermark(wm: number): void {
    if (wm <= this.wm) return;
    this.wm = wm;
    const q = this.expiry;
    for (let it = q.peek(); it !== undefined && it.exp <= wm; it = q.peek()) {
      q.pop();
      if (!it.state.holds(it.key, it.uk, it.entry)) continue;
      if (it.entry.exp <= wm) {
        it.state.drop(it.key, it.uk);
      } else {
        // Refreshed since it was queued: requeue at its new expiry instead of queueing per write.
        it.exp = it.entry.exp;
        q.push(it);
      }
    }
  }

  /** Keys that hold any state, over all names (for tests and state dumps). */
  keys(): Set<string> {
    const out = new Set<string>();
    for (const s of this.states.values()) for (const k of s.data.keys()) out.add(k);
    return out;
  }

  /** A deep, structured-cloneable copy, independent of later changes. */
  snapshot(): KeyedStateSnapshot {
    const states: KeyedStateSnapshot['states'] = [];
    for (const [name, s] of this.states) {
      states.push({ name, kind: s.kind, ttlMs: s.ttl, onRead: s.onRead, data: structuredClone(s.data) as Map<string, unknown> });
    }
    return { states };
  }

  restore(snap: KeyedStateSnapshot): void {
    this.states.clear();
    this.expiry.clear();
    const items: ExpiryItem[] = [];
    for (const st of snap.states) {
      const desc: StateDescriptor = { ttlMs: st.ttlMs, ttlUpdateOnRead: st.onRead };
      const s =
        st.kind === 'value'
          ? (this.valueState<unknown>(st.name, desc) as ValueStateImpl<unknown>)
          : (this.mapState<string | number, unknown>(st.name, desc) as MapStateImpl<string | number, unknown>);
      s.load(st.data, items);
    }
    this.expiry.reset(items);
  }

  /** The watermark as restored: set by the owning operator from its own snapshot. */
  restoreWatermark(wm: number): void {
    this.wm = wm;
  }
}

function ttlOf(desc: StateDescriptor | undefined): number {
  const t = desc?.ttlMs;
  return t === undefined || !(t < Number.POSITIVE_INFINITY) ? Number.POSITIVE_INFINITY : t;
}

class ValueStateImpl<T> implements ValueState<T> {
  readonly kind = 'value' as const;
  /** key -> value, or key -> TtlEntry when the state has a TTL. */
  data = new Map<string, unknown>();
  readonly hasTtl: boolean;

  constructor(
    private readonly b: KeyedStateBackend,
    readonly name: string,
    readonly ttl: number,
    readonly onRead: boolean,
  ) {
    this.hasTtl = ttl < Number.POSITIVE_INFINITY;
  }

  value(): T | undefined {
    const key = this.b.currentKey;
    if (!this.hasTtl) return this.data.get(key) as T | undefined;
    const e = this.data.get(key) as TtlEntry<T> | undefined;
    if (e === undefined) return undefined;
    if (e.exp <= this.b.watermark) return undefined;
    if (this.onRead) {
      const exp = this.b.currentTs + this.ttl;
      if (exp > e.exp) e.exp = exp;
    }
    return e.v;
  }

  update(v: T): void {
    if (v === undefined) {
      this.clear();
      return;
    }
    const key = this.b.currentKey;
    if (!this.hasTtl) {
      this.data.set(key, v);
      return;
    }
    const exp = this.b.currentTs + this.ttl;
    const e = this.data.get(key) as TtlEntry<T> | undefined;
    if (e !== undefined && e.exp > this.b.watermark) {
      e.v = v;
      if (exp > e.exp) e.exp = exp;
      return;
    }
    if (exp <= this.b.watermark) {
      // Written already expired (a record later than the TTL): nothing may read it back.
      if (e !== undefined) this.data.delete(key);
      return;
    }
    const entry: TtlEntry<T> = { v, exp };
    this.data.set(key, entry);
    this.b.expiry.push({ exp, state: this as ValueStateImpl<unknown>, key, uk: undefined, entry });
  }

  clear(): void {
    this.data.delete(this.b.currentKey);
  }

  holds(key: string, _uk: unknown, entry: TtlEntry<unknown>): boolean {
    return this.data.get(key) === entry;
  }

  drop(key: string): void {
    this.data.delete(key);
  }

  load(data: Map<string, unknown>, items: ExpiryItem[]): void {
    this.data = data;
    if (!this.hasTtl) return;
    for (const [key, e] of data) {
      const entry = e as TtlEntry<unknown>;
      items.push({ exp: entry.exp, state: this as ValueStateImpl<unknown>, key, uk: undefined, entry });
    }
  }
}

class MapStateImpl<K extends string | number, V> implements MapState<K, V> {
  readonly kind = 'map' as const;
  /** key -> (user key -> value | TtlEntry). */
  data = new Map<string, Map<K, unknown>>();
  readonly hasTtl: boolean;

  constructor(
    private readonly b: KeyedStateBackend,
    readonly name: string,
    readonly ttl: number,
    readonly onRead: boolean,
  ) {
    this.hasTtl = ttl < Number.POSITIVE_INFINITY;
  }

  /** The live value of a TTL entry, refreshing it if the descriptor says so. */
  private read(e: TtlEntry<V> | undefined): V | undefined {
    if (e === undefined || e.exp <= this.b.watermark) return undefined;
    if (this.onRead) {
      const exp = this.b.currentTs + this.ttl;
      if (exp > e.exp) e.exp = exp;
    }
    return e.v;
  }

  get(k: K): V | undefined {
    const m = this.data.get(this.b.currentKey);
    if (m === undefined) return undefined;
    if (!this.hasTtl) return m.get(k) as V | undefined;
    return this.read(m.get(k) as TtlEntry<V> | undefined);
  }

  has(k: K): boolean {
    const m = this.data.get(this.b.currentKey);
    if (m === undefined) return false;
    if (!this.hasTtl) return m.has(k);
    return this.read(m.get(k) as TtlEntry<V> | undefined) !== undefined;
  }

  put(k: K, v: V): void {
    const key = this.b.currentKey;
    let m = this.data.get(key);
    if (!this.hasTtl) {
      if (m === undefined) {
        m = new Map();
        this.data.set(key, m);
      }
      m.set(k, v);
      return;
    }
    const exp = this.b.currentTs + this.ttl;
    const e = m?.get(k) as TtlEntry<V> | undefined;
    if (e !== undefined && e.exp > this.b.watermark) {
      e.v = v;
      if (exp > e.exp) e.exp = exp;
      return;
    }
    if (exp <= this.b.watermark) {
      if (e !== undefined) this.remove(k);
      return;
    }
    if (m === undefined) {
      m = new Map();
      this.data.set(key, m);
    }
    const entry: TtlEntry<V> = { v, exp };
    m.set(k, entry);
    this.b.expiry.push({ exp, state: this as unknown as MapStateImpl<string | number, unknown>, key, uk: k, entry });
  }

  remove(k: K): void {
    const key = this.b.currentKey;
    const m = this.data.get(key);
    if (m === undefined) return;
    m.delete(k);
    if (m.size === 0) this.data.delete(key);
  }

  get size(): number {
    const m = this.data.get(this.b.currentKey);
    if (m === undefined) return 0;
    if (!this.hasTtl) return m.size;
    const wm = this.b.watermark;
    let n = 0;
    for (const e of m.values()) if ((e as TtlEntry<V>).exp > wm) n++;
    return n;
  }

  *entries(): IterableIterator<[K, V]> {
    const m = this.data.get(this.b.currentKey);
    if (m === undefined) return;
    for (const [k, e] of m) {
      if (!this.hasTtl) {
        yield [k, e as V];
        continue;
      }
      const v = this.read(e as TtlEntry<V>);
      if (v !== undefined) yield [k, v];
    }
  }

  *keys(): IterableIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  clear(): void {
    this.data.delete(this.b.currentKey);
  }

  holds(key: string, uk: K | undefined, entry: TtlEntry<unknown>): boolean {
    return this.data.get(key)?.get(uk as K) === entry;
  }

  drop(key: string, uk: K | undefined): void {
    const m = this.data.get(key);
    if (m === undefined) return;
    m.delete(uk as K);
    if (m.size === 0) this.data.delete(key);
  }

  load(data: Map<string, unknown>, items: ExpiryItem[]): void {
    this.data = data as Map<string, Map<K, unknown>>;
    if (!this.hasTtl) return;
    for (const [key, m] of this.data) {
      for (const [uk, e] of m) {
        const entry = e as TtlEntry<unknown>;
        items.push({ exp: entry.exp, state: this as unknown as MapStateImpl<string | number, unknown>, key, uk, entry });
      }
    }
  }
}
