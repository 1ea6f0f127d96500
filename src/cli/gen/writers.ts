import { once } from 'node:events';
import { closeSync, createWriteStream, openSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  Bool,
  Dictionary,
  Field,
  Float64,
  Int32,
  makeData,
  RecordBatch,
  RecordBatchFileWriter,
  Schema,
  Struct,
  Utf8,
  vectorFromArray,
  type Data,
  type DataType,
  type Vector,
} from 'apache-arrow';
import { ACTION_NAMES, SIDE_NAMES, sortByTime, VENUES, type EventBook } from './book.js';
import type { QuoteSeries } from './market.js';
import type { Universe } from './universe.js';

/**
 * File format of the event streams: plain JSONL (readable, diffable), gzip JSONL (~8x smaller)
 * or Arrow IPC file format (fastest to replay).
 *
 * @example
 * const f: EventFormat = 'arrow'; // writes trades.arrow, quotes.arrow, orders.arrow
 */
export type EventFormat = 'jsonl' | 'jsonl.gz' | 'arrow';

/**
 * The day's events in replay order (by ts, ties in generation order), as columns, with the
 * public ids: trade ids by time, order ids by first appearance (as an exchange hands them out).
 *
 * @example
 * const t = buildTables(universe, quotes, book); t.trades.n
 */
export interface EventTables {
  quotes: { n: number; ts: Float64Array; inst: Int32Array; bid: Float64Array; ask: Float64Array; bidSize: Float64Array; askSize: Float64Array };
  trades: {
    n: number;
    ts: Float64Array;
    inst: Int32Array;
    trader: Int32Array;
    side: Uint8Array;
    qty: Float64Array;
    price: Float64Array;
    cpty: Int32Array;
    orderSeq: Int32Array;
    venue: Uint8Array;
  };
  orders: {
    n: number;
    ts: Float64Array;
    orderSeq: Int32Array;
    trader: Int32Array;
    inst: Int32Array;
    side: Uint8Array;
    qty: Float64Array;
    price: Float64Array;
    action: Uint8Array;
    client: Uint8Array;
  };
  instrumentNames: string[];
  traderNames: string[];
  idWidth: number;
}

function permute<T extends Float64Array | Int32Array | Uint8Array>(src: T, order: Uint32Array): T {
  const out = new (src.constructor as new (n: number) => T)(order.length);
  for (let k = 0; k < order.length; k++) out[k] = src[order[k]!]!;
  return out;
}

/**
 * Sorts the generated events into replay order and numbers them (see {@link EventTables}).
 *
 * @example
 * const tables = buildTables(universe, quotes, book);
 */
