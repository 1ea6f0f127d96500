/**
 * Arrow snapshots of risk state (CONTRACTS.md section 5): every snapshot table is written, at each
 * snapshot time T, to `<dir>/<table>/<T ms>.arrow` in the Arrow IPC *file* format, so pyarrow,
 * polars, DuckDB and `riskflow sql` can all read it.
 */
import { mkdirSync, readFileSync, rename as fsRename, renameSync, writeFile as fsWriteFile, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Bool,
  Dictionary,
  Field,
  Float64,
  Int32,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  Timestamp,
  TimeUnit,
  Utf8,
  Vector,
  type Data,
  type DataType,
} from 'apache-arrow';
import type { Alert } from '../core/alerts.js';
import { InputError, InternalError } from '../core/errors.js';
import { SnapshotColumns, type SnapshotRows } from '../core/snapshot-rows.js';
import { IpcFileTemplates, type IpcAlloc, type IpcColumn, type IpcSample } from './arrow-ipc-file.js';

/**
 * How a column is stored. `timestamp`: Arrow Timestamp(ms, "UTC") from epoch ms (or an ISO string);
 * `float64`: every number; `dictionary`: dictionary-encoded Utf8 (ids: few distinct values);
 * `string`: plain Utf8; `json`: Utf8 holding `JSON.stringify` of an object (a string is kept as is);
 * `bool`: Arrow Bool.
 *
 * @example const t: SnapshotColumnType = 'dictionary';
 */
export type SnapshotColumnType = 'timestamp' | 'float64' | 'dictionary' | 'string' | 'json' | 'bool';

/**
 * One column of a snapshot table.
 *
 * @example const c: SnapshotColumn = { name: 'var_99', type: 'float64' };
 */
export interface SnapshotColumn {
  name: string;
  type: SnapshotColumnType;
}

/**
 * A snapshot table's columns, without `snapshot_time` (the sink adds it as the first column).
 *
 * @example
 * const t: SnapshotTableSchema = { table: 'orders_open', columns: [{ name: 'trader_id', type: 'dictionary' }, { name: 'qty', type: 'float64' }] };
 */
export interface SnapshotTableSchema {
  table: string;
  columns: readonly SnapshotColumn[];
}

const f = (name: string): SnapshotColumn => ({ name, type: 'float64' });
const d = (name: string): SnapshotColumn => ({ name, type: 'dictionary' });
const ts = (name: string): SnapshotColumn => ({ name, type: 'timestamp' });

/**
 * The five tables of CONTRACTS.md section 5 with their column types. Ids are dictionary-encoded
 * Utf8, numbers Float64, times Timestamp(ms, UTC). `alerts` has every field of an alert
 * (CONTRACTS.md section 3) in snake_case, `entity` and `details` as JSON text.
 *
 * @example
 * SNAPSHOT_TABLES.positions.columns.map((c) => c.name) // ['trader_id', 'instrument', 'qty', ...]
 */
export const SNAPSHOT_TABLES = {
  positions: {
    table: 'positions',
    columns: [d('trader_id'), d('instrument'), f('qty'), f('avg_price'), f('mark_price'), f('notional'), f('realized_pnl'), f('unrealized_pnl')],
  },
  trader_risk: {
    table: 'trader_risk',
    columns: [
      d('trader_id'),
      f('gross_exposure'),
      f('net_exposure'),
      f('pnl'),
      f('drawdown'),
      f('concentration'),
      f('var_99'),
      f('es_99'),
      f('var_limit'),
    ],
  },
  correlations: {
    table: 'correlations',
    columns: [ts('window_start'), ts('window_end'), d('instrument_a'), d('instrument_b'), f('correlation'), f('n')],
  },
  market: {
    table: 'market',
    columns: [d('instrument'), f('mark_price'), f('spread_bps'), f('depth'), f('ret_60s'), f('luld_lower'), f('luld_upper'), d('luld_state')],
  },
  alerts: {
    table: 'alerts',
    columns: [
      { name: 'alert_id', type: 'string' },
      d('type'),
      d('severity'),
      d('topic'),
      d('rule'),
      d('topology'),
      { name: 'entity', type: 'json' },
      ts('event_time'),
      ts('window_start'),
      ts('window_end'),
      f('value'),
      f('threshold'),
      { name: 'message', type: 'string' },
      { name: 'details', type: 'json' },
      ts('emitted_at'),
    ],
  },
} as const satisfies Record<string, SnapshotTableSchema>;

/**
 * Names of the contract's tables.
 *
 * @example const t: ContractTable = 'trader_risk';
 */
export type ContractTable = keyof typeof SNAPSHOT_TABLES;

const declared = new Map<string, SnapshotTableSchema>(Object.values(SNAPSHOT_TABLES).map((t) => [t.table, t]));

/**
 * A table name that is a folder name and a SQL identifier without quoting.
 *
 * @example TABLE_NAME.test('trader_risk') // true
 */
export const TABLE_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * Declares the schema of an extra snapshot table, so its files have stable column types from the
 * first snapshot on (a table nobody declares gets types inferred from its first rows: numbers
 * Float64, strings Utf8, booleans Bool, objects JSON). A step type's module calls this at import,
 * next to `registerStepType`. Declaring a contract table, or one name twice with other columns,
 * throws.
 *
 * @example
 * defineSnapshotTable({ table: 'order_book', columns: [{ name: 'instrument', type: 'dictionary' }, { name: 'bid', type: 'float64' }] });
 */
export function defineSnapshotTable(schema: SnapshotTableSchema): void {
  if (!TABLE_NAME.test(schema.table)) {
    throw new InternalError(`snapshot table '${schema.table}': a table name is lower-case letters, digits and '_' (it is a folder and a SQL name)`);
  }
  const names = new Set<string>();
  for (const c of schema.columns) {
    if (c.name === 'snapshot_time' || names.has(c.name)) throw new InternalError(`snapshot table '${schema.table}': column '${c.name}' is repeated or reserved`);
    names.add(c.name);
  }
  const prev = declared.get(schema.table);
  if (prev) {
    if (JSON.stringify(prev.columns) === JSON.stringify(schema.columns)) return;
    throw new InternalError(`snapshot table '${schema.table}' is already declared with other columns`);
  }
  declared.set(schema.table, { table: schema.table, columns: schema.columns.map((c) => ({ ...c })) });
}

/**
 * The declared schema of a table (a contract table or one given to {@link defineSnapshotTable}),
 * or undefined when its columns will be inferred.
 *
 * @example snapshotTableSchema('positions')?.columns.length // 8
 */
export function snapshotTableSchema(table: string): SnapshotTableSchema | undefined {
  return declared.get(table);
}

const TIMESTAMP_MS_UTC = new Timestamp(TimeUnit.MILLISECOND, 'UTC');

function arrowType(c: SnapshotColumn, id: number): DataType {
  switch (c.type) {
    case 'timestamp':
      return TIMESTAMP_MS_UTC;
    case 'float64':
      return new Float64();
    case 'dictionary':
      return new Dictionary(new Utf8(), new Int32(), id);
    case 'string':
    case 'json':
      return new Utf8();
    case 'bool':
      return new Bool();
  }
}

