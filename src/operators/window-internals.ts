import type { Element, Timestamped } from '../core/element.js';
import type { SideOutput } from '../core/context.js';
import { CheckpointError } from '../core/errors.js';
import type { WindowAssigner } from '../windows/assigners.js';
import type { AggregateFunction } from '../windows/aggregate.js';
import type { WindowResult, WindowStats } from './window-aggregate.js';

// The state machine behind `windowAggregate`, kept apart from the RxJS plumbing so that the hot
// path is plain method calls on one class with stable shapes.
//
// Every (key, window) is one `Slot` holding its accumulator. A slot is either
// - open: waiting for its final firing, or
// - complete: fired (or created behind the watermark within the allowed lateness), kept until
//   the watermark passes end - 1 + allowedLateness.
// Aligned windows (tumbling, sliding) share their ends across keys, so open and complete slots
// sit in buckets per window end (`EndBuckets`): queueing a slot is a push, and a watermark that
// closes nothing costs one comparison, whatever the number of keys. Session ends differ per key
// and move as sessions grow, so sessions use indexed heaps ordered by (end - 1, key) instead.

/** Why a result was emitted; see `WindowResult.firing`. */
export type Firing = 'early' | 'final' | 'late';

/** Per-key window state: where a key's slots are found without scanning. */
export class KeyState<ACC> {
  /** Tumbling/sliding: the live slot with the latest start, where in-order records land. */
  cur: Slot<ACC> | null = null;
  /**
   * Tumbling/sliding: the other live slots of this key, sorted by start (all before `cur`'s). A
   * sliding record's windows are then the last few entries, found by position rather than by a
   * lookup per window.
   */
  older: SlotRun<ACC> | null = null;
  /** Sessions: live sessions of this key, disjoint and sorted by start. */
  sessions: Slot<ACC>[] | null = null;
  size = 0;
  /** Had no windows at the last key sweep: goes at the next one if still empty. */
  idle = false;
  constructor(readonly key: string) {}
}

/** One (key, window): its bounds, accumulator, and membership in the firing structures. */
export class Slot<ACC> {
  /** Waiting for the final firing (in a fire bucket, or the fire heap for sessions). */
  open = false;
  /** Has emitted a final or late firing: later firings are 'late'. */
  fired = false;
  /** Records added since the last count-based early firing. */
  n = 0;
  /** Fire-heap key. Sessions update it lazily: it may lag end - 1 (ends only grow). */
  fireKey = Number.NaN;
  firePos = -1;
  purgeAt = Number.NaN;
  purgePos = -1;
  earlyAt = Number.NaN;
  earlyPos = -1;
  constructor(
    readonly ks: KeyState<ACC>,
    public start: number,
    public end: number,
    public acc: ACC,
  ) {}
}

/**
 * A key's aligned slots other than the newest, sorted by start: a deque over an array (a moving
 * head, since slots mostly go from the front as the watermark passes them), with positional
 * access from the back for in-order records.
 */
export class SlotRun<ACC> {
  private items: Array<Slot<ACC> | undefined> = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The `j`-th slot from the back (1 = the last), or undefined. */
  fromBack(j: number): Slot<ACC> | undefined {
    const items = this.items;
    const i = items.length - j;
    return i >= this.head ? items[i] : undefined;
  }

  /** Appends `s`, whose start must be after every start here. */
  push(s: Slot<ACC>): void {
    this.items.push(s);
  }

  /** Removes and returns the last slot. */
  pop(): Slot<ACC> | undefined {
    if (this.items.length === this.head) return undefined;
    const s = this.items.pop();
    if (this.items.length === this.head) this.reset();
    return s;
  }

  find(start: number): Slot<ACC> | undefined {
    const items = this.items;
    const h = this.head;
    let lo = h;
    let hi = items.length;
    // Most lookups are for recent windows: look at the back before bisecting.
    if (hi > lo && items[hi - 1]!.start <= start) lo = hi - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    const s = items[lo];
    return s !== undefined && s.start === start ? s : undefined;
  }

  /** Inserts `s` at its place by start (no slot with that start is here). */
  insert(s: Slot<ACC>): void {
    const items = this.items;
    const h = this.head;
    let i = items.length;
    while (i > h && items[i - 1]!.start > s.start) i--;
    if (i === h && h > 0) {
      // Before the head: reuse the free cell rather than shifting.
      this.head = h - 1;
      items[h - 1] = s;
      return;
    }
    items.splice(i, 0, s);
  }

