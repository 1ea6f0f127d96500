import { isAscii } from 'node:buffer';
import { createReadStream, type ReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import {
  DataType,
  DateUnit,
  makeVector,
  RecordBatchReader,
  TimeUnit,
  Type,
  type Data,
  type RecordBatch,
  type Vector,
} from 'apache-arrow';
import { InputError } from '../../core/errors.js';
import { columnsValid, validateEvent, type ColumnFacts, type DeadLetter, type StreamName } from '../events.js';
import { finishChunk, newChunk, pushRecord, type EventReader, type ReaderChunk, type ReaderStart } from './reader.js';

const ARROW_MAGIC = 'ARROW1';

type RowFactory = (cols: ArrayLike<unknown>[], j: number) => Record<string, unknown>;

const rowFactories = new Map<string, RowFactory>();

/**
 * A function building the record of row j from the decoded columns. Records built from one object
 * literal all share a hidden class, which makes them several times cheaper to create (and to read
 * downstream) than objects grown key by key. Column names are embedded as JSON string literals,
 * so no name can inject code; names that an object literal would treat specially, or repeated
 * names, fall back to growing the object key by key.
 */
function rowFactory(names: string[], type: string | undefined): RowFactory {
  const key = `${type ?? ''}\u0000${names.join('\u0000')}`;
  let f = rowFactories.get(key);
  if (f) return f;
  const plain = !names.includes('__proto__') && new Set(names).size === names.length && !(type !== undefined && names.includes('type'));
  if (plain) {
    const props = names.map((n, i) => `${JSON.stringify(n)}: c[${i}][j]`);
    if (type !== undefined) props.unshift(`type: ${JSON.stringify(type)}`);
    f = new Function('c', 'j', `return { ${props.join(', ')} };`) as RowFactory;
  } else {
    f = (cols, j) => {
      const o: Record<string, unknown> = type === undefined ? {} : { type };
      for (let c = 0; c < names.length; c++) Object.defineProperty(o, names[c]!, { value: cols[c]![j], enumerable: true, writable: true, configurable: true });
      return o;
    };
  }
  rowFactories.set(key, f);
  return f;
}

type BatchBuilder = (cols: Column[], from: number, to: number, out: Record<string, unknown>[]) => void;

const batchBuilders = new Map<string, BatchBuilder | null>();

/**
 * For a batch whose rows need no per-row validation: a function that builds the records of rows
 * from..to-1 into out[0..], one object literal per row (so one hidden class), reading each column
 * the way it is held (values, dictionary indices, or offsets into the column's text) from locals
 * (one array kind per load site). Null when the names need the slow row factory.
 */
function batchBuilder(names: string[], type: string | undefined, cols: Column[]): BatchBuilder | null {
  const kinds = cols.map((c) => c.kind).join('');
  const key = `${type ?? ''}\u0000${kinds}\u0000${names.join('\u0000')}`;
  let f = batchBuilders.get(key);
  if (f !== undefined) return f;
  const plain = !names.includes('__proto__') && new Set(names).size === names.length && !(type !== undefined && names.includes('type'));
  if (!plain) {
    f = null;
  } else {
    const locals: string[] = [];
    const props = names.map((n, i) => {
      const c = cols[i]!;
      if (c.kind === 'dict') {
        locals.push(`const d${i} = cols[${i}].dict, x${i} = cols[${i}].idx;`);
        return `${JSON.stringify(n)}: d${i}[x${i}[j]]`;
      }
      if (c.kind === 'text') {
        locals.push(`const t${i} = cols[${i}].text, o${i} = cols[${i}].offs, b${i} = cols[${i}].base;`);
        return `${JSON.stringify(n)}: t${i}.slice(o${i}[j] - b${i}, o${i}[j + 1] - b${i})`;
      }
      locals.push(`const c${i} = cols[${i}].arr;`);
      return `${JSON.stringify(n)}: c${i}[j]`;
    });
    if (type !== undefined) props.unshift(`type: ${JSON.stringify(type)}`);
    f = new Function('cols', 'from', 'to', 'out', `${locals.join(' ')} for (let j = from, i = 0; j < to; j++, i++) out[i] = { ${props.join(', ')} };`) as BatchBuilder;
  }
  batchBuilders.set(key, f);
  return f;
}

/**
 * A decoded column of a record batch. `arr`: one value per row (numbers stay in their typed
 * array; nulls are `undefined`). Without nulls, two kinds that need no array of per-row values:
 * `dict` (a dictionary's decoded values and the row indices) and `text` (short ASCII strings: the
 * column's text and the row offsets, sliced when the records are built).
 */
interface Column {
  kind: 'arr' | 'dict' | 'text';
  arr: ArrayLike<unknown> | undefined;
  dict: unknown[] | undefined;
  idx: ArrayLike<number> | undefined;
  text: string | undefined;
  offs: Int32Array | undefined;
  base: number;
  nonEmpty: boolean;
}

const arrColumn = (arr: ArrayLike<unknown>): Column => ({ kind: 'arr', arr, dict: undefined, idx: undefined, text: undefined, offs: undefined, base: 0, nonEmpty: false });

/** The column's values row by row (for per-row validation). */
function materialise(c: Column): ArrayLike<unknown> {
  if (c.kind === 'arr') return c.arr!;
  const n = c.kind === 'dict' ? c.idx!.length : c.offs!.length - 1;
  const out = new Array<unknown>(n);
  if (c.kind === 'dict') {
    const d = c.dict!;
    const x = c.idx!;
    for (let i = 0; i < n; i++) out[i] = d[x[i]!];
  } else {
    const t = c.text!;
    const o = c.offs!;
    for (let i = 0; i < n; i++) out[i] = t.slice(o[i]! - c.base, o[i + 1]! - c.base);
  }
  c.kind = 'arr';
  c.arr = out;
  return out;
}

function factsOf(c: Column): ColumnFacts {
  if (c.kind === 'dict') return { kind: 'domain', domain: c.dict! };
  if (c.kind === 'text') return { kind: 'strings', nonEmpty: c.nonEmpty };
  return { kind: 'values', values: c.arr! };
}

/**
 * Null cells become `undefined` (a missing field to validateEvent; dropped by JSON.stringify).
 * A plain array from `decodeValues` is its own and gets them in place; the validity bitmap is read
 * directly (what `Data.getValid` does, without a call per cell), except for unions.
 */
function withNulls(values: ArrayLike<unknown>, data: Data): ArrayLike<unknown> {
  if (data.nullCount === 0) return values;
  const out = Array.isArray(values) ? (values as unknown[]) : Array.from(values);
  const bits = data.nullBitmap as Uint8Array | undefined;
  if (DataType.isUnion(data.type) || bits === undefined || bits.byteLength === 0) {
    for (let i = 0; i < out.length; i++) if (!data.getValid(i)) out[i] = undefined;
    return out;
  }
  const off = data.offset;
  for (let i = 0; i < out.length; i++) {
    const k = off + i;
    if ((bits[k >> 3]! & (1 << (k & 7))) === 0) out[i] = undefined;
  }
  return out;
}

const dictionaryCache = new WeakMap<object, unknown[]>();

/**
 * The internalised copy of a string (the one V8 keeps for property names): dictionary values are
 * few and repeated in every row, so the records then share strings that compare by pointer with
 * literals ('BUY', 'NEW') and carry their hash into every Map lookup.
 */
function internalise(v: unknown): unknown {
  return typeof v === 'string' ? Object.keys({ [v]: 0 })[0] : v;
}

function normalise(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  return v;
}

/**
 * Decodes one column of a batch in a single pass over its buffers rather than through row
 * proxies: numbers stay in their typed array, timestamps and dates become epoch ms, strings are
 * sliced from the UTF-8 buffer, dictionaries are decoded once and shared across batches.
 */
function decodeColumn(data: Data): Column {
  const n = data.length;
  const typeId = data.typeId as number;
  if (data.nullCount === 0) {
    if (typeId === Type.Dictionary) {
      const dict = data.dictionary as Vector | undefined;
      const idx = data.values as unknown as ArrayLike<number | bigint>;
      if (dict && !(idx instanceof BigInt64Array) && !(idx instanceof BigUint64Array)) {
        const decoded = decodeDictionary(dict);
        const x = idx as ArrayLike<number>;
        let inRange = true;
        for (let i = 0; i < n; i++) {
          const k = x[i]!;
          if (!(k >= 0 && k < decoded.length)) {
            inRange = false;
            break;
          }
        }
        if (inRange) return { kind: 'dict', arr: undefined, dict: decoded, idx: x, text: undefined, offs: undefined, base: 0, nonEmpty: false };
      }
    } else if (typeId === Type.Utf8 && n > 0) {
      const offs = data.valueOffsets as Int32Array;
      const bytes = data.values as Uint8Array;
      const start = offs[0]!;
      const end = offs[n]!;
      let longest = 0;
      let shortest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < n; i++) {
        const len = offs[i + 1]! - offs[i]!;
        if (len > longest) longest = len;
        if (len < shortest) shortest = len;
      }
      // Short ASCII values (ids, codes): the column's text in one string, sliced per record as the
      // records are built (slices this short are copies: no record keeps the text alive).
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (longest < 13 && isAscii(buf.subarray(start, end))) {
        return { kind: 'text', arr: undefined, dict: undefined, idx: undefined, text: buf.toString('latin1', start, end), offs, base: start, nonEmpty: shortest > 0 };
      }
    }
  }
  return arrColumn(withNulls(decodeValues(data), data));
}