/**
 * The Arrow schema of a snapshot file: `snapshot_time` (Timestamp ms UTC, not null) then the
 * table's columns, all nullable.
 *
 * @example snapshotArrowSchema(SNAPSHOT_TABLES.market.columns).fields[0].name // 'snapshot_time'
 */
export function snapshotArrowSchema(columns: readonly SnapshotColumn[]): Schema {
  const fields: Field[] = [new Field('snapshot_time', TIMESTAMP_MS_UTC, false)];
  columns.forEach((c, i) => fields.push(new Field(c.name, arrowType(c, i), true)));
  return new Schema(fields);
}

function inferType(v: unknown): SnapshotColumnType | undefined {
  if (v === null || v === undefined) return undefined;
  switch (typeof v) {
    case 'number':
    case 'bigint':
      return 'float64';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    default:
      return 'json';
  }
}

/**
 * The columns a table's rows need: the known ones first (declared, or inferred earlier for this
 * table), then any new key of the rows, typed from its first non-null value. Returns `known`
 * itself when nothing is new.
 *
 * @example resolveColumns([], [{ desk: 'rates', n: 3 }]) // [{ name: 'desk', type: 'string' }, { name: 'n', type: 'float64' }]
 */
export function resolveColumns(known: readonly SnapshotColumn[], rows: SnapshotRows): readonly SnapshotColumn[] {
  if (rows instanceof SnapshotColumns) return resolveColumnsOf(known, rows);
  const have = new Set(known.map((c) => c.name));
  const names = known.map((c) => c.name);
  const m = names.length;
  let extra: Map<string, SnapshotColumnType | undefined> | undefined;
  for (const row of rows) {
    let j = 0;
    for (const k in row) {
      // Rows built with the known columns in order (every producer of the contract tables) are
      // matched position by position, without a set lookup per cell.
      if (j < m && k === names[j]) {
        j++;
        continue;
      }
      if (have.has(k) || k === 'snapshot_time') continue;
      extra ??= new Map();
      const t = extra.get(k);
      if (t === undefined) extra.set(k, inferType(row[k]));
    }
  }
  if (!extra) return known;
  const out = known.slice();
  for (const [name, type] of extra) out.push({ name, type: type ?? 'string' });
  return out;
}

/** resolveColumns for rows given as columns: the new columns in their order, typed from their first non-null cell. */
function resolveColumnsOf(known: readonly SnapshotColumn[], rows: SnapshotColumns): readonly SnapshotColumn[] {
  const have = new Set(known.map((c) => c.name));
  let out: SnapshotColumn[] | undefined;
  for (const name of Object.keys(rows.columns)) {
    if (have.has(name) || name === 'snapshot_time') continue;
    const cells = rows.columns[name]!;
    let type: SnapshotColumnType | undefined;
    for (let i = 0; i < rows.length && type === undefined; i++) type = inferType(cells[i]);
    (out ??= known.slice()).push({ name, type: type ?? 'string' });
  }
  return out ?? known;
}

function validityOf(n: number): { bits: Uint8Array; nulls: number } {
  return { bits: new Uint8Array((n + 7) >> 3).fill(0xff), nulls: 0 };
}

function toMillis(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') return Date.parse(v);
  return Number.NaN;
}

type Pluck = (rows: ReadonlyArray<Record<string, unknown>>, out: unknown[]) => void;

const plucks = new Map<string, Pluck>();

/**
 * A function copying one property of every row into `out`. It reads the property by a constant
 * name (a monomorphic load for rows of one shape); a loop reading `row[name]` with the name in a
 * variable shares one load site among every column and goes megamorphic, several times slower on
 * tables of millions of cells. Names are embedded as JSON string literals: no name can inject code.
 */
function pluck(name: string): Pluck {
  let f = plucks.get(name);
  if (!f) {
    f = new Function('rows', 'out', `for (let i = 0; i < rows.length; i++) out[i] = rows[i][${JSON.stringify(name)}];`) as Pluck;
    plucks.set(name, f);
  }
  return f;
}

/** Encodes one column from `cells[0..n)`, the column's cell of each row. */
function encodeColumn(c: SnapshotColumn, id: number, cells: ArrayLike<unknown>, n: number): Data {
  const valid = validityOf(n);
  const setNull = (i: number) => {
    valid.bits[i >> 3]! &= ~(1 << (i & 7));
    valid.nulls++;
  };
  const type = arrowType(c, id);
  switch (c.type) {
    case 'float64': {
      const out = new Float64Array(n);
      if (cells instanceof Float64Array) {
        // A column given as numbers: every cell valid, copied as it is.
        out.set(cells.subarray(0, n));
        return makeData({ type: type as Float64, length: n, data: out, nullCount: 0 });
      }
      for (let i = 0; i < n; i++) {
        const v = cells[i];
        if (typeof v === 'number') out[i] = v;
        else if (v === null || v === undefined) setNull(i);
        else out[i] = Number(v);
      }
      return makeData({ type: type as Float64, length: n, data: out, nullCount: valid.nulls, nullBitmap: valid.nulls ? valid.bits : undefined });
    }
    case 'timestamp': {
      const out = new BigInt64Array(n);
      // Runs of one time (a window's bounds on each of its rows) convert to BigInt once.
      let lastMs = Number.NaN;
      let lastBig = 0n;
      for (let i = 0; i < n; i++) {
        const v = cells[i];
        const ms = v === null || v === undefined ? Number.NaN : toMillis(v);
        if (Number.isFinite(ms)) {
          if (ms !== lastMs) {
            lastMs = ms;
            lastBig = BigInt(Math.floor(ms));
          }
          out[i] = lastBig;
        } else setNull(i);
      }
      return makeData({ type: type as Timestamp, length: n, data: out, nullCount: valid.nulls, nullBitmap: valid.nulls ? valid.bits : undefined });
    }
    case 'bool': {
      const out = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) {
        const v = cells[i];
        if (v === null || v === undefined) setNull(i);
        else if (v) out[i >> 3]! |= 1 << (i & 7);
      }
      return makeData({ type: type as Bool, length: n, data: out, nullCount: valid.nulls, nullBitmap: valid.nulls ? valid.bits : undefined });
    }
    case 'dictionary': {
      const { codes, values } = dictionaryCodes(cells, n, setNull);
      const dict = utf8Data(values, undefined);
      return makeData({
        type: type as Dictionary<Utf8, Int32>,
        length: n,
        data: codes,
        dictionary: new Vector([dict]),
        nullCount: valid.nulls,
        nullBitmap: valid.nulls ? valid.bits : undefined,
      });
    }
    case 'string':
    case 'json': {
      const strings: Array<string | undefined> = new Array(n);
      for (let i = 0; i < n; i++) {
        const v = cells[i];
        if (v === null || v === undefined) {
          setNull(i);
          strings[i] = undefined;
        } else if (typeof v === 'string') strings[i] = v;
        else strings[i] = c.type === 'json' ? JSON.stringify(v) : String(v);
      }
      return utf8Data(strings, valid.nulls ? valid : undefined);
    }
  }
}

