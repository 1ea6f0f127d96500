/**
 * Order state for surveillance: orders by orderId through NEW / REPLACE / CANCEL and their fills
 * (trades carrying the orderId, CONTRACTS.md section 1), with an event-time TTL so that the state
 * stays bounded; and the recent fills of each trader per instrument.
 */
import { regrown } from '../core/typed-arrays.js';
import { Deque, opposite, type Side, type SurvOrder, type SurvTrade, type TradeRef } from './common.js';

/**
 * One order (a copy of its state in an {@link OrderBookState}). Prices and sizes as placed (`newQty`,
 * `newPrice`) and as currently displayed (`qty`, `price`, changed by REPLACE); `maxQty` is the
 * largest size it ever displayed. `tag` and `flag` belong to the detectors that read the book
 * (spoofing keeps the trader's median at NEW time in `tag`; layering marks orders already reported
 * in `flag`).
 *
 * @example
 * const e = book.apply(o); if (e && Number.isNaN(e.cancelTs)) { ...open... }
 */
export interface OrderEntry {
  orderId: string;
  traderId: string;
  instrument: string;
  side: Side;
  newTs: number;
  newQty: number;
  newPrice: number;
  qty: number;
  price: number;
  maxQty: number;
  replaces: number;
  filledQty: number;
  /** NaN until the first fill. */
  firstFillTs: number;
  /** NaN while the order is not cancelled. */
  cancelTs: number;
  /** Event time of the last NEW/REPLACE/CANCEL/fill: the TTL runs from it. */
  lastTs: number;
  tag: number;
  flag: boolean;
}

/**
 * Events that did not fit an order's life, for diagnostics (never an error: feeds are messy).
 *
 * @example book.counters.unknown; // CANCELs and REPLACEs of orders the book never saw
 */
export interface OrderBookCounters {
  /** REPLACE / CANCEL of an order never seen (or expired). */
  unknown: number;
  /** NEW for an orderId that is already live. */
  duplicateNew: number;
  /** REPLACE / CANCEL after the order was cancelled. */
  afterCancel: number;
}

/**
 * Checkpoint form of an {@link OrderBookState}.
 *
 * @example const s: OrderBookSnapshot = book.snapshot();
 */
export interface OrderBookSnapshot {
  ttlMs: number;
  orders: OrderEntry[];
  expiry: Array<[number, string]>;
  counters: OrderBookCounters;
}

/** No order: what the slot-based methods of {@link OrderBookState} return for an ignored event. */
export const NO_ORDER = -1;

/**
 * A hash index from order ids to slots, for {@link OrderBookState}: open addressing with linear
 * probing over one typed array of (slot, hash) pairs plus the keys, at most half full, entries
 * removed by backward shift (no tombstones). A probe reads the pair of each cell it visits, one
 * cache line, and the key only on a hash match. Order ids reach the book as fresh strings (sliced
 * per record from a batch), and a Map computed each one's hash in a runtime call; here the caller
 * hashes the id once in JS ({@link IdIndex.hash}) and passes the hash to every operation on it, and
 * removing an entry needs only the slot and its hash, so it reads no key.
 *
 * @example
 * const ix = new IdIndex();
 * const h = IdIndex.hash('O7');
 * ix.add('O7', h, 3); ix.get('O7', h); // 3
 * ix.remove(h, 3); ix.get('O7', h); // -1
 */
export class IdIndex {
  private keys: Array<string | undefined>;
  /** Per cell: the slot of its entry (-1 where empty) at 2i, the entry's hash at 2i + 1. */
  private cells: Int32Array;
  private mask: number;
  private n = 0;

  constructor(capacity = 64) {
    let c = 16;
    while (c < capacity * 2) c *= 2;
    this.keys = new Array<string | undefined>(c).fill(undefined);
    this.cells = IdIndex.emptyCells(c);
    this.mask = c - 1;
  }

  /** FNV-1a over the UTF-16 code units, then murmur3's finaliser (linear probing wants every bit mixed). */
  static hash(key: string): number {
    let h = -2128831035; // 0x811c9dc5
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
    h ^= h >>> 16;
    h = Math.imul(h, -2048144789); // 0x85ebca6b
    h ^= h >>> 13;
    h = Math.imul(h, -1028477387); // 0xc2b2ae35
    return h ^ (h >>> 16);
  }

