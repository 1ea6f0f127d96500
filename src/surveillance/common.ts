/**
 * What the surveillance detectors share: the record shapes they read, the event-time sequencer
 * that feeds them records and timers in one deterministic order, the timer heap, a small deque,
 * the grouping of findings into alerts, and the number formats of their messages.
 *
 * Pure domain code (CONTRACTS.md section 4, "Surveillance"): no RxJS; the step file wires it.
 */
import { BinaryHeap } from '../core/timers.js';
import { regrown } from '../core/typed-arrays.js';

/**
 * A side of a trade or order (CONTRACTS.md section 1).
 *
 * @example const s: Side = 'BUY';
 */
export type Side = 'BUY' | 'SELL';

/**
 * The fields of a trade (CONTRACTS.md section 1) that surveillance reads; `side` is the side of
 * `traderId`, so the counterparty traded the opposite side.
 *
 * @example
 * const t: SurvTrade = { ts: 1710513000000, tradeId: 'T1', instrument: 'ACME', traderId: 'TR01',
 *   side: 'BUY', qty: 100, price: 101.25, counterpartyTraderId: 'TR02', orderId: 'O7' };
 */
export interface SurvTrade {
  ts: number;
  tradeId: string;
  instrument: string;
  traderId: string;
  side: Side;
  qty: number;
  price: number;
  counterpartyTraderId?: string | undefined;
  orderId?: string | undefined;
}

/**
 * The fields of an order event (CONTRACTS.md section 1) that surveillance reads.
 *
 * @example
 * const o: SurvOrder = { ts: 1710513000000, orderId: 'O7', traderId: 'TR01', instrument: 'ACME',
 *   side: 'BUY', qty: 100, price: 101.2, action: 'NEW', clientOrder: true };
 */
export interface SurvOrder {
  ts: number;
  orderId: string;
  traderId: string;
  instrument: string;
  side: Side;
  qty: number;
  price: number;
  action: 'NEW' | 'CANCEL' | 'REPLACE';
  clientOrder?: boolean | undefined;
}

/**
 * The other side.
 *
 * @example opposite('BUY'); // 'SELL'
 */
export function opposite(side: Side): Side {
  return side === 'BUY' ? 'SELL' : 'BUY';
}

/**
 * The counterparty of a trade when it names one other than the trader: the one whose side of the
 * trade is the opposite of `t.side`. Detectors that ask "did this trader trade" count both parties
 * of a one-sided record; a feed that also reports the mirror record then counts a trade twice, which
 * those detectors tolerate (they test existence or shares, not sums of legs).
 *
 * @example counterpartyOf({ ...t, traderId: 'TR01', counterpartyTraderId: 'TR02' }); // 'TR02'
 */
export function counterpartyOf(t: SurvTrade): string | undefined {
  const cp = t.counterpartyTraderId;
  return typeof cp === 'string' && cp !== '' && cp !== t.traderId ? cp : undefined;
}

/**
 * The surveillance alert types of CONTRACTS.md section 3.
 *
 * @example const t: SurveillanceAlertType = 'SPOOFING';
 */
export type SurveillanceAlertType = 'WASH_TRADE' | 'SPOOFING' | 'LAYERING' | 'MARKING_THE_CLOSE' | 'FRONT_RUNNING';

/**
 * One detected pattern, before grouping: `eventTime` is the event time of the record or timer that
 * completed it; `details` names the orders and trades involved in `orderIds` / `tradeIds`.
 *
 * @example
 * { traderId: 'TR03', eventTime: t.ts, value: 12.2, message: 'TR03 placed ...', details: { orderIds: ['O1'], tradeIds: ['T5'] } }
 */
export interface Finding {
  traderId: string;
  eventTime: number;
  value: number;
  message: string;
  details: Record<string, unknown> & { orderIds: string[]; tradeIds: string[] };
  windowStart?: number | undefined;
  windowEnd?: number | undefined;
}

/**
 * An alert as a detector hands it to the step (which adds topology, rule, topic, severity and ids
 * through makeAlert). Entity is always `{ traderId }`.
 *
 * @example
 * for (const a of detector.takeAlerts()) env.alert(makeAlert({ ...fromDraft(a) }, clock.now()));
 */
