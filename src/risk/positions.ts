/**
 * Positions, marks and per-trader P&L / exposure (CONTRACTS.md 4, "Mark price" and "Positions"),
 * kept incrementally: a quote re-values only the positions open in its instrument, and every
 * per-trader aggregate is a running sum updated by differences, so an event costs O(holders of
 * its instrument), never a scan of all traders or all positions.
 *
 * Layout: the numbers of every position and trader live in flat typed arrays of the book: one
 * 64-byte record per position (`PositionBook.pf`) holding everything a mark move reads and
 * writes, and one record per trader (`tf`) whose first slots are the book's and the rest its
 * consumer's (desk.ts keeps its per-trader limit and VaR numbers there). Position and TraderBook
 * are views with getters. A quote re-values a dozen holders; each costs about three cache lines
 * (its record and its trader's) where objects would spread every double over its own heap box
 * (V8 boxes double-valued fields) and the hot loop would wait on memory.
 *
 * Pure domain code, no RxJS: records must be applied in event-time order (the desk-risk operator
 * buffers and orders them).
 */
import { grown } from '../core/typed-arrays.js';
import type { WasmMemory } from './wasm.js';

/**
 * A trade's side, from the trader's point of view (CONTRACTS.md 1).
 *
 * @example
 * const side: Side = trade.side === 'BUY' ? 'BUY' : 'SELL';
 */
export type Side = 'BUY' | 'SELL';

/**
 * Position fields the weighted-average-cost method changes (CONTRACTS.md 4, Positions).
 *
 * @example
 * const p: WacPosition = { qty: 0, avgPrice: 0, realizedPnl: 0 };
 */
export interface WacPosition {
  qty: number;
  avgPrice: number;
  realizedPnl: number;
}

/**
 * Applies a fill of `signedQty` (> 0 buys, < 0 sells) at `price` to a position by weighted average
 * cost (CONTRACTS.md 4, Positions): increasing |qty| moves avgPrice to the quantity-weighted
 * average; reducing it books `closedQty * (price - avgPrice) * sign(previous qty)` into realizedPnl;
 * crossing zero closes the old side fully and opens the rest at `price`. A flat position has
 * avgPrice 0. A remainder within 1e-9 of the traded size counts as flat, so fractional quantities
 * that cancel up to rounding (0.1 + 0.2 - 0.3) do not leave a dust position with a stale price.
 * Returns the realized P&L booked by this fill.
 *
 * @example
 * const p = { qty: 100, avgPrice: 10, realizedPnl: 0 };
 * applyFill(p, -150, 12); // 200: closes 100 at +2 each, opens short 50 at 12
 * p; // { qty: -50, avgPrice: 12, realizedPnl: 200 }
 */
export function applyFill(p: WacPosition, signedQty: number, price: number): number {
  const prev = p.qty;
  if (prev === 0 || prev > 0 === signedQty > 0) {
    const a = Math.abs(prev);
    const b = Math.abs(signedQty);
    p.avgPrice = prev === 0 ? price : (a * p.avgPrice + b * price) / (a + b);
    p.qty = prev + signedQty;
    return 0;
  }
  const closed = Math.min(Math.abs(prev), Math.abs(signedQty));
  const realized = closed * (price - p.avgPrice) * (prev > 0 ? 1 : -1);
  p.realizedPnl += realized;
  let rest = prev + signedQty;
  if (Math.abs(rest) <= 1e-9 * Math.max(Math.abs(prev), Math.abs(signedQty))) rest = 0;
  if (rest === 0) {
    p.qty = 0;
    p.avgPrice = 0;
  } else if (rest > 0 === prev > 0) {
    p.qty = rest;
  } else {
    p.qty = rest;
    p.avgPrice = price;
  }
  return realized;
}

/**
 * Where an instrument's mark comes from (CONTRACTS.md 4, Mark price), in increasing precedence.
 *
 * @example
 * book.instrument('ACME')?.source === MarkSource.Quote; // the mark is a quote mid
 */
export const MarkSource = { PrevClose: 0, Trade: 1, Quote: 2 } as const;
export type MarkSource = (typeof MarkSource)[keyof typeof MarkSource];

/**
 * Float64 slots of a position in {@link PositionBook.pf} (`pf[id * PF + slot]`): quantity,
 * average price, its trader's index, notional, unrealized P&L and |notional| at the current mark,
 * and the consumer's two (desk.ts: notional last folded into VaR, VaR drift term). Realized P&L,
 * which a mark move does not touch, is apart (`PositionBook.realizedPnl[id]`).
 *
 * @example book.pf[p.id * PF + PF_NOTIONAL] === p.notional; // true
 */
export const PF = 8;
export const PF_QTY = 0;
export const PF_AVG = 1;
const PF_TRADER = 2;
export const PF_NOTIONAL = 3;
export const PF_UNREALIZED = 4;
export const PF_ABS = 5;
export const PF_RISK_NOTIONAL = 6;
export const PF_RISK_DRIFT = 7;

/**
 * Float64 slots of a trader in {@link PositionBook.tf} (`tf[index * TF + slot]`): gross and net
 * exposure, realized and unrealized P&L, the day's peak P&L and touches (what every mark move
 * reads and writes), then the consumer's slots TF_EXT to TF_EXT_END - 1, then |notional| of its
 * largest position, the id of the largest position (-1: none) and the runner-up bound (an upper
 * bound on the |notional| of every other position, see {@link TraderBook.largest}), which only
 * concentration tracking reads. The per-quote slots come first so that, with the record at a
 * 64-byte boundary (PositionBook.memory), they and the consumer's first ten (desk.ts: what a quote
 * reads) lie in two of the record's three cache lines.
 *
 * @example book.tf[t.index * TF + TF_GROSS] === t.gross; // true
 */
export const TF = 24;
export const TF_GROSS = 0;
export const TF_NET = 1;
export const TF_REALIZED = 2;
export const TF_UNREALIZED = 3;
export const TF_PEAK = 4;
export const TF_TOUCHES = 5;
/** First slot of a trader record free for the book's consumer (up to TF_EXT_END - 1). */
export const TF_EXT = 6;
/** End of the consumer's slots. */
export const TF_EXT_END = 21;
export const TF_LARGEST_ABS = 21;
export const TF_LARGEST = 22;
export const TF_RUNNER_UP = 23;

/**
 * Position ids are handed out to each instrument in blocks of this many, so the records of its
 * positions sit together: a quote re-values them in one sweep over a few contiguous runs of
 * memory instead of a cache miss per holder (per-trader scans are far rarer).
 */
