import { grown } from '../core/typed-arrays.js';
/**
 * Shared pieces of the market-risk calculators (flash crash, ultrafast extreme events, LULD,
 * market-wide halts, liquidity, correlation) and the `market` snapshot table. Pure domain code:
 * the calculators take records already in event-time order (the `marketEvents` step in
 * src/topology/steps/market-risk.ts orders them) and report alerts to a callback.
 */
import type { AlertInput, Severity } from '../core/alerts.js';
import type { ReferenceData } from '../core/reference.js';
import { SnapshotColumns } from '../core/snapshot-rows.js';

/**
 * The fields of a quote the calculators read (CONTRACTS.md section 1); input records have more.
 *
 * @example const q: MarketQuote = { ts: 1_710_511_200_000, instrument: 'ACME', bid: 99.99, ask: 100.01, bidSize: 500, askSize: 700 };
 */
export interface MarketQuote {
  ts: number;
  instrument: string;
  bid: number;
  ask: number;
  bidSize: number;
  askSize: number;
}

/**
 * The fields of a trade the calculators read (CONTRACTS.md section 1); input records have more.
 *
 * @example const t: MarketTrade = { ts: 1_710_511_200_000, instrument: 'ACME', price: 100, qty: 300 };
 */
export interface MarketTrade {
  ts: number;
  instrument: string;
  price: number;
  qty?: number;
}

/**
 * An alert as a calculator reports it: everything of CONTRACTS.md section 3 except the topic,
 * rule and topology, which the step that runs the calculator adds (with the id and emittedAt).
 *
 * @example
 * const seen: MarketAlert[] = [];
 * new FlashCrashDetector(FLASH_CRASH_DEFAULTS, (a) => seen.push(a));
 */
export type MarketAlert = Omit<AlertInput, 'topic' | 'rule' | 'topology'>;

/**
 * Where calculators report alerts (synchronously, in the order they arise).
 *
 * @example const sink: AlertSink = (a) => console.log(a.message);
 */
export type AlertSink = (a: MarketAlert) => void;

/**
 * What a calculator that acts on the passage of event time (windows, grids, timers, sliding
 * evictions) implements, so that a step can drive it in event-time order:
 * `advance(ts)` before applying a record with that ts, `settle(t)` once every record with
 * ts <= t has been applied. Things due "at the start of instant t" (a bar closing at t reads the
 * latest mid with ts < t) fire in `advance(t)`; things due "at the end of instant t" (a timer, a
 * snapshot as of t) fire in `settle(t)` or in the `advance` of a later record.
 *
 * @example
 * calc.advance(q.ts); calc.onQuote(q); // for each record in event-time order
 * calc.settle(watermark);
 */
export interface EventTimeDriven {
  advance(ts: number): void;
  settle(t: number): void;
  /** End of input: close what is still open (windows); timers past the last record do not fire. */
  finish?(): void;
  snapshot(): unknown;
  restore(s: unknown): void;
}

/**
 * The mid of a quote, (bid + ask) / 2: the mark price of CONTRACTS.md 4.
 *
 * @example midOf(99.99, 100.01) // 100
 */
export function midOf(bid: number, ask: number): number {
  return (bid + ask) / 2;
}

/**
 * A fraction as a percentage for risk-desk messages: one decimal, trailing ".0" dropped.
 *
 * @example pctText(0.072) // "7.2%"; pctText(0.05) // "5%"
 */
export function pctText(x: number, digits = 1): string {
  return `${trimZeros((x * 100).toFixed(digits))}%`;
}

/**
 * A number for a message: fixed decimals, trailing zeros dropped.
 *
 * @example numText(0.9, 2) // "0.9"; numText(142.5, 2) // "142.5"
 */
export function numText(x: number, digits = 2): string {
  return trimZeros(x.toFixed(digits));
}

/**
 * A duration for a message: "850ms" under a second, "1.4s" under ten, whole seconds from there.
 *
 * @example durationText(38_400) // "38s"; durationText(1500) // "1.5s"
 */
export function durationText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 9950) return `${trimZeros((ms / 1000).toFixed(1))}s`;
  return `${Math.round(ms / 1000)}s`;
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/**
 * Builds a market alert whose entity is an instrument (CONTRACTS.md section 3), with the window
 * bounds when given.
 *
 * @example instrumentAlert('FLASH_CRASH', 'critical', 'ACME', t, 0.072, 0.05, 'ACME fell 7.2% in 38s (limit 5%)', {})
 */