export interface AlertDraft {
  type: SurveillanceAlertType;
  traderId: string;
  eventTime: number;
  value: number;
  threshold: number;
  message: string;
  details: Record<string, unknown>;
  windowStart?: number | undefined;
  windowEnd?: number | undefined;
}

// The answer of an empty take(): never handed out for filling.
const NO_ALERTS: AlertDraft[] = Object.freeze([]) as unknown as AlertDraft[];

/**
 * Turns findings into alerts, one alert per (trader, event time): the alert id is a hash of
 * topology, rule, entity and event time (CONTRACTS.md section 3), so two alerts of one rule for one
 * trader at one instant would share an id and a consumer de-duplicating on it would lose one. Those
 * findings are merged instead: messages joined with "; ", `details.findings` lists each finding's
 * details, `details.orderIds` / `details.tradeIds` are the unions, the value is the max (or min)
 * of theirs. Findings come in processing order, whose event time never decreases, so a group is
 * complete as soon as a later event time shows up.
 *
 * @example
 * const g = new FindingGrouper('SPOOFING', 10, 'max');
 * g.add(f1); g.add(f2);          // same trader, same eventTime
 * g.take().length;               // 1, with details.findings.length === 2
 */
export class FindingGrouper {
  private time = Number.NEGATIVE_INFINITY;
  private current = new Map<string, Finding[]>();
  private ready: AlertDraft[] = [];

  constructor(
    readonly type: SurveillanceAlertType,
    readonly threshold: number,
    private readonly combine: 'max' | 'min',
  ) {}

  add(f: Finding): void {
    if (f.eventTime !== this.time) {
      this.close();
      this.time = f.eventTime;
    }
    const list = this.current.get(f.traderId);
    if (list === undefined) this.current.set(f.traderId, [f]);
    else list.push(f);
  }

  /** Every alert whose findings are complete or pending, in the order their first finding came. */
  take(): AlertDraft[] {
    this.close();
    const r = this.ready;
    // Asked at every watermark, nearly always with nothing to give: no new array then.
    if (r.length === 0) return NO_ALERTS;
    this.ready = [];
    return r;
  }

  snapshot(): { time: number; current: Array<[string, Finding[]]>; ready: AlertDraft[] } {
    return structuredClone({ time: this.time, current: [...this.current], ready: this.ready });
  }

  restore(s: { time: number; current: Array<[string, Finding[]]>; ready: AlertDraft[] }): void {
    const c = structuredClone(s);
    this.time = c.time;
    this.current = new Map(c.current);
    this.ready = c.ready;
  }

  private close(): void {
    if (this.current.size === 0) return;
    for (const [traderId, fs] of this.current) this.ready.push(this.merge(traderId, fs));
    this.current.clear();
  }

  private merge(traderId: string, fs: Finding[]): AlertDraft {
    const first = fs[0]!;
    let value = first.value;
    let ws = first.windowStart;
    let we = first.windowEnd;
    const orderIds: string[] = [];
    const tradeIds: string[] = [];
    for (const f of fs) {
      value = this.combine === 'max' ? Math.max(value, f.value) : Math.min(value, f.value);
      if (f.windowStart !== undefined) ws = ws === undefined ? f.windowStart : Math.min(ws, f.windowStart);
      if (f.windowEnd !== undefined) we = we === undefined ? f.windowEnd : Math.max(we, f.windowEnd);
      for (const id of f.details.orderIds) if (!orderIds.includes(id)) orderIds.push(id);
      for (const id of f.details.tradeIds) if (!tradeIds.includes(id)) tradeIds.push(id);
    }
    return {
      type: this.type,
      traderId,
      eventTime: first.eventTime,
      value,
      threshold: this.threshold,
      message: fs.map((f) => f.message).join('; '),
      details: { orderIds, tradeIds, findings: fs.map((f) => f.details) },
      windowStart: ws,
      windowEnd: we,
    };
  }
}

interface TimerEntry<P> {
  ts: number;
  seq: number;
  p: P;
}

const timerLess = <P>(a: TimerEntry<P>, b: TimerEntry<P>): boolean => a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);