function utf8Data(strings: ReadonlyArray<string | undefined>, valid: { bits: Uint8Array; nulls: number } | undefined): Data<Utf8> {
  const [offsets, data] = utf8Buffers(strings);
  return makeData({ type: new Utf8(), length: strings.length, valueOffsets: offsets, data, nullCount: valid?.nulls ?? 0, nullBitmap: valid?.bits });
}

/** A validity bitmap made at the first null: bytes of 0xff (all valid), a bit cleared per null. */
class Validity {
  bits: Uint8Array | undefined = undefined;
  nulls = 0;
  constructor(private readonly n: number) {}

  setNull(i: number): void {
    const bits = (this.bits ??= new Uint8Array((this.n + 7) >> 3).fill(0xff));
    bits[i >> 3]! &= ~(1 << (i & 7));
    this.nulls++;
  }
}

/**
 * One column of a snapshot as the buffers apache-arrow writes for the Data that
 * {@link encodeColumn} builds from the same cells (same values, same validity bytes).
 */
function ipcColumn(c: SnapshotColumn, cells: ArrayLike<unknown>, n: number, memo: DictionaryMemos, at: number): IpcColumn {
  switch (c.type) {
    case 'float64':
      return cells instanceof Float64Array ? float64Given(cells, n) : float64Column(cells, n);
    case 'timestamp':
      return cells instanceof Float64Array ? timestampsGiven(cells, n) : timestampColumn(cells, n);
    case 'bool':
      return boolColumn(cells, n);
    case 'dictionary':
      return dictionaryColumn(cells, n, memo, at);
    case 'string':
    case 'json':
      return stringColumn(cells, n, c.type === 'json');
  }
}

/** A column given as numbers: every cell valid, written as it is. */
function float64Given(cells: Float64Array, n: number): IpcColumn {
  let values = cells.subarray(0, n);
  if (values.length < n) (values = new Float64Array(n)).set(cells);
  return { length: n, nullCount: 0, validity: undefined, buffers: [values], dictionary: undefined };
}

function float64Column(cells: ArrayLike<unknown>, n: number): IpcColumn {
  const valid = new Validity(n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = cells[i];
    if (typeof v === 'number') out[i] = v;
    else if (v === null || v === undefined) valid.setNull(i);
    else out[i] = Number(v);
  }
  return { length: n, nullCount: valid.nulls, validity: valid.bits, buffers: [out], dictionary: undefined };
}

function timestampColumn(cells: ArrayLike<unknown>, n: number): IpcColumn {
  const valid = new Validity(n);
  const out = new BigInt64Array(n);
  // Each int64 is stored as its two 32-bit halves (as a BigInt64Array lays them out): no BigInt
  // store per cell. Runs of one time (a window's bounds on each of its rows) convert once.
  const halves = new Uint32Array(out.buffer);
  const one = new BigInt64Array(1);
  const oneHalves = new Uint32Array(one.buffer);
  let lastMs = Number.NaN;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < n; i++) {
    const v = cells[i];
    const ms = typeof v === 'number' ? v : v === null || v === undefined ? Number.NaN : toMillis(v);
    if (Number.isFinite(ms)) {
      if (ms !== lastMs) {
        lastMs = ms;
        one[0] = BigInt(Math.floor(ms));
        lo = oneHalves[0]!;
        hi = oneHalves[1]!;
      }
      halves[2 * i] = lo;
      halves[2 * i + 1] = hi;
    } else valid.setNull(i);
  }
  return { length: n, nullCount: valid.nulls, validity: valid.bits, buffers: [out], dictionary: undefined };
}

/**
 * {@link timestampColumn} of times given as numbers: each run of one time (a window's bounds on
 * every row of the window) converted once and filled natively; a NaN or infinite time is null.
 */
function timestampsGiven(cells: Float64Array, n: number): IpcColumn {
  const valid = new Validity(n);
  const out = new BigInt64Array(n);
  let i = 0;
  while (i < n) {
    const ms = cells[i] as number;
    let j = i + 1;
    while (j < n && cells[j] === ms) j++;
    if (Number.isFinite(ms)) out.fill(BigInt(Math.floor(ms)), i, j);
    else for (let k = i; k < j; k++) valid.setNull(k);
    i = j;
  }
  return { length: n, nullCount: valid.nulls, validity: valid.bits, buffers: [out], dictionary: undefined };
}

function boolColumn(cells: ArrayLike<unknown>, n: number): IpcColumn {
  const valid = new Validity(n);
  const out = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) {
    const v = cells[i];
    if (v === null || v === undefined) valid.setNull(i);
    else if (v) out[i >> 3]! |= 1 << (i & 7);
  }
  return { length: n, nullCount: valid.nulls, validity: valid.bits, buffers: [out], dictionary: undefined };
}

/**
 * A dictionary column's last file (see dictionaryColumn): its dictionary values, their Utf8
 * buffers, and the column itself (codes, validity), which are only ever read.
 */
interface DictionaryMemo {
  values: readonly string[];
  offsets: Int32Array;
  data: Uint8Array;
  column: IpcColumn;
}

/** Per column of a table (by index), the last dictionary it had. */
type DictionaryMemos = Array<DictionaryMemo | undefined>;

/** The dictionary memos of each table, by its columns array. */
const dictionaryMemos = new WeakMap<readonly SnapshotColumn[], DictionaryMemos>();

/** Whether `a` and `b` hold the same items (by ===) in the same order. */
function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether every cell is the one `memo`'s column holds at its row: null where it is null, else
 * the string of its code. Then the column would be encoded as it was (the codes are a function
 * of the sequence of values: each new value gets the next code).
 */
function sameCells(cells: ArrayLike<unknown>, n: number, memo: DictionaryMemo): boolean {
  const c = memo.column;
  if (c.length !== n) return false;
  const codes = c.buffers[0] as Int32Array;
  const values = memo.values;
  const bits = c.validity;
  for (let i = 0; i < n; i++) {
    const v = cells[i];
    const valid = bits === undefined || (bits[i >> 3]! & (1 << (i & 7))) !== 0;
    if (v === null || v === undefined) {
      if (valid) return false;
    } else if (!valid || values[codes[i]!] !== v) return false;
  }
  return true;
}

/**
 * The dictionary encoding of a column's cells: a code per cell (0 for a null, which `setNull`
 * marks) and the distinct values in order of first appearance.
 */
