/**
 * Positions, marks and per-trader P&L / exposure (CONTRACTS.md 4, "Mark price" and "Positions"),
 * kept incrementally: a quote re-values only the positions open in its instrument, and every
 * per-trader aggregate is a running sum updated by differences, so an event costs O(holders of
 * its instrument), never a scan of all traders or all positions.
 *
 * Pure domain code, no RxJS: records must be applied in event-time order (the desk-risk operator
 * buffers and orders them).
 */

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
 * An instrument's mark (CONTRACTS.md 4, Mark price: mid of the latest quote with ts <= t, else
 * the latest trade price, else prevClose) and the positions currently open in it.
 *
 * @example
 * const acme = book.instrumentOf('ACME');
 * acme.mark; acme.holders.length; // current mark, open positions in ACME
 */
export class InstrumentMark {
  mark: number;
  source: MarkSource = MarkSource.PrevClose;
  lastQuoteTs = Number.NEGATIVE_INFINITY;
  /** Open positions (qty != 0) in this instrument: what a mark move re-values. */
  readonly holders: Position[] = [];
  /** Free per-instrument slot for the book's consumer (desk.ts: the scenario-return vector). */
  ext: unknown = undefined;
  constructor(
    readonly name: string,
    readonly index: number,
    prevClose: number,
  ) {
    this.mark = prevClose > 0 ? prevClose : Number.NaN;
  }
}

/**
 * One (trader, instrument) position with its valuation at the instrument's current mark.
 * `riskNotional`, `riskDrift` and `armed` belong to the book's consumer (desk.ts: the notional
 * last folded into the trader's VaR vector, the VaR error bound of the part not yet folded, and
 * the POSITION_LIMIT episode state).
 *
 * @example
 * const p = book.applyTrade(ts, 'TR01', 'ACME', 'BUY', 100, 142.5)!;
 * p.qty; p.avgPrice; p.notional; p.unrealizedPnl;
 */
export class Position implements WacPosition {
  qty = 0;
  avgPrice = 0;
  realizedPnl = 0;
  notional = 0;
  unrealizedPnl = 0;
  /** Index in the instrument's holders, -1 when flat. */
  holderSlot = -1;
  riskNotional = 0;
  riskDrift = 0;
  armed = true;
  constructor(
    readonly trader: TraderBook,
    readonly inst: InstrumentMark,
  ) {}
}

/** Re-sum a trader's running aggregates from its positions this often (bounds rounding drift). */
const RESUM_EVERY = 1024;

/**
 * A trader's positions and running aggregates (CONTRACTS.md 4, Positions: gross exposure
 * sum |notional|, net exposure sum notional, pnl = realized + unrealized, drawdown = peak pnl of
 * the day - pnl, concentration = max |notional_i| / gross).
 *
 * The peak starts at 0 (the day starts flat) and is taken over the P&L after every event that
 * touches the trader. The largest position for concentration is tracked without rescanning: it
 * only changes hands when another position grows past it, and a rescan of this trader's positions
 * happens only when the largest one itself shrinks.
 *
 * @example
 * const t = book.trader('TR01')!;
 * [t.gross, t.net, t.pnl, t.drawdown, t.concentration];
 */
export class TraderBook {
  /** Every position this trader has had today, in opening order. */
  readonly positions: Position[] = [];
  /** Position by instrument index. */
  readonly byInstrument: Array<Position | undefined> = [];
  gross = 0;
  net = 0;
  realized = 0;
  unrealized = 0;
  peak = 0;
  open = 0;
  largest: Position | undefined = undefined;
  touches = 0;
  /** Free per-trader slot for the book's consumer (desk.ts: VaR vector and limit state). */
  ext: unknown = undefined;
  constructor(
    readonly id: string,
    readonly index: number,
  ) {}

  get pnl(): number {
    return this.realized + this.unrealized;
  }

  get drawdown(): number {
    return this.peak - (this.realized + this.unrealized);
  }

  get concentration(): number {
    const g = this.gross;
    return g > 0 && this.largest !== undefined ? Math.abs(this.largest.notional) / g : 0;
  }