/**
 * Event-time timers carrying a payload, fired in (ts, registration) order. Detectors own one each
 * (rather than the keyed TimerQueue) because a timer here names a candidate (an order, a client
 * order), and two candidates may be due at the same instant.
 *
 * @example
 * const t = new EventTimers<string>();
 * t.add(5_000, 'O1');
 * t.popDue(5_000, true); // 'O1'
 */
export class EventTimers<P> {
  private readonly heap = new BinaryHeap<TimerEntry<P>>(timerLess);
  private seq = 0;
  /**
   * Time of the earliest timer (+Infinity when none), kept up to date by add and popDue: drivers ask
   * at every record whether a timer is due, and a field answers without reaching into the heap.
   */
  private next = Number.POSITIVE_INFINITY;

  get size(): number {
    return this.heap.size;
  }

  /** Time of the earliest timer, +Infinity when there is none. */
  nextDue(): number {
    return this.next;
  }

  add(ts: number, p: P): void {
    this.heap.push({ ts, seq: this.seq++, p });
    if (ts < this.next) this.next = ts;
  }

  /** The next due payload (ts < t, or <= t when `inclusive`) with its time in `due.ts`, or undefined. */
  popDue(t: number, inclusive: boolean, due?: { ts: number }): P | undefined {
    const next = this.next;
    if (next > t || (!inclusive && next === t)) return undefined;
    const top = this.heap.pop();
    if (top === undefined) return undefined; // none at all, and t = +Infinity
    this.next = this.heap.peek()?.ts ?? Number.POSITIVE_INFINITY;
    if (due) due.ts = top.ts;
    return top.p;
  }

  snapshot(): { timers: Array<[number, number, P]>; seq: number } {
    const timers = this.heap.toArray().map((e): [number, number, P] => [e.ts, e.seq, e.p]);
    timers.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return structuredClone({ timers, seq: this.seq });
  }

  restore(s: { timers: Array<[number, number, P]>; seq: number }): void {
    const c = structuredClone(s);
    this.heap.reset(c.timers.map(([ts, seq, p]) => ({ ts, seq, p })));
    this.seq = c.seq;
    this.next = this.heap.peek()?.ts ?? Number.POSITIVE_INFINITY;
  }
}

/**
 * A FIFO of timed records with O(1) push and drop (a ring buffer of power-of-two capacity, so
 * pushing and dropping never copy or allocate once it has grown) and removal from the middle for
 * the rare match; what the recent-trade buffers are made of. Each record's ts is also kept in a
 * typed ring beside it, so dropping the old records at the front ({@link dropBefore}) and searching
 * by time read that ring, not the records: the oldest record has long left the CPU caches, and
 * reading its ts was a cache miss per record pushed.
 *
 * @example
 * const d = new Deque<{ ts: number }>(); d.push({ ts: 1 }); d.push({ ts: 2 }); d.dropBefore(2); d.size; // 1
 */
export class Deque<T extends { ts: number }> {
  private items: Array<T | undefined>;
  private times: Float64Array;
  private head = 0;
  private n = 0;
  private mask: number;

  constructor(capacity = 8) {
    let c = 8;
    while (c < capacity) c *= 2;
    this.items = new Array<T | undefined>(c).fill(undefined);
    this.times = new Float64Array(c);
    this.mask = c - 1;
  }

  get size(): number {
    return this.n;
  }

  push(v: T): void {
    if (this.n > this.mask) this.grow();
    const i = (this.head + this.n) & this.mask;
    this.items[i] = v;
    this.times[i] = v.ts;
    this.n++;
  }

  /** The i-th live item from the front. */
  at(i: number): T {
    return this.items[(this.head + i) & this.mask] as T;
  }

  /** The ts of the i-th live item from the front (read from the typed ring). */
  tsAt(i: number): number {
    return this.times[(this.head + i) & this.mask] as number;
  }

  /** Drops the items at the front with ts < limit (the items are in ts order). */
  dropBefore(limit: number): void {
    let n = this.n;
    if (n === 0) return;
    const times = this.times;
    const items = this.items;
    const m = this.mask;
    let h = this.head;
    while (n > 0 && (times[h] as number) < limit) {
      items[h] = undefined;
      h = (h + 1) & m;
      n--;
    }
    this.head = h;
    this.n = n;
  }