const BLOCK = 16;

/** Slots of each name cache (see {@link nameSlot}); a power of two. */
const NAME_CACHE = 1024;

/**
 * The name-cache slot of an instrument or trader name: its length and last four characters in
 * base 10, so names that differ only in up to three trailing digits (TR001..TR999) never share a
 * slot. Two names sharing a slot only cost a Map lookup when they alternate.
 */
function nameSlot(name: string): number {
  const n = name.length;
  let h = n;
  for (let i = n > 4 ? n - 4 : 0; i < n; i++) h = h * 10 + name.charCodeAt(i);
  return h & (NAME_CACHE - 1);
}

/**
 * Float64 slots of an instrument in {@link PositionBook.im} (`im[index * IM + slot]`), what a
 * quote reads and writes: its mark, the time of its latest quote, the mark's source, how many
 * positions are open in it (its holders), the byte offsets of its holder lists in the book's
 * memory (IM_IDS_AT, IM_TIS_AT: a view's own byteOffset is a slow property read for the
 * per-quote call into WebAssembly), and from IM_EXT on the consumer's (desk.ts: the VaR
 * bound). One 64-byte record per instrument: a quote reaches all of it with one cache line, where
 * the InstrumentMark object and its boxed doubles were three.
 *
 * @example book.im[inst.index * IM + IM_MARK] === inst.mark; // true
 */
export const IM = 8;
export const IM_MARK = 0;
export const IM_LAST_QUOTE = 1;
export const IM_SOURCE = 2;
export const IM_HOLDERS = 3;
export const IM_IDS_AT = 4;
export const IM_TIS_AT = 5;
/** First slot of an instrument record free for the book's consumer (up to IM - 1). */
export const IM_EXT = 6;

/**
 * An instrument's mark (CONTRACTS.md 4, Mark price: mid of the latest quote with ts <= t, else
 * the latest trade price, else prevClose) and the positions currently open in it. Its numbers
 * live in the book's instrument record ({@link IM}); the getters and setters read and write it.
 *
 * @example
 * const acme = book.instrumentOf('ACME');
 * acme.mark; acme.holders.length; // current mark, open positions in ACME
 */
export class InstrumentMark {
  /** Open positions (qty != 0) in this instrument: what a mark move re-values. */
  readonly holders: Position[] = [];
  /** The holders' position ids, in the same order (the hot loop reads these). */
  holderIds = new Int32Array(4);
  /**
   * The holders' trader indices, in the same order: the hot loop finds a holder's trader record
   * without first loading its position record, so both memory reads can be in flight at once.
   */
  holderTraders = new Int32Array(4);
  /** Free per-instrument slot for the book's consumer (desk.ts: the scenario-return vector). */
  ext: unknown = undefined;
  /** First position id of each block of BLOCK ids of this instrument (its k-th position has id blocks[k / BLOCK] + k % BLOCK). */
  readonly blocks: number[] = [];
  /** Positions (open or not) in this instrument so far. */
  positionCount = 0;
  constructor(
    private readonly book: PositionBook,
    readonly name: string,
    readonly index: number,
    prevClose: number,
  ) {
    this.mark = prevClose > 0 ? prevClose : Number.NaN;
    this.source = MarkSource.PrevClose;
    this.lastQuoteTs = Number.NEGATIVE_INFINITY;
  }

  get mark(): number {
    return this.book.im[this.index * IM + IM_MARK] as number;
  }
  set mark(v: number) {
    this.book.im[this.index * IM + IM_MARK] = v;
  }
  get source(): MarkSource {
    return this.book.im[this.index * IM + IM_SOURCE] as MarkSource;
  }
  set source(v: MarkSource) {
    this.book.im[this.index * IM + IM_SOURCE] = v;
  }
  get lastQuoteTs(): number {
    return this.book.im[this.index * IM + IM_LAST_QUOTE] as number;
  }
  set lastQuoteTs(v: number) {
    this.book.im[this.index * IM + IM_LAST_QUOTE] = v;
  }
}

/**
 * One (trader, instrument) position with its valuation at the instrument's current mark: a view
 * of its slots in the book's arrays. `riskNotional`, `riskDrift` and `armed` belong to the book's
 * consumer (desk.ts: the notional last folded into the trader's VaR vector, the VaR error bound
 * of the part not yet folded, and the POSITION_LIMIT episode state).
 *
 * @example
 * const p = book.applyTrade(ts, 'TR01', 'ACME', 'BUY', 100, 142.5)!;
 * p.qty; p.avgPrice; p.notional; p.unrealizedPnl;
 */
export class Position implements WacPosition {
  /** Index in the instrument's holders, -1 when flat. */
  holderSlot = -1;
  /** Index in the trader's positions. */
  readonly slot: number;
  armed = true;
  constructor(
    private readonly book: PositionBook,
    /** Position id: its slots are `book.pf[id * PF ...]`. */
    readonly id: number,
    readonly trader: TraderBook,
    readonly inst: InstrumentMark,
  ) {
    this.slot = trader.positions.length;
  }

  get qty(): number {
    return this.book.pf[this.id * PF + PF_QTY] as number;
  }
  set qty(v: number) {
    this.book.pf[this.id * PF + PF_QTY] = v;
  }
  get avgPrice(): number {
    return this.book.pf[this.id * PF + PF_AVG] as number;
  }
  set avgPrice(v: number) {
    this.book.pf[this.id * PF + PF_AVG] = v;
  }
  get realizedPnl(): number {
    return this.book.realizedPnl[this.id] as number;
  }
  set realizedPnl(v: number) {
    this.book.realizedPnl[this.id] = v;
  }
  get notional(): number {
    return this.book.pf[this.id * PF + PF_NOTIONAL] as number;
  }
  get unrealizedPnl(): number {
    return this.book.pf[this.id * PF + PF_UNREALIZED] as number;
  }
  get riskNotional(): number {
    return this.book.pf[this.id * PF + PF_RISK_NOTIONAL] as number;
  }
  set riskNotional(v: number) {
    this.book.pf[this.id * PF + PF_RISK_NOTIONAL] = v;
  }
  get riskDrift(): number {
    return this.book.pf[this.id * PF + PF_RISK_DRIFT] as number;
  }
  set riskDrift(v: number) {
    this.book.pf[this.id * PF + PF_RISK_DRIFT] = v;
  }
}

/** Re-sum a trader's running aggregates from its positions this often (bounds rounding drift); a power of two. */
export const RESUM_EVERY = 1024;