function decodeDictionary(dict: Vector): unknown[] {
  let decoded = dictionaryCache.get(dict);
  if (!decoded) {
    decoded = new Array<unknown>(dict.length);
    for (let i = 0; i < dict.length; i++) decoded[i] = internalise(normalise(dict.get(i)));
    dictionaryCache.set(dict, decoded);
  }
  return decoded;
}

function decodeValues(data: Data): ArrayLike<unknown> {
  const n = data.length;
  const typeId = data.typeId as number;
  const type = data.type as { bitWidth?: number; unit?: number; precision?: number };
  switch (typeId) {
    case Type.Int:
      if (type.bitWidth === 64) {
        const src = data.values as BigInt64Array;
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = Number(src[i]!);
        return out;
      }
      return data.values as ArrayLike<number>;
    case Type.Float:
      if (type.precision === 0) break; // half floats: let Arrow decode them
      return data.values as ArrayLike<number>;
    case Type.Timestamp: {
      const src = data.values as BigInt64Array;
      const out = new Float64Array(n);
      const unit = type.unit;
      const scale =
        unit === TimeUnit.SECOND ? 1000 : unit === TimeUnit.MILLISECOND ? 1 : unit === TimeUnit.MICROSECOND ? 1e-3 : 1e-6;
      for (let i = 0; i < n; i++) out[i] = Number(src[i]!) * scale;
      return out;
    }
    case Type.Date: {
      const out = new Float64Array(n);
      if (type.unit === DateUnit.DAY) {
        const src = data.values as Int32Array;
        for (let i = 0; i < n; i++) out[i] = src[i]! * 86_400_000;
      } else {
        const src = data.values as unknown as ArrayLike<number | bigint>;
        for (let i = 0; i < n; i++) out[i] = Number(src[i]!);
      }
      return out;
    }
    case Type.Utf8:
    case Type.LargeUtf8: {
      const bytes = data.values as Uint8Array;
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const offs = data.valueOffsets as unknown as ArrayLike<number | bigint>;
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = buf.toString('utf8', Number(offs[i]!), Number(offs[i + 1]!));
      return out;
    }
    case Type.Bool: {
      const bits = data.values as Uint8Array;
      const off = data.offset;
      const out = new Array<boolean>(n);
      for (let i = 0; i < n; i++) {
        const k = off + i;
        out[i] = (bits[k >> 3]! & (1 << (k & 7))) !== 0;
      }
      return out;
    }
    case Type.Dictionary: {
      const dict = data.dictionary as Vector | undefined;
      if (!dict) break;
      const decoded = decodeDictionary(dict);
      const idx = data.values as unknown as ArrayLike<number | bigint>;
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = decoded[Number(idx[i]!)];
      return out;
    }
    default:
      break;
  }
  // Rare types (decimals, lists, structs, ...): one value at a time through Arrow.
  const vec = makeVector(data);
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = normalise(vec.get(i));
  return out;
}

