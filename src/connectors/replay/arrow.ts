import { createReadStream, type ReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import {
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
import { validateEvent, type DeadLetter, type StreamName } from '../events.js';
import { newChunk, type EventReader, type ReaderChunk, type ReaderStart } from './reader.js';

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

/** Null cells become `undefined` (a missing field to validateEvent; dropped by JSON.stringify). */
function withNulls(values: ArrayLike<unknown>, data: Data): ArrayLike<unknown> {
  if (data.nullCount === 0) return values;
  const out = Array.from(values as ArrayLike<unknown>);
  for (let i = 0; i < out.length; i++) if (!data.getValid(i)) out[i] = undefined;
  return out;
}

const dictionaryCache = new WeakMap<object, unknown[]>();

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
function decodeColumn(data: Data): ArrayLike<unknown> {
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
      let decoded = dictionaryCache.get(dict);
      if (!decoded) {
        decoded = new Array<unknown>(dict.length);
        for (let i = 0; i < dict.length; i++) decoded[i] = normalise(dict.get(i));
        dictionaryCache.set(dict, decoded);
      }
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
 * const chunk = await r.nextChunk(); // up to one record batch of validated records
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
    while (!this.ended) {
      let r: IteratorResult<RecordBatch>;
      try {
        r = await this.iter.next();
      } catch (cause) {
        throw new InputError(`cannot read after row ${this.row}: ${(cause as Error).message}`, {
          file: this.file,
          line: this.row,
          cause,
        });
      }
      if (r.done) {
        this.ended = true;
        break;
      }
      this.batchesRead++;
      const batch = r.value;
      const rows = batch.numRows;
      if (this.skip >= rows) {
        this.skip -= rows;
        this.row += rows;
        continue;
      }
      const chunk = this.convert(batch);
      if (chunk.length > 0) return chunk;
    }
    return null;
  }

  private convert(batch: RecordBatch): ReaderChunk {
    const fields = batch.schema.fields;
    const names: string[] = [];
    const values: ArrayLike<unknown>[] = [];
    let hasType = false;
    for (let c = 0; c < fields.length; c++) {
      const data = batch.data.children[c]! as Data;
      const name = fields[c]!.name;
      if (name === 'type') hasType = true;
      names.push(name);
      values.push(withNulls(decodeColumn(data), data));
    }
    const make = rowFactory(names, hasType ? undefined : this.stream);
    const chunk = newChunk();
    const first = this.skip;
    this.skip = 0;
    this.row += first;
    for (let j = first; j < batch.numRows; j++) {
      this.row++;
      const o = make(values, j);
      const v = validateEvent(this.stream, o);
      if (!v.ok) {
        const d: DeadLetter = { source: this.file, line: this.row, reason: v.reason, raw: rowToJson(o), stream: this.stream };
        if (v.field !== undefined) d.field = v.field;
        (this.pending ??= []).push(d);
        continue;
      }
      const i = chunk.length++;
      chunk.records[i] = o;
      chunk.lines[i] = this.row;
      chunk.ends[i] = -1;
      chunk.dead[i] = this.pending;
      this.pending = undefined;
    }
    return chunk;
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