/**
 * A trader's positions and running aggregates (CONTRACTS.md 4, Positions: gross exposure
 * sum |notional|, net exposure sum notional, pnl = realized + unrealized, drawdown = peak pnl of
 * the day - pnl, concentration = max |notional_i| / gross): a view of its slots in the book.
 *
 * The peak starts at 0 (the day starts flat) and is taken over the P&L after every event that
 * touches the trader. The largest position for concentration is tracked without rescanning: it
 * only changes hands when another position grows past it, and a rescan of this trader's positions
 * happens only when the largest one itself shrinks to or below the runner-up bound, an upper
 * bound on the |notional| of every other position (raised whenever another position is valued
 * above it, made exact again by each rescan). Above that bound the shrunk position is still the
 * strict maximum, which is all a rescan would find, so skipping it changes nothing; a bound that
 * is too high only costs a rescan that keeps the same position.
 *
 * @example
 * const t = book.trader('TR01')!;
 * [t.gross, t.net, t.pnl, t.drawdown, t.concentration];
 */
export class TraderBook {
  /** Every position this trader has had today, in opening order. */
  readonly positions: Position[] = [];
  /** Their ids, in the same order (the first positions.length entries): the book's scans read these rather than each Position. */
  ids = new Int32Array(4);
  /** Position by instrument index. */
  readonly byInstrument: Array<Position | undefined> = [];
  /** Free per-trader slot for the book's consumer (desk.ts: VaR vector and limit state). */
  ext: unknown = undefined;
  constructor(
    private readonly book: PositionBook,
    readonly id: string,
    readonly index: number,
  ) {}

  get gross(): number {
    return this.book.tf[this.index * TF + TF_GROSS] as number;
  }
  get net(): number {
    return this.book.tf[this.index * TF + TF_NET] as number;
  }
  get realized(): number {
    return this.book.tf[this.index * TF + TF_REALIZED] as number;
  }
  get unrealized(): number {
    return this.book.tf[this.index * TF + TF_UNREALIZED] as number;
  }
  get peak(): number {
    return this.book.tf[this.index * TF + TF_PEAK] as number;
  }
  get touches(): number {
    return this.book.tf[this.index * TF + TF_TOUCHES] as number;
  }
  /** Open positions (qty != 0). */
  get open(): number {
    return this.book.openCount[this.index] as number;
  }

  /** The position with the largest |notional| (among equals, the one that got there first, or the first in `positions` order at the last rescan). */
  get largest(): Position | undefined {
    const id = this.book.largestIdOf(this.index);
    return id < 0 ? undefined : this.book.positionById(id);
  }

  get pnl(): number {
    return this.realized + this.unrealized;
  }

  get drawdown(): number {
    return this.peak - (this.realized + this.unrealized);
  }

  get concentration(): number {
    return this.book.concentrationOf(this.index);
  }

  /** Recomputes every sum from the positions (done every RESUM_EVERY touches, and on restore). */
  resum(): void {
    this.book.resum(this.index);
  }
}

/**
 * The fields of a quote record that {@link PositionBook.applyQuoteRecord} reads (CONTRACTS.md 1).
 *
 * @example book.applyQuoteRecord({ ts: 1001, instrument: 'ACME', bid: 142.4, ask: 142.6 });
 */
export interface QuoteFields {
  ts: number;
  instrument: string;
  bid: number;
  ask: number;
}

/**
 * The fields of a trade record that {@link PositionBook.applyTradeRecord} reads (CONTRACTS.md 1).
 *
 * @example book.applyTradeRecord({ ts: 1000, traderId: 'TR01', instrument: 'ACME', side: 'BUY', qty: 100, price: 142.5 });
 */
export interface TradeFields {
  ts: number;
  traderId: string;
  instrument: string;
  side: Side | string;
  qty: number;
  price: number;
}

/**
 * What the book tells its consumer after each change, once per touched trader per event, after
 * the trader's aggregates (and peak) are up to date.
 *
 * @example
 * const listener: PositionListener = { onRevalue: (p, ts) => recheck(p.trader, ts), onTrade: (p, ts) => recheck(p.trader, ts) };
 */
export interface PositionListener {
  /** A mark move re-valued `pos` (its quantity did not change). */
  onRevalue(pos: Position, ts: number): void;
  /** The trader's own trade changed `pos`. */
  onTrade(pos: Position, ts: number): void;
  /**
   * When present, called instead of `onRevalue` with the position's id, its trader's index and
   * its instrument's index (the records of {@link PositionBook.pf} and `tf`): the per-quote hot
   * path, without the objects.
   */
  onRevalueById?(positionId: number, traderIndex: number, instrumentIndex: number, ts: number): void;
  /**
   * When present, called instead of the book's own per-holder loop once the mark of instrument
   * `ii` (its index: the record of {@link PositionBook.im}, and `instruments[ii]`) has moved, by
   * an event at time {@link PositionBook.markTs} (not an argument: a number passed to a call
   * that is not inlined is boxed, a heap object per quote): the listener re-values every holder
   * of the instrument but those of trader `skip` (-1: none) itself, performing for each exactly
   * the book's steps (see {@link PositionBook.revalueHolder}: the same floating-point operations
   * in the same order, rescanLargest and resum at the same points) followed by its own checks, in
   * holder order. The per-quote hot path of desk.ts, fused
   * into one loop with no call per holder.
   */
  onMarkMove?(ii: number, skip: number): void;
}

/**
 * Re-values the position record at pf[b..] at `mark` (notional, unrealized P&L, |notional|; a
 * flat position is worth exactly 0 whatever the mark) and folds the change into its trader's
 * sums (the trader record at tf[c..]) by difference. Returns the previous |notional| (the new one
 * is pf[b + PF_ABS]). The book's paths share it; the desk's fused mark-move loop repeats its
 * operations in the same order (for open positions), tested bit for bit against the book's loop.
 *
 * @example const absOld = revalueAt(book.pf, book.tf, id * PF, ti0 * TF, mark);
 */
export function revalueAt(pf: Float64Array, tf: Float64Array, b: number, c: number, mark: number): number {
  const q = pf[b + PF_QTY] as number;
  const oldN = pf[b + PF_NOTIONAL] as number;
  const oldU = pf[b + PF_UNREALIZED] as number;
  const absOld = pf[b + PF_ABS] as number;
  const n = q === 0 ? 0 : q * mark;
  const u = q === 0 ? 0 : q * (mark - (pf[b + PF_AVG] as number));
  const absN = Math.abs(n);
  pf[b + PF_NOTIONAL] = n;
  pf[b + PF_UNREALIZED] = u;
  pf[b + PF_ABS] = absN;
  tf[c + TF_GROSS] = (tf[c + TF_GROSS] as number) + (absN - absOld);
  tf[c + TF_NET] = (tf[c + TF_NET] as number) + (n - oldN);
  tf[c + TF_UNREALIZED] = (tf[c + TF_UNREALIZED] as number) + (u - oldU);
  return absOld;
}