/** Rows per chunk handed to the merge. */
const PIECE_ROWS = 4096;

/** The `ends` of Arrow records: none (-1), shared by every chunk (never written). */
const NO_ENDS = new Float64Array(PIECE_ROWS).fill(-1);

/** A record batch being handed out: its decoded columns, and the next row to turn into a record. */
interface DecodedBatch {
  names: string[];
  cols: Column[];
  type: string | undefined;
  rows: number;
  next: number;
  /** Set when the whole batch passed the column checks. */
  build: BatchBuilder | null;
  ts: Float64Array | undefined;
}

function rowToJson(o: Record<string, unknown>): string {
  try {
    return JSON.stringify(o);
  } catch {
    return String(o);
  }
}

/**
 * Reads an Arrow IPC event file, in either the file format (random access, magic `ARROW1`) or the
 * stream format, into plain records: one object per row, with the column names as keys,
 * timestamps as epoch ms and 64-bit integers as numbers; a null cell is an `undefined` field
 * (missing to validation, absent from JSON output). Columns are
 * decoded batch by batch, not through row proxies. A file without a `type` column gets `type`
 * set to the stream. Rows that fail {@link validateEvent} become dead letters (`line` = row number,
 * 1-based; `raw` = the row as JSON). Resuming skips rows, whole batches at a time where possible.
 *
 * @example
 * const r = new ArrowReader('day/trades.arrow', 'trade'); await r.open();
 * const chunk = await r.nextChunk(); // up to 4096 validated records of one record batch
 */