export function instrumentAlert(
  type: string,
  severity: Severity,
  instrument: string,
  eventTime: number,
  value: number,
  threshold: number,
  message: string,
  details: Record<string, unknown>,
  window?: { start: number; end: number },
): MarketAlert {
  const a: MarketAlert = { type, severity, entity: { instrument }, eventTime, value, threshold, message, details };
  if (window) {
    a.windowStart = window.start;
    a.windowEnd = window.end;
  }
  return a;
}

// ------------------------------------------------------------------------- instrument lookups

/** Process-wide instrument ids (see {@link instrumentId}). */
const instrumentIds = new Map<string, number>();
/** Sets of the two-way cache in front of {@link instrumentIds} (a power of two: 2^ID_SET_BITS). */
const ID_SET_BITS = 10;
/** The name cached in each slot (undefined: none) and its id; set s has slots 2s and 2s + 1. */
const cachedNames = new Array<string | undefined>(2 << ID_SET_BITS).fill(undefined);
const cachedIds = new Int32Array(2 << ID_SET_BITS);

/**
 * The first slot of a name's cache set: its length and three of its characters, mixed by a
 * multiplicative hash. Instrument names are short codes; names sharing the characters read (two
 * of the bench day's 200 do) or a set cost a Map lookup only when three or more of them alternate.
 */
function idSlot(name: string): number {
  const n = name.length;
  if (n === 0) return 0;
  const x = ((n * 31 + name.charCodeAt(0)) * 31 + name.charCodeAt(n >> 1)) * 31 + name.charCodeAt(n - 1);
  return (Math.imul(x, 0x9e3779b1) >>> (32 - ID_SET_BITS)) << 1;
}

/**
 * A small integer id of an instrument name, the same for every calculator in the process. The
 * market-risk rule tape looks up the instrument of each record once, for every calculator, and
 * the calculators index plain arrays by the id ({@link InstrumentSlots}) instead of each probing
 * its own Map. Records come in no particular instrument order, so the lookup goes through a
 * two-way cache keyed by a few characters of the name (a string compare, which for the
 * interned names of decoded records is a pointer compare) before the Map (hashing and probing).
 * Ids are never observable: each calculator keeps its own order of instruments.
 *
 * @example instrumentId('ACME') === instrumentId('ACME'); // true
 */
export function instrumentId(name: string): number {
  // A name that is not a string (a record a mapping step broke) takes the Map alone, as before.
  const slot = typeof name === 'string' ? idSlot(name) : -1;
  if (slot >= 0) {
    if (cachedNames[slot] === name) return cachedIds[slot]!;
    if (cachedNames[slot + 1] === name) return cachedIds[slot + 1]!;
  }
  let id = instrumentIds.get(name);
  if (id === undefined) {
    id = instrumentIds.size;
    instrumentIds.set(name, id);
  }
  if (slot >= 0) {
    // The newest name in the set's first slot, the one it displaces in the second.
    cachedNames[slot + 1] = cachedNames[slot];
    cachedIds[slot + 1] = cachedIds[slot]!;
    cachedNames[slot] = name;
    cachedIds[slot] = id;
  }
  return id;
}

/**
 * A calculator's per-instrument values by {@link instrumentId}: an array read per record rather
 * than a Map lookup. Insertion order is not kept (calculators that need it keep their own list).
 *
 * @example
 * const slots = new InstrumentSlots<number>(); slots.set('ACME', 0); slots.get('ACME'); // 0
 */
export class InstrumentSlots<T> {
  private byId: Array<T | undefined> = [];

  get(name: string): T | undefined {
    const id = instrumentId(name);
    return id < this.byId.length ? this.byId[id] : undefined;
  }

  /** The value of the instrument whose {@link instrumentId} is `id`. */
  at(id: number): T | undefined {
    return id < this.byId.length ? this.byId[id] : undefined;
  }

  set(name: string, v: T): void {
    const id = instrumentId(name);
    const a = this.byId;
    while (a.length < id) a.push(undefined);
    a[id] = v;
  }
}

// ---------------------------------------------------------------------------------- market state

/**
 * Parameters of {@link MarketStateTracker}.
 *
 * @example const p: MarketStateParams = { returnWindowMs: 60_000 };
 */