/**
 * A trader's largest position (the trader record at tf[c..]) after position `id`'s |notional|
 * went from `absOld` to `absN`: it takes over when it grows past the largest; the largest itself
 * shrinking is kept while it stays above the runner-up bound, else true is returned: the caller
 * rescans. Shared by the book's own path and the desk's fused mark-move loop.
 *
 * @example if (trackLargestAt(book.tf, ti0 * TF, id, absN, absOld)) book.rescanLargest(ti0);
 */
export function trackLargestAt(tf: Float64Array, c: number, id: number, absN: number, absOld: number): boolean {
  const big = tf[c + TF_LARGEST] as number;
  if (big === id) {
    if (!(absN < absOld) || absN > (tf[c + TF_RUNNER_UP] as number)) tf[c + TF_LARGEST_ABS] = absN;
    else return true;
  } else if (big < 0 || absN > (tf[c + TF_LARGEST_ABS] as number)) {
    // The old largest becomes a runner-up.
    if (big >= 0 && (tf[c + TF_LARGEST_ABS] as number) > (tf[c + TF_RUNNER_UP] as number)) tf[c + TF_RUNNER_UP] = tf[c + TF_LARGEST_ABS] as number;
    tf[c + TF_LARGEST] = id;
    tf[c + TF_LARGEST_ABS] = absN;
  } else if (absN > (tf[c + TF_RUNNER_UP] as number)) {
    tf[c + TF_RUNNER_UP] = absN;
  }
  return false;
}

/**
 * The memory a book may be kept in: a WebAssembly.Memory (see wasm.ts), so that the desk's
 * mark-move kernel reads and writes the records in place.
 *
 * @example new PositionBook(prevClose, listener, hooks, wasmMemory(1))
 */
export type BookMemory = WasmMemory;

/**
 * Marks and positions of every trader, updated per quote and trade in event-time order.
 *
 * @example
 * const book = new PositionBook((name) => reference.instruments.get(name)?.prevClose ?? NaN);
 * book.applyTrade(1000, 'TR01', 'ACME', 'BUY', 100, 142.5);
 * book.applyQuote(1001, 'ACME', 142.4, 142.6);
 * book.trader('TR01')!.pnl; // 100 * (142.5 - 142.5) = 0
 */
export class PositionBook {
  readonly instruments: InstrumentMark[] = [];
  readonly traders: TraderBook[] = [];
  /** Position records (see {@link PF}); reallocated as positions open, so read it afresh after a trade. */
  pf = new Float64Array(64 * PF);
  /** Realized P&L of each position id. */
  realizedPnl = new Float64Array(64);
  /** Trader records (see {@link TF}); reallocated as traders come. */
  tf = new Float64Array(16 * TF);
  /** Open positions (qty != 0) of each trader. */
  openCount = new Int32Array(16);
  /** Instrument records (see {@link IM}); reallocated as instruments come (in the memory when there is one). */
  im = new Float64Array(16 * IM);
  /**
   * Whether each trader's largest position is tracked as marks move (1, the default) or found by a
   * scan when asked (0, see {@link PositionBook.setLargestTracking}).
   */
  largestTracked = new Uint8Array(16).fill(1);
  private readonly byId: Array<Position | undefined> = [];
  private nextId = 0;
  private readonly instrumentIndex = new Map<string, number>();
  private readonly traderIndex = new Map<string, number>();
  /**
   * Direct-mapped caches in front of instrumentIndex and traderIndex: the name last looked up in
   * each slot ({@link nameSlot}) and its index. A hit is a string compare, which for the interned
   * names of decoded records is a pointer compare, instead of hashing and probing the Map.
   */
  private readonly instCacheNames = new Array<string | undefined>(NAME_CACHE).fill(undefined);
  private readonly instCacheIdx = new Int32Array(NAME_CACHE);
  private readonly traderCacheNames = new Array<string | undefined>(NAME_CACHE).fill(undefined);
  private readonly traderCacheIdx = new Int32Array(NAME_CACHE);
  /**
   * The WebAssembly memory holding `pf`, `tf`, `im` and every instrument's `holderIds` and
   * `holderTraders` (views into it), so that a WebAssembly loop can re-value holders (desk.ts);
   * undefined: plain typed arrays. Growing the memory moves every view (see {@link reserve}):
   * read them afresh after anything that may add a trader, a position or a holder.
   */
  readonly memory: BookMemory | undefined;
  /** End of the memory's used part (bytes). */
  private top = 0;
  /** The event time of the latest mark move (see PositionListener.onMarkMove). */
  markTs = Number.NaN;
  /** Byte offsets of `pf`, `tf` and `im` in the memory (0 without one; see IM_IDS_AT). */
  pfAt = 0;
  tfAt = 0;
  imAt = 0;

  constructor(
    private readonly prevCloseOf: (instrument: string) => number,
    private readonly listener?: PositionListener,
    /** Called when an instrument or trader is first seen (to fill `ext`). */
    private readonly onNew?: { instrument?(i: InstrumentMark): void; trader?(t: TraderBook): void },
    /** A fresh WebAssembly memory to keep the records in (see {@link memory}). */
    memory?: BookMemory,
  ) {
    this.memory = memory;
    if (memory !== undefined) {
      this.pf = this.moved(this.pf, this.pf.length);
      this.tf = this.moved(this.tf, this.tf.length);
      this.im = this.moved(this.im, this.im.length);
      this.notePlaces();
    }
  }

  /** Records where each view is in the memory (pfAt, tfAt, imAt, each instrument's IM_IDS_AT and IM_TIS_AT): after any of them moved. */
  private notePlaces(): void {
    this.pfAt = this.pf.byteOffset;
    this.tfAt = this.tf.byteOffset;
    this.imAt = this.im.byteOffset;
    const im = this.im;
    for (const inst of this.instruments) {
      im[inst.index * IM + IM_IDS_AT] = inst.holderIds.byteOffset;
      im[inst.index * IM + IM_TIS_AT] = inst.holderTraders.byteOffset;
    }
  }