export class ArrowReader implements EventReader {
  readonly seekable = false;
  private handle: FileHandle | undefined;
  private fileStream: ReadStream | undefined;
  private reader: RecordBatchReader | undefined;
  private iter: AsyncIterator<RecordBatch> | Iterator<RecordBatch> | undefined;
  private size = 0;
  private fileFormat = false;
  private batches = 0;
  private batchesRead = 0;
  private row = 0;
  private skip = 0;
  private pending: DeadLetter[] | undefined;
  private ended = false;
  private cur: DecodedBatch | undefined;
  /** The next record batch, being read while the current one is consumed. */
  private ahead: Promise<IteratorResult<RecordBatch>> | undefined;

  constructor(
    readonly file: string,
    readonly stream: StreamName,
  ) {}

  async open(start: ReaderStart = { lines: 0 }): Promise<void> {
    this.skip = start.lines;
    try {
      this.size = (await stat(this.file)).size;
      const fh = await open(this.file, 'r');
      const head = Buffer.alloc(ARROW_MAGIC.length);
      await fh.read(head, 0, head.length, 0);
      this.fileFormat = head.toString('latin1') === ARROW_MAGIC;
      if (this.fileFormat) {
        this.handle = fh;
        this.reader = await RecordBatchReader.from(fh);
      } else {
        await fh.close();
        this.fileStream = createReadStream(this.file, { highWaterMark: 1 << 20 });
        this.reader = await RecordBatchReader.from(this.fileStream);
      }
      await this.reader.open();
      this.batches = this.fileFormat ? this.reader.numRecordBatches : 0;
      this.iter = (this.reader as unknown as AsyncIterable<RecordBatch>)[Symbol.asyncIterator]();
    } catch (cause) {
      await this.close();
      if (cause instanceof InputError) throw cause;
      throw new InputError(`not a readable Arrow IPC file: ${(cause as Error).message}`, { file: this.file, cause });
    }
  }

  async nextChunk(): Promise<ReaderChunk | null> {
    if (!this.iter) throw new InputError('reader not opened', { file: this.file });
    for (;;) {
      const cur = this.cur;
      if (cur !== undefined && cur.next < cur.rows) {
        const chunk = this.piece(cur);
        if (chunk.length > 0) return chunk;
        continue;
      }
      this.cur = undefined;
      if (this.ended) return null;
      let r: IteratorResult<RecordBatch>;
      try {
        // The batch read ahead while the previous one was consumed (file I/O overlaps decoding
        // and processing), then the read of the one after it starts.
        const iter = this.iter;
        const ahead = this.ahead ?? Promise.resolve(iter.next());
        this.ahead = undefined;
        r = await ahead;
        if (!r.done) {
          const next = Promise.resolve(iter.next());
          // Observed here; awaited (and its failure reported) when its turn comes.
          next.catch(() => undefined);
          this.ahead = next;
        }
      } catch (cause) {
        throw new InputError(`cannot read after row ${this.row}: ${(cause as Error).message}`, {
          file: this.file,
          line: this.row,
          cause,
        });
      }
      if (r.done) {
        this.ended = true;
        return null;
      }
      this.batchesRead++;
      const batch = r.value;
      const rows = batch.numRows;
      if (this.skip >= rows) {
        this.skip -= rows;
        this.row += rows;
        continue;
      }
      this.cur = this.decode(batch);
    }
  }