  private static emptyCells(c: number): Int32Array {
    const cells = new Int32Array(2 * c);
    for (let i = 0; i < c; i++) cells[2 * i] = -1;
    return cells;
  }

  /** Number of entries. */
  get size(): number {
    return this.n;
  }

  /** The slot of `key` (whose hash is h), or -1. */
  get(key: string, h: number): number {
    const m = this.mask;
    const cells = this.cells;
    for (let i = h & m; ; i = (i + 1) & m) {
      const v = cells[2 * i] as number;
      if (v < 0) return -1;
      if (cells[2 * i + 1] === h && this.keys[i] === key) return v;
    }
  }

  /** Adds `key` (hash h, not present) for `slot`. */
  add(key: string, h: number, slot: number): void {
    if ((this.n + 1) * 2 > this.mask + 1) this.grow();
    const m = this.mask;
    const cells = this.cells;
    let i = h & m;
    while ((cells[2 * i] as number) >= 0) i = (i + 1) & m;
    cells[2 * i] = slot;
    cells[2 * i + 1] = h;
    this.keys[i] = key;
    this.n++;
  }

  /** Removes the entry of `slot`, whose key has hash h (nothing when there is none). */
  remove(h: number, slot: number): void {
    const m = this.mask;
    const cells = this.cells;
    const keys = this.keys;
    let i = h & m;
    for (;;) {
      const v = cells[2 * i] as number;
      if (v < 0) return;
      if (v === slot) break;
      i = (i + 1) & m;
    }
    // Backward shift: move up every later entry of the run that may sit at i (its home is not in (i, j]).
    for (let j = (i + 1) & m; ; j = (j + 1) & m) {
      const v = cells[2 * j] as number;
      if (v < 0) break;
      const hj = cells[2 * j + 1] as number;
      const home = hj & m;
      if (((j - home) & m) >= ((j - i) & m)) {
        cells[2 * i] = v;
        cells[2 * i + 1] = hj;
        keys[i] = keys[j];
        i = j;
      }
    }
    cells[2 * i] = -1;
    keys[i] = undefined;
    this.n--;
  }

  private grow(): void {
    const old = this.cells;
    const oldKeys = this.keys;
    const c = old.length;
    const m = c - 1;
    const cells = IdIndex.emptyCells(c);
    const keys = new Array<string | undefined>(c).fill(undefined);
    for (let j = 0; j < old.length / 2; j++) {
      const v = old[2 * j] as number;
      if (v < 0) continue;
      const h = old[2 * j + 1] as number;
      let i = h & m;
      while ((cells[2 * i] as number) >= 0) i = (i + 1) & m;
      cells[2 * i] = v;
      cells[2 * i + 1] = h;
      keys[i] = oldKeys[j];
    }
    this.cells = cells;
    this.keys = keys;
    this.mask = m;
  }
}

// The numeric fields of an order: one row of NUM_STRIDE doubles per slot in OrderBookState.num.
const NEW_TS = 0;
const NEW_QTY = 1;
const NEW_PRICE = 2;
const QTY = 3;
const PRICE = 4;
const MAX_QTY = 5;
const REPLACES = 6;
const FILLED_QTY = 7;
const FIRST_FILL_TS = 8;
const CANCEL_TS = 9;
const LAST_TS = 10;
const TAG = 11;
const BORN = 12;
const NUM_STRIDE = 16;
// Its small integers: one row of INT_STRIDE per slot in OrderBookState.ints.
const GEN = 0;
const TOUCHES = 1;
const ID_HASH = 2;
const FLAG = 3;
const USED = 4;
const INT_STRIDE = 8;
// Its strings: one row of STR_STRIDE per slot in OrderBookState.strs.
const ORDER_ID = 0;
const TRADER_ID = 1;
const INSTRUMENT = 2;
const SIDE = 3;
const STR_STRIDE = 4;