  remove(s: Slot<ACC>): void {
    const items = this.items;
    const h = this.head;
    if (items[h] === s) {
      items[h] = undefined;
      this.head = h + 1;
      if (this.head === items.length) this.reset();
      else if (this.head >= 32 && this.head * 2 >= items.length) this.compact();
      return;
    }
    const i = items.indexOf(s, h);
    if (i >= 0) items.splice(i, 1);
    if (items.length === this.head) this.reset();
  }

  /** Live slots, oldest first. */
  toArray(): Array<Slot<ACC>> {
    return this.items.slice(this.head) as Array<Slot<ACC>>;
  }

  private reset(): void {
    this.items.length = 0;
    this.head = 0;
  }

  private compact(): void {
    const items = this.items;
    const h = this.head;
    const n = items.length - h;
    for (let i = 0; i < n; i++) items[i] = items[i + h];
    items.length = n;
    this.head = 0;
  }
}

/** Binary min-heap of slots that stores each slot's position in it, for O(log n) removal. */
export class SlotHeap<ACC> {
  private readonly items: Slot<ACC>[] = [];
  constructor(
    private readonly less: (a: Slot<ACC>, b: Slot<ACC>) => boolean,
    private readonly getPos: (s: Slot<ACC>) => number,
    private readonly setPos: (s: Slot<ACC>, i: number) => void,
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): Slot<ACC> | undefined {
    return this.items[0];
  }

  clear(): void {
    for (const s of this.items) this.setPos(s, -1);
    this.items.length = 0;
  }

  push(s: Slot<ACC>): void {
    const i = this.items.length;
    this.items.push(s);
    this.setPos(s, i);
    this.up(i);
  }

  pop(): Slot<ACC> | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    if (last !== top) {
      items[0] = last;
      this.setPos(last, 0);
      this.down(0);
    }
    this.setPos(top, -1);
    return top;
  }

  remove(s: Slot<ACC>): void {
    const i = this.getPos(s);
    if (i < 0) return;
    const items = this.items;
    const last = items.pop()!;
    this.setPos(s, -1);
    if (last === s) return;
    items[i] = last;
    this.setPos(last, i);
    this.down(i);
    this.up(this.getPos(last));
  }

  /** Restores the heap order after `s`'s key changed; inserts `s` if absent. */
  update(s: Slot<ACC>): void {
    const i = this.getPos(s);
    if (i < 0) {
      this.push(s);
      return;
    }
    this.up(i);
    this.down(this.getPos(s));
  }

  private up(i: number): void {
    const items = this.items;
    const x = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const y = items[p]!;
      if (!this.less(x, y)) break;
      items[i] = y;
      this.setPos(y, i);
      i = p;
    }
    items[i] = x;
    this.setPos(x, i);
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const x = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(items[r]!, items[l]!) ? r : l;
      const y = items[c]!;
      if (!this.less(y, x)) break;
      items[i] = y;
      this.setPos(y, i);
      i = c;
    }
    items[i] = x;
    this.setPos(x, i);
  }
}

/** Slots grouped by window end, ends kept sorted; buckets are reused to spare the allocator. */
export class EndBuckets<ACC> {
  private readonly byEnd = new Map<number, Slot<ACC>[]>();
  private readonly ends: number[] = [];
  private readonly pool: Slot<ACC>[][] = [];
  /** The bucket `add` last used, and its end (NaN: none). */
  private lastEnd = Number.NaN;
  private lastBucket: Slot<ACC>[] | null = null;

  /** The smallest end with a bucket; NaN when there is none, so that every `<=` test fails. */
  firstEnd(): number {
    return this.ends.length > 0 ? this.ends[0]! : Number.NaN;
  }

  add(end: number, s: Slot<ACC>): void {
    // New slots nearly always share the end of the previous one (keys move through the same
    // windows): skip the map lookup then.
    if (end === this.lastEnd) {
      this.lastBucket!.push(s);
      return;
    }
    let b = this.byEnd.get(end);
    if (b === undefined) {
      b = this.pool.pop() ?? [];
      this.open(end, b);
    }
    b.push(s);
  }

