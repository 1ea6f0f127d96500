/**
 * Loads Arrow IPC snapshot files into DuckDB tables, column by column: numeric, timestamp and
 * validity buffers are copied straight from the Arrow buffers into DuckDB data chunks, dictionary
 * columns become DuckDB ENUM chunks (their index buffer converted, never a string per row), and
 * the appender casts each chunk to the table's column types. No SQL text carries any value.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import duckdb from '@duckdb/node-bindings';
import { DuckDBDataChunk, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { RecordBatchReader, tableFromIPC, TimeUnit, Type, Vector as VectorCtor, type Data, type Field, type Schema, type Vector } from 'apache-arrow';
import { InputError } from '../core/errors.js';

/**
 * A file that could not be loaded, and why.
 *
 * @example { file: 'out/snapshots/market/1710513000000.arrow', message: 'truncated Arrow IPC file: ...' }
 */
export interface LoadError {
  file: string;
  message: string;
}

/**
 * A table made from a folder of snapshot files.
 *
 * @example report.tables.find((t) => t.name === 'positions')?.rows
 */
export interface LoadedTable {
  name: string;
  files: number;
  rows: number;
  columns: Array<{ name: string; type: string }>;
  /** The table has `snapshot_time`, so a `latest_<name>` view was made. */
  latestView: boolean;
}

/**
 * What {@link loadSnapshots} did: tables, skipped files, rows, bytes and time.
 *
 * @example console.log(`${report.rows} rows in ${report.ms.toFixed(0)} ms`)
 */
export interface LoadReport {
  dir: string;
  tables: LoadedTable[];
  errors: LoadError[];
  files: number;
  rows: number;
  bytes: number;
  ms: number;
  /** Where the time went (ms): file schemas, reading files, decoding into chunks, DuckDB's appender. */
  phases: { schema: number; read: number; decode: number; append: number };
}

const FOLDER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAGIC = 'ARROW1';
const VECTOR_SIZE = duckdb.vector_size();

/**
 * Quotes an identifier for DuckDB.
 *
 * @example ident('latest_positions') // '"latest_positions"'
 */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function fail(file: string, message: string): never {
  throw new InputError(message, { file });
}

/**
 * Checks the framing of an Arrow IPC file before handing it to the Arrow reader, whose own errors
 * on a cut file are cryptic ("Cannot read properties of null").
 */
function checkFraming(file: string, head: Buffer, tail: Buffer, size: number): void {
  const h = head.subarray(0, 6).toString('latin1');
  if (h === MAGIC) {
    if (size < 12 || tail.subarray(tail.length - 6).toString('latin1') !== MAGIC) {
      fail(file, `truncated Arrow IPC file: it ends without the ARROW1 footer (${size} bytes; was the write interrupted?)`);
    }
    return;
  }
  // The IPC stream format starts with a continuation marker (0xFFFFFFFF) and a message length.
  if (size >= 8 && head.readUInt32LE(0) === 0xffffffff) return;
  fail(file, `not an Arrow IPC file: it does not start with the ARROW1 magic (${size} bytes)`);
}

async function readSchema(file: string): Promise<{ schema: Schema; bytes: number }> {
  const fh = await open(file);
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(8, size));
    await fh.read(head, 0, head.length, 0);
    const tail = Buffer.alloc(Math.min(6, size));
    await fh.read(tail, 0, tail.length, Math.max(0, size - tail.length));
    checkFraming(file, head, tail, size);
    try {
      const reader = await RecordBatchReader.from(fh);
      await reader.open();
      return { schema: reader.schema, bytes: size };
    } catch (e) {
      fail(file, `corrupt Arrow IPC file: ${(e as Error).message}`);
    }
  } finally {
    await fh.close();
  }
}