/**
 * Orders keyed by orderId. REPLACE changes the displayed price and size of an open order (a new
 * NEW under the same id while it is live is ignored and counted); CANCEL closes it; a fill adds to
 * `filledQty`. Every event refreshes the entry's TTL: an order whose last event was at t is forgotten
 * once the book's event time reaches t + ttl (a later REPLACE/CANCEL/fill for it then counts as
 * unknown). Events reach the book in event-time order (the Sequencer guarantees it), so the expiry
 * queue is a FIFO of touches and expiring costs O(1) amortized per event.
 *
 * Storage is by rows: an order lives in a slot, whose numbers are one row of a Float64Array, whose
 * small integers one row of an Int32Array and whose strings one row of an array (no object, and no
 * boxed number per field, per order; a slot is reused once its order is forgotten, its `gen`
 * telling the lives of a slot apart). An event reads and writes a few neighbouring cells of each,
 * two or three cache lines where a column per field was a line per field: the book competes for
 * the caches with every other operator of the job. The expiry FIFO is a ring of slots, each slot
 * counting its touches still queued so that only its latest one can expire it. The detectors use
 * the slot methods (`applySlot`, `fillSlot`, `slotOf` and the field readers such as `newTsOf`);
 * `apply`/`fill`/`get` return {@link OrderEntry} copies.
 *
 * @example
 * const book = new OrderBookState(600_000);
 * book.apply({ ...o, action: 'NEW' });
 * book.fill('O1', 100, t.ts);
 * book.apply({ ...o, action: 'CANCEL' })?.filledQty; // 100
 */
export class OrderBookState {
  private ids = new IdIndex();
  private births = 0;
  private live = 0;
  private cap = 0;
  private top = 0;
  private free: number[] = [];
  /** The numbers of each slot, NUM_STRIDE per slot (see the field offsets above). */
  private num = new Float64Array(0);
  /** The small integers of each slot (life, queued touches, orderId hash, detector flag, in use). */
  private ints = new Int32Array(0);
  /** The strings of each slot (orderId, traderId, instrument, side). */
  private strs: Array<string | undefined> = [];
  // The expiry FIFO: one slot per touch, in a ring.
  private exp = new Int32Array(64);
  private expHead = 0;
  private expLen = 0;
  counters: OrderBookCounters = { unknown: 0, duplicateNew: 0, afterCancel: 0 };

  constructor(readonly ttlMs: number) {}

  /** Number of orders held. */
  get size(): number {
    return this.live;
  }

  /** The slot of a held order, or NO_ORDER. */
  slotOf(orderId: string): number {
    return this.ids.get(orderId, IdIndex.hash(orderId));
  }

  /** The orderId of the order in slot k. */
  orderIdOf(k: number): string {
    return this.strs[k * STR_STRIDE + ORDER_ID] as string;
  }

  /** The traderId of the order in slot k. */
  traderIdOf(k: number): string {
    return this.strs[k * STR_STRIDE + TRADER_ID] as string;
  }

  /** The instrument of the order in slot k. */
  instrumentOf(k: number): string {
    return this.strs[k * STR_STRIDE + INSTRUMENT] as string;
  }

  /** The side of the order in slot k. */
  sideOf(k: number): Side {
    return this.strs[k * STR_STRIDE + SIDE] as Side;
  }

  /** The NEW time of the order in slot k. */
  newTsOf(k: number): number {
    return this.num[k * NUM_STRIDE + NEW_TS] as number;
  }

  /** The price as placed (NEW) of the order in slot k. */
  newPriceOf(k: number): number {
    return this.num[k * NUM_STRIDE + NEW_PRICE] as number;
  }

  /** The largest size the order in slot k displayed. */
  maxQtyOf(k: number): number {
    return this.num[k * NUM_STRIDE + MAX_QTY] as number;
  }

  /** The quantity filled of the order in slot k. */
  filledQtyOf(k: number): number {
    return this.num[k * NUM_STRIDE + FILLED_QTY] as number;
  }

  /** The CANCEL time of the order in slot k, NaN while it is not cancelled. */
  cancelTsOf(k: number): number {
    return this.num[k * NUM_STRIDE + CANCEL_TS] as number;
  }

  /** The spoofing detector's scratch of the order in slot k (the trader's median at NEW). */
  tagOf(k: number): number {
    return this.num[k * NUM_STRIDE + TAG] as number;
  }

  /** Sets the spoofing detector's scratch of the order in slot k. */
  setTag(k: number, v: number): void {
    this.num[k * NUM_STRIDE + TAG] = v;
  }