  removeAt(i: number): void {
    const items = this.items;
    const times = this.times;
    const m = this.mask;
    const h = this.head;
    for (let k = i; k < this.n - 1; k++) {
      items[(h + k) & m] = items[(h + k + 1) & m];
      times[(h + k) & m] = times[(h + k + 1) & m] as number;
    }
    items[(h + this.n - 1) & m] = undefined;
    this.n--;
  }

  toArray(): T[] {
    const out = new Array<T>(this.n);
    for (let i = 0; i < this.n; i++) out[i] = this.items[(this.head + i) & this.mask] as T;
    return out;
  }

  private grow(): void {
    this.items = regrown(this.items, this.head, this.mask, this.n);
    this.times = regrown(this.times, this.head, this.mask, this.n);
    this.head = 0;
    this.mask = this.items.length - 1;
  }

  static from<T extends { ts: number }>(items: T[]): Deque<T> {
    const d = new Deque<T>(items.length);
    for (const v of items) d.push(v);
    return d;
  }
}


/**
 * The per-trader chains of a ring of timed entries (wash-trade legs, layering orders): traders get
 * small numbers, and each number the ring indices of its oldest and newest entry (`first`, `last`,
 * -1 when none); the ring links each trader's entries oldest first through its own `next` column.
 * One ring in time order, dropped at its front, with a chain per trader costs a few hot array cells
 * per record where a queue per trader was an object and its arrays, cold, per record. A number
 * whose chain is empty is given back at {@link recycle}, so the numbers stay bounded by the traders
 * active recently (or a thousand).
 *
 * @example
 * const c = new TraderChains(); const next = new Int32Array(8);
 * const w = c.numberOf('TR01'); c.append(w, 0, next); c.append(w, 1, next);
 * c.dropFirst(w, next); c.first[w]; // 1
 */
export class TraderChains {
  /** Ring index of each trader's oldest entry, -1 when none. */
  first = new Int32Array(16).fill(-1);
  /** Ring index of each trader's newest entry, -1 when none. */
  last = new Int32Array(16).fill(-1);
  private numbers = new Map<string, number>();
  private free: number[] = [];
  private top = 0;

  /** The trader's number (a new one when it has none). */
  numberOf(traderId: string): number {
    const w = this.numbers.get(traderId);
    return w === undefined ? this.assign(traderId) : w;
  }

  /** The trader's number, or -1 when it has none. */
  numberIfAny(traderId: string): number {
    return this.numbers.get(traderId) ?? -1;
  }

  /** Links ring entry i as the newest of trader w's chain. */
  append(w: number, i: number, next: Int32Array): void {
    next[i] = -1;
    const l = this.last[w] as number;
    if (l < 0) this.first[w] = i;
    else next[l] = i;
    this.last[w] = i;
  }

  /** Unlinks the oldest entry of trader w's chain. */
  dropFirst(w: number, next: Int32Array): void {
    const nx = next[this.first[w] as number] as number;
    this.first[w] = nx;
    if (nx < 0) this.last[w] = -1;
  }

  /** Unlinks entry i of trader w's chain, whose predecessor is `prev` (-1: i is the oldest). */
  unlink(w: number, prev: number, i: number, next: Int32Array): void {
    const nx = next[i] as number;
    if (prev < 0) this.first[w] = nx;
    else next[prev] = nx;
    if (this.last[w] === i) this.last[w] = prev;
  }

  /**
   * Gives back the numbers of the traders without entries, once more than `keep` traders are
   * numbered: a few hundred numbers are not worth deleting and making again for every trader that
   * comes back (most chains are empty between a trader's records).
   */
  recycle(keep = 1024): void {
    if (this.numbers.size <= keep) return;
    this.numbers.forEach((w, traderId, numbers) => {
      if ((this.first[w] as number) < 0) {
        numbers.delete(traderId);
        this.free.push(w);
      }
    });
  }

  /** Every numbered trader with its number, in numbering order (for checkpoints). */
  traders(): IterableIterator<[string, number]> {
    return this.numbers.entries();
  }