export interface MarketStateParams {
  /** Look-back of `ret_60s` (default 60 s). */
  returnWindowMs: number;
}

/**
 * What the market table reads from a LULD calculator run on the same records (a `LuldMonitor`
 * from luld.ts): it is driven through the tracker and asked for an instrument's bands.
 *
 * @example new MarketStateTracker(p, ref, new LuldMonitor(LULD_DEFAULTS, ref, () => undefined))
 */
export interface LuldView extends EventTimeDriven {
  /** `advance(r.ts)`, when the view offers it (see LuldMonitor.advanceTo). */
  advanceTo?(r: { ts: number }): void;
  /** `id`: the instrument's {@link instrumentId}, when the caller has it. */
  onQuote(q: MarketQuote, id?: number): void;
  onTrade(t: MarketTrade, id?: number): void;
  bands(instrument: string): { lower: number; upper: number; state: string } | undefined;
  /**
   * `bands` written to `lower[i]` and `upper[i]`, returning the state (undefined: no bands), when
   * the view offers it (see LuldMonitor.bandsInto): no object per instrument and snapshot.
   */
  bandsInto?(instrument: string, lower: Float64Array, upper: Float64Array, i: number): string | undefined;
}

/**
 * One row of the `market` snapshot table (CONTRACTS.md section 5), null where there is no value
 * (no quote yet, no LULD bands). A type alias rather than an interface so that rows are plain
 * `Record<string, unknown>` for the snapshot sink.
 *
 * @example { instrument: 'ACME', mark_price: 131.2, spread_bps: 31, depth: 243_000, ret_60s: -0.06, luld_lower: 134.6, luld_upper: 148.8, luld_state: 'paused' }
 */
export type MarketRow = {
  instrument: string;
  mark_price: number | null;
  spread_bps: number | null;
  depth: number | null;
  ret_60s: number | null;
  luld_lower: number | null;
  luld_upper: number | null;
  luld_state: string | null;
};

/**
 * The (ts, instrument, mark) changes of every instrument's mark over the last return window (and
 * some before it), in time order, in one ring buffer (a typed array of triples): one sequential
 * write per change, rather than a history object per instrument touched at random. A change older
 * than the window before the newest record may be folded into its instrument's base (the mark in
 * effect from then on): every later question is about a time at or after the window's start, so
 * it answers the same. They are folded when the ring is full, a few thousand in one pass, rather
 * than one at each change (reading back a change a window old, out of the caches by then).
 */
class MarkChanges {
  private buf = new Float64Array(3 * 8192);
  private mask = 8191;
  private head = 0;
  length = 0;

  ts(j: number): number {
    return this.buf[((this.head + j) & this.mask) * 3] as number;
  }

  inst(j: number): number {
    return (this.buf[((this.head + j) & this.mask) * 3 + 1] as number) | 0;
  }

  mark(j: number): number {
    return this.buf[((this.head + j) & this.mask) * 3 + 2] as number;
  }

  push(ts: number, k: number, mark: number): void {
    if (this.length > this.mask) this.grow();
    const i = ((this.head + this.length) & this.mask) * 3;
    const b = this.buf;
    b[i] = ts;
    b[i + 1] = k;
    b[i + 2] = mark;
    this.length++;
  }

  /**
   * A change of instrument k at the record's ts to the mark at `num[k * NUM + MARK_AT]`; when the
   * ring is full, the changes with ts <= ts - window are folded into the base first. Callers pass
   * only values they hold (a double computed by the caller and passed to a call that is not
   * inlined is a new heap number).
   */
  change(r: { ts: number }, window: number, k: number, num: Float64Array): void {
    const ts = r.ts;
    if (this.length > this.mask) this.foldUpTo(ts - window, num, NUM, BASE_AT);
    this.push(ts, k, num[k * NUM + MARK_AT] as number);
  }

  /** Folds the changes with ts <= cutoff into the base (instrument k's number at k * stride + at). */
  foldUpTo(cutoff: number, base: Float64Array, stride: number, at: number): void {
    const b = this.buf;
    const mask = this.mask;
    let h = this.head;
    let n = this.length;
    while (n > 0 && (b[h * 3] as number) <= cutoff) {
      base[((b[h * 3 + 1] as number) | 0) * stride + at] = b[h * 3 + 2] as number;
      h = (h + 1) & mask;
      n--;
    }
    this.head = h;
    this.length = n;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const b = new Float64Array(cap * 3);
    for (let j = 0; j < this.length; j++) {
      b[j * 3] = this.ts(j);
      b[j * 3 + 1] = this.inst(j);
      b[j * 3 + 2] = this.mark(j);
    }
    this.buf = b;
    this.mask = cap - 1;
    this.head = 0;
  }
}