  /** The layering detector's scratch of the order in slot k (1: already reported). */
  flagOf(k: number): number {
    return this.ints[k * INT_STRIDE + FLAG] as number;
  }

  /** Sets the layering detector's scratch of the order in slot k. */
  setFlag(k: number, v: number): void {
    this.ints[k * INT_STRIDE + FLAG] = v;
  }

  /** The life of slot k: bumped when its order is forgotten. */
  genOf(k: number): number {
    return this.ints[k * INT_STRIDE + GEN] as number;
  }

  get(orderId: string): OrderEntry | undefined {
    const k = this.slotOf(orderId);
    return k === NO_ORDER ? undefined : this.entry(k);
  }

  /** A copy of the order in slot k. */
  entry(k: number): OrderEntry {
    const num = this.num;
    const r = k * NUM_STRIDE;
    return {
      orderId: this.orderIdOf(k),
      traderId: this.traderIdOf(k),
      instrument: this.instrumentOf(k),
      side: this.sideOf(k),
      newTs: num[r + NEW_TS] as number,
      newQty: num[r + NEW_QTY] as number,
      newPrice: num[r + NEW_PRICE] as number,
      qty: num[r + QTY] as number,
      price: num[r + PRICE] as number,
      maxQty: num[r + MAX_QTY] as number,
      replaces: num[r + REPLACES] as number,
      filledQty: num[r + FILLED_QTY] as number,
      firstFillTs: num[r + FIRST_FILL_TS] as number,
      cancelTs: num[r + CANCEL_TS] as number,
      lastTs: num[r + LAST_TS] as number,
      tag: num[r + TAG] as number,
      flag: this.ints[k * INT_STRIDE + FLAG] === 1,
    };
  }

  /** Applies an order event; returns (a copy of) the entry it created or changed, or undefined when it was ignored. */
  apply(o: SurvOrder): OrderEntry | undefined {
    const k = this.applySlot(o);
    return k === NO_ORDER ? undefined : this.entry(k);
  }

  /** Records a fill of `orderId` (a trade carrying it); undefined when the order is unknown. */
  fill(orderId: string, qty: number, ts: number): OrderEntry | undefined {
    const k = this.fillSlot(orderId, qty, ts);
    return k === NO_ORDER ? undefined : this.entry(k);
  }

  /** {@link apply}, returning the slot of the entry it created or changed, or NO_ORDER. */
  applySlot(o: SurvOrder): number {
    const ts = o.ts;
    this.expireBefore(ts);
    const id = o.orderId;
    const h = IdIndex.hash(id);
    const k = this.ids.get(id, h);
    const action = o.action;
    if (action === 'NEW') {
      if (k !== NO_ORDER) {
        this.counters.duplicateNew++;
        return NO_ORDER;
      }
      const n = this.alloc();
      const strs = this.strs;
      const si = n * STR_STRIDE;
      strs[si + ORDER_ID] = id;
      strs[si + TRADER_ID] = o.traderId;
      strs[si + INSTRUMENT] = o.instrument;
      strs[si + SIDE] = o.side;
      const q = o.qty;
      const p = o.price;
      const num = this.num;
      const r = n * NUM_STRIDE;
      num[r + NEW_TS] = ts;
      num[r + NEW_QTY] = q;
      num[r + NEW_PRICE] = p;
      num[r + QTY] = q;
      num[r + PRICE] = p;
      num[r + MAX_QTY] = q;
      num[r + REPLACES] = 0;
      num[r + FILLED_QTY] = 0;
      num[r + FIRST_FILL_TS] = Number.NaN;
      num[r + CANCEL_TS] = Number.NaN;
      num[r + TAG] = Number.NaN;
      num[r + BORN] = this.births++;
      const ints = this.ints;
      const ii = n * INT_STRIDE;
      ints[ii + FLAG] = 0;
      ints[ii + USED] = 1;
      ints[ii + ID_HASH] = h;
      this.live++;
      this.ids.add(id, h, n);
      this.touch(n, ts);
      return n;
    }
    if (k === NO_ORDER) {
      this.counters.unknown++;
      return NO_ORDER;
    }
    const num = this.num;
    const r = k * NUM_STRIDE;
    if (!Number.isNaN(num[r + CANCEL_TS])) {
      this.counters.afterCancel++;
      return NO_ORDER;
    }
    if (action === 'REPLACE') {
      const q = o.qty;
      num[r + QTY] = q;
      num[r + PRICE] = o.price;
      if (q > (num[r + MAX_QTY] as number)) num[r + MAX_QTY] = q;
      num[r + REPLACES]!++;
    } else {
      num[r + CANCEL_TS] = ts;
    }
    this.touch(k, ts);
    return k;
  }