function dictionaryCodes(cells: ArrayLike<unknown>, n: number, setNull: (i: number) => void): { codes: Int32Array; values: string[] } {
  const codes = new Int32Array(n);
  const index = new Map<string, number>();
  const values: string[] = [];
  // Rows come grouped (a trader's positions, a pair's instrument_a): repeat the last code.
  let lastS: string | undefined;
  let lastK = 0;
  for (let i = 0; i < n; i++) {
    const v = cells[i];
    if (v === null || v === undefined) {
      setNull(i);
      continue;
    }
    const s = typeof v === 'string' ? v : String(v);
    if (s === lastS) {
      codes[i] = lastK;
      continue;
    }
    // Rows often go through the dictionary in order (a pair's instrument_b after instrument_a, a
    // trader's instruments by name): try the code after the last one before the map. Values
    // are distinct, so a match is the code the map holds.
    let k: number | undefined = lastK + 1;
    if (k >= values.length || values[k] !== s) k = index.get(s);
    if (k === undefined) {
      k = values.length;
      index.set(s, k);
      values.push(s);
    }
    codes[i] = k;
    lastS = s;
    lastK = k;
  }
  return { codes, values };
}

function dictionaryColumn(cells: ArrayLike<unknown>, n: number, memos: DictionaryMemos, at: number): IpcColumn {
  // A table's column is often the one of its previous file (the same pairs, traders,
  // instruments): checking that is cheaper than encoding it again.
  const before = memos[at];
  if (before !== undefined && sameCells(cells, n, before)) return before.column;
  const valid = new Validity(n);
  const { codes, values } = dictionaryCodes(cells, n, (i) => valid.setNull(i));
  // Else its dictionary is often the previous one (same values first seen in the same order):
  // its Utf8 buffers are then reused.
  let offsets: Int32Array;
  let data: Uint8Array;
  if (before !== undefined && sameItems(before.values, values)) ({ offsets, data } = before);
  else [offsets, data] = utf8Buffers(values);
  const column: IpcColumn = { length: n, nullCount: valid.nulls, validity: valid.bits, buffers: [codes], dictionary: { length: values.length, offsets, data } };
  memos[at] = { values, offsets, data, column };
  return column;
}

function stringColumn(cells: ArrayLike<unknown>, n: number, json: boolean): IpcColumn {
  const valid = new Validity(n);
  const strings: Array<string | undefined> = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = cells[i];
    if (v === null || v === undefined) {
      valid.setNull(i);
      strings[i] = undefined;
    } else if (typeof v === 'string') strings[i] = v;
    else strings[i] = json ? JSON.stringify(v) : String(v);
  }
  const [offsets, data] = utf8Buffers(strings);
  return { length: n, nullCount: valid.nulls, validity: valid.bits, buffers: [offsets, data], dictionary: undefined };
}

/** Utf8 offsets and data of `strings` (undefined: an empty, null cell). */
function utf8Buffers(strings: ReadonlyArray<string | undefined>): [Int32Array, Uint8Array] {
  const n = strings.length;
  const offsets = new Int32Array(n + 1);
  // Encoded all at once: when the UTF-8 bytes are as many as the UTF-16 units, every character
  // is ASCII (one byte each) and the offsets are the lengths. Otherwise string by string.
  const joined = strings.join('');
  const all = Buffer.from(joined, 'utf8');
  if (all.length === joined.length) {
    let at = 0;
    for (let i = 0; i < n; i++) {
      const s = strings[i];
      if (s !== undefined) at += s.length;
      offsets[i + 1] = at;
    }
    return [offsets, all];
  }
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const s = strings[i];
    if (s !== undefined) bytes += Buffer.byteLength(s, 'utf8');
    offsets[i + 1] = bytes;
  }
  const buf = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < n; i++) {
    const s = strings[i];
    if (s !== undefined) buf.write(s, offsets[i]!, 'utf8');
  }
  return [offsets, buf];
}

/** Templates of the snapshot files' Arrow metadata, per columns array (see {@link IpcFileTemplates}). */
const ipcFiles = new IpcFileTemplates();

/**
 * Encodes one snapshot as an Arrow IPC file: `snapshot_time` = `snapshotTime` on every row, then
 * `columns` taken from the rows by name (a missing key is null). The bytes are those of
 * apache-arrow's `tableToIPC(table, 'file')` ({@link encodeSnapshotWithArrow}), written from
 * templates of the metadata ({@link IpcFileTemplates}) without building the Arrow table, in
 * `alloc`'s bytes when given (see {@link IpcAlloc}).
 *
 * @example
 * const bytes = encodeSnapshot(SNAPSHOT_TABLES.market.columns, 1_710_513_000_000, [{ instrument: 'ACME', mark_price: 101.5 }]);
 */
export function encodeSnapshot(columns: readonly SnapshotColumn[], snapshotTime: number, rows: SnapshotRows, alloc?: IpcAlloc): Uint8Array {
  return encodeIpcColumns(columns, snapshotTime, rows, snapshotIpcColumns(columns, snapshotTime, rows), alloc);
}

/** {@link encodeSnapshot} of rows whose columns `ipc` are already made ({@link snapshotIpcColumns}). */
function encodeIpcColumns(columns: readonly SnapshotColumn[], snapshotTime: number, rows: SnapshotRows, ipc: IpcColumn[], alloc?: IpcAlloc): Uint8Array {
  return ipcFiles.encode(
    columns,
    rows.length,
    ipc,
    () => snapshotIpcSample(columns, snapshotTime, rows),
    () => encodeSnapshotWithArrow(columns, snapshotTime, rows),
    alloc,
  );
}

/**
 * A few of the rows in the same shape (see `ipcShape`), encoded both ways: what the template of
 * the snapshot's shape is made from and checked on ({@link IpcFileTemplates}).
 *
 * @example snapshotIpcSample(SNAPSHOT_TABLES.market.columns, t, rows).numRows // 1 (one row has every dictionary value)
 */
export function snapshotIpcSample(columns: readonly SnapshotColumn[], snapshotTime: number, rows: SnapshotRows): IpcSample {
  const few = sampleRows(columns, rows);
  return { numRows: few.length, columns: snapshotIpcColumns(columns, snapshotTime, few), file: encodeSnapshotWithArrow(columns, snapshotTime, few) };
}

/**
 * The first row and, for each dictionary column, its first row with a value: the shape of all
 * rows (a dictionary is empty in these rows iff it is in all of them).
 */
function sampleRows(columns: readonly SnapshotColumn[], rows: SnapshotRows): SnapshotRows {
  const n = rows.length;
  if (n === 0) return rows;
  const cellOf = rows instanceof SnapshotColumns ? (name: string, i: number) => rows.columns[name]?.[i] : (name: string, i: number) => rows[i]![name];
  const picked = new Set<number>([0]);
  for (const c of columns) {
    if (c.type !== 'dictionary') continue;
    for (let i = 0; i < n; i++) {
      const v = cellOf(c.name, i);
      if (v !== null && v !== undefined) {
        picked.add(i);
        break;
      }
    }
  }
  const at = [...picked].sort((a, b) => a - b);
  if (!(rows instanceof SnapshotColumns)) return at.map((i) => rows[i]!);
  const cols: Record<string, ArrayLike<unknown>> = {};
  for (const [name, cells] of Object.entries(rows.columns)) cols[name] = cells instanceof Float64Array ? Float64Array.from(at, (i) => cells[i] ?? 0) : at.map((i) => cells[i]);
  return new SnapshotColumns(at.length, cols);
}