  /**
   * `a` with room for at least `n` elements: {@link grown} without a memory; with one, a copy in
   * a fresh part of the memory (the old part is not reused: the records only grow, by doubling,
   * so at most half of the memory is left behind). `a` must be read again after this call when it
   * lives in the memory (a grown memory moved it): pass it as `get`.
   */
  private regrown<T extends Float64Array | Int32Array>(get: () => T, n: number): T {
    if (this.memory === undefined) return grown(get(), n);
    let len = Math.max(get().length, 1);
    while (len < n) len *= 2;
    const at = this.reserve(len * get().BYTES_PER_ELEMENT);
    return this.copyAt(get(), at, len);
  }

  /** A copy of `a`, an array outside the memory, with room for `len` elements in a fresh part of the memory. */
  private moved<T extends Float64Array | Int32Array>(a: T, len: number): T {
    return this.copyAt(a, this.reserve(len * a.BYTES_PER_ELEMENT), len);
  }

  private copyAt<T extends Float64Array | Int32Array>(a: T, at: number, len: number): T {
    const b = new (a.constructor as new (buf: ArrayBuffer, at: number, len: number) => T)(this.memory!.buffer, at, len);
    b.set(a);
    return b;
  }

  /**
   * `bytes` of fresh memory (64-byte aligned, so a position record is one cache line): their
   * offset. When the memory must grow, its buffer is replaced and every view of the old one
   * detached, so each of the book's views is made again at the same place.
   */
  private reserve(bytes: number): number {
    const m = this.memory!;
    const at = Math.ceil(this.top / 64) * 64;
    const end = at + bytes;
    const have = m.buffer.byteLength;
    if (end > have) {
      const old = m.buffer;
      const views: Array<Float64Array | Int32Array> = [this.pf, this.tf, this.im];
      for (const inst of this.instruments) views.push(inst.holderIds, inst.holderTraders);
      // Where each view of the old buffer was (a detached view forgets it).
      const spots = views.map((v) => (v.buffer === old ? [v.byteOffset, v.length] : undefined));
      m.grow(Math.max(Math.ceil((end - have) / 65536), have / 65536));
      const again = <T extends Float64Array | Int32Array>(v: T, k: number): T => {
        const spot = spots[k];
        return spot === undefined ? v : new (v.constructor as new (buf: ArrayBuffer, at: number, len: number) => T)(m.buffer, spot[0]!, spot[1]!);
      };
      this.pf = again(this.pf, 0);
      this.tf = again(this.tf, 1);
      this.im = again(this.im, 2);
      let k = 3;
      for (const inst of this.instruments) {
        inst.holderIds = again(inst.holderIds, k++);
        inst.holderTraders = again(inst.holderTraders, k++);
      }
    }
    this.top = end;
    return at;
  }

  instrument(name: string): InstrumentMark | undefined {
    const i = this.instrumentIndex.get(name);
    return i === undefined ? undefined : this.instruments[i];
  }

  trader(id: string): TraderBook | undefined {
    const i = this.traderIndex.get(id);
    return i === undefined ? undefined : this.traders[i];
  }

  /** The position with id `id` (see {@link Position.id}). */
  positionById(id: number): Position {
    return this.byId[id]!;
  }

  instrumentOf(name: string): InstrumentMark {
    return this.instruments[this.instrumentIndexOf(name)]!;
  }

  /** The index of instrument `name` (its InstrumentMark and record in {@link im}), added when new. */
  instrumentIndexOf(name: string): number {
    // A name that is not a string (a record a mapping step broke) takes the Map alone.
    const slot = typeof name === 'string' ? nameSlot(name) : -1;
    if (slot >= 0 && this.instCacheNames[slot] === name) return this.instCacheIdx[slot]!;
    const i = this.instrumentIndex.get(name);
    if (i !== undefined) {
      if (slot >= 0) {
        this.instCacheNames[slot] = name;
        this.instCacheIdx[slot] = i;
      }
      return i;
    }
    return this.addInstrument(name);
  }

  private addInstrument(name: string): number {
    const index = this.instruments.length;
    if ((index + 1) * IM > this.im.length) this.im = this.regrown(() => this.im, (index + 1) * IM);
    const inst = new InstrumentMark(this, name, index, this.prevCloseOf(name));
    this.instrumentIndex.set(name, inst.index);
    this.instruments.push(inst);
    if (this.memory !== undefined) {
      // Once listed, so that growing the memory for the second moves the first.
      inst.holderIds = this.moved(inst.holderIds, inst.holderIds.length);
      inst.holderTraders = this.moved(inst.holderTraders, inst.holderTraders.length);
      this.notePlaces();
    }
    this.onNew?.instrument?.(inst);
    return index;
  }

  traderOf(id: string): TraderBook {
    const slot = typeof id === 'string' ? nameSlot(id) : -1;
    if (slot >= 0 && this.traderCacheNames[slot] === id) return this.traders[this.traderCacheIdx[slot]!]!;
    const i = this.traderIndex.get(id);
    if (i !== undefined) {
      if (slot >= 0) {
        this.traderCacheNames[slot] = id;
        this.traderCacheIdx[slot] = i;
      }
      return this.traders[i]!;
    }
    return this.addTrader(id);
  }

  /**
   * A new trader (traderOf's slow path). Apart because of the closure it passes to regrown: a
   * function that makes a closure allocates its context at every call, even when the closure is
   * not made (40 bytes per traderOf, positionOf and addHolder call before).
   */
  private addTrader(id: string): TraderBook {
    const index = this.traders.length;
    if ((index + 1) * TF > this.tf.length) {
      this.tf = this.regrown(() => this.tf, (index + 1) * TF);
      if (this.memory !== undefined) this.notePlaces();
    }
    if (index + 1 > this.openCount.length) this.openCount = grown(this.openCount, index + 1);
    if (index + 1 > this.largestTracked.length) {
      const n = this.largestTracked.length;
      this.largestTracked = grown(this.largestTracked, index + 1);
      this.largestTracked.fill(1, n);
    }
    this.tf[index * TF + TF_LARGEST] = -1;
    this.tf[index * TF + TF_RUNNER_UP] = Number.NEGATIVE_INFINITY;
    const t = new TraderBook(this, id, index);
    this.traderIndex.set(id, index);
    this.traders.push(t);
    this.onNew?.trader?.(t);
    return t;
  }

  positionOf(t: TraderBook, inst: InstrumentMark): Position {
    const p = t.byInstrument[inst.index];
    return p === undefined ? this.openPosition(t, inst) : p;
  }