  /** {@link fill}, returning the slot or NO_ORDER. */
  fillSlot(orderId: string, qty: number, ts: number): number {
    this.expireBefore(ts);
    const k = this.slotOf(orderId);
    if (k === NO_ORDER) return NO_ORDER;
    const num = this.num;
    const r = k * NUM_STRIDE;
    num[r + FILLED_QTY]! += qty;
    if (Number.isNaN(num[r + FIRST_FILL_TS])) num[r + FIRST_FILL_TS] = ts;
    this.touch(k, ts);
    return k;
  }

  /** Forgets orders whose last event is at least ttl before `now`. */
  expire(now: number): void {
    const exp = this.exp;
    const mask = exp.length - 1;
    const ttl = this.ttlMs;
    const ints = this.ints;
    const num = this.num;
    let h = this.expHead;
    let n = this.expLen;
    while (n > 0) {
      const k = exp[h] as number;
      const ti = k * INT_STRIDE + TOUCHES;
      const t = ints[ti] as number;
      // A touch with a later one still queued is stale: only the slot's latest touch can expire it.
      if (t > 1) ints[ti] = t - 1;
      else if ((num[k * NUM_STRIDE + LAST_TS] as number) + ttl <= now) this.release(k);
      else break;
      h = (h + 1) & mask;
      n--;
    }
    this.expHead = h;
    this.expLen = n;
  }

  // The common case of expire(): nothing at the head is due (checked without a call).
  private expireBefore(now: number): void {
    if (this.expLen === 0) return;
    const k = this.exp[this.expHead] as number;
    if ((this.ints[k * INT_STRIDE + TOUCHES] as number) > 1 || (this.num[k * NUM_STRIDE + LAST_TS] as number) + this.ttlMs <= now) this.expire(now);
  }

  snapshot(): OrderBookSnapshot {
    const held: number[] = [];
    for (let k = 0; k < this.top; k++) if (this.ints[k * INT_STRIDE + USED] === 1) held.push(k);
    const born = (k: number): number => this.num[k * NUM_STRIDE + BORN] as number;
    held.sort((a, b) => born(a) - born(b));
    const orders = held.map((k) => this.entry(k));
    // Each queued touch as [time, orderId]; a stale touch has no time of its own any more (-1).
    const expiry: Array<[number, string]> = [];
    const left = new Map<number, number>();
    const mask = this.exp.length - 1;
    for (let i = 0; i < this.expLen; i++) {
      const k = this.exp[(this.expHead + i) & mask] as number;
      const seen = (left.get(k) ?? 0) + 1;
      left.set(k, seen);
      expiry.push([seen === this.ints[k * INT_STRIDE + TOUCHES] ? (this.num[k * NUM_STRIDE + LAST_TS] as number) : -1, this.orderIdOf(k)]);
    }
    return structuredClone({ ttlMs: this.ttlMs, orders, expiry, counters: this.counters });
  }