/**
 * An instrument's numbers in the tracker's `num` array: k * NUM + offset (all a record reads or
 * writes of its instrument: one cache line, no object of its own).
 */
const NUM = 8;
const MARK_AT = 0;
const SPREAD_AT = 1;
const DEPTH_AT = 2;
/** The mark in effect at the start of the kept changes (NaN: none). */
const BASE_AT = 3;
/** The mark's source: 0 prevClose or none, 1 a trade, 2 a quote (a quote's mid always wins, CONTRACTS.md 4). */
const SOURCE_AT = 4;

/**
 * Checkpoint form of a {@link MarketStateTracker} (structured-cloneable).
 *
 * @example tracker.restore(structuredClone(tracker.snapshot()))
 */
export interface MarketStateSnapshot {
  marks: Array<[string, { mark: number; source: number; spreadBps: number; depth: number; histTs: number[]; histMark: number[] }]>;
  luld: unknown;
}

/**
 * The `market` snapshot table (CONTRACTS.md section 5): per instrument its mark (CONTRACTS.md 4,
 * Mark price: mid of the latest quote, else the latest trade price, else prevClose), the quoted
 * spread in bps and depth at touch of its latest quote, `ret_60s` = mark / mark 60 s earlier - 1,
 * and its LULD bands and state (from a {@link LuldView} run on the same records, whose alerts the
 * caller discards; without one those columns are null). Rows cover the reference instruments plus
 * any seen, in instrument order.
 *
 * @example
 * const m = new MarketStateTracker({ returnWindowMs: 60_000 }, reference, new LuldMonitor(LULD_DEFAULTS, reference, () => undefined));
 * m.advance(q.ts); m.onQuote(q); m.settle(t); m.rows(t);
 */
export class MarketStateTracker implements EventTimeDriven {
  private readonly p: MarketStateParams;
  private readonly ref: ReferenceData;
  /** Each instrument's index k in `num`, by name. */
  private marks = new Map<string, number>();
  /** The same states by instrument id (the per-record lookup). */
  private slots = new InstrumentSlots<number>();
  private readonly luld: LuldView | undefined;
  private sorted: string[] | undefined;
  /**
   * Mark, spread (bps), depth, base mark and source of instrument k at k * NUM: they change at every
   * quote, and a double stored in an object field is a new heap number each time.
   */
  private num = new Float64Array(256 * NUM);
  /** The mark changes of the last return window (ret_60s). */
  private changes = new MarkChanges();

  constructor(p: MarketStateParams, ref: ReferenceData, luld?: LuldView) {
    this.p = p;
    this.ref = ref;
    this.luld = luld;
    for (const ins of ref.instruments.values()) this.stateOf(ins.instrument);
  }

  advance(ts: number): void {
    this.luld?.advance(ts);
  }

  /**
   * `advance(r.ts)`, reading the time from the record: a double read from a record and passed to a
   * call that is not inlined is a new heap number, and this runs at every record.
   */
  advanceTo(r: { ts: number }): void {
    if (this.luld?.advanceTo) this.luld.advanceTo(r);
    else this.luld?.advance(r.ts);
  }

  settle(t: number): void {
    this.luld?.settle(t);
  }

  /** `id`: the instrument's {@link instrumentId}, when the caller has it (one lookup per record for every calculator). */
  onQuote(q: MarketQuote, id = instrumentId(q.instrument)): void {
    const k = this.slots.at(id) ?? this.stateOf(q.instrument);
    // midOf and setMark, inline: a double passed to or returned by a call that is not inlined is
    // a heap number.
    const mid = (q.bid + q.ask) / 2;
    const num = this.num;
    num[k * NUM + SPREAD_AT] = ((q.ask - q.bid) / mid) * 1e4;
    num[k * NUM + DEPTH_AT] = q.bid * q.bidSize + q.ask * q.askSize;
    num[k * NUM + SOURCE_AT] = 2;
    num[k * NUM + MARK_AT] = mid;
    this.changes.change(q, this.p.returnWindowMs, k, num);
    this.luld?.onQuote(q, id);
  }