  /**
   * The grow step of the ring these chains link: its `next` column at twice its capacity,
   * unwrapped from `head` (as {@link regrown}), with every link and every chain end moved to its
   * entry's new index.
   */
  regrownLinks<A extends Int32Array>(next: A, head: number, mask: number, n: number): A {
    const at = (i: number): number => (i < 0 ? -1 : (i - head) & mask);
    const out = regrown(next, head, mask, n);
    for (let k = 0; k < n; k++) out[k] = at(out[k] as number);
    for (let w = 0; w < this.top; w++) {
      this.first[w] = at(this.first[w] as number);
      this.last[w] = at(this.last[w] as number);
    }
    return out;
  }

  private assign(traderId: string): number {
    let w: number;
    if (this.free.length > 0) w = this.free.pop() as number;
    else {
      if (this.top === this.first.length) {
        const c = this.top * 2;
        const first = new Int32Array(c).fill(-1);
        const last = new Int32Array(c).fill(-1);
        first.set(this.first);
        last.set(this.last);
        this.first = first;
        this.last = last;
      }
      w = this.top++;
    }
    this.numbers.set(traderId, w);
    return w;
  }
}

/**
 * Two-level map (trader, then instrument, ...) so that the hot path reaches per-pair state with two
 * lookups and no key string built per record.
 *
 * @example
 * const m = new PairMap<number>(); m.set('TR01', 'ACME', 1); m.get('TR01', 'ACME'); // 1
 */
export class PairMap<V> {
  readonly outer = new Map<string, Map<string, V>>();

  get(a: string, b: string): V | undefined {
    return this.outer.get(a)?.get(b);
  }

  set(a: string, b: string, v: V): void {
    let m = this.outer.get(a);
    if (m === undefined) {
      m = new Map();
      this.outer.set(a, m);
    }
    m.set(b, v);
  }

  delete(a: string, b: string): void {
    const m = this.outer.get(a);
    if (m === undefined) return;
    m.delete(b);
    if (m.size === 0) this.outer.delete(a);
  }

  /** Deletes the entries for which `drop` (which may also change them) returns true. */
  prune(drop: (v: V) => boolean): void {
    for (const [a, m] of this.outer) {
      for (const [b, v] of m) if (drop(v)) m.delete(b);
      if (m.size === 0) this.outer.delete(a);
    }
  }

  *entries(): IterableIterator<[string, string, V]> {
    for (const [a, m] of this.outer) for (const [b, v] of m) yield [a, b, v];
  }

  clear(): void {
    this.outer.clear();
  }
}

/**
 * A detector: a state machine fed records and timers in event-time order by a {@link Sequencer}.
 * `fireTimers(t, false)` fires the timers due strictly before t (called before a record at t), and
 * `fireTimers(w, true)` those due at or before w (called once a watermark w has released every
 * record with ts <= w): so a timer at T always runs after every record with ts <= T and before any
 * later one, whatever the batching.
 *
 * @example
 * const seq = new Sequencer();
 * seq.offerTrade(t); seq.release(wm, detector); detector.takeAlerts();
 */
export interface Detector {
  onTrade(t: SurvTrade): void;
  onOrder(o: SurvOrder): void;
  fireTimers(t: number, inclusive: boolean): void;
  /** The detector's timer queue, when it has one: a driver may skip `fireTimers` while the queue's next due time is later. */
  readonly timerQueue?: { nextDue(): number };
  /**
   * What the detector does something with, when it says: a driver may skip the calls of an input it
   * declares false (`onTrade`, `onOrder`, `fireTimers`), which would do nothing. Fixed once built.
   */
  readonly inputs?: DetectorInputs;
  /** Alerts completed since the last call. */
  takeAlerts(): AlertDraft[];
  snapshot(): unknown;
  restore(state: unknown): void;
}

/**
 * The calls a {@link Detector} acts on (see `Detector.inputs`).
 *
 * @example const i: DetectorInputs = { trades: true, orders: false, timers: false }; // a trades-only detector without timers
 */
export interface DetectorInputs {
  trades: boolean;
  orders: boolean;
  timers: boolean;
}

