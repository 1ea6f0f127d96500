import { grown } from '../../core/typed-arrays.js';

/**
 * Side codes of the columnar logs (indices into SIDE_NAMES).
 *
 * @example
 * SIDE_NAMES[BUY] // 'BUY'
 */
export const BUY = 0;
/** @see BUY */
export const SELL = 1;
/**
 * Order action codes of the columnar logs (indices into ACTION_NAMES).
 *
 * @example
 * ACTION_NAMES[CANCEL] // 'CANCEL'
 */
export const NEW = 0;
/** @see NEW */
export const CANCEL = 1;
/** @see NEW */
export const REPLACE = 2;

/**
 * Names of the side, action and venue codes, as written to the files.
 *
 * @example
 * VENUES[log.venue[j]!] // 'XNAS'
 */
export const SIDE_NAMES = ['BUY', 'SELL'] as const;
/** @see SIDE_NAMES */
export const ACTION_NAMES = ['NEW', 'CANCEL', 'REPLACE'] as const;
/** @see SIDE_NAMES */
export const VENUES = ['XNYS', 'XNAS', 'ARCX', 'BATS', 'IEXG'] as const;

/**
 * Trades as columns (a day at benchmark scale holds hundreds of thousands; objects would cost
 * gigabytes). `order` is the internal order number; ids are given when the day is written.
 *
 * @example
 * const j = log.n - 1; log.price[j] // the last trade's price
 */
export class TradeLog {
  ts = new Float64Array(1024);
  inst = new Int32Array(1024);
  trader = new Int32Array(1024);
  side = new Uint8Array(1024);
  qty = new Float64Array(1024);
  price = new Float64Array(1024);
  cpty = new Int32Array(1024);
  order = new Int32Array(1024);
  venue = new Uint8Array(1024);
  n = 0;

  push(ts: number, inst: number, trader: number, side: number, qty: number, price: number, cpty: number, order: number, venue: number): void {
    const j = this.n;
    if (j >= this.ts.length) {
      this.ts = grown(this.ts, j + 1);
      this.inst = grown(this.inst, j + 1);
      this.trader = grown(this.trader, j + 1);
      this.side = grown(this.side, j + 1);
      this.qty = grown(this.qty, j + 1);
      this.price = grown(this.price, j + 1);
      this.cpty = grown(this.cpty, j + 1);
      this.order = grown(this.order, j + 1);
      this.venue = grown(this.venue, j + 1);
    }
    this.ts[j] = ts;
    this.inst[j] = inst;
    this.trader[j] = trader;
    this.side[j] = side;
    this.qty[j] = qty;
    this.price[j] = price;
    this.cpty[j] = cpty;
    this.order[j] = order;
    this.venue[j] = venue;
    this.n = j + 1;
  }
}

/**
 * Order events (NEW / CANCEL / REPLACE) as columns; `client` is 1 for client orders (written
 * as `"clientOrder": true`), 0 otherwise (the field is left out).
 *
 * @example
 * log.action[j] === NEW
 */
export class OrderLog {
  ts = new Float64Array(1024);
  order = new Int32Array(1024);
  trader = new Int32Array(1024);
  inst = new Int32Array(1024);
  side = new Uint8Array(1024);
  qty = new Float64Array(1024);
  price = new Float64Array(1024);
  action = new Uint8Array(1024);
  client = new Uint8Array(1024);
  n = 0;

  push(ts: number, order: number, trader: number, inst: number, side: number, qty: number, price: number, action: number, client: number): void {
    const j = this.n;
    if (j >= this.ts.length) {
      this.ts = grown(this.ts, j + 1);
      this.order = grown(this.order, j + 1);
      this.trader = grown(this.trader, j + 1);
      this.inst = grown(this.inst, j + 1);
      this.side = grown(this.side, j + 1);
      this.qty = grown(this.qty, j + 1);
      this.price = grown(this.price, j + 1);
      this.action = grown(this.action, j + 1);
      this.client = grown(this.client, j + 1);
    }
    this.ts[j] = ts;
    this.order[j] = order;
    this.trader[j] = trader;
    this.inst[j] = inst;
    this.side[j] = side;
    this.qty[j] = qty;
    this.price[j] = price;
    this.action[j] = action;
    this.client[j] = client;
    this.n = j + 1;
  }
}

interface OrderState {
  trader: number;
  inst: number;
  side: number;
  qty: number;
  price: number;
  client: number;
}

/**
 * The generator's order entry: every trade is the fill of an order entered before it, so the
 * day's orders and trades stay consistent (CONTRACTS.md 1: fills of an order are trades carrying
 * its orderId). Times are integer epoch ms.
 *
 * @example
 * const o = book.newOrder(t - 200, trader, inst, BUY, 500, 101.25);
 * book.fill(t, o, 500, 101.25, counterparty, 0);
 */
export class EventBook {
  readonly trades = new TradeLog();
  readonly orders = new OrderLog();
  private readonly state: OrderState[] = [];

  newOrder(ts: number, trader: number, inst: number, side: number, qty: number, price: number, client = false): number {
    const id = this.state.length;
    const st: OrderState = { trader, inst, side, qty, price, client: client ? 1 : 0 };
    this.state.push(st);
    this.orders.push(Math.round(ts), id, trader, inst, side, qty, price, NEW, st.client);
    return id;
  }

  replace(ts: number, order: number, qty: number, price: number): void {
    const st = this.state[order]!;
    st.qty = qty;
    st.price = price;
    this.orders.push(Math.round(ts), order, st.trader, st.inst, st.side, qty, price, REPLACE, st.client);
  }

  cancel(ts: number, order: number): void {
    const st = this.state[order]!;
    this.orders.push(Math.round(ts), order, st.trader, st.inst, st.side, st.qty, st.price, CANCEL, st.client);
  }

  fill(ts: number, order: number, qty: number, price: number, cpty: number, venue: number): void {
    const st = this.state[order]!;
    this.trades.push(Math.round(ts), st.inst, st.trader, st.side, qty, price, cpty, order, venue);
  }

  get orderCount(): number {
    return this.state.length;
  }
}

/**
 * Indices of `n` events sorted by time, ties in insertion order, in one native typed-array sort:
 * each key packs (ts - base) above 24 bits of index, exactly representable below 2^53 for days
 * up to six days long and 16 M events per stream.
 *
 * @example
 * const order = sortByTime(log.ts, log.n); // log.ts[order[0]] is the earliest
 */
export function sortByTime(ts: Float64Array, n: number): Uint32Array {
  if (n >= 1 << 24) throw new RangeError(`too many events in one stream (${n}); at most ${(1 << 24) - 1}`);
  let base = Infinity;
  for (let i = 0; i < n; i++) if (ts[i]! < base) base = ts[i]!;
  const keys = new Float64Array(n);
  const SHIFT = 16_777_216;
  for (let i = 0; i < n; i++) {
    const d = ts[i]! - base;
    if (!Number.isInteger(d) || d >= 2 ** 29) throw new RangeError('event times must be integer ms within six days');
    keys[i] = d * SHIFT + i;
  }
  keys.sort();
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = keys[i]! % SHIFT;
  return out;
}