  /** Decodes a batch's columns and checks them; its records are built a piece at a time. */
  private decode(batch: RecordBatch): DecodedBatch {
    const fields = batch.schema.fields;
    const names: string[] = [];
    const cols: Column[] = [];
    let hasType = false;
    for (let c = 0; c < fields.length; c++) {
      const data = batch.data.children[c]! as Data;
      const name = fields[c]!.name;
      if (name === 'type') hasType = true;
      names.push(name);
      cols.push(decodeColumn(data));
    }
    const type = hasType ? undefined : this.stream;
    const first = this.skip;
    this.skip = 0;
    this.row += first;
    const rows = batch.numRows;
    // Typed columns let a whole batch be checked column by column; a batch that passes needs no
    // per-row validation (the same records, the same dead letters: none).
    const build = first < rows && columnsValid(this.stream, names, cols.map(factsOf), first, rows) ? batchBuilder(names, type, cols) : null;
    let ts: Float64Array | undefined;
    if (build !== null) {
      const tsCol = materialise(cols[names.indexOf('ts')]!);
      ts = tsCol instanceof Float64Array ? tsCol : Float64Array.from({ length: rows }, (_, i) => tsCol[i] as number);
    } else {
      for (const c of cols) materialise(c);
    }
    return { names, cols, type, rows, next: first, build, ts };
  }

  /**
   * The records of the batch's next rows (at most PIECE_ROWS of them): records are created a
   * piece at a time, so that only a few thousand are alive at once (a whole batch of them would
   * survive young-generation collections and be copied for nothing).
   */
  private piece(b: DecodedBatch): ReaderChunk {
    const from = b.next;
    const to = Math.min(b.rows, from + PIECE_ROWS);
    b.next = to;
    const n = to - from;
    if (b.build !== null) {
      const records = new Array<Record<string, unknown>>(n);
      b.build(b.cols, from, to, records);
      const lines = new Float64Array(n);
      const base = this.row;
      for (let i = 0; i < n; i++) lines[i] = base + i + 1;
      this.row += n;
      const dead: Array<DeadLetter[] | undefined> = [];
      if (this.pending !== undefined) {
        dead[0] = this.pending;
        this.pending = undefined;
      }
      return { records, ts: b.ts!.subarray(from, to), lines, ends: NO_ENDS.subarray(0, n), dead, anyDead: dead.length > 0, length: n };
    }
    const make = rowFactory(b.names, b.type);
    const values = b.cols.map((c) => c.arr!);
    const chunk = newChunk(n);
    for (let j = from; j < to; j++) {
      this.row++;
      const o = make(values, j);
      const v = validateEvent(this.stream, o);
      if (!v.ok) {
        const d: DeadLetter = { source: this.file, line: this.row, reason: v.reason, raw: rowToJson(o), stream: this.stream };
        if (v.field !== undefined) d.field = v.field;
        (this.pending ??= []).push(d);
        continue;
      }
      pushRecord(chunk, o, this.row, -1, this.pending);
      this.pending = undefined;
    }
    return finishChunk(chunk);
  }

  takeTrailingDeadLetters(): DeadLetter[] {
    const p = this.pending ?? [];
    this.pending = undefined;
    return p;
  }

  bytesRead(): number {
    if (this.ended) return this.size;
    if (this.fileFormat) return this.batches > 0 ? Math.round((this.size * this.batchesRead) / this.batches) : 0;
    return this.fileStream?.bytesRead ?? 0;
  }

  totalBytes(): number {
    return this.size;
  }

  linesRead(): number {
    return this.row;
  }

  endOffset(): number {
    return -1;
  }

  async close(): Promise<void> {
    this.cur = undefined;
    await this.ahead?.catch(() => undefined);
    this.ahead = undefined;
    const reader = this.reader;
    this.reader = undefined;
    this.iter = undefined;
    try {
      await reader?.cancel();
    } catch {
      // Closing is best effort: the file is done with either way.
    }
    try {
      await this.handle?.close();
    } catch {
      // Already closed by the Arrow reader.
    }
    this.handle = undefined;
    this.fileStream?.destroy();
    this.fileStream = undefined;
  }
}