  /** A new position of `t` in `inst` (positionOf's slow path, apart for the reason given at {@link addTrader}). */
  private openPosition(t: TraderBook, inst: InstrumentMark): Position {
    const k = inst.positionCount++;
    if (k % BLOCK === 0) {
      const base = this.nextId;
      this.nextId += BLOCK;
      inst.blocks.push(base);
      const n = this.nextId;
      if (n * PF > this.pf.length) {
        this.pf = this.regrown(() => this.pf, n * PF);
        if (this.memory !== undefined) this.notePlaces();
      }
      if (n > this.realizedPnl.length) this.realizedPnl = grown(this.realizedPnl, n);
    }
    const id = (inst.blocks[Math.floor(k / BLOCK)] as number) + (k % BLOCK);
    const p = new Position(this, id, t, inst);
    this.byId[id] = p;
    this.pf[id * PF + PF_TRADER] = t.index;
    // A new position is worth 0 until its trade re-values it: keep the runner-up bound above it.
    const rc = t.index * TF + TF_RUNNER_UP;
    if (!((this.tf[rc] as number) >= 0)) this.tf[rc] = 0;
    t.byInstrument[inst.index] = p;
    if (t.positions.length === t.ids.length) t.ids = grown(t.ids, t.positions.length + 1);
    t.ids[t.positions.length] = id;
    t.positions.push(p);
    return p;
  }

  /**
   * A quote: the instrument's mark becomes its mid (CONTRACTS.md 4, Mark price) and its open
   * positions are re-valued. A quote older than the latest one applied (a late record) does not
   * move the mark. Returns false when the quote is unusable (bid or ask not a positive number).
   */
  applyQuote(ts: number, instrument: string, bid: number, ask: number): boolean {
    return this.applyQuoteRecord({ ts, instrument, bid, ask });
  }

  /**
   * {@link applyQuote} of a quote record. A per-record caller passes the record rather than its
   * numbers: a number passed to a call that is not inlined is boxed (a heap object per number
   * and record), the record's fields are read here unboxed.
   */
  applyQuoteRecord(q: QuoteFields): boolean {
    const ts = q.ts;
    const bid = q.bid;
    const ask = q.ask;
    if (!(bid > 0 && ask > 0 && Number.isFinite(bid) && Number.isFinite(ask))) return false;
    // The instrument's record only: the InstrumentMark object is not needed.
    const ii = this.instrumentIndexOf(q.instrument);
    const im = this.im;
    const o = ii * IM;
    if (ts < (im[o + IM_LAST_QUOTE] as number)) return true;
    im[o + IM_LAST_QUOTE] = ts;
    im[o + IM_SOURCE] = MarkSource.Quote;
    // setMark(ii, mid, ts, -1) written out, its time in markTs: no number passed to a call (each
    // would be boxed per quote where the call is not inlined).
    const mark = (bid + ask) / 2;
    if (mark !== im[o + IM_MARK]) {
      im[o + IM_MARK] = mark;
      this.markTs = ts;
      this.marked(ii, -1);
    }
    return true;
  }

  /**
   * A trade of `traderId`: until the instrument has a quote its mark is the latest trade price;
   * then the position takes the fill (applyFill) and is re-valued. Returns the position, or
   * undefined when the trade is unusable (qty or price not a positive number, unknown side).
   */
  applyTrade(ts: number, traderId: string, instrument: string, side: Side | string, qty: number, price: number): Position | undefined {
    return this.applyTradeRecord({ ts, traderId, instrument, side, qty, price });
  }

  /** {@link applyTrade} of a trade record (passed whole for the reason given at {@link applyQuoteRecord}). */
  applyTradeRecord(r: TradeFields): Position | undefined {
    const ts = r.ts;
    const qty = r.qty;
    const price = r.price;
    const side = r.side;
    if (!(qty > 0 && price > 0 && Number.isFinite(qty) && Number.isFinite(price))) return undefined;
    const sign = side === 'BUY' ? 1 : side === 'SELL' ? -1 : 0;
    if (sign === 0) return undefined;
    const inst = this.instrumentOf(r.instrument);
    const t = this.traderOf(r.traderId);
    const p = this.positionOf(t, inst);
    if (inst.source !== MarkSource.Quote) {
      inst.source = MarkSource.Trade;
      this.setMark(inst.index, price, ts, t.index);
    }
    const wasOpen = p.qty !== 0;
    const rc = t.index * TF + TF_REALIZED;
    const realizedBefore = this.tf[rc] as number;
    this.tf[rc] = realizedBefore + applyFill(p, sign * qty, price);
    const isOpen = p.qty !== 0;
    if (wasOpen !== isOpen) {
      if (isOpen) this.addHolder(p);
      else this.removeHolder(p);
      this.openCount[t.index] = (this.openCount[t.index] as number) + (isOpen ? 1 : -1);
    }
    this.revalue(p.id, t.index, inst.mark);
    this.afterTouch(t.index);
    this.listener?.onTrade(p, ts);
    return p;
  }

  /**
   * Sets a mark (at time `ts`) and re-values the holders; the holders of trader `skip` (-1: none)
   * are left to the caller. The hot loop of desk risk: one pass per quote over the instrument's
   * open positions (the listener's onMarkMove, else {@link markMoveLoop}).
   */
  private setMark(ii: number, mark: number, ts: number, skip: number): void {
    const o = ii * IM + IM_MARK;
    if (mark === this.im[o]) return;
    this.im[o] = mark;
    this.markTs = ts;
    this.marked(ii, skip);
  }

  /**
   * The holders' re-valuation of {@link setMark} once the mark (in the record) and markTs are
   * set: the listener's onMarkMove, else {@link markMoveLoop}.
   */
  private marked(ii: number, skip: number): void {
    const listener = this.listener;
    if (listener !== undefined && listener.onMarkMove !== undefined) listener.onMarkMove(ii, skip);
    else this.markMoveLoop(ii, skip);
  }