  restore(s: OrderBookSnapshot): void {
    const c = structuredClone(s);
    this.ids = new IdIndex(c.orders.length);
    this.births = 0;
    this.live = 0;
    // The rows keep their capacity (a new order sets every field of its slot but the touch count
    // and the life, cleared and kept here): growing from a capacity of 0 copied the old, longer
    // rows into shorter ones and threw.
    for (let k = 0; k < this.cap; k++) {
      this.ints[k * INT_STRIDE + TOUCHES] = 0;
      this.ints[k * INT_STRIDE + USED] = 0;
    }
    this.top = 0;
    this.free = [];
    this.strs.fill(undefined);
    this.grow(Math.max(16, c.orders.length));
    this.expHead = 0;
    this.expLen = 0;
    for (const e of c.orders) {
      const k = this.alloc();
      const si = k * STR_STRIDE;
      this.strs[si + ORDER_ID] = e.orderId;
      this.strs[si + TRADER_ID] = e.traderId;
      this.strs[si + INSTRUMENT] = e.instrument;
      this.strs[si + SIDE] = e.side;
      const num = this.num;
      const r = k * NUM_STRIDE;
      num[r + NEW_TS] = e.newTs;
      num[r + NEW_QTY] = e.newQty;
      num[r + NEW_PRICE] = e.newPrice;
      num[r + QTY] = e.qty;
      num[r + PRICE] = e.price;
      num[r + MAX_QTY] = e.maxQty;
      num[r + REPLACES] = e.replaces;
      num[r + FILLED_QTY] = e.filledQty;
      num[r + FIRST_FILL_TS] = e.firstFillTs;
      num[r + CANCEL_TS] = e.cancelTs;
      num[r + LAST_TS] = e.lastTs;
      num[r + TAG] = e.tag;
      num[r + BORN] = this.births++;
      const ii = k * INT_STRIDE;
      const h = IdIndex.hash(e.orderId);
      this.ints[ii + FLAG] = e.flag ? 1 : 0;
      this.ints[ii + TOUCHES] = 0;
      this.ints[ii + USED] = 1;
      this.ints[ii + ID_HASH] = h;
      this.live++;
      this.ids.add(e.orderId, h, k);
    }
    for (const [, id] of c.expiry) {
      const k = this.slotOf(id);
      if (k === NO_ORDER) continue;
      this.ints[k * INT_STRIDE + TOUCHES]!++;
      this.pushTouch(k);
    }
    this.counters = c.counters;
  }

  private touch(k: number, ts: number): void {
    this.num[k * NUM_STRIDE + LAST_TS] = ts;
    this.ints[k * INT_STRIDE + TOUCHES]!++;
    this.pushTouch(k);
  }

  private pushTouch(k: number): void {
    if (this.expLen === this.exp.length) {
      this.exp = regrown(this.exp, this.expHead, this.exp.length - 1, this.expLen);
      this.expHead = 0;
    }
    this.exp[(this.expHead + this.expLen) & (this.exp.length - 1)] = k;
    this.expLen++;
  }

  private release(k: number): void {
    const ii = k * INT_STRIDE;
    const ints = this.ints;
    ints[ii + TOUCHES] = 0;
    ints[ii + USED] = 0;
    ints[ii + GEN]!++;
    this.live--;
    this.ids.remove(ints[ii + ID_HASH] as number, k);
    this.free.push(k);
  }

  private alloc(): number {
    if (this.free.length > 0) return this.free.pop() as number;
    if (this.top === this.cap) this.grow(Math.max(64, this.cap * 2));
    return this.top++;
  }

  private grow(cap: number): void {
    if (cap <= this.cap) return;
    const num = new Float64Array(cap * NUM_STRIDE);
    num.set(this.num);
    this.num = num;
    const ints = new Int32Array(cap * INT_STRIDE);
    ints.set(this.ints);
    this.ints = ints;
    const strs = new Array<string | undefined>(cap * STR_STRIDE).fill(undefined);
    for (let i = 0; i < this.strs.length; i++) strs[i] = this.strs[i];
    this.strs = strs;
    this.cap = cap;
  }
}

/**
 * Checkpoint form of a {@link FillHistory}.
 *
 * @example const s: FillHistorySnapshot = fills.snapshot();
 */
export interface FillHistorySnapshot {
  horizonMs: number;
  trades: SurvTrade[];
}

/**
 * The trades of the last `horizonMs` of event time, for "was this trader filled on that side around
 * then" questions. A trade counts for its trader (side `side`) and for its counterparty (the
 * opposite side), so that a fill of a resting order reported only by the aggressor still counts as
 * the resting trader's fill. One queue of the records themselves in processing (= ts) order: adding
 * costs O(1) with no lookup and no copy, and a question, which detectors ask only for the rare
 * candidate that passed every other test, binary-searches the start and scans the interval.
 *
 * @example
 * const fills = new FillHistory(10_000);
 * fills.add(t);
 * fills.between('TR01', 'ACME', 'SELL', t0 - 5000, t0 + 5000); // TradeRef[]
 */