  /** Recomputes every sum from the positions (done every RESUM_EVERY touches, and on restore). */
  resum(): void {
    let gross = 0;
    let net = 0;
    let realized = 0;
    let unrealized = 0;
    let open = 0;
    let largest: Position | undefined;
    for (const p of this.positions) {
      gross += Math.abs(p.notional);
      net += p.notional;
      realized += p.realizedPnl;
      unrealized += p.unrealizedPnl;
      if (p.qty !== 0) open++;
      if (largest === undefined || Math.abs(p.notional) > Math.abs(largest.notional)) largest = p;
    }
    this.gross = gross;
    this.net = net;
    this.realized = realized;
    this.unrealized = unrealized;
    this.open = open;
    this.largest = largest;
  }
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
}

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
  private readonly instrumentIndex = new Map<string, number>();
  private readonly traderIndex = new Map<string, number>();

  constructor(
    private readonly prevCloseOf: (instrument: string) => number,
    private readonly listener?: PositionListener,
    /** Called when an instrument or trader is first seen (to fill `ext`). */
    private readonly onNew?: { instrument?(i: InstrumentMark): void; trader?(t: TraderBook): void },
  ) {}

  instrument(name: string): InstrumentMark | undefined {
    const i = this.instrumentIndex.get(name);
    return i === undefined ? undefined : this.instruments[i];
  }

  trader(id: string): TraderBook | undefined {
    const i = this.traderIndex.get(id);
    return i === undefined ? undefined : this.traders[i];
  }

  instrumentOf(name: string): InstrumentMark {
    const i = this.instrumentIndex.get(name);
    if (i !== undefined) return this.instruments[i]!;
    const inst = new InstrumentMark(name, this.instruments.length, this.prevCloseOf(name));
    this.instrumentIndex.set(name, inst.index);
    this.instruments.push(inst);
    this.onNew?.instrument?.(inst);
    return inst;
  }

  traderOf(id: string): TraderBook {
    const i = this.traderIndex.get(id);
    if (i !== undefined) return this.traders[i]!;
    const t = new TraderBook(id, this.traders.length);
    this.traderIndex.set(id, t.index);
    this.traders.push(t);
    this.onNew?.trader?.(t);
    return t;
  }

  positionOf(t: TraderBook, inst: InstrumentMark): Position {
    let p = t.byInstrument[inst.index];
    if (p === undefined) {
      p = new Position(t, inst);
      p.notional = 0;
      t.byInstrument[inst.index] = p;
      t.positions.push(p);
    }
    return p;
  }

  /**
   * A quote: the instrument's mark becomes its mid (CONTRACTS.md 4, Mark price) and its open
   * positions are re-valued. A quote older than the latest one applied (a late record) does not
   * move the mark. Returns false when the quote is unusable (bid or ask not a positive number).
   */
  applyQuote(ts: number, instrument: string, bid: number, ask: number): boolean {
    if (!(bid > 0 && ask > 0 && Number.isFinite(bid) && Number.isFinite(ask))) return false;
    const inst = this.instrumentOf(instrument);
    if (ts < inst.lastQuoteTs) return true;
    inst.lastQuoteTs = ts;
    inst.source = MarkSource.Quote;
    this.setMark(inst, (bid + ask) / 2, ts, undefined);
    return true;
  }

  /**
   * A trade of `traderId`: until the instrument has a quote its mark is the latest trade price;
   * then the position takes the fill (applyFill) and is re-valued. Returns the position, or
   * undefined when the trade is unusable (qty or price not a positive number, unknown side).
   */
  applyTrade(ts: number, traderId: string, instrument: string, side: Side | string, qty: number, price: number): Position | undefined {
    if (!(qty > 0 && price > 0 && Number.isFinite(qty) && Number.isFinite(price))) return undefined;
    const sign = side === 'BUY' ? 1 : side === 'SELL' ? -1 : 0;
    if (sign === 0) return undefined;
    const inst = this.instrumentOf(instrument);
    const t = this.traderOf(traderId);
    const p = this.positionOf(t, inst);
    if (inst.source !== MarkSource.Quote) {
      inst.source = MarkSource.Trade;
      this.setMark(inst, price, ts, t);
    }
    const wasOpen = p.qty !== 0;
    t.realized += applyFill(p, sign * qty, price);
    const isOpen = p.qty !== 0;
    if (wasOpen !== isOpen) {
      if (isOpen) this.addHolder(p);
      else this.removeHolder(p);
      t.open += isOpen ? 1 : -1;
    }
    this.revalue(p);
    this.afterTouch(t);
    this.listener?.onTrade(p, ts);
    return p;
  }

  /** Sets a mark and re-values the holders; `skip`'s own position is left to the caller. */
  private setMark(inst: InstrumentMark, mark: number, ts: number, skip: TraderBook | undefined): void {
    if (mark === inst.mark) return;
    inst.mark = mark;
    const holders = inst.holders;
    const listener = this.listener;
    for (let i = 0; i < holders.length; i++) {
      const p = holders[i]!;
      const t = p.trader;
      if (t === skip) continue;
      this.revalue(p);
      this.afterTouch(t);
      listener?.onRevalue(p, ts);
    }
  }

  /** Notional and unrealized P&L at the current mark, folded into the trader's sums by difference. */
  private revalue(p: Position): void {
    const t = p.trader;
    const mark = p.inst.mark;
    const oldN = p.notional;
    const oldU = p.unrealizedPnl;
    // A flat position is worth exactly 0 whatever the mark (also before any mark exists).
    const n = p.qty === 0 ? 0 : p.qty * mark;
    const u = p.qty === 0 ? 0 : p.qty * (mark - p.avgPrice);
    p.notional = n;
    p.unrealizedPnl = u;
    const absN = Math.abs(n);
    t.gross += absN - Math.abs(oldN);
    t.net += n - oldN;
    t.unrealized += u - oldU;
    const big = t.largest;
    if (big === undefined || (big !== p && absN > Math.abs(big.notional))) t.largest = p;
    else if (big === p && absN < Math.abs(oldN)) this.rescanLargest(t);
  }

  private afterTouch(t: TraderBook): void {
    if (++t.touches % RESUM_EVERY === 0) t.resum();
    const pnl = t.realized + t.unrealized;
    if (pnl > t.peak) t.peak = pnl;
  }

  private rescanLargest(t: TraderBook): void {
    let best: Position | undefined;
    let bestAbs = -1;
    for (const q of t.positions) {
      const a = Math.abs(q.notional);
      if (a > bestAbs) {
        best = q;
        bestAbs = a;
      }
    }
    t.largest = best;
  }

  private addHolder(p: Position): void {
    const h = p.inst.holders;
    p.holderSlot = h.length;
    h.push(p);
  }

  private removeHolder(p: Position): void {
    const h = p.inst.holders;
    const last = h.pop()!;
    if (last !== p) {
      h[p.holderSlot] = last;
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
        p.qty = qty;
        p.avgPrice = avg;
        p.realizedPnl = realized;
        p.riskNotional = riskNotional;
        p.armed = armed;
        // Same formula as revalue(), so the restored values are bit-identical to the live ones.
        p.notional = qty === 0 ? 0 : qty * p.inst.mark;
        p.unrealizedPnl = qty === 0 ? 0 : qty * (p.inst.mark - avg);
      }
      t.resum();
      // The running sums carry rounding that a fresh sum would not: restore them exactly.
      t.gross = ts.gross;
      t.net = ts.net;
      t.realized = ts.realized;
      t.unrealized = ts.unrealized;
      t.peak = ts.peak;
      t.touches = ts.touches;
      t.largest = ts.largest < 0 ? undefined : t.byInstrument[ts.largest];
    }
    s.instruments.forEach(([, , , , holders], ii) => {
      const inst = this.instruments[ii]!;
      for (const ti of holders) this.addHolder(this.traders[ti]!.byInstrument[inst.index]!);
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