/**
 * Records held until the watermark passes them, live in `recs[head..len)`; sorted (stably, so ties
 * keep arrival order) only when one came out of order. The array keeps its capacity: once drained
 * it is refilled from index 0 (the released entries are cleared, so it holds no record), as
 * shrinking a JS array's length is a runtime call and the queue drains at nearly every watermark.
 */
class Pending<T extends { ts: number }> {
  recs: Array<T | undefined> = [];
  head = 0;
  len = 0;
  private sorted = true;

  get size(): number {
    return this.len - this.head;
  }

  push(r: T): void {
    const n = this.len;
    if (n > this.head && r.ts < (this.recs[n - 1] as T).ts) this.sorted = false;
    if (n === this.recs.length) this.recs.push(r);
    else this.recs[n] = r;
    this.len = n + 1;
  }

  /** Whether a record with ts <= w may be waiting (when unsorted, any record may be). */
  dueBy(w: number): boolean {
    const h = this.head;
    return h < this.len && (!this.sorted || (this.recs[h] as T).ts <= w);
  }

  prepare(): void {
    if (this.sorted) return;
    const live = this.live();
    live.sort((a, b) => a.ts - b.ts);
    const r = this.recs;
    for (let i = 0; i < live.length; i++) r[i] = live[i];
    for (let i = live.length; i < this.len; i++) r[i] = undefined;
    this.head = 0;
    this.len = live.length;
    this.sorted = true;
  }

  /** After a release (which cleared the entries it took): reuses the front of the array. */
  compact(): void {
    const h = this.head;
    if (h === this.len) {
      this.head = 0;
      this.len = 0;
    } else if (h >= 1024 && h * 2 >= this.len) {
      const r = this.recs;
      const n = this.len - h;
      for (let i = 0; i < n; i++) r[i] = r[h + i];
      for (let i = n; i < this.len; i++) r[i] = undefined;
      this.head = 0;
      this.len = n;
    }
  }

  live(): T[] {
    return this.recs.slice(this.head, this.len) as T[];
  }
}

/**
 * Checkpoint form of a {@link Sequencer}: the watermark released so far and the records waiting.
 *
 * @example const s: SequencerSnapshot = seq.snapshot();
 */
export interface SequencerSnapshot {
  wm: number;
  trades: SurvTrade[];
  orders: SurvOrder[];
}

/**
 * Event-time order for detectors: trades and orders wait until a watermark passes them, then go to
 * the detector merged by ts, a trade before an order at the same ts (the engine's stream order
 * quote < trade < order), arrival order among equals; timers run in between (see {@link Detector}).
 * Outputs therefore depend only on the records and their ts, not on batch boundaries or on arrival
 * order within the watermark bound. A record at or behind the released watermark is late: `offer*`
 * returns false and the caller routes it to its late output.
 *
 * @example
 * const seq = new Sequencer();
 * if (!seq.offerTrade(t)) late.emit(t);
 * seq.release(wm.ts, detector);
 */
export class Sequencer {
  wm = Number.NEGATIVE_INFINITY;
  private trades = new Pending<SurvTrade>();
  private orders = new Pending<SurvOrder>();

  offerTrade(t: SurvTrade): boolean {
    if (!(t.ts > this.wm)) return false;
    this.trades.push(t);
    return true;
  }

  offerOrder(o: SurvOrder): boolean {
    if (!(o.ts > this.wm)) return false;
    this.orders.push(o);
    return true;
  }

  /** Feeds `d` every waiting record with ts <= w, in order, then fires its timers due at or before w. */
  release(w: number, d: Detector): void {
    if (!(w > this.wm)) return;
    const T = this.trades;
    const O = this.orders;
    // Watermarks come every few records: most release nothing, and then only the timers may be due.
    if (!T.dueBy(w) && !O.dueBy(w)) {
      d.fireTimers(w, true);
      this.wm = w;
      return;
    }
    T.prepare();
    O.prepare();
    const tr = T.recs;
    const or = O.recs;
    let i = T.head;
    let j = O.head;
    const ni = T.len;
    const nj = O.len;
    for (;;) {
      const t = i < ni ? (tr[i] as SurvTrade) : undefined;
      const o = j < nj ? (or[j] as SurvOrder) : undefined;
      const tOk = t !== undefined && t.ts <= w;
      const oOk = o !== undefined && o.ts <= w;
      if (tOk && (!oOk || t.ts <= o!.ts)) {
        (tr as Array<SurvTrade | undefined>)[i++] = undefined;
        d.fireTimers(t.ts, false);
        d.onTrade(t);
      } else if (oOk) {
        (or as Array<SurvOrder | undefined>)[j++] = undefined;
        d.fireTimers(o!.ts, false);
        d.onOrder(o!);
      } else break;
    }
    T.head = i;
    O.head = j;
    T.compact();
    O.compact();
    d.fireTimers(w, true);
    this.wm = w;
  }