  onTrade(t: MarketTrade, id = instrumentId(t.instrument)): void {
    const k = this.slots.at(id) ?? this.stateOf(t.instrument);
    const num = this.num;
    if ((num[k * NUM + SOURCE_AT] as number) < 2) {
      num[k * NUM + SOURCE_AT] = 1;
      num[k * NUM + MARK_AT] = t.price;
      this.changes.change(t, this.p.returnWindowMs, k, num);
    }
    this.luld?.onTrade(t, id);
  }

  /** The table's rows as of `t` (every record with ts <= t applied, none after). */
  rows(t: number): MarketRow[] {
    this.sorted ??= [...this.marks.keys()].sort();
    const out: MarketRow[] = [];
    const w = this.p.returnWindowMs;
    const num = this.num;
    const past = this.marksAt(t - w);
    for (const name of this.sorted) {
      const k = this.marks.get(name)!;
      const bands = this.luld?.bands(name);
      const pastMark = past[k] as number;
      const mark = num[k * NUM + MARK_AT] as number;
      const spreadBps = num[k * NUM + SPREAD_AT] as number;
      const depth = num[k * NUM + DEPTH_AT] as number;
      out.push({
        instrument: name,
        mark_price: Number.isNaN(mark) ? null : mark,
        spread_bps: Number.isNaN(spreadBps) ? null : spreadBps,
        depth: Number.isNaN(depth) ? null : depth,
        // CONTRACTS.md 5, market.ret_60s: mark / mark 60 s ago - 1.
        ret_60s: Number.isNaN(pastMark) || Number.isNaN(mark) ? null : mark / pastMark - 1,
        luld_lower: bands ? bands.lower : null,
        luld_upper: bands ? bands.upper : null,
        luld_state: bands ? bands.state : null,
      });
    }
    return out;
  }

  /**
   * {@link rows} as columns, the same cells (a null where a row has null), without an object per
   * row: a column with no null is the Float64Array of its numbers, and the instrument column is
   * the sorted names, shared by the snapshots until an instrument is added.
   */
  columns(t: number): SnapshotColumns {
    this.sorted ??= [...this.marks.keys()].sort();
    const names = this.sorted;
    const n = names.length;
    const num = this.num;
    const past = this.marksAt(t - this.p.returnWindowMs);
    const luld = this.luld;
    const mark = new Float64Array(n);
    const spread = new Float64Array(n);
    const depth = new Float64Array(n);
    const ret = new Float64Array(n);
    const lower = new Float64Array(n);
    const upper = new Float64Array(n);
    const state = new Array<string | null>(n);
    // Null cells of the return (0) and LULD (1) columns (a NaN return of two marks is a number, not a null: nulls are marked).
    const nulls = new Uint8Array(n * 2);
    let anyNull = 0;
    for (let i = 0; i < n; i++) {
      const name = names[i]!;
      const k = this.marks.get(name)!;
      const m = num[k * NUM + MARK_AT] as number;
      const pastMark = past[k] as number;
      mark[i] = m;
      spread[i] = num[k * NUM + SPREAD_AT] as number;
      depth[i] = num[k * NUM + DEPTH_AT] as number;
      // CONTRACTS.md 5, market.ret_60s: mark / mark 60 s ago - 1.
      const noRet = Number.isNaN(pastMark) || Number.isNaN(m);
      ret[i] = noRet ? Number.NaN : m / pastMark - 1;
      if (noRet) {
        nulls[i * 2] = 1;
        anyNull |= 1;
      }
      let st: string | undefined;
      if (luld === undefined) st = undefined;
      else if (luld.bandsInto) st = luld.bandsInto(name, lower, upper, i);
      else {
        const b = luld.bands(name);
        if (b) {
          lower[i] = b.lower;
          upper[i] = b.upper;
          st = b.state;
        }
      }
      if (st === undefined) {
        nulls[i * 2 + 1] = 1;
        anyNull |= 2;
      }
      state[i] = st ?? null;
    }
    const orNull = (x: Float64Array): ArrayLike<number | null> => (x.some(Number.isNaN) ? Array.from(x, (v) => (Number.isNaN(v) ? null : v)) : x);
    const marked = (x: Float64Array, at: number, bit: number): ArrayLike<number | null> => ((anyNull & bit) === 0 ? x : Array.from(x, (v, i) => (nulls[i * 2 + at] === 1 ? null : v)));
    return new SnapshotColumns(n, {
      instrument: names,
      mark_price: orNull(mark),
      spread_bps: orNull(spread),
      depth: orNull(depth),
      ret_60s: marked(ret, 0, 1),
      luld_lower: marked(lower, 1, 2),
      luld_upper: marked(upper, 1, 2),
      luld_state: state,
    });
  }