export function buildTables(u: Universe, quotes: QuoteSeries[], book: EventBook): EventTables {
  let nq = 0;
  for (const q of quotes) nq += q.n;
  const qts = new Float64Array(nq);
  const qinst = new Int32Array(nq);
  const qbid = new Float64Array(nq);
  const qask = new Float64Array(nq);
  const qbs = new Float64Array(nq);
  const qas = new Float64Array(nq);
  let o = 0;
  quotes.forEach((q, i) => {
    qts.set(q.ts.subarray(0, q.n), o);
    qinst.fill(i, o, o + q.n);
    qbid.set(q.bid.subarray(0, q.n), o);
    qask.set(q.ask.subarray(0, q.n), o);
    qbs.set(q.bidSize.subarray(0, q.n), o);
    qas.set(q.askSize.subarray(0, q.n), o);
    o += q.n;
  });
  const qo = sortByTime(qts, nq);
  const T = book.trades;
  const O = book.orders;
  const to = sortByTime(T.ts, T.n);
  const oo = sortByTime(O.ts, O.n);
  const oOrder = permute(O.order.subarray(0, O.n), oo);
  const seqOf = new Int32Array(book.orderCount).fill(-1);
  let next = 0;
  for (let k = 0; k < oOrder.length; k++) if (seqOf[oOrder[k]!] === -1) seqOf[oOrder[k]!] = next++;
  const tOrder = permute(T.order.subarray(0, T.n), to);
  const tSeq = new Int32Array(T.n);
  for (let k = 0; k < T.n; k++) {
    const sq = seqOf[tOrder[k]!]!;
    if (sq < 0) throw new Error('gen-day: a trade fills an order that was never entered');
    tSeq[k] = sq;
  }
  const oSeq = new Int32Array(O.n);
  for (let k = 0; k < O.n; k++) oSeq[k] = seqOf[oOrder[k]!]!;
  return {
    quotes: {
      n: nq,
      ts: permute(qts, qo),
      inst: permute(qinst, qo),
      bid: permute(qbid, qo),
      ask: permute(qask, qo),
      bidSize: permute(qbs, qo),
      askSize: permute(qas, qo),
    },
    trades: {
      n: T.n,
      ts: permute(T.ts.subarray(0, T.n), to),
      inst: permute(T.inst.subarray(0, T.n), to),
      trader: permute(T.trader.subarray(0, T.n), to),
      side: permute(T.side.subarray(0, T.n), to),
      qty: permute(T.qty.subarray(0, T.n), to),
      price: permute(T.price.subarray(0, T.n), to),
      cpty: permute(T.cpty.subarray(0, T.n), to),
      orderSeq: tSeq,
      venue: permute(T.venue.subarray(0, T.n), to),
    },
    orders: {
      n: O.n,
      ts: permute(O.ts.subarray(0, O.n), oo),
      orderSeq: oSeq,
      trader: permute(O.trader.subarray(0, O.n), oo),
      inst: permute(O.inst.subarray(0, O.n), oo),
      side: permute(O.side.subarray(0, O.n), oo),
      qty: permute(O.qty.subarray(0, O.n), oo),
      price: permute(O.price.subarray(0, O.n), oo),
      action: permute(O.action.subarray(0, O.n), oo),
      client: permute(O.client.subarray(0, O.n), oo),
    },
    instrumentNames: u.instruments.map((x) => x.id),
    traderNames: u.traders.map((t) => t.id),
    idWidth: Math.max(7, String(Math.max(T.n, next)).length),
  };
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** Writes `n` lines built by `line(j)`, plain or gzip, in ~1 MB chunks. */
async function writeLines(file: string, gzip: boolean, n: number, line: (j: number) => string): Promise<void> {
  const CHUNK = 1 << 20;
  if (!gzip) {
    const fd = openSync(file, 'w');
    try {
      let buf = '';
      for (let j = 0; j < n; j++) {
        buf += line(j);
        if (buf.length >= CHUNK) {
          writeSync(fd, buf);
          buf = '';
        }
      }
      if (buf.length) writeSync(fd, buf);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const gz = createGzip({ level: 6 });
  const out = createWriteStream(file);
  gz.pipe(out);
  let buf = '';
  for (let j = 0; j < n; j++) {
    buf += line(j);
    if (buf.length >= CHUNK) {
      if (!gz.write(buf)) await once(gz, 'drain');
      buf = '';
    }
  }
  gz.end(buf);
  await finished(out);
}

/**
 * Writes trades, quotes and orders in the chosen format; returns the file names written.
 * JSONL lines follow CONTRACTS.md section 1 field order; `counterpartyTraderId` is left out when
 * there is none and `clientOrder` appears only on client orders (as `true`). Arrow files hold the
 * same fields as columns (no `type` column: the reader sets it from the file name; strings with
 * few values dictionary-encoded; `clientOrder` null where JSONL leaves it out), so both formats
 * replay to the same records.
 *
 * @example
 * await writeEvents('day', 'jsonl', tables) // ['quotes.jsonl', 'trades.jsonl', 'orders.jsonl']
 */
export async function writeEvents(dir: string, format: EventFormat, t: EventTables): Promise<string[]> {
  if (format === 'arrow') return writeArrow(dir, t);
  const gz = format === 'jsonl.gz';
  const ext = gz ? '.jsonl.gz' : '.jsonl';
  const I = t.instrumentNames;
  const R = t.traderNames;
  const w = t.idWidth;
  const q = t.quotes;
  await writeLines(join(dir, `quotes${ext}`), gz, q.n, (j) =>
    `{"type":"quote","ts":${q.ts[j]},"instrument":"${I[q.inst[j]!]}","bid":${q.bid[j]},"ask":${q.ask[j]},"bidSize":${q.bidSize[j]},"askSize":${q.askSize[j]}}\n`,
  );
  const tr = t.trades;
  await writeLines(join(dir, `trades${ext}`), gz, tr.n, (j) => {
    const cp = tr.cpty[j]!;
    return (
      `{"type":"trade","ts":${tr.ts[j]},"tradeId":"T${pad(j + 1, w)}","instrument":"${I[tr.inst[j]!]}","traderId":"${R[tr.trader[j]!]}",` +
      `"side":"${SIDE_NAMES[tr.side[j]!]}","qty":${tr.qty[j]},"price":${tr.price[j]},` +
      (cp >= 0 ? `"counterpartyTraderId":"${R[cp]}",` : '') +
      `"orderId":"O${pad(tr.orderSeq[j]! + 1, w)}","venue":"${VENUES[tr.venue[j]!]}"}\n`
    );
  });
  const o = t.orders;
  await writeLines(join(dir, `orders${ext}`), gz, o.n, (j) =>
    `{"type":"order","ts":${o.ts[j]},"orderId":"O${pad(o.orderSeq[j]! + 1, w)}","traderId":"${R[o.trader[j]!]}","instrument":"${I[o.inst[j]!]}",` +
    `"side":"${SIDE_NAMES[o.side[j]!]}","qty":${o.qty[j]},"price":${o.price[j]},"action":"${ACTION_NAMES[o.action[j]!]}"` +
    (o.client[j] ? ',"clientOrder":true}\n' : '}\n'),
  );
  return [`quotes${ext}`, `trades${ext}`, `orders${ext}`];
}

// ------------------------------------------------------------------ Arrow

const BATCH = 65_536;

interface Column {
  field: Field;
  data: (from: number, to: number) => Data;
}

function f64(name: string, a: Float64Array): Column {
  return { field: new Field(name, new Float64(), false), data: (s, e) => makeData({ type: new Float64(), length: e - s, nullCount: 0, data: a.subarray(s, e) }) };
}

/** A dictionary column; one dictionary vector serves every batch (the file format allows no replacements). */
function dict(name: string, values: readonly string[], codes: ArrayLike<number>, nullable = false): Column {
  const type = new Dictionary(new Utf8(), new Int32());
  const vec = vectorFromArray([...values], new Utf8()) as Vector<Utf8>;
  return {
    field: new Field(name, type, nullable),
    data: (s, e) => {
      const n = e - s;
      const idx = new Int32Array(n);
      let nulls = 0;
      const bitmap = nullable ? new Uint8Array((n + 7) >> 3) : undefined;
      for (let k = 0; k < n; k++) {
        const c = codes[s + k]!;
        if (c < 0) nulls++;
        else {
          idx[k] = c;
          if (bitmap) bitmap[k >> 3]! |= 1 << (k & 7);
        }
      }
      return makeData({ type, length: n, nullCount: nulls, data: idx, dictionary: vec, ...(nulls && bitmap ? { nullBitmap: bitmap } : {}) });
    },
  };
}

/** Fixed-width ASCII ids (`T0000001`) straight into a Utf8 column. */
function ids(name: string, prefix: string, width: number, seq: (k: number) => number): Column {
  return {
    field: new Field(name, new Utf8(), false),
    data: (s, e) => {
      const n = e - s;
      const len = prefix.length + width;
      const bytes = Buffer.alloc(n * len);
      const offsets = new Int32Array(n + 1);
      for (let k = 0; k < n; k++) {
        bytes.write(prefix + pad(seq(s + k), width), k * len, 'latin1');
        offsets[k + 1] = (k + 1) * len;
      }
      return makeData({ type: new Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    },
  };
}

/** `true` where set, null elsewhere (JSONL leaves the field out). */
function trueOrNull(name: string, flags: Uint8Array): Column {
  return {
    field: new Field(name, new Bool(), true),
    data: (s, e) => {
      const n = e - s;
      const bits = new Uint8Array((n + 7) >> 3);
      let nulls = 0;
      for (let k = 0; k < n; k++) {
        if (flags[s + k]) bits[k >> 3]! |= 1 << (k & 7);
        else nulls++;
      }
      return makeData({ type: new Bool(), length: n, nullCount: nulls, data: bits.slice(), nullBitmap: bits });
    },
  };
}

async function writeTable(file: string, n: number, cols: Column[]): Promise<void> {
  const fields = cols.map((c) => c.field);
  const schema = new Schema(fields);
  const writer = new RecordBatchFileWriter();
  for (let s = 0; s < Math.max(n, 1); s += BATCH) {
    const e = Math.min(n, s + BATCH);
    const children = cols.map((c) => c.data(s, e));
    writer.write(new RecordBatch(schema, makeData({ type: new Struct(fields) as DataType as Struct, length: e - s, nullCount: 0, children })));
    if (n === 0) break;
  }
  writer.finish();
  await writeFile(file, writer.toUint8Array(true));
}

async function writeArrow(dir: string, t: EventTables): Promise<string[]> {
  const w = t.idWidth;
  const q = t.quotes;
  await writeTable(join(dir, 'quotes.arrow'), q.n, [
    f64('ts', q.ts),
    dict('instrument', t.instrumentNames, q.inst),
    f64('bid', q.bid),
    f64('ask', q.ask),
    f64('bidSize', q.bidSize),
    f64('askSize', q.askSize),
  ]);
  const tr = t.trades;
  await writeTable(join(dir, 'trades.arrow'), tr.n, [
    f64('ts', tr.ts),
    ids('tradeId', 'T', w, (k) => k + 1),
    dict('instrument', t.instrumentNames, tr.inst),
    dict('traderId', t.traderNames, tr.trader),
    dict('side', SIDE_NAMES, tr.side),
    f64('qty', tr.qty),
    f64('price', tr.price),
    dict('counterpartyTraderId', t.traderNames, tr.cpty, true),
    ids('orderId', 'O', w, (k) => tr.orderSeq[k]! + 1),
    dict('venue', VENUES, tr.venue),
  ]);
  const o = t.orders;
  await writeTable(join(dir, 'orders.arrow'), o.n, [
    f64('ts', o.ts),
    ids('orderId', 'O', w, (k) => o.orderSeq[k]! + 1),
    dict('traderId', t.traderNames, o.trader),
    dict('instrument', t.instrumentNames, o.inst),
    dict('side', SIDE_NAMES, o.side),
    f64('qty', o.qty),
    f64('price', o.price),
    dict('action', ACTION_NAMES, o.action),
    trueOrNull('clientOrder', o.client),
  ]);
  return ['quotes.arrow', 'trades.arrow', 'orders.arrow'];
}

/**
 * A CSV file from a header and rows of already formatted cells (no quoting needed: the
 * generator's names and numbers contain no commas or quotes).
 *
 * @example
 * csv(['date', 'instrument', 'close'], [['2024-03-14', 'ACME', '92.40']])
 */
export function csv(header: string[], rows: string[][]): string {
  return [header.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';
}