/**
 * The buffers of a snapshot's record batch ({@link encodeSnapshot}'s columns: `snapshot_time`
 * first), as apache-arrow lays out the Data that {@link encodeSnapshotWithArrow} builds.
 *
 * @example snapshotIpcColumns(SNAPSHOT_TABLES.market.columns, t, rows).length // 9
 */
export function snapshotIpcColumns(columns: readonly SnapshotColumn[], snapshotTime: number, rows: SnapshotRows): IpcColumn[] {
  const n = rows.length;
  const ipc: IpcColumn[] = [snapshotTimeColumn(snapshotTime, n)];
  let memos = dictionaryMemos.get(columns);
  if (!memos) dictionaryMemos.set(columns, (memos = []));
  if (rows instanceof SnapshotColumns) {
    // A column left out is null in every row (the array of holes is made only then: it is not free).
    let none: unknown[] | undefined;
    for (let i = 0; i < columns.length; i++) {
      const c = columns[i]!;
      ipc.push(ipcColumn(c, rows.columns[c.name] ?? (none ??= new Array<unknown>(n)), n, memos, i));
    }
  } else {
    const cells = new Array<unknown>(n);
    for (let i = 0; i < columns.length; i++) {
      const c = columns[i]!;
      pluck(c.name)(rows, cells);
      ipc.push(ipcColumn(c, cells, n, memos, i));
    }
  }
  return ipc;
}

/** The `snapshot_time` column of a snapshot of `n` rows. */
function snapshotTimeColumn(snapshotTime: number, n: number): IpcColumn {
  const times = new BigInt64Array(n).fill(BigInt(Math.floor(snapshotTime)));
  return { length: n, nullCount: 0, validity: undefined, buffers: [times], dictionary: undefined };
}

/**
 * {@link encodeSnapshot} by apache-arrow: the rows as Arrow Data, a Table, `tableToIPC(table,
 * 'file')`. The reference that the templates are made from and checked against (on a few rows).
 *
 * @example Buffer.compare(encodeSnapshotWithArrow(cols, t, rows), encodeSnapshot(cols, t, rows)) // 0
 */
export function encodeSnapshotWithArrow(columns: readonly SnapshotColumn[], snapshotTime: number, rows: SnapshotRows): Uint8Array {
  const schema = snapshotArrowSchema(columns);
  const n = rows.length;
  const times = new BigInt64Array(n).fill(BigInt(Math.floor(snapshotTime)));
  const children: Data[] = [makeData({ type: TIMESTAMP_MS_UTC, length: n, data: times, nullCount: 0 })];
  if (rows instanceof SnapshotColumns) {
    const none = new Array<unknown>(n);
    columns.forEach((c, i) => children.push(encodeColumn(c, i, rows.columns[c.name] ?? none, n)));
  } else {
    const cells = new Array<unknown>(n);
    columns.forEach((c, i) => {
      pluck(c.name)(rows, cells);
      children.push(encodeColumn(c, i, cells, n));
    });
  }
  const struct = makeData({ type: new Struct(schema.fields), length: n, children, nullCount: 0 });
  const batch = new RecordBatch(schema, struct);
  return tableToIPC(new Table(schema, [batch]), 'file');
}

/**
 * Rows of a snapshot file back as plain objects (timestamps as epoch ms, JSON columns as text):
 * how the sink merges a late producer into a file, and how tests read files.
 *
 * @example decodeSnapshotRows(await readFile('out/snapshots/market/1710513000000.arrow'))[0].instrument
 */
export function decodeSnapshotRows(bytes: Uint8Array): Array<Record<string, unknown>> {
  const t = tableFromIPC(bytes);
  const names = t.schema.fields.map((x) => x.name);
  const cols = names.map((n) => t.getChild(n)!.toArray() as ArrayLike<unknown>);
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < t.numRows; i++) {
    const r: Record<string, unknown> = {};
    names.forEach((n, j) => {
      const v = t.getChild(n)!.isValid(i) ? cols[j]![i] : null;
      r[n] = typeof v === 'bigint' ? Number(v) : v;
    });
    out.push(r);
  }
  return out;
}

/**
 * The alert as a row of the `alerts` table (CONTRACTS.md section 5: every field in snake_case,
 * `entity` and `details` as JSON text, absent window bounds as null).
 *
 * @example alertRow(alert).entity // '{"traderId":"TR03"}'
 */
export function alertRow(a: Alert): Record<string, unknown> {
  return {
    alert_id: a.alertId,
    type: a.type,
    severity: a.severity,
    topic: a.topic,
    rule: a.rule,
    topology: a.topology,
    entity: JSON.stringify(a.entity),
    event_time: a.eventTime,
    window_start: a.windowStart ?? null,
    window_end: a.windowEnd ?? null,
    value: a.value,
    threshold: a.threshold,
    message: a.message,
    details: JSON.stringify(a.details ?? {}),
    emitted_at: a.emittedAt,
  };
}

const FILE = /^(-?\d+)\.arrow$/;

/**
 * Options of a {@link SnapshotSink}.
 *
 * @example const o: SnapshotSinkOptions = { dir: 'out/snapshots', retention: 24, intervalMs: 60_000 };
 */
export interface SnapshotSinkOptions {
  /** Folder of the snapshots (`<out>/snapshots` for a replay); a folder per table is made in it. */
  dir: string;
  /** Keep the newest N files of each table (older ones are deleted); 0 or undefined keeps all. */
  retention?: number;
  /** Event time between snapshots: {@link SnapshotSink.advance} adds a snapshot time at each multiple. */
  intervalMs?: number;
  /** Write the `alerts` table (default true). */
  alerts?: boolean;
}

/**
 * What is on disk: snapshot files kept and the rows in them, in total and per table.
 *
 * @example sink.counts.byTable.positions // { files: 60, rows: 5576 }
 */
export interface SnapshotCounts {
  files: number;
  rows: number;
  byTable: Record<string, { files: number; rows: number }>;
}

/**
 * What a checkpoint keeps of a sink (structured-cloneable): the files written, inferred
 * columns, the alerts so far and the pending snapshot times.
 *
 * @example await new SnapshotSink({ dir }).open(checkpoint.sinks.snapshots as SnapshotSinkState)
 */
export interface SnapshotSinkState {
  version: 1;
  /** Per table, the files kept: [snapshot time, rows], oldest first. */
  files: Record<string, Array<[number, number]>>;
  columns: Record<string, SnapshotColumn[]>;
  alerts: Array<Record<string, unknown>>;
  /** Alerts snapshot time -> number of alerts it was written with. */
  alertTimes: Array<[number, number]>;
  known: number[];
  pendingAlertTime: number | null;
  /** What `advance` has seen: [multiples added up to, last event time]. */
  advanced: [number, number];
  pending: Array<{ table: string; time: number; rows: Array<Record<string, unknown>>; calls: number; mergeFile: boolean }>;
}