/** The DuckDB column type a table gets for an Arrow field. */
function duckTypeOf(f: Field): string {
  const t = f.type as { typeId: Type; bitWidth?: number; isSigned?: boolean; precision?: number; timezone?: string | null; dictionary?: { typeId: Type } };
  switch (t.typeId) {
    case Type.Float:
      return t.precision === 0 || t.precision === 1 ? 'FLOAT' : 'DOUBLE';
    case Type.Int: {
      const base = { 8: 'TINYINT', 16: 'SMALLINT', 32: 'INTEGER', 64: 'BIGINT' }[t.bitWidth ?? 64] ?? 'BIGINT';
      return t.isSigned === false ? `U${base}` : base;
    }
    case Type.Timestamp:
      return t.timezone ? 'TIMESTAMPTZ' : 'TIMESTAMP';
    case Type.Bool:
      return 'BOOLEAN';
    case Type.Date:
      return 'DATE';
    default:
      return 'VARCHAR';
  }
}

const NUMERIC = new Set(['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'FLOAT', 'DOUBLE']);

/** One type for a column that files type differently: one every file's type casts to. */
function unify(a: string, b: string): string {
  if (a === b) return a;
  if (NUMERIC.has(a) && NUMERIC.has(b)) return 'DOUBLE';
  if ((a === 'TIMESTAMP' || a === 'TIMESTAMPTZ') && (b === 'TIMESTAMP' || b === 'TIMESTAMPTZ')) return 'TIMESTAMPTZ';
  return 'VARCHAR';
}

interface ColumnPlan {
  /** Logical type of the chunk vector. */
  type: duckdb.LogicalType;
  /** Throws, naming the file and column, unless the column's buffers are sound for `n` rows. */
  check(data: Data, n: number): void;
  /** Copies rows [start, start + n) into the vector (after `check`, so it cannot fail). */
  fill(data: Data, start: number, n: number, vec: duckdb.Vector): void;
}

function checkValidity(file: string, field: string, data: Data, n: number): void {
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) return;
  if (data.nullBitmap.length < (data.offset + n + 7) >> 3) fail(file, `column '${field}': validity buffer shorter than the column (corrupt file)`);
}

function copyValidity(data: Data, start: number, n: number, vec: duckdb.Vector): void {
  if (data.nullCount === 0) return;
  const bitmap = data.nullBitmap;
  if (!bitmap || bitmap.length === 0) return;
  const bit0 = data.offset + start;
  const bytes = (n + 7) >> 3;
  duckdb.vector_ensure_validity_writable(vec);
  if ((bit0 & 7) === 0) {
    // Arrow's validity bitmap and DuckDB's validity mask have the same bit order: copy bytes.
    duckdb.copy_data_to_vector_validity(vec, 0, bitmap.buffer as ArrayBuffer, bitmap.byteOffset + (bit0 >> 3), bytes);
    return;
  }
  // A sliced column whose bits do not start on a byte: realign them.
  const out = new Uint8Array(bytes);
  for (let i = 0; i < n; i++) {
    const b = bit0 + i;
    if ((bitmap[b >> 3]! >> (b & 7)) & 1) out[i >> 3]! |= 1 << (i & 7);
  }
  duckdb.copy_data_to_vector_validity(vec, 0, out.buffer, 0, bytes);
}

function allNull(vec: duckdb.Vector, n: number): void {
  duckdb.vector_ensure_validity_writable(vec);
  const zeros = new Uint8Array((n + 7) >> 3);
  duckdb.copy_data_to_vector_validity(vec, 0, zeros.buffer, 0, zeros.length);
}

function fixedWidth(file: string, name: string, type: duckdb.Type, width: number): ColumnPlan {
  return {
    type: duckdb.create_logical_type(type),
    check(data, n) {
      const values = data.values as ArrayBufferView | undefined;
      if (!values || values.byteLength < (data.offset + n) * width) fail(file, `column '${name}': data buffer shorter than the column (corrupt file)`);
      checkValidity(file, name, data, n);
    },
    fill(data, start, n, vec) {
      const values = data.values as ArrayBufferView;
      duckdb.copy_data_to_vector(vec, 0, values.buffer as ArrayBuffer, values.byteOffset + (data.offset + start) * width, n * width);
      copyValidity(data, start, n, vec);
    },
  };
}

function utf8Plan(file: string, name: string): ColumnPlan {
  return {
    type: duckdb.create_logical_type(duckdb.Type.VARCHAR),
    check(data, n) {
      const offsets = data.valueOffsets as Int32Array | undefined;
      const bytes = data.values as Uint8Array | undefined;
      const o = data.offset;
      if (!offsets || !bytes || offsets.length < o + n + 1) fail(file, `column '${name}': offsets buffer shorter than the column (corrupt file)`);
      let prev = offsets[o]!;
      if (prev < 0) fail(file, `column '${name}': string offsets out of range (corrupt file)`);
      for (let i = 1; i <= n; i++) {
        const x = offsets[o + i]!;
        if (x < prev || x > bytes.length) fail(file, `column '${name}': string offsets out of range (corrupt file)`);
        prev = x;
      }
      checkValidity(file, name, data, n);
    },
    fill(data, start, n, vec) {
      const offsets = data.valueOffsets as Int32Array;
      const bytes = data.values as Uint8Array;
      const o = data.offset + start;
      copyValidity(data, start, n, vec);
      const checkNulls = data.nullCount > 0;
      for (let i = 0; i < n; i++) {
        if (checkNulls && !data.getValid(start + i)) continue;
        duckdb.vector_assign_string_element_len(vec, i, bytes.subarray(offsets[o + i]!, offsets[o + i + 1]!));
      }
    },
  };
}

function boolPlan(file: string, name: string): ColumnPlan {
  return {
    type: duckdb.create_logical_type(duckdb.Type.BOOLEAN),
    check(data, n) {
      const bits = data.values as Uint8Array | undefined;
      if (!bits || bits.length < (data.offset + n + 7) >> 3) fail(file, `column '${name}': data buffer shorter than the column (corrupt file)`);
      checkValidity(file, name, data, n);
    },
    fill(data, start, n, vec) {
      const bits = data.values as Uint8Array;
      const out = new Uint8Array(n);
      const b0 = data.offset + start;
      for (let i = 0; i < n; i++) out[i] = (bits[(b0 + i) >> 3]! >> ((b0 + i) & 7)) & 1;
      duckdb.copy_data_to_vector(vec, 0, out.buffer, 0, n);
      copyValidity(data, start, n, vec);
    },
  };
}

/**
 * A dictionary column becomes an ENUM chunk over the file's dictionary: the Arrow index buffer is
 * narrowed to the ENUM's index width; the appender casts ENUM to the table's VARCHAR in C++, which
 * is several times cheaper than handing DuckDB one string per row.
 */
function dictionaryPlan(file: string, name: string, dictionary: Vector): ColumnPlan | undefined {
  const raw = dictionary.toArray() as ArrayLike<unknown>;
  const members: string[] = [];
  const seen = new Map<string, number>();
  const remap = new Uint32Array(raw.length);
  let identity = true;
  for (let i = 0; i < raw.length; i++) {
    const str = String(raw[i]);
    let k = seen.get(str);
    if (k === undefined) {
      k = members.length;
      seen.set(str, k);
      members.push(str);
    }
    remap[i] = k;
    if (k !== i) identity = false;
  }
  if (members.length === 0) return undefined;
  const type = duckdb.create_enum_type(members);
  const internal = duckdb.enum_internal_type(type);
  const Out = internal === duckdb.Type.UTINYINT ? Uint8Array : internal === duckdb.Type.USMALLINT ? Uint16Array : Uint32Array;
  const size = raw.length;
  let out = new Out(VECTOR_SIZE);
  return {
    type,
    check(data, n) {
      const idx = data.values as ArrayLike<number> | undefined;
      const o = data.offset;
      if (!idx || idx.length < o + n) fail(file, `column '${name}': index buffer shorter than the column (corrupt file)`);
      checkValidity(file, name, data, n);
      const nulls = data.nullCount > 0;
      for (let i = 0; i < n; i++) {
        const k = idx[o + i]!;
        // An index past the dictionary would make DuckDB read outside the ENUM: never let one through.
        if ((k < 0 || k >= size) && (!nulls || data.getValid(i))) fail(file, `column '${name}': dictionary index ${k} out of range 0..${size - 1} (corrupt file)`);
      }
    },
    fill(data, start, n, vec) {
      const idx = data.values as ArrayLike<number>;
      const o = data.offset + start;
      if (out.length < n) out = new Out(n);
      for (let i = 0; i < n; i++) {
        const k = idx[o + i]!;
        out[i] = k >= 0 && k < size ? (identity ? k : remap[k]!) : 0;
      }
      duckdb.copy_data_to_vector(vec, 0, out.buffer, 0, n * out.BYTES_PER_ELEMENT);
      copyValidity(data, start, n, vec);
    },
  };
}

/** Anything else: each value through JS as text (JSON for nested values). Slow, and rare. */
function textPlan(): ColumnPlan {
  return {
    type: duckdb.create_logical_type(duckdb.Type.VARCHAR),
    check() {},
    fill(data, start, n, vec) {
      copyValidity(data, start, n, vec);
      for (let i = 0; i < n; i++) {
        if (!data.getValid(start + i)) continue;
        const x = getValue(data, start + i);
        const s = typeof x === 'string' ? x : typeof x === 'bigint' ? x.toString() : JSON.stringify(x, (_k, y) => (typeof y === 'bigint' ? y.toString() : y));
        duckdb.vector_assign_string_element(vec, i, s ?? '');
      }
    },
  };
}

const single = new WeakMap<Data, Vector>();
function getValue(data: Data, i: number): unknown {
  let v = single.get(data);
  if (!v) {
    v = new VectorCtor([data]);
    single.set(data, v);
  }
  const x = v.get(i) as unknown;
  return x && typeof x === 'object' && 'toJSON' in x ? (x as { toJSON(): unknown }).toJSON() : x;
}

/**
 * An Arrow timestamp with a time zone is an instant: it goes into a TIMESTAMP WITH TIME ZONE
 * vector as epoch microseconds, converted here. (Letting DuckDB cast TIMESTAMP_MS to TIMESTAMPTZ
 * would read the value as wall-clock time in the session's zone, and costs an ICU call a row.)
 */
function instantPlan(file: string, name: string, unit: number): ColumnPlan {
  if (unit === TimeUnit.MICROSECOND) return fixedWidth(file, name, duckdb.Type.TIMESTAMP_TZ, 8);
  const base = fixedWidth(file, name, duckdb.Type.TIMESTAMP_TZ, 8);
  const mult = unit === TimeUnit.SECOND ? 1_000_000 : 1000;
  let out = new Uint32Array(VECTOR_SIZE * 2);
  return {
    type: base.type,
    check: base.check,
    fill(data, start, n, vec) {
      const values = data.values as BigInt64Array;
      const o = data.offset + start;
      if (out.length < n * 2) out = new Uint32Array(n * 2);
      if (unit === TimeUnit.NANOSECOND) {
        const o64 = new BigInt64Array(out.buffer, 0, n);
        for (let i = 0; i < n; i++) o64[i] = values[o + i]! / 1000n;
      } else {
        // int64 through two 32-bit halves: exact for |micros| < 2^53 (year 287,396), no BigInt per row.
        const lo = new Uint32Array(values.buffer, values.byteOffset + o * 8, n * 2);
        const hi = new Int32Array(values.buffer, values.byteOffset + o * 8, n * 2);
        for (let i = 0; i < n; i++) {
          const m = (hi[2 * i + 1]! * 4294967296 + lo[2 * i]!) * mult;
          const h = Math.floor(m / 4294967296);
          out[2 * i] = m - h * 4294967296;
          out[2 * i + 1] = h;
        }
      }
      duckdb.copy_data_to_vector(vec, 0, out.buffer, 0, n * 8);
      copyValidity(data, start, n, vec);
    },
  };
}

const TS_TYPES: Record<number, duckdb.Type> = {
  [TimeUnit.SECOND]: duckdb.Type.TIMESTAMP_S,
  [TimeUnit.MILLISECOND]: duckdb.Type.TIMESTAMP_MS,
  [TimeUnit.MICROSECOND]: duckdb.Type.TIMESTAMP,
  [TimeUnit.NANOSECOND]: duckdb.Type.TIMESTAMP_NS,
};

function planColumn(file: string, name: string, data: Data): ColumnPlan {
  const t = data.type as { typeId: Type; bitWidth?: number; isSigned?: boolean; precision?: number; unit?: number; dictionary?: { typeId: Type } };
  switch (t.typeId) {
    case Type.Float:
      if (t.precision === 2) return fixedWidth(file, name, duckdb.Type.DOUBLE, 8);
      if (t.precision === 1) return fixedWidth(file, name, duckdb.Type.FLOAT, 4);
      return textPlan();
    case Type.Int: {
      const signed = t.isSigned !== false;
      const byWidth: Record<number, [duckdb.Type, duckdb.Type]> = {
        8: [duckdb.Type.TINYINT, duckdb.Type.UTINYINT],
        16: [duckdb.Type.SMALLINT, duckdb.Type.USMALLINT],
        32: [duckdb.Type.INTEGER, duckdb.Type.UINTEGER],
        64: [duckdb.Type.BIGINT, duckdb.Type.UBIGINT],
      };
      const pair = byWidth[t.bitWidth ?? 0];
      return pair ? fixedWidth(file, name, signed ? pair[0] : pair[1], (t.bitWidth ?? 8) / 8) : textPlan();
    }
    case Type.Timestamp:
      if ((t as { timezone?: string | null }).timezone) return instantPlan(file, name, t.unit ?? TimeUnit.MILLISECOND);
      return fixedWidth(file, name, TS_TYPES[t.unit ?? TimeUnit.MILLISECOND]!, 8);
    case Type.Date:
      return t.unit === 0 ? fixedWidth(file, name, duckdb.Type.DATE, 4) : textPlan();
    case Type.Bool:
      return boolPlan(file, name);
    case Type.Utf8:
      return utf8Plan(file, name);
    case Type.Dictionary: {
      const dict = data.dictionary;
      if (t.dictionary?.typeId === Type.Utf8 && dict) {
        const plan = dictionaryPlan(file, name, dict);
        if (plan) return plan;
        // An empty dictionary: every row is null.
        return { type: duckdb.create_logical_type(duckdb.Type.VARCHAR), check() {}, fill: (_d, _s, n, vec) => allNull(vec, n) };
      }
      return textPlan();
    }
    default:
      return textPlan();
  }
}

interface PlannedBatch {
  n: number;
  datas: Array<Data | undefined>;
  plans: Array<ColumnPlan | undefined>;
  types: duckdb.LogicalType[];
}

/**
 * Decodes one file and checks every column of every batch, before a single row is appended: a
 * bad file adds no rows at all. Columns the file lacks are null.
 */
function planFile(file: string, bytes: Uint8Array, columns: ReadonlyArray<{ name: string; type: string }>): PlannedBatch[] {
  let table;
  try {
    table = tableFromIPC(bytes);
  } catch (e) {
    fail(file, `corrupt Arrow IPC file: ${(e as Error).message}`);
  }
  const byName = new Map(table.schema.fields.map((f, i) => [f.name, i] as const));
  const nullTypes = columns.map((c) => duckdb.create_logical_type(duckdbType(c.type)));
  const out: PlannedBatch[] = [];
  // A plan (and its ENUM type) per column and dictionary, shared by the file's batches.
  const plans = new Map<number, { dict: unknown; plan: ColumnPlan }>();
  let prev: PlannedBatch | undefined;
  for (const batch of table.batches) {
    const n = batch.numRows;
    const datas = columns.map((c) => {
      const i = byName.get(c.name);
      return i === undefined ? undefined : batch.data.children[i];
    });
    let same = prev !== undefined;
    const batchPlans = datas.map((d, j) => {
      if (!d) return undefined;
      if (d.length < n) fail(file, `column '${columns[j]!.name}' is shorter than its record batch (corrupt file)`);
      const had = plans.get(j);
      if (had && had.dict === d.dictionary) return had.plan;
      const plan = planColumn(file, columns[j]!.name, d);
      plans.set(j, { dict: d.dictionary, plan });
      same = false;
      return plan;
    });
    batchPlans.forEach((p, j) => p?.check(datas[j]!, n));
    const types = same ? prev!.types : batchPlans.map((p, j) => p?.type ?? nullTypes[j]!);
    prev = { n, datas, plans: batchPlans, types };
    out.push(prev);
  }
  return out;
}

/** Appends a checked file through one reused data chunk (a new one only when the types change). */
function appendFile(appender: DuckDBAppender, batches: PlannedBatch[]): number {
  let rows = 0;
  let types: duckdb.LogicalType[] | undefined;
  let raw: duckdb.DataChunk | undefined;
  let chunk: DuckDBDataChunk | undefined;
  for (const b of batches) {
    if (b.types !== types) {
      types = b.types;
      raw = duckdb.create_data_chunk(types);
      chunk = new DuckDBDataChunk(raw);
    }
    const vecs = b.datas.map((_, j) => duckdb.data_chunk_get_vector(raw!, j));
    for (let start = 0; start < b.n; start += VECTOR_SIZE) {
      const len = Math.min(VECTOR_SIZE, b.n - start);
      duckdb.data_chunk_reset(raw!);
      for (let j = 0; j < vecs.length; j++) {
        const p = b.plans[j];
        if (p) p.fill(b.datas[j]!, start, len, vecs[j]!);
        else allNull(vecs[j]!, len);
      }
      duckdb.data_chunk_set_size(raw!, len);
      appender.appendDataChunk(chunk!);
      rows += len;
    }
  }
  return rows;
}

function duckdbType(name: string): duckdb.Type {
  const m: Record<string, duckdb.Type> = {
    TINYINT: duckdb.Type.TINYINT,
    SMALLINT: duckdb.Type.SMALLINT,
    INTEGER: duckdb.Type.INTEGER,
    BIGINT: duckdb.Type.BIGINT,
    UTINYINT: duckdb.Type.UTINYINT,
    USMALLINT: duckdb.Type.USMALLINT,
    UINTEGER: duckdb.Type.UINTEGER,
    UBIGINT: duckdb.Type.UBIGINT,
    FLOAT: duckdb.Type.FLOAT,
    DOUBLE: duckdb.Type.DOUBLE,
    TIMESTAMP: duckdb.Type.TIMESTAMP,
    TIMESTAMPTZ: duckdb.Type.TIMESTAMP_TZ,
    BOOLEAN: duckdb.Type.BOOLEAN,
    DATE: duckdb.Type.DATE,
  };
  return m[name] ?? duckdb.Type.VARCHAR;
}

/**
 * The whole file in one read: readFile reads in 512 KB steps, each waiting for the event loop,
 * which the synchronous decode and append of the previous file keep busy.
 */
async function readWhole(file: string): Promise<Buffer> {
  const fh = await open(file);
  try {
    const { size } = await fh.stat();
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

/** Snapshot files of a table folder, in snapshot-time order (numeric names first). */
async function tableFiles(folder: string): Promise<string[]> {
  const names = (await readdir(folder)).filter((n) => n.endsWith('.arrow') && !n.startsWith('.'));
  const num = (n: string) => (/^-?\d+\.arrow$/.test(n) ? Number(n.slice(0, -6)) : Number.NaN);
  names.sort((a, b) => {
    const x = num(a);
    const y = num(b);
    if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
    if (Number.isNaN(x) !== Number.isNaN(y)) return Number.isNaN(x) ? 1 : -1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return names.map((n) => join(folder, n));
}

/**
 * Options of {@link loadSnapshots}.
 *
 * @example await loadSnapshots(conn, dir, { tables: ['positions', 'market'] })
 */
export interface LoadOptions {
  /** Load only these tables (folder names). */
  tables?: readonly string[];
}

/**
 * Loads a snapshots folder (`<dir>/<table>/<time>.arrow`) into DuckDB: one table per folder,
 * named after it, with the union of its files' columns (a column that files type differently
 * gets a type all of them cast to), rows in snapshot-time order; and a view `latest_<table>`
 * with the rows of the table's last `snapshot_time`. A file that is not valid Arrow IPC
 * (truncated, corrupt, wrong format) is skipped whole and reported in `errors` with its path; the
 * other files still load. Throws an InputError only when `dir` itself cannot be read.
 *
 * @example
 * const report = await loadSnapshots(connection, 'out/snapshots');
 * for (const e of report.errors) console.error(`skipped ${e.file}: ${e.message}`);
 */
export async function loadSnapshots(conn: DuckDBConnection, dir: string, opts: LoadOptions = {}): Promise<LoadReport> {
  const t0 = performance.now();
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new InputError(`no snapshots folder at ${dir} (run \`riskflow replay\` first, or give --snapshots <dir>)`, { file: dir });
  const report: LoadReport = { dir, tables: [], errors: [], files: 0, rows: 0, bytes: 0, ms: 0, phases: { schema: 0, read: 0, decode: 0, append: 0 } };
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const name of entries) {
    if (opts.tables && !opts.tables.includes(name)) continue;
    if (!FOLDER.test(name) || name.startsWith('latest_')) {
      report.errors.push({ file: join(dir, name), message: `folder skipped: '${name}' cannot be a table name (letters, digits and '_'; not starting with latest_)` });
      continue;
    }
    const table = await loadTable(conn, name, join(dir, name), report);
    if (table) report.tables.push(table);
  }
  report.ms = performance.now() - t0;
  return report;
}

async function loadTable(conn: DuckDBConnection, name: string, folder: string, report: LoadReport): Promise<LoadedTable | undefined> {
  const files = await tableFiles(folder);
  const good: string[] = [];
  const columns: LoadedTable['columns'] = [];
  const index = new Map<string, number>();
  const ph = report.phases;
  let t = performance.now();
  for (const file of files) {
    try {
      const { schema } = await readSchema(file);
      for (const f of schema.fields) {
        const ty = duckTypeOf(f);
        const at = index.get(f.name);
        if (at === undefined) {
          index.set(f.name, columns.length);
          columns.push({ name: f.name, type: ty });
        } else {
          columns[at]!.type = unify(columns[at]!.type, ty);
        }
      }
      good.push(file);
    } catch (e) {
      report.errors.push(asLoadError(file, e));
    }
  }
  ph.schema += performance.now() - t;
  if (columns.length === 0) return undefined;
  // snapshot_time first, whatever order the files had.
  const st = columns.findIndex((c) => c.name === 'snapshot_time');
  if (st > 0) columns.unshift(...columns.splice(st, 1));
  const q = ident(name);
  await conn.run(`CREATE OR REPLACE TABLE ${q} (${columns.map((c) => `${ident(c.name)} ${c.type}`).join(', ')})`);
  const appender: DuckDBAppender = await conn.createAppender(name);
  const out: LoadedTable = { name, files: 0, rows: 0, columns, latestView: st >= 0 };
  let next = good.length ? readWhole(good[0]!) : undefined;
  for (let i = 0; i < good.length; i++) {
    const file = good[i]!;
    let bytes: Buffer;
    t = performance.now();
    try {
      bytes = await next!;
      ph.read += performance.now() - t;
    } catch (e) {
      report.errors.push(asLoadError(file, e));
      next = i + 1 < good.length ? readWhole(good[i + 1]!) : undefined;
      continue;
    }
    // Read the next file while this one is decoded and appended.
    next = i + 1 < good.length ? readWhole(good[i + 1]!) : undefined;
    next?.catch(() => undefined);
    try {
      t = performance.now();
      const planned = planFile(file, bytes, columns);
      ph.decode += performance.now() - t;
      t = performance.now();
      const rows = appendFile(appender, planned);
      ph.append += performance.now() - t;
      out.files++;
      out.rows += rows;
      report.files++;
      report.rows += rows;
      report.bytes += bytes.byteLength;
    } catch (e) {
      report.errors.push(asLoadError(file, e));
    }
  }
  t = performance.now();
  appender.closeSync();
  ph.append += performance.now() - t;
  if (out.latestView) {
    await conn.run(
      `CREATE OR REPLACE VIEW ${ident(`latest_${name}`)} AS SELECT * FROM ${q} WHERE snapshot_time = (SELECT max(snapshot_time) FROM ${q})`,
    );
  }
  return out;
}

function asLoadError(file: string, e: unknown): LoadError {
  if (e instanceof InputError) return { file: e.file ?? file, message: e.message };
  return { file, message: (e as Error)?.message ?? String(e) };
}