export class FillHistory {
  private trades = new Deque<SurvTrade>(64);

  constructor(public horizonMs: number) {}

  /** Keeps at least `horizonMs` of trades from now on (a shared history serves the longest need). */
  widen(horizonMs: number): void {
    if (horizonMs > this.horizonMs) this.horizonMs = horizonMs;
  }

  /** Number of trades held. */
  get size(): number {
    return this.trades.size;
  }

  /** Adds a trade; trades must come in ts order (the Sequencer's). */
  add(t: SurvTrade): void {
    const d = this.trades;
    d.dropBefore(t.ts - this.horizonMs);
    d.push(t);
  }

  /** Trades of `traderId` on `instrument` on `side` (its side) with ts in [from, to], oldest first. */
  between(traderId: string, instrument: string, side: Side, from: number, to: number): TradeRef[] {
    const d = this.trades;
    let lo = 0;
    let hi = d.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (d.tsAt(mid) < from) lo = mid + 1;
      else hi = mid;
    }
    const out: TradeRef[] = [];
    for (let i = lo; i < d.size; i++) {
      if (d.tsAt(i) > to) break;
      const t = d.at(i);
      if (t.instrument !== instrument) continue;
      let mine: Side;
      if (t.traderId === traderId) mine = t.side;
      else if (t.counterpartyTraderId === traderId) mine = opposite(t.side);
      else continue;
      if (mine === side) out.push({ tradeId: t.tradeId, ts: t.ts, traderId, side: mine, qty: t.qty, price: t.price });
    }
    return out;
  }

  snapshot(): FillHistorySnapshot {
    return structuredClone({ horizonMs: this.horizonMs, trades: this.trades.toArray() });
  }

  restore(s: FillHistorySnapshot): void {
    this.trades = Deque.from(structuredClone(s.trades));
  }
}

/**
 * Checkpoint form of an {@link OrderFlow}.
 *
 * @example const s: OrderFlowSnapshot = flow.snapshot();
 */
export interface OrderFlowSnapshot {
  book: OrderBookSnapshot;
  fills: FillHistorySnapshot;
}

/**
 * The order state and fill history that the order-based detectors (spoofing, layering) keep in
 * common: every trade fills its order and joins the history, every order event goes through the
 * book. A detector either owns its flow (and feeds it from its own onTrade/onOrder) or shares one
 * with the other detectors of a step group, whose driver feeds it once per record, after every
 * detector's timers due before the record and before any detector sees the record; the detectors
 * then read the book entry of the order it has just applied with {@link OrderFlow.applied}. One
 * book and one history instead of one per detector: the same answers for half the work.
 *
 * @example
 * const flow = new OrderFlow(60_000, 10_000);
 * flow.onOrder(o); flow.applied(o)?.newTs;
 */
export class OrderFlow {
  readonly book: OrderBookState;
  readonly fills: FillHistory;
  private lastOrder: SurvOrder | undefined;
  private lastSlot = NO_ORDER;

  constructor(ttlMs: number, horizonMs: number) {
    this.book = new OrderBookState(ttlMs);
    this.fills = new FillHistory(horizonMs);
  }

  onTrade(t: SurvTrade): void {
    if (typeof t.orderId === 'string') this.book.fillSlot(t.orderId, t.qty, t.ts);
    this.fills.add(t);
  }

  /** Applies an order event to the book; the slot it created or changed, or NO_ORDER. */
  onOrder(o: SurvOrder): number {
    const k = this.book.applySlot(o);
    this.lastOrder = o;
    this.lastSlot = k;
    return k;
  }

  /** What the last {@link onOrder} (which must have been for `o`) returned. */
  applied(o: SurvOrder): number {
    if (o !== this.lastOrder) throw new Error('OrderFlow.applied: the shared order flow has not applied this order');
    return this.lastSlot;
  }

  snapshot(): OrderFlowSnapshot {
    return { book: this.book.snapshot(), fills: this.fills.snapshot() };
  }

  restore(s: OrderFlowSnapshot): void {
    this.book.restore(s.book);
    this.fills.restore(s.fills);
    this.fills.widen(s.fills.horizonMs);
    this.lastOrder = undefined;
    this.lastSlot = NO_ORDER;
  }
}