interface Pending {
  table: string;
  time: number;
  rows: Array<Record<string, unknown>>;
  /** The rows as columns, as a producer gave them (then `rows` is empty until something needs objects). */
  columnar?: SnapshotColumns | undefined;
  calls: number;
  /** The (table, time) file exists already: its rows are merged in when writing. */
  mergeFile: boolean;
  keys?: Set<string>;
}

/** The pending rows as objects (columns given by the producer are turned into rows, once). */
function rowsOf(p: Pending): Array<Record<string, unknown>> {
  if (p.columnar !== undefined) {
    p.rows = p.columnar.toRows();
    p.columnar = undefined;
  }
  return p.rows;
}

function normalise(v: unknown, type: SnapshotColumnType): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'float64':
      return typeof v === 'number' ? v : Number(v);
    case 'timestamp':
      return Math.floor(toMillis(v));
    case 'json':
      return typeof v === 'string' ? v : JSON.stringify(v);
    case 'bool':
      return Boolean(v);
    default:
      return String(v);
  }
}

/** Snapshot files a sink lets the job run ahead of (see `SnapshotSink.writeBehind`). */
const MAX_IN_FLIGHT = 256;

/**
 * Memory for the snapshot files being written, reused: a file's bytes are handed back once its
 * write is done, and the next file of at most that size is encoded into them. Fresh memory for
 * every file (180 MB over the bench day, most files above malloc's mmap threshold) costs a page
 * fault per 4 KB and counts towards V8's external memory, which schedules garbage collections.
 */
class FileBuffers {
  private free: ArrayBuffer[] = [];
  private freeBytes = 0;
  /** The buffers `alloc` made (only those are reused: a file's bytes may be a view of other memory). */
  private readonly made = new WeakSet<ArrayBuffer>();

  /** `size` zeroed bytes: of the smallest free buffer they fit in, else of a new one. */
  readonly alloc = (size: number): Uint8Array => {
    const free = this.free;
    let best = -1;
    for (let i = 0; i < free.length; i++) {
      const len = free[i]!.byteLength;
      if (len >= size && (best < 0 || len < free[best]!.byteLength)) best = i;
    }
    if (best < 0) {
      const fresh = new ArrayBuffer(size + (size >> 3));
      this.made.add(fresh);
      return new Uint8Array(fresh, 0, size);
    }
    const buf = free[best]!;
    free[best] = free[free.length - 1]!;
    free.pop();
    this.freeBytes -= buf.byteLength;
    return new Uint8Array(buf, 0, size).fill(0);
  };

  /** Hands back bytes from {@link alloc} (others are let go). Keeps up to {@link FREE_BYTES} bytes. */
  release(bytes: Uint8Array): void {
    const buf = bytes.buffer;
    if (!(buf instanceof ArrayBuffer) || !this.made.has(buf) || this.freeBytes + buf.byteLength > FREE_BYTES) return;
    this.free.push(buf);
    this.freeBytes += buf.byteLength;
  }
}

/** Free file memory a sink keeps for its next files (see FileBuffers). */
const FREE_BYTES = 16 << 20;

/**
 * Writes snapshot tables as Arrow IPC files. Feed it a job's `onSnapshot(table, time, rows)` and
 * `onAlert(alert)`; `flush()` (after every batch) writes what is pending, each file atomically
 * (written under a temporary dot-name in the same folder, then renamed), then applies the
 * retention.
 *
 * - Several calls for the same (table, T) (several steps or topologies, or a step's end-of-input
 *   snapshot falling on an interval time) give one file holding the rows of all of them, a row
 *   that an earlier call already gave being kept once.
 * - `alerts` is cumulative: its snapshot at T holds every alert with `eventTime <= T`, one row per
 *   alert, by event time. During the run it is written once a later snapshot time has been seen
 *   (so alerts that a window emits shortly after their event time are in); `close()` rewrites those
 *   whose content has grown since, so after a completed run the alerts snapshot at T is exactly the
 *   alerts with event time <= T. Its snapshot times are those of the other tables, the multiples of
 *   the interval and the last event time given to `advance()`.
 * - A fresh `open()` deletes the snapshot files of an earlier run in `dir`; `open(state)` (resume
 *   from a checkpoint) deletes only the files written after the checkpoint, which the resumed run
 *   writes again.
 *
 * @example
 * const sink = new SnapshotSink({ dir: 'out/snapshots', retention: 0 });
 * await sink.open();
 * sink.onSnapshot('market', 1_710_513_000_000, [{ instrument: 'ACME', mark_price: 101.5 }]);
 * await sink.flush();
 * await sink.close();
 */
export class SnapshotSink {
  readonly dir: string;
  private readonly retention: number;
  /** Event time between snapshots, when known (see `advance`). */
  readonly intervalMs: number | undefined;
  private readonly withAlerts: boolean;
  private pending = new Map<string, Pending>();
  private files = new Map<string, Array<[number, number]>>();
  private columns = new Map<string, readonly SnapshotColumn[]>();
  private alerts: Array<Record<string, unknown>> = [];
  private alertTimes = new Map<number, number>();
  private known = new Set<number>();
  private maxTime = Number.NEGATIVE_INFINITY;
  private pendingAlertTime: number | undefined;
  private readonly madeDirs = new Set<string>();

  constructor(opts: SnapshotSinkOptions) {
    this.dir = opts.dir;
    this.retention = opts.retention && opts.retention > 0 ? Math.floor(opts.retention) : 0;
    this.intervalMs = opts.intervalMs;
    this.withAlerts = opts.alerts ?? true;
  }