  /** Number of records waiting for the watermark. */
  get pending(): number {
    return this.trades.size + this.orders.size;
  }

  snapshot(): SequencerSnapshot {
    return structuredClone({ wm: this.wm, trades: this.trades.live(), orders: this.orders.live() });
  }

  restore(s: SequencerSnapshot): void {
    const c = structuredClone(s);
    this.wm = c.wm;
    this.trades = new Pending();
    this.orders = new Pending();
    for (const t of c.trades) this.trades.push(t);
    for (const o of c.orders) this.orders.push(o);
  }
}

/**
 * Runs a detector over finite, already merged inputs (tests, benchmarks, backfills): every record
 * released by one END_OF_TIME watermark.
 *
 * @example runDetector(new WashTradeDetector(params), trades, []); // AlertDraft[]
 */
export function runDetector(d: Detector, trades: readonly SurvTrade[], orders: readonly SurvOrder[]): AlertDraft[] {
  const seq = new Sequencer();
  for (const t of trades) seq.offerTrade(t);
  for (const o of orders) seq.offerOrder(o);
  seq.release(Number.POSITIVE_INFINITY, d);
  return d.takeAlerts();
}

// ---------------------------------------------------------------------------------------------
// Message formats: what a compliance officer reads.

/**
 * A quantity with thousands separators: `50,000`, `1,250.5`.
 *
 * @example fmtQty(50000); // '50,000'
 */
export function fmtQty(q: number): string {
  return QTY.format(q);
}

// One formatter for all: toLocaleString with options builds a new one per call (measured ~20 us).
const QTY = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/**
 * A price with 2 decimals (4 below 1).
 *
 * @example fmtPrice(101.2); // '101.20'
 */
export function fmtPrice(p: number): string {
  return p >= 1 ? p.toFixed(2) : p.toFixed(4);
}

/**
 * A fraction as a percentage, at most 2 decimals: 0.001 -> '0.1%'.
 *
 * @example fmtPct(0.2); // '20%'
 */
export function fmtPct(x: number): string {
  return `${Number((x * 100).toFixed(2))}%`;
}

/**
 * An elapsed event time: '0.8s', '42.0s', '5.2 min'.
 *
 * @example fmtElapsed(800); // '0.8s'
 */
export function fmtElapsed(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${(ms / 60_000).toFixed(1)} min`;
}

/**
 * A configured duration, short: '60s', '10 min', '1.5s', '250ms' (minutes from 2 min).
 *
 * @example fmtLimit(600_000); // '10 min'
 */
export function fmtLimit(ms: number): string {
  if (ms >= 120_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))}s`;
  return `${ms}ms`;
}

/**
 * Past tense of a side: BUY -> 'bought'.
 *
 * @example pastTense('SELL'); // 'sold'
 */
export function pastTense(side: Side): string {
  return side === 'BUY' ? 'bought' : 'sold';
}

/**
 * Present participle of a side: BUY -> 'buying'.
 *
 * @example participle('SELL'); // 'selling'
 */
export function participle(side: Side): string {
  return side === 'BUY' ? 'buying' : 'selling';
}

/**
 * A trade as one participant saw it, as detectors keep it and alert details list it: `traderId` and
 * `side` are that participant's (the counterparty of a record has the opposite side).
 *
 * @example
 * const r: TradeRef = { tradeId: 'T1', ts: 1710513000000, traderId: 'TR02', side: 'SELL', qty: 100, price: 101.25 };
 */
export interface TradeRef {
  tradeId: string;
  ts: number;
  traderId: string;
  side: Side;
  qty: number;
  price: number;
}