  /**
   * The book's own per-holder loop of {@link marked}: revalue() and afterTouch() inlined (the same
   * floating-point operations, in the same order).
   */
  private markMoveLoop(ii: number, skip: number): void {
    const mark = this.im[ii * IM + IM_MARK] as number;
    const ts = this.markTs;
    const listener = this.listener;
    const inst = this.instruments[ii]!;
    const ids = inst.holderIds;
    const tis = inst.holderTraders;
    const count = inst.holders.length;
    const fast = listener !== undefined && listener.onRevalueById !== undefined;
    const pf = this.pf;
    const tf = this.tf;
    for (let k = 0; k < count; k++) {
      const id = ids[k] as number;
      const b = id * PF;
      const ti0 = tis[k] as number;
      if (ti0 === skip) continue;
      const c = ti0 * TF;
      // revalue(), trackLargest()
      const absOld = revalueAt(pf, tf, b, c, mark);
      if (trackLargestAt(tf, c, id, pf[b + PF_ABS] as number, absOld)) this.rescanLargest(ti0);
      // afterTouch()
      const touches = (tf[c + TF_TOUCHES] as number) + 1;
      tf[c + TF_TOUCHES] = touches;
      // touches % RESUM_EVERY === 0 (a power of two; touches is a non-negative integer < 2^31).
      if ((touches & (RESUM_EVERY - 1)) === 0) this.resum(ti0);
      const pnl = (tf[c + TF_REALIZED] as number) + (tf[c + TF_UNREALIZED] as number);
      if (pnl > (tf[c + TF_PEAK] as number)) tf[c + TF_PEAK] = pnl;
      if (fast) listener.onRevalueById!(id, ti0, ii, ts);
      else if (listener !== undefined) listener.onRevalue(this.byId[id]!, ts);
    }
  }

  /** Notional and unrealized P&L of position `id` at `mark`, folded into its trader's sums by difference. */
  private revalue(id: number, ti0: number, mark: number): void {
    const b = id * PF;
    const absOld = revalueAt(this.pf, this.tf, b, ti0 * TF, mark);
    this.trackLargest(id, ti0, this.pf[b + PF_ABS] as number, absOld);
  }

  /** {@link trackLargestAt} on the trader's record, with the rescan it may ask for. */
  private trackLargest(id: number, ti0: number, absN: number, absOld: number): void {
    if (trackLargestAt(this.tf, ti0 * TF, id, absN, absOld)) this.rescanLargest(ti0);
  }

  private afterTouch(ti0: number): void {
    const tf = this.tf;
    const c = ti0 * TF;
    const touches = (tf[c + TF_TOUCHES] as number) + 1;
    tf[c + TF_TOUCHES] = touches;
    if ((touches & (RESUM_EVERY - 1)) === 0) this.resum(ti0);
    const pnl = (tf[c + TF_REALIZED] as number) + (tf[c + TF_UNREALIZED] as number);
    if (pnl > (tf[c + TF_PEAK] as number)) tf[c + TF_PEAK] = pnl;
  }

  /**
   * The book's steps for one open holder (position `id` of trader `ti0`) after its instrument's
   * mark moved to `mark`: revalue() (open, so never the flat case), trackLargest(), afterTouch().
   * What setMark does per holder, as a reference for {@link PositionListener.onMarkMove}.
   */
  revalueHolder(id: number, ti0: number, mark: number): void {
    this.revalue(id, ti0, mark);
    this.afterTouch(ti0);
  }