  /** Opens fresh (deleting an earlier run's snapshot files) or, given a checkpoint's state, resumes. */
  async open(resume?: unknown): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (resume !== undefined && resume !== null) this.load(resume as SnapshotSinkState);
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const keep = new Set((this.files.get(entry.name) ?? []).map(([t]) => t));
      const folder = join(this.dir, entry.name);
      const present = new Set<number>();
      for (const name of await readdir(folder)) {
        const m = FILE.exec(name);
        if (m && keep.has(Number(m[1]))) present.add(Number(m[1]));
        else if (m || (name.startsWith('.') && name.endsWith('.tmp'))) await rm(join(folder, name), { force: true });
      }
      // Files that retention pruned after the checkpoint are gone for good: forget them.
      const kept = this.files.get(entry.name);
      if (kept) this.files.set(entry.name, kept.filter(([t]) => present.has(t)));
    }
  }

  /**
   * Rows of `table` as of `snapshotTime`. They are read at the next `flush()`, so the producer
   * hands over rows it no longer changes (the risk steps build fresh rows for each snapshot).
   */
  onSnapshot(table: string, snapshotTime: number, rows: SnapshotRows): void {
    if (!TABLE_NAME.test(table)) throw new InternalError(`snapshot table '${table}': a table name is lower-case letters, digits and '_'`);
    if (table === 'alerts' && this.withAlerts) {
      throw new InternalError(`snapshot table 'alerts' is written by the snapshot sink from the job's alerts; a step cannot emit it`);
    }
    const key = `${table}\u0000${snapshotTime}`;
    const p = this.pending.get(key);
    if (!p) {
      const mergeFile = this.hasFile(table, snapshotTime);
      if (rows instanceof SnapshotColumns) this.pending.set(key, { table, time: snapshotTime, rows: [], columnar: rows, calls: 1, mergeFile });
      else this.pending.set(key, { table, time: snapshotTime, rows: rows.slice(), calls: 1, mergeFile });
    } else {
      this.addRows(p, rows instanceof SnapshotColumns ? rows.toRows() : rows);
    }
    this.noteTime(snapshotTime);
  }

  /** Whether the file (table, time) has been written (a plain loop: this runs for every snapshot of every table). */
  private hasFile(table: string, time: number): boolean {
    const list = this.files.get(table);
    if (list) for (let i = list.length - 1; i >= 0; i--) if (list[i]![0] === time) return true;
    return false;
  }

  onAlert(a: Alert): void {
    if (this.withAlerts) this.alerts.push(alertRow(a));
  }

  /**
   * The job's event time has reached `lastEventTime` (its first event being at `firstEventTime`):
   * every multiple of the interval in between becomes a snapshot time of the `alerts` table, and
   * `close()` adds a last one at `lastEventTime`, as the steps' end-of-input snapshots do. Jobs
   * whose topologies emit no snapshot table get their alerts snapshots this way.
   */
  advance(lastEventTime: number, firstEventTime?: number): void {
    if (!Number.isFinite(lastEventTime)) return;
    if (lastEventTime > this.lastEventTime) this.lastEventTime = lastEventTime;
    const iv = this.intervalMs;
    if (!iv) return;
    if (!Number.isFinite(this.advancedTo)) {
      const first = firstEventTime !== undefined && Number.isFinite(firstEventTime) ? firstEventTime : lastEventTime;
      this.advancedTo = Math.ceil(first / iv) * iv - iv;
    }
    for (let t = this.advancedTo + iv; t <= lastEventTime; t += iv) {
      this.noteTime(t);
      this.advancedTo = t;
    }
  }
  private advancedTo = Number.NEGATIVE_INFINITY;
  private lastEventTime = Number.NEGATIVE_INFINITY;

  /** Files and rows on disk now. */
  get counts(): SnapshotCounts {
    const out: SnapshotCounts = { files: 0, rows: 0, byTable: {} };
    for (const [table, list] of [...this.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const rows = list.reduce((n, [, r]) => n + r, 0);
      out.byTable[table] = { files: list.length, rows };
      out.files += list.length;
      out.rows += rows;
    }
    return out;
  }

  private rowKey(cols: readonly SnapshotColumn[], row: Record<string, unknown>): string {
    return JSON.stringify(cols.map((c) => normalise(row[c.name], c.type)));
  }

  private addRows(p: Pending, rows: ReadonlyArray<Record<string, unknown>>): void {
    rowsOf(p);
    const cols = this.columnsFor(p.table, rows.length ? [...p.rows.slice(0, 1), ...rows] : p.rows.slice(0, 1));
    if (!p.keys) {
      p.keys = new Set();
      for (const r of p.rows) p.keys.add(this.rowKey(cols, r));
    }
    for (const r of rows) {
      const k = this.rowKey(cols, r);
      if (p.keys.has(k)) continue;
      p.keys.add(k);
      p.rows.push(r);
    }
    p.calls++;
  }

  private noteTime(t: number): void {
    if (!this.withAlerts || this.known.has(t)) return;
    this.known.add(t);
    if (t < this.maxTime) {
      this.queueAlerts(t);
      return;
    }
    if (this.pendingAlertTime !== undefined) this.queueAlerts(this.pendingAlertTime);
    this.pendingAlertTime = t;
    this.maxTime = t;
  }

  private queueAlerts(t: number): void {
    const rows = this.alerts.filter((a) => (a.event_time as number) <= t);
    // Stable: alerts of equal event time stay in emission order.
    rows.sort((a, b) => (a.event_time as number) - (b.event_time as number));
    this.pending.set(`alerts\u0000${t}`, { table: 'alerts', time: t, rows, calls: 1, mergeFile: false });
    this.alertTimes.set(t, rows.length);
  }

  /**
   * Starts writing every pending snapshot file, oldest snapshot time first, and returns without
   * waiting for the disk: the rows are encoded here, the file I/O (temporary file, then rename)
   * runs in libuv's pool while the job computes its next batch. Waits only when more than
   * {@link MAX_IN_FLIGHT} files are unwritten. `flush()` waits for every file. A failed write
   * fails the next `writeBehind()` / `flush()`.
   */
  async writeBehind(): Promise<void> {
    this.throwIfWriteFailed();
    if (this.pending.size > 0) {
      const work = [...this.pending.values()].sort((a, b) => a.time - b.time || (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));
      this.pending.clear();
      for (const p of work) {
        if (p.mergeFile) {
          // Rare (a second producer of a (table, T) already written): read, merge, rewrite, in order.
          await this.inFlight.get(`${p.table}\u0000${p.time}`);
          this.throwIfWriteFailed();
          this.writeMerged(p);
        } else {
          this.startWrite(p);
        }
      }
    }
    if (this.inFlight.size > MAX_IN_FLIGHT) await Promise.all(this.inFlight.values());
    // One turn of the event loop lets the pool's finished steps (open, write, rename) move on.
    else if (this.inFlight.size > 0) await new Promise<void>((r) => setImmediate(r));
    this.throwIfWriteFailed();
  }

  /** Writes every pending snapshot file, oldest snapshot time first, and waits until all are on disk. */
  async flush(): Promise<void> {
    await this.writeBehind();
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.values());
    this.throwIfWriteFailed();
  }

  private throwIfWriteFailed(): void {
    if (this.writeError !== undefined) throw this.writeError;
  }

  /** Files being written, by `table\u0000time`. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private writeError: unknown = undefined;

  /** Writes the last snapshots, completes the `alerts` snapshots (see the class doc) and flushes. */
  async close(): Promise<void> {
    if (this.withAlerts) {
      // The end-of-run snapshot holds every alert: end-of-input firings (a close-time rule, a
      // window ending after the last record) may carry event times past the last record.
      if (Number.isFinite(this.lastEventTime)) this.noteTime(this.lastEventTime);
      const lastAlert = this.alerts.reduce((m, a) => Math.max(m, a.event_time as number), Number.NEGATIVE_INFINITY);
      if (Number.isFinite(lastAlert) && lastAlert > this.maxTime) this.noteTime(lastAlert);
      if (this.pendingAlertTime !== undefined) this.queueAlerts(this.pendingAlertTime);
      this.pendingAlertTime = undefined;
      if (this.known.size === 0 && this.alerts.length > 0) {
        // No snapshot time at all: one snapshot at the last alert, so the alerts can be queried.
        const last = this.alerts.reduce((m, a) => Math.max(m, a.event_time as number), Number.NEGATIVE_INFINITY);
        this.known.add(last);
        this.queueAlerts(last);
      }
      for (const [t, written] of this.alertTimes) {
        if (this.pending.has(`alerts\u0000${t}`)) continue;
        let now = 0;
        for (const a of this.alerts) if ((a.event_time as number) <= t) now++;
        if (now !== written) this.queueAlerts(t);
      }
    }
    await this.flush();
  }

  private columnsFor(table: string, rows: SnapshotRows): readonly SnapshotColumn[] {
    const known = this.columns.get(table) ?? declared.get(table)?.columns ?? [];
    const cols = resolveColumns(known, rows);
    this.columns.set(table, cols);
    return cols;
  }

  private folderOf(table: string): string {
    const folder = join(this.dir, table);
    if (!this.madeDirs.has(folder)) {
      mkdirSync(folder, { recursive: true });
      this.madeDirs.add(folder);
    }
    return folder;
  }

  /** Encodes `p` now and writes its file in the background (atomically: temporary file, rename). */
  private startWrite(p: Pending): void {
    const { table, time } = p;
    const folder = this.folderOf(table);
    const rows = p.columnar ?? p.rows;
    const columns = this.columnsFor(table, rows);
    let bytes: Uint8Array;
    if (table === 'alerts' && this.withAlerts && !p.columnar) {
      // The alerts table is cumulative: most of its files have the rows of the one before (the
      // same row objects, made once per alert by the sink and never changed). Only the snapshot
      // time is new then.
      const last = this.lastAlerts;
      let ipc: IpcColumn[];
      if (last !== undefined && last.columns === columns && sameItems(last.rows, p.rows)) ipc = [snapshotTimeColumn(time, p.rows.length), ...last.ipc.slice(1)];
      else ipc = snapshotIpcColumns(columns, time, p.rows);
      this.lastAlerts = { columns, rows: p.rows, ipc };
      bytes = encodeIpcColumns(columns, time, p.rows, ipc, this.buffers.alloc);
    } else bytes = encodeSnapshot(columns, time, rows, this.buffers.alloc);
    const key = `${table}\u0000${time}`;
    const before = this.inFlight.get(key);
    const tmp = join(folder, `.${time}.arrow.${process.pid}.tmp`);
    const job = (async () => {
      if (before) await before;
      // The callback API: no FileHandle object per file (cheaper on the main thread).
      await new Promise<void>((res, rej) =>
        fsWriteFile(tmp, bytes, (e) => {
          this.buffers.release(bytes);
          if (e) rej(e);
          else res();
        }),
      );
      await new Promise<void>((res, rej) => fsRename(tmp, join(folder, `${time}.arrow`), (e) => (e ? rej(e) : res())));
    })().catch((e: unknown) => {
      this.writeError ??= e;
    });
    this.track(key, job);
    this.recordFile(table, time, rows.length);
  }

  /** Synchronously merges `p`'s rows into its file on disk (written before: see writeBehind). */
  private writeMerged(p: Pending): void {
    const { table, time } = p;
    const folder = this.folderOf(table);
    const path = join(folder, `${time}.arrow`);
    const before = decodeSnapshotRows(readFileSync(path)).map(({ snapshot_time: _t, ...r }) => r);
    const merged: Pending = { ...p, rows: before, columnar: undefined, calls: 1, mergeFile: false, keys: undefined };
    this.addRows(merged, rowsOf(p));
    const bytes = encodeSnapshot(this.columnsFor(table, merged.rows), time, merged.rows);
    const tmp = join(folder, `.${time}.arrow.${process.pid}.tmp`);
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    this.recordFile(table, time, merged.rows.length);
  }

  /** The last alerts file's rows and columns (see startWrite). */
  private lastAlerts: { columns: readonly SnapshotColumn[]; rows: ReadonlyArray<Record<string, unknown>>; ipc: IpcColumn[] } | undefined = undefined;

  /** Memory of the files being written, reused once they are (see {@link FileBuffers}). */
  private readonly buffers = new FileBuffers();

  private track(key: string, job: Promise<void>): void {
    this.inFlight.set(key, job);
    void job.then(() => {
      if (this.inFlight.get(key) === job) this.inFlight.delete(key);
    });
  }

  /** Notes file (table, time) with `rows` rows and prunes the oldest beyond the retention. */
  private recordFile(table: string, time: number, rows: number): void {
    let list = this.files.get(table);
    if (!list) this.files.set(table, (list = []));
    let i = list.length;
    while (i > 0 && list[i - 1]![0] > time) i--;
    if (i > 0 && list[i - 1]![0] === time) list[i - 1]![1] = rows;
    else list.splice(i, 0, [time, rows]);
    while (this.retention > 0 && list.length > this.retention) {
      const [old] = list.shift()!;
      const key = `${table}\u0000${old}`;
      const written = this.inFlight.get(key);
      const path = join(this.dir, table, `${old}.arrow`);
      const job = (async () => {
        if (written) await written;
        await rm(path, { force: true });
      })().catch((e: unknown) => {
        this.writeError ??= e;
      });
      this.track(key, job);
      if (table === 'alerts') this.alertTimes.delete(old);
    }
  }

  /** The sink's state for a checkpoint (the runner takes it after `flush()`). */
  snapshot(): SnapshotSinkState {
    if (this.inFlight.size > 0) throw new InternalError('snapshot sink state taken while files are still being written: flush() first');
    return {
      version: 1,
      files: Object.fromEntries([...this.files].map(([k, v]) => [k, v.map(([t, r]) => [t, r] as [number, number])])),
      columns: Object.fromEntries([...this.columns].map(([k, v]) => [k, v.map((c) => ({ ...c }))])),
      alerts: this.alerts.slice(),
      alertTimes: [...this.alertTimes],
      known: [...this.known],
      pendingAlertTime: this.pendingAlertTime ?? null,
      advanced: [this.advancedTo, this.lastEventTime],
      pending: [...this.pending.values()].map((p) => ({ table: p.table, time: p.time, rows: rowsOf(p).slice(), calls: p.calls, mergeFile: p.mergeFile })),
    };
  }

  private load(s: SnapshotSinkState): void {
    if (s.version !== 1) throw new InputError(`snapshot sink state version ${String(s.version)} is not supported`);
    this.files = new Map(Object.entries(s.files).map(([k, v]) => [k, v.map(([t, r]) => [t, r] as [number, number])]));
    this.columns = new Map(Object.entries(s.columns));
    this.alerts = s.alerts.slice();
    this.alertTimes = new Map(s.alertTimes);
    this.known = new Set(s.known);
    this.maxTime = s.known.length ? Math.max(...s.known) : Number.NEGATIVE_INFINITY;
    this.pendingAlertTime = s.pendingAlertTime ?? undefined;
    [this.advancedTo, this.lastEventTime] = s.advanced;
    this.pending = new Map(s.pending.map((p) => [`${p.table}\u0000${p.time}`, { ...p, rows: p.rows.slice() }]));
  }
}