  /** Adds all of `slots` under `end`, taking ownership of the array. */
  adopt(end: number, slots: Slot<ACC>[]): void {
    const b = this.byEnd.get(end);
    if (b === undefined) {
      this.open(end, slots);
      return;
    }
    for (let i = 0; i < slots.length; i++) b.push(slots[i]!);
    this.recycle(slots);
  }

  /** Removes and returns the bucket of the smallest end; hand it back with `recycle` or `adopt`. */
  take(): Slot<ACC>[] {
    const end = this.ends.shift()!;
    const b = this.byEnd.get(end)!;
    this.byEnd.delete(end);
    if (end === this.lastEnd) this.forgetLast();
    return b;
  }

  recycle(b: Slot<ACC>[]): void {
    b.length = 0;
    if (this.pool.length < 64) this.pool.push(b);
  }

  clear(): void {
    this.byEnd.clear();
    this.ends.length = 0;
    this.forgetLast();
  }

  private forgetLast(): void {
    this.lastEnd = Number.NaN;
    this.lastBucket = null;
  }

  private open(end: number, b: Slot<ACC>[]): void {
    this.byEnd.set(end, b);
    this.lastEnd = end;
    this.lastBucket = b;
    // New ends nearly always come last (event time moves forward): scan from the back.
    const ends = this.ends;
    let i = ends.length;
    while (i > 0 && ends[i - 1]! > end) i--;
    ends.splice(i, 0, end);
  }
}

/** Code-unit order, not locale order: the same on every machine. */
function keyLess(a: string, b: string): boolean {
  return a < b;
}

function fireLess<ACC>(a: Slot<ACC>, b: Slot<ACC>): boolean {
  if (a.fireKey !== b.fireKey) return a.fireKey < b.fireKey;
  const ka = a.ks.key;
  const kb = b.ks.key;
  if (ka !== kb) return keyLess(ka, kb);
  return a.start < b.start;
}