  /** Points the trader's largest at the first of its positions with the largest |notional| (after the largest shrank). */
  rescanLargest(ti0: number): void {
    const pf = this.pf;
    const t = this.traders[ti0]!;
    const ids = t.ids;
    const count = t.positions.length;
    let best = -1;
    let bestAbs = -1;
    // The largest |notional| of the others (exact): the new runner-up bound.
    let second = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < count; k++) {
      const id = ids[k] as number;
      const a = pf[id * PF + PF_ABS] as number;
      if (a > bestAbs) {
        if (best >= 0) second = bestAbs;
        best = id;
        bestAbs = a;
      } else if (a > second) second = a;
    }
    const c = ti0 * TF;
    this.tf[c + TF_LARGEST] = best;
    this.tf[c + TF_LARGEST_ABS] = best < 0 ? 0 : bestAbs;
    this.tf[c + TF_RUNNER_UP] = second;
  }

  /** Recomputes trader `ti0`'s sums, |notional|s and largest position from its positions. */
  resum(ti0: number): void {
    const pf = this.pf;
    const rp = this.realizedPnl;
    let gross = 0;
    let net = 0;
    let realized = 0;
    let unrealized = 0;
    let open = 0;
    let largest = -1;
    let largestAbs = 0;
    let second = Number.NEGATIVE_INFINITY;
    for (const p of this.traders[ti0]!.positions) {
      const b = p.id * PF;
      const n = pf[b + PF_NOTIONAL] as number;
      const a = Math.abs(n);
      pf[b + PF_ABS] = a;
      gross += a;
      net += n;
      realized += rp[p.id] as number;
      unrealized += pf[b + PF_UNREALIZED] as number;
      if ((pf[b + PF_QTY] as number) !== 0) open++;
      if (largest < 0 || a > largestAbs) {
        if (largest >= 0) second = largestAbs;
        largest = p.id;
        largestAbs = a;
      } else if (a > second) second = a;
    }
    const c = ti0 * TF;
    this.tf[c + TF_GROSS] = gross;
    this.tf[c + TF_NET] = net;
    this.tf[c + TF_REALIZED] = realized;
    this.tf[c + TF_UNREALIZED] = unrealized;
    this.openCount[ti0] = open;
    this.tf[c + TF_LARGEST] = largest;
    this.tf[c + TF_LARGEST_ABS] = largestAbs;
    this.tf[c + TF_RUNNER_UP] = second;
  }

  /** Concentration of trader `ti0` (CONTRACTS.md 4): max |notional_i| / gross, 0 when gross is 0. */
  concentrationOf(ti0: number): number {
    const c = ti0 * TF;
    const g = this.tf[c + TF_GROSS] as number;
    if (this.largestTracked[ti0] === 0) {
      // The tracked TF_LARGEST_ABS is the largest |notional| (see TraderBook.largest), and a
      // trader with g > 0 has positions (so a largest): the same value from a scan.
      if (!(g > 0)) return 0;
      const pf = this.pf;
      const t = this.traders[ti0]!;
      const ids = t.ids;
      const count = t.positions.length;
      let m = 0;
      for (let k = 0; k < count; k++) {
        const a = pf[(ids[k] as number) * PF + PF_ABS] as number;
        if (a > m) m = a;
      }
      return m / g;
    }
    const big = this.tf[c + TF_LARGEST] as number;
    return g > 0 && big >= 0 ? (this.tf[c + TF_LARGEST_ABS] as number) / g : 0;
  }

  /**
   * Id of trader `ti0`'s largest position (-1: none): the tracked one, or for an untracked trader
   * the first of its positions with the largest |notional| (what a rescan picks).
   */
  largestIdOf(ti0: number): number {
    if (this.largestTracked[ti0] === 0) {
      const pf = this.pf;
      const t = this.traders[ti0]!;
      const ids = t.ids;
      const count = t.positions.length;
      let best = -1;
      let bestAbs = -1;
      for (let k = 0; k < count; k++) {
        const id = ids[k] as number;
        const a = pf[id * PF + PF_ABS] as number;
        if (a > bestAbs) {
          best = id;
          bestAbs = a;
        }
      }
      return best;
    }
    return this.tf[ti0 * TF + TF_LARGEST] as number;
  }

  /**
   * Whether trader `ti0`'s largest position is kept up to date as marks move. A consumer that
   * never asks for the largest position in between (desk.ts: a trader without a concentration
   * limit, whose concentration is read only at snapshot times) can switch it off for its own
   * per-holder loop (PositionListener.onMarkMove) to skip the tracking; concentrationOf and
   * `largest` then scan the trader's positions, with the same results. The book's own loops go
   * on tracking regardless; switching it back on rescans.
   */
  setLargestTracking(ti0: number, on: boolean): void {
    const was = this.largestTracked[ti0] !== 0;
    this.largestTracked[ti0] = on ? 1 : 0;
    if (on && !was) this.rescanLargest(ti0);
  }

  private addHolder(p: Position): void {
    const inst = p.inst;
    const h = inst.holders;
    const k = h.length;
    p.holderSlot = k;
    h.push(p);
    if (k === inst.holderIds.length) this.growHolders(inst, k + 1);
    inst.holderIds[k] = p.id;
    inst.holderTraders[k] = p.trader.index;
    this.im[inst.index * IM + IM_HOLDERS] = k + 1;
  }

  /** Room for `n` holders in the instrument's lists (addHolder's slow path, apart for the reason given at {@link addTrader}). */
  private growHolders(inst: InstrumentMark, n: number): void {
    inst.holderIds = this.regrown(() => inst.holderIds, n);
    inst.holderTraders = this.regrown(() => inst.holderTraders, n);
    if (this.memory !== undefined) this.notePlaces();
  }

  private removeHolder(p: Position): void {
    const inst = p.inst;
    const h = inst.holders;
    const last = h.pop()!;
    this.im[inst.index * IM + IM_HOLDERS] = h.length;
    if (last !== p) {
      h[p.holderSlot] = last;
      inst.holderIds[p.holderSlot] = last.id;
      inst.holderTraders[p.holderSlot] = last.trader.index;
      last.holderSlot = p.holderSlot;
    }
    p.holderSlot = -1;
  }

  /**
   * Checkpoint form: plain data. Holder lists are saved in their order (trader indices) so that a
   * restored book visits holders exactly as the live one would.
   */
  snapshot(): PositionBookSnapshot {
    return {
      instruments: this.instruments.map((i) => [i.name, i.mark, i.source, i.lastQuoteTs, i.holders.map((p) => p.trader.index)]),
      traders: this.traders.map((t) => ({
        id: t.id,
        gross: t.gross,
        net: t.net,
        realized: t.realized,
        unrealized: t.unrealized,
        peak: t.peak,
        touches: t.touches,
        largest: t.largest === undefined ? -1 : t.largest.inst.index,
        positions: t.positions.map((p) => [p.inst.index, p.qty, p.avgPrice, p.realizedPnl, p.riskNotional, p.armed]),
      })),
    };
  }

  /** Restores a snapshot into an empty book (the `onNew` hooks run for each instrument and trader). */
  restore(s: PositionBookSnapshot): void {
    if (this.instruments.length || this.traders.length) throw new Error('PositionBook.restore: the book is not empty');
    for (const [name, mark, source, lastQuoteTs] of s.instruments) {
      const inst = this.instrumentOf(name);
      inst.mark = mark;
      inst.source = source as MarkSource;
      inst.lastQuoteTs = lastQuoteTs;
    }
    for (const ts of s.traders) {
      const t = this.traderOf(ts.id);
      for (const [ii, qty, avg, realized, riskNotional, armed] of ts.positions) {
        const p = this.positionOf(t, this.instruments[ii]!);
        const b = p.id * PF;
        const pf = this.pf;
        pf[b + PF_QTY] = qty;
        pf[b + PF_AVG] = avg;
        this.realizedPnl[p.id] = realized;
        pf[b + PF_RISK_NOTIONAL] = riskNotional;
        p.armed = armed;
        // Same formula as revalue(), so the restored values are bit-identical to the live ones.
        pf[b + PF_NOTIONAL] = qty === 0 ? 0 : qty * p.inst.mark;
        pf[b + PF_UNREALIZED] = qty === 0 ? 0 : qty * (p.inst.mark - avg);
      }
      this.resum(t.index);
      // The running sums carry rounding that a fresh sum would not: restore them exactly.
      const c = t.index * TF;
      this.tf[c + TF_GROSS] = ts.gross;
      this.tf[c + TF_NET] = ts.net;
      this.tf[c + TF_REALIZED] = ts.realized;
      this.tf[c + TF_UNREALIZED] = ts.unrealized;
      this.tf[c + TF_PEAK] = ts.peak;
      this.tf[c + TF_TOUCHES] = ts.touches;
      const largest = ts.largest < 0 ? -1 : t.byInstrument[ts.largest]!.id;
      // resum's runner-up bound is relative to its own pick of the largest, which may differ
      // (ties): any bound is correct if it is not too low, so take the largest |notional| of all.
      this.tf[c + TF_RUNNER_UP] = Math.max(this.tf[c + TF_RUNNER_UP] as number, this.tf[c + TF_LARGEST_ABS] as number);
      this.tf[c + TF_LARGEST] = largest;
      this.tf[c + TF_LARGEST_ABS] = largest < 0 ? 0 : (this.pf[largest * PF + PF_ABS] as number);
    }
    s.instruments.forEach(([, , , , holders], ii) => {
      const inst = this.instruments[ii]!;
      for (const ti0 of holders) this.addHolder(this.traders[ti0]!.byInstrument[inst.index]!);
    });
  }
}

/**
 * Checkpoint data of a {@link PositionBook}.
 *
 * @example
 * const s: PositionBookSnapshot = book.snapshot(); new PositionBook(prevClose).restore(structuredClone(s));
 */
export interface PositionBookSnapshot {
  instruments: Array<[string, number, number, number, number[]]>;
  traders: Array<{
    id: string;
    gross: number;
    net: number;
    realized: number;
    unrealized: number;
    peak: number;
    touches: number;
    largest: number;
    positions: Array<[number, number, number, number, number, boolean]>;
  }>;
}