  snapshot(): MarketStateSnapshot {
    const marks: MarketStateSnapshot['marks'] = [];
    const num = this.num;
    // Each instrument's history: its base (as of -Infinity) then its kept changes.
    const hist = [...this.marks.values()].map((k) => {
      const base = num[k * NUM + BASE_AT] as number;
      return Number.isNaN(base) ? { ts: [] as number[], mark: [] as number[] } : { ts: [Number.NEGATIVE_INFINITY], mark: [base] };
    });
    const ch = this.changes;
    for (let j = 0; j < ch.length; j++) {
      const h = hist[ch.inst(j)]!;
      h.ts.push(ch.ts(j));
      h.mark.push(ch.mark(j));
    }
    for (const [name, k] of this.marks) {
      const h = hist[k]!;
      marks.push([name, { mark: num[k * NUM + MARK_AT] as number, source: num[k * NUM + SOURCE_AT] as number, spreadBps: num[k * NUM + SPREAD_AT] as number, depth: num[k * NUM + DEPTH_AT] as number, histTs: h.ts, histMark: h.mark }]);
    }
    return { marks, luld: this.luld?.snapshot() };
  }

  restore(st: unknown): void {
    const s = st as MarketStateSnapshot;
    this.num = new Float64Array(Math.max(256, s.marks.length) * NUM);
    this.changes = new MarkChanges();
    const all: Array<[number, number, number]> = [];
    this.marks = new Map(
      s.marks.map(([k, v], i) => {
        this.num[i * NUM + MARK_AT] = v.mark;
        this.num[i * NUM + SPREAD_AT] = v.spreadBps;
        this.num[i * NUM + DEPTH_AT] = v.depth;
        this.num[i * NUM + BASE_AT] = Number.NaN;
        this.num[i * NUM + SOURCE_AT] = v.source;
        v.histTs.forEach((t, j) => {
          if (t === Number.NEGATIVE_INFINITY) this.num[i * NUM + BASE_AT] = v.histMark[j] as number;
          else all.push([t, i, v.histMark[j] as number]);
        });
        return [k, i];
      }),
    );
    // Back in time order (a stable sort keeps each instrument's changes in their order).
    all.sort((a, b) => a[0] - b[0]);
    for (const [t, i, m] of all) this.changes.push(t, i, m);
    this.slots = new InstrumentSlots<number>();
    for (const [k, v] of this.marks) this.slots.set(k, v);
    this.sorted = undefined;
    if (this.luld && s.luld) this.luld.restore(s.luld);
  }

  /** Instrument `name`'s index k in `num`, added (with its prevClose as the mark) when new. */
  private stateOf(name: string): number {
    let k = this.slots.get(name);
    if (k === undefined) {
      const prev = this.ref.instruments.get(name)?.prevClose;
      const mark = prev !== undefined && prev > 0 ? prev : Number.NaN;
      k = this.marks.size;
      if ((k + 1) * NUM > this.num.length) this.num = grown(this.num, (k + 1) * NUM);
      this.num[k * NUM + MARK_AT] = mark;
      this.num[k * NUM + SPREAD_AT] = Number.NaN;
      this.num[k * NUM + DEPTH_AT] = Number.NaN;
      // The prevClose is in effect since -Infinity (NaN: no mark before the first record).
      this.num[k * NUM + BASE_AT] = mark;
      this.num[k * NUM + SOURCE_AT] = 0;
      this.marks.set(name, k);
      this.slots.set(name, k);
      this.sorted = undefined;
    }
    return k;
  }

  /** Every instrument's mark in effect at `t`, by index (NaN when none), from the kept changes. */
  private marksAt(t: number): Float64Array {
    const n = this.marks.size;
    const out = new Float64Array(n);
    const num = this.num;
    for (let k = 0; k < n; k++) out[k] = num[k * NUM + BASE_AT] as number;
    const ch = this.changes;
    for (let j = 0; j < ch.length; j++) {
      if (ch.ts(j) > t) break;
      out[ch.inst(j)] = ch.mark(j);
    }
    return out;
  }
}