function byKey<ACC>(a: Slot<ACC>, b: Slot<ACC>): number {
  const ka = a.ks.key;
  const kb = b.ks.key;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function byEndThenKey<ACC>(a: Slot<ACC>, b: Slot<ACC>): number {
  if (a.end !== b.end) return a.end - b.end;
  const ka = a.ks.key;
  const kb = b.ks.key;
  return ka < kb ? -1 : ka > kb ? 1 : a.start - b.start;
}

/** Smallest `start + k * every` (k >= 1) strictly after `wm`. */
function nextThreshold(start: number, wm: number, every: number): number {
  const t = start + every;
  if (wm < t) return t;
  return start + (Math.floor((wm - start) / every) + 1) * every;
}

/** [key, start, end, accumulator, records since count firing, fired, open, next early threshold] */
export type SlotSnapshot = [string, number, number, unknown, number, boolean, boolean, number];

/** Checkpoint of a window operator: plain data, structured-cloneable. */
export interface WindowSnapshot {
  version: 1;
  assigner: string;
  watermark: number;
  lateCount: number;
  slots: SlotSnapshot[];
}

/** `windowAggregate`'s options, validated and with defaults applied. */
export interface WindowCoreOptions<T, ACC, OUT> {
  id: string | undefined;
  key: (r: T) => string;
  assigner: WindowAssigner;
  aggregate: AggregateFunction<T, ACC, OUT>;
  allowedLatenessMs: number;
  everyMs: number;
  everyCount: number;
  late: SideOutput<T> | undefined;
  stats: WindowStats | undefined;
}

const EMPTY: never[] = [];

/**
 * The window operator's state and logic for one subscription: `record*` per record (by window
 * kind), `watermark` per watermark, `snapshot`/`restore` for checkpoints. Results go to `out`.
 *
 * @example
 * const core = new WindowCore({ id: 'w', key: (r) => r.k, assigner: tumbling(10), aggregate: count(),
 *   allowedLatenessMs: 0, everyMs: 0, everyCount: 0, late: undefined, stats: undefined });
 * core.out = (e) => results.push(e);
 * core.recordTumbling({ ts: 3, k: 'a' }); core.watermark(9); // results: one final firing
 */
export class WindowCore<T extends Timestamped, ACC, OUT> {
  /** Where results go; set once by the operator. */
  out: (e: Element<WindowResult<OUT>>) => void = () => {};
  wm = Number.NEGATIVE_INFINITY;
  lateCount = 0;

  private readonly id: string | undefined;
  private readonly keyOf: (r: T) => string;
  private readonly agg: AggregateFunction<T, ACC, OUT>;
  private readonly assigner: WindowAssigner;
  private readonly isSession: boolean;
  private readonly size: number;
  private readonly slide: number;
  private readonly gap: number;
  private readonly offset: number;
  private readonly lateness: number;
  private readonly everyMs: number;
  private readonly everyCount: number;
  private readonly lateOut: SideOutput<T> | undefined;
  private readonly stats: WindowStats | undefined;
  private warned = false;
  /**
   * The aligned period (size for tumbling, slide for sliding) last computed from a record:
   * `ts - offset` in [alignLo, alignHi) means the window start is `ts - (ts - offset - alignLo)`,
   * exactly what the `%` formula gives (see `alignedStart`), without its costly float modulo.
   */
  private alignLo = Number.NaN;
  private alignHi = Number.NaN;
  private readonly period: number;
  private readonly exactPeriod: boolean;

  private readonly keys = new Map<string, KeyState<ACC>>();
  /** Key states without slots, kept for reuse by the key's next window until a sweep. */
  private emptyKeys = 0;
  /** Slots created since the last key sweep: sweeps cost O(keys), so they are paid for by creations. */
  private createdSinceSweep = 0;
  private readonly fireBuckets = new EndBuckets<ACC>();
  private readonly purgeBuckets = new EndBuckets<ACC>();
  private readonly fireHeap = new SlotHeap<ACC>(
    fireLess,
    (s) => s.firePos,
    (s, i) => {
      s.firePos = i;
    },
  );
  private readonly purgeHeap = new SlotHeap<ACC>(
    (a, b) => a.purgeAt < b.purgeAt,
    (s) => s.purgePos,
    (s, i) => {
      s.purgePos = i;
    },
  );
  private readonly earlyHeap = new SlotHeap<ACC>(
    (a, b) => a.earlyAt < b.earlyAt,
    (s) => s.earlyPos,
    (s, i) => {
      s.earlyPos = i;
    },
  );
  private readonly due: Slot<ACC>[] = [];

  constructor(o: WindowCoreOptions<T, ACC, OUT>) {
    this.id = o.id;
    this.keyOf = o.key;
    this.agg = o.aggregate;
    this.assigner = o.assigner;
    this.isSession = o.assigner.kind === 'session';
    this.size = o.assigner.sizeMs;
    this.slide = o.assigner.slideMs ?? o.assigner.sizeMs;
    this.gap = o.assigner.gapMs ?? o.assigner.sizeMs;
    this.offset = o.assigner.offsetMs;
    this.period = o.assigner.kind === 'sliding' ? this.slide : this.size;
    this.exactPeriod = Number.isInteger(this.period);
    this.lateness = o.allowedLatenessMs;
    this.everyMs = o.everyMs;
    this.everyCount = o.everyCount;
    this.lateOut = o.late;
    this.stats = o.stats;
  }

  // ---------------------------------------------------------------- records

  /**
   * Start of the aligned window (of length `period`: size, or slide for sliding windows) holding
   * `ts`: `ts - ((ts - offset) mod period)`, the same value as `windowStart`. A float `%` costs
   * tens of ns, so the period of the last record is remembered: within it, `(ts - offset) mod
   * period` is `ts - offset - lo` exactly, where lo = k * period is the period's start (exact
   * when `period` is an integer and lo + period <= 2^53; otherwise nothing is remembered).
   */
  private alignedStart(ts: number): number {
    const u = ts - this.offset;
    const lo = this.alignLo;
    if (u >= lo && u < this.alignHi) return ts - (u - lo);
    return this.alignSlow(ts, u);
  }

  private alignSlow(ts: number, u: number): number {
    const p = this.period;
    const m = u % p;
    if (u >= 0 && this.exactPeriod) {
      const lo = u - m;
      const hi = lo + p;
      if (hi <= 9007199254740992) {
        this.alignLo = lo;
        this.alignHi = hi;
      }
    }
    return ts - (m < 0 ? m + p : m);
  }

  recordTumbling(r: T): void {
    const start = this.alignedStart(r.ts);
    const key = this.keyOf(r);
    const ks = this.keys.get(key);
    if (ks !== undefined) {
      const s = ks.cur;
      // The common case: in-order data for the key's newest window; no allocation, no lookups.
      if (s !== null && s.start === start && s.open) {
        s.acc = this.agg.add(s.acc, r);
        if (this.everyCount > 0 && ++s.n >= this.everyCount) {
          s.n = 0;
          this.emitResult(s, 'early');
        }
        return;
      }
    }
    if (!Number.isFinite(start)) {
      this.lateRecord(r);
      return;
    }
    const end = start + this.size;
    if (end - 1 + this.lateness <= this.wm) {
      this.lateRecord(r);
      return;
    }
    this.addRecord(this.alignedSlot(ks ?? this.newKey(key), start, end), r);
  }

  recordSliding(r: T): void {
    const ts = r.ts;
    const size = this.size;
    const slide = this.slide;
    const lastStart = this.alignedStart(ts);
    if (!Number.isFinite(lastStart)) {
      this.lateRecord(r);
      return;
    }
    const key = this.keyOf(r);
    let ks = this.keys.get(key);
    let k = 0;
    while (lastStart - (k + 1) * slide > ts - size) k++;
    // In-order data: the key's newest slot is this record's newest window, and its other windows
    // are the last k older slots, in order; checked by start before use.
    const c = ks !== undefined ? ks.cur : null;
    const older = c !== null && c.start === lastStart ? ks!.older : null;
    let missed = false;
    // Oldest window first, so that early/late firings caused by one record come out by windowEnd.
    for (let j = k; j >= 0; j--) {
      const start = lastStart - j * slide;
      const end = start + size;
      if (end - 1 + this.lateness <= this.wm) {
        missed = true;
        continue;
      }
      let s: Slot<ACC> | null | undefined = j === 0 ? c : older !== null ? older.fromBack(j) : undefined;
      if (s == null || s.start !== start) {
        if (ks === undefined) ks = this.newKey(key);
        s = this.alignedSlot(ks, start, end);
      }
      this.addRecord(s, r);
    }
    // A record that some of its windows could no longer take is reported, even if others took it.
    if (missed) this.lateRecord(r);
  }

  recordSession(r: T): void {
    const ts = r.ts;
    if (!Number.isFinite(ts)) {
      this.lateRecord(r);
      return;
    }
    const hi = ts + this.gap;
    const key = this.keyOf(r);
    const ks = this.keys.get(key);
    if (ks !== undefined) {
      const ss = ks.sessions!;
      const lastS = ss[ss.length - 1];
      if (lastS !== undefined && lastS.open) {
        if (ts >= lastS.start && ts < lastS.end) {
          // Only the newest session can hold ts: earlier ones end at or before lastS.start.
          if (hi > lastS.end) {
            lastS.end = hi;
            if (this.everyMs > 0 && lastS.earlyPos < 0) this.scheduleEarly(lastS);
          }
          this.addRecord(lastS, r);
          return;
        }
        if (ts >= lastS.end) {
          // After every session; lastS is open so ts > watermark: neither late nor complete.
          const s = this.newSession(ks, ts, hi);
          ss.push(s);
          this.addRecord(s, r);
          return;
        }
      }
    }
    this.sessionSlow(key, ks, r, ts, hi);
  }

  private sessionSlow(key: string, ks: KeyState<ACC> | undefined, r: T, ts: number, hi: number): void {
    const ss: Slot<ACC>[] = ks !== undefined ? ks.sessions! : EMPTY;
    const n = ss.length;
    let i = 0;
    while (i < n && ss[i]!.end <= ts) i++;
    let j = i;
    while (j < n && ss[j]!.start < hi) j++;
    if (i === j) {
      if (hi - 1 + this.lateness <= this.wm) {
        this.lateRecord(r);
        return;
      }
      const owner = ks ?? this.newKey(key);
      const s = this.newSession(owner, ts, hi);
      owner.sessions!.splice(i, 0, s);
      this.addRecord(s, r);
      return;
    }
    // [ts, hi) overlaps sessions i..j-1 (a bridging record joins several): fold them, oldest
    // first, into the oldest one.
    const target = ss[i]!;
    let end = target.end;
    for (let x = i + 1; x < j; x++) {
      const o = ss[x]!;
      target.acc = this.agg.merge(target.acc, o.acc);
      target.n += o.n;
      if (o.fired) target.fired = true;
      if (o.end > end) end = o.end;
      this.detach(o);
    }
    if (j - i > 1) {
      ss.splice(i + 1, j - i - 1);
      ks!.size -= j - i - 1;
    }
    if (ts < target.start) target.start = ts;
    target.end = hi > end ? hi : end;
    this.settleSession(target);
    this.addRecord(target, r);
  }

  private newKey(key: string): KeyState<ACC> {
    const ks = new KeyState<ACC>(key);
    if (this.isSession) ks.sessions = [];
    this.keys.set(key, ks);
    this.emptyKeys++;
    return ks;
  }

  private attach(ks: KeyState<ACC>): void {
    this.createdSinceSweep++;
    if (ks.size++ === 0) {
      this.emptyKeys--;
      ks.idle = false;
    }
  }

  /** The key's slot for an aligned window, created if absent. */
  private alignedSlot(ks: KeyState<ACC>, start: number, end: number): Slot<ACC> {
    const c = ks.cur;
    if (c !== null && c.start === start) return c;
    const found = ks.older?.find(start);
    if (found !== undefined) return found;
    const s = new Slot<ACC>(ks, start, end, this.agg.createAccumulator());
    this.attach(ks);
    this.place(ks, s);
    if (end - 1 <= this.wm) {
      // Behind the watermark but within the allowed lateness: complete from the start.
      this.purgeBuckets.add(end, s);
    } else {
      s.open = true;
      this.fireBuckets.add(end, s);
      if (this.everyMs > 0) this.scheduleEarly(s);
    }
    return s;
  }

  private place(ks: KeyState<ACC>, s: Slot<ACC>): void {
    // Keeps `cur` the slot with the latest start, the others in `older` by start.
    const c = ks.cur;
    if (c === null) {
      ks.cur = s;
    } else if (s.start > c.start) {
      (ks.older ??= new SlotRun<ACC>()).push(c);
      ks.cur = s;
    } else {
      (ks.older ??= new SlotRun<ACC>()).insert(s);
    }
  }

  private newSession(ks: KeyState<ACC>, start: number, end: number): Slot<ACC> {
    const s = new Slot<ACC>(ks, start, end, this.agg.createAccumulator());
    this.attach(ks);
    this.settleSession(s);
    return s;
  }

  private addRecord(s: Slot<ACC>, r: T): void {
    s.acc = this.agg.add(s.acc, r);
    if (s.open) {
      if (this.everyCount > 0 && ++s.n >= this.everyCount) {
        s.n = 0;
        this.emitResult(s, 'early');
      }
    } else {
      // Complete but within the allowed lateness: the update goes out at once.
      s.fired = true;
      this.emitResult(s, 'late');
    }
  }

  /** Puts session `s` in the right heaps for its current start, end and the watermark. */
  private settleSession(s: Slot<ACC>): void {
    if (s.end - 1 <= this.wm) {
      if (s.firePos >= 0) this.fireHeap.remove(s);
      s.open = false;
      s.fireKey = Number.NaN;
      if (s.earlyPos >= 0) this.earlyHeap.remove(s);
      s.earlyAt = Number.NaN;
      s.purgeAt = s.end - 1 + this.lateness;
      this.purgeHeap.update(s);
    } else {
      if (s.purgePos >= 0) this.purgeHeap.remove(s);
      s.purgeAt = Number.NaN;
      if (!s.open) {
        s.open = true;
        s.fireKey = s.end - 1;
        this.fireHeap.push(s);
      }
      if (this.everyMs > 0) this.scheduleEarly(s);
    }
  }

  private scheduleEarly(s: Slot<ACC>): void {
    const next = nextThreshold(s.start, this.wm, this.everyMs);
    if (next < s.end - 1) {
      if (s.earlyAt !== next || s.earlyPos < 0) {
        s.earlyAt = next;
        this.earlyHeap.update(s);
      }
    } else if (s.earlyPos >= 0) {
      this.earlyHeap.remove(s);
      s.earlyAt = Number.NaN;
    }
  }

  /** Takes `s` out of every heap; the caller unlinks it from its key and from any bucket. */
  private detach(s: Slot<ACC>): void {
    if (s.firePos >= 0) this.fireHeap.remove(s);
    if (s.purgePos >= 0) this.purgeHeap.remove(s);
    if (s.earlyPos >= 0) this.earlyHeap.remove(s);
  }

  private purge(s: Slot<ACC>): void {
    this.detach(s);
    const ks = s.ks;
    if (ks.sessions !== null) {
      const i = ks.sessions.indexOf(s);
      if (i >= 0) ks.sessions.splice(i, 1);
    } else if (ks.cur === s) {
      ks.cur = ks.older?.pop() ?? null;
    } else {
      ks.older?.remove(s);
    }
    if (--ks.size === 0) this.emptyKeys++;
  }

  /**
   * Drops key states that have had no window for a whole sweep interval: keys may be unbounded
   * (order ids), while a key that is only quiet between windows should keep its state object.
   */
  private sweepKeys(): void {
    for (const [key, ks] of this.keys) {
      if (ks.size !== 0) continue;
      if (ks.idle) {
        this.keys.delete(key);
        this.emptyKeys--;
      } else {
        ks.idle = true;
      }
    }
    this.createdSinceSweep = 0;
  }

  private lateRecord(r: T): void {
    this.lateCount++;
    if (this.stats !== undefined) this.stats.late++;
    if (this.lateOut !== undefined) {
      this.lateOut.emit(r);
    } else if (this.stats === undefined && !this.warned) {
      // Nobody asked to see late records: say so once rather than drop them silently.
      this.warned = true;
      process.emitWarning(
        `window operator${this.id ? ` '${this.id}'` : ''} received records too late for their windows and has ` +
          `no 'late' side output or 'stats' to report them; they are counted in its checkpoint (lateCount)`,
        { code: 'RISKFLOW_LATE_RECORDS' },
      );
    }
  }

  private emitResult(s: Slot<ACC>, firing: Firing): void {
    this.out({
      key: s.ks.key,
      windowStart: s.start,
      windowEnd: s.end,
      ts: s.end - 1,
      result: this.agg.getResult(s.acc),
      firing,
    });
  }

  /** The final firing of an open slot; returns whether its state must go now. */
  private fireFinal(s: Slot<ACC>, w: number): boolean {
    s.open = false;
    s.fireKey = Number.NaN;
    if (s.earlyPos >= 0) this.earlyHeap.remove(s);
    s.earlyAt = Number.NaN;
    s.n = 0;
    this.emitResult(s, s.fired ? 'late' : 'final');
    s.fired = true;
    return s.end - 1 + this.lateness <= w;
  }

  // ---------------------------------------------------------------- watermarks

  /**
   * Fires what watermark `w` closes: final firings by (windowEnd, key), then purges, then early
   * firings by (windowEnd, key). Returns false, and does nothing, when `w` does not advance.
   */
  watermark(w: number): boolean {
    if (!(w > this.wm)) return false;
    this.wm = w;
    if (this.isSession) this.closeSessions(w);
    else this.closeAligned(w);
    if (this.earlyHeap.size > 0) this.fireEarly(w);
    const nk = this.keys.size;
    if (this.emptyKeys > 1024 && this.emptyKeys * 2 > nk && this.createdSinceSweep >= nk) this.sweepKeys();
    return true;
  }

  private closeAligned(w: number): void {
    const fb = this.fireBuckets;
    const pb = this.purgeBuckets;
    const lateness = this.lateness;
    while (fb.firstEnd() - 1 <= w) {
      const end = fb.firstEnd();
      const b = fb.take();
      if (b.length > 1) b.sort(byKey);
      for (let i = 0; i < b.length; i++) this.fireFinal(b[i]!, w);
      if (end - 1 + lateness <= w) {
        for (let i = 0; i < b.length; i++) this.purge(b[i]!);
        fb.recycle(b);
      } else {
        pb.adopt(end, b);
      }
    }
    while (pb.firstEnd() - 1 + lateness <= w) {
      const b = pb.take();
      for (let i = 0; i < b.length; i++) this.purge(b[i]!);
      pb.recycle(b);
    }
  }

  private closeSessions(w: number): void {
    const fh = this.fireHeap;
    for (let s = fh.peek(); s !== undefined && s.fireKey <= w; s = fh.peek()) {
      if (s.fireKey !== s.end - 1) {
        // A session that grew since it was queued: requeue at its real end, keeping the order exact.
        s.fireKey = s.end - 1;
        fh.update(s);
        continue;
      }
      fh.pop();
      if (this.fireFinal(s, w)) {
        this.purge(s);
      } else {
        s.purgeAt = s.end - 1 + this.lateness;
        this.purgeHeap.push(s);
      }
    }
    const ph = this.purgeHeap;
    for (let s = ph.peek(); s !== undefined && s.purgeAt <= w; s = ph.peek()) this.purge(s);
  }

  private fireEarly(w: number): void {
    const eh = this.earlyHeap;
    const due = this.due;
    const every = this.everyMs;
    // Every slot still here is open with end - 1 > w: final firings took theirs out.
    for (let s = eh.peek(); s !== undefined && s.earlyAt <= w; s = eh.peek()) {
      const next = nextThreshold(s.start, w, every);
      if (next < s.end - 1) {
        s.earlyAt = next;
        eh.update(s);
      } else {
        eh.pop();
        s.earlyAt = Number.NaN;
      }
      due.push(s);
    }
    if (due.length > 1) due.sort(byEndThenKey);
    for (let i = 0; i < due.length; i++) this.emitResult(due[i]!, 'early');
    due.length = 0;
  }

  // ---------------------------------------------------------------- checkpoints

  snapshot(): WindowSnapshot {
    const slots: SlotSnapshot[] = [];
    const add = (s: Slot<ACC>): void => {
      slots.push([s.ks.key, s.start, s.end, s.acc, s.n, s.fired, s.open, s.open ? s.earlyAt : Number.NaN]);
    };
    for (const ks of this.keys.values()) {
      if (ks.sessions !== null) for (const s of ks.sessions) add(s);
      if (ks.older !== null) for (const s of ks.older.toArray()) add(s);
      if (ks.cur !== null) add(ks.cur);
    }
    // Accumulators are mutated in place after this returns: hand out a copy.
    return structuredClone({
      version: 1,
      assigner: this.assigner.describe(),
      watermark: this.wm,
      lateCount: this.lateCount,
      slots,
    });
  }

  restore(state: unknown): void {
    const st = state as Partial<WindowSnapshot> | null;
    if (st === null || typeof st !== 'object' || st.version !== 1 || !Array.isArray(st.slots)) {
      throw new CheckpointError('not a window operator checkpoint (version 1)', { step: this.id });
    }
    const here = this.assigner.describe();
    if (st.assigner !== here) {
      throw new CheckpointError(`checkpoint was taken with windows ${st.assigner}, the operator now uses ${here}`, {
        step: this.id,
      });
    }
    // The same checkpoint may be restored more than once (tests, retries): never share its objects.
    const copy = structuredClone(st as WindowSnapshot);
    this.keys.clear();
    this.emptyKeys = 0;
    this.fireBuckets.clear();
    this.purgeBuckets.clear();
    this.fireHeap.clear();
    this.purgeHeap.clear();
    this.earlyHeap.clear();
    this.wm = copy.watermark;
    this.lateCount = copy.lateCount;
    if (this.stats !== undefined) this.stats.late += copy.lateCount;
    for (const [key, start, end, acc, n, fired, open, earlyAt] of copy.slots) {
      const ks = this.keys.get(key) ?? this.newKey(key);
      const s = new Slot<ACC>(ks, start, end, acc as ACC);
      s.n = n;
      s.fired = fired;
      s.open = open;
      this.attach(ks);
      if (ks.sessions !== null) {
        ks.sessions.push(s);
        if (open) {
          s.fireKey = end - 1;
          this.fireHeap.push(s);
        } else {
          s.purgeAt = end - 1 + this.lateness;
          this.purgeHeap.push(s);
        }
      } else {
        this.place(ks, s);
        if (open) this.fireBuckets.add(end, s);
        else this.purgeBuckets.add(end, s);
      }
      if (open && Number.isFinite(earlyAt)) {
        s.earlyAt = earlyAt;
        this.earlyHeap.push(s);
      }
    }
    for (const ks of this.keys.values()) ks.sessions?.sort((a, b) => a.start - b.start);
  }
}
