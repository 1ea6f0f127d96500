/**
 * Prints query results as an aligned table (for people), CSV (RFC 4180, for spreadsheets and
 * pipes) or JSON (an array of row objects, one per line). Timestamps with a time zone are shown in
 * the session's time zone, as DuckDB's own CLI does.
 */
import { DuckDBTimestampTZValue, DuckDBTypeId, DuckDBDecimalValue, type DuckDBValue } from '@duckdb/node-api';
import type { QueryResult } from './session.js';

/**
 * Output formats of `riskflow sql`.
 *
 * @example const f: OutputFormat = 'csv';
 */
export const OUTPUT_FORMATS = ['table', 'csv', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * Options of the formatters.
 *
 * @example formatTable(result, { timezone: 'America/New_York', maxCellWidth: 80 })
 */
export interface FormatOptions {
  /** IANA zone for TIMESTAMP WITH TIME ZONE values (default UTC). */
  timezone?: string;
  /** Longest cell of the table format before it is cut with `…` (default 60). */
  maxCellWidth?: number;
}

const NUMERIC_TYPES = new Set<number>([
  DuckDBTypeId.TINYINT,
  DuckDBTypeId.SMALLINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UTINYINT,
  DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UINTEGER,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UHUGEINT,
  DuckDBTypeId.FLOAT,
  DuckDBTypeId.DOUBLE,
  DuckDBTypeId.DECIMAL,
  DuckDBTypeId.BIGNUM,
]);

/**
 * Is a DuckDB type id numeric (its column right-aligned)?
 *
 * @example isNumericType(DuckDBTypeId.DOUBLE) // true
 */
export function isNumericType(typeId: number): boolean {
  return NUMERIC_TYPES.has(typeId);
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, Map<number, number>>();

/**
 * UTC offset in minutes of `tz` at instant `ms` (cached per quarter hour: offsets change on those).
 *
 * @example tzOffsetMinutes(Date.UTC(2024, 6, 1), 'America/New_York') // -240
 */
export function tzOffsetMinutes(ms: number, tz: string): number {
  if (tz === 'UTC' || tz === 'Etc/UTC' || tz === 'GMT') return 0;
  let cache = offsetCache.get(tz);
  if (!cache) offsetCache.set(tz, (cache = new Map()));
  const bucket = Math.floor(ms / 900_000);
  const hit = cache.get(bucket);
  if (hit !== undefined) return hit;
  let fmt = offsetFormatters.get(tz);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset' });
    offsetFormatters.set(tz, fmt);
  }
  const name = fmt.formatToParts(new Date(bucket * 900_000)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  const off = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0)) : 0;
  if (cache.size > 100_000) cache.clear();
  cache.set(bucket, off);
  return off;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * A TIMESTAMP WITH TIME ZONE (epoch microseconds) as local time in `tz`: DuckDB's text form
 * `2024-03-15 10:30:00-04` by default, ISO 8601 `2024-03-15T10:30:00-04:00` with `iso`.
 *
 * @example formatTimestampTz(1_710_513_000_000_000n, 'America/New_York') // '2024-03-15 10:30:00-04'
 */
export function formatTimestampTz(micros: bigint, tz: string, iso = false): string {
  const ms = Number(micros / 1000n) - (micros % 1000n < 0n ? 1 : 0);
  const subMicros = Number(((micros % 1_000_000n) + 1_000_000n) % 1_000_000n);
  const off = tzOffsetMinutes(ms, tz);
  const local = new Date(ms + off * 60_000);
  const date = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}`;
  const time = `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
  const frac = subMicros ? `.${String(subMicros).padStart(6, '0').replace(/0+$/, '')}` : '';
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  const zone = iso ? `${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}` : `${sign}${pad(Math.floor(a / 60))}${a % 60 ? `:${pad(a % 60)}` : ''}`;
  return `${date}${iso ? 'T' : ' '}${time}${frac}${zone}`;
}

/** A value as text (CSV and table cells); null as `null`. */
function text(v: DuckDBValue, typeId: number, tz: string): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    return String(v);
  }
  if (typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'string') return String(v);
  if (typeId === DuckDBTypeId.TIMESTAMP_TZ && v instanceof DuckDBTimestampTZValue && v.isFinite) return formatTimestampTz(v.micros, tz);
  return String(v);
}

/** A value for JSON: numbers stay numbers (non-finite become null), big integers strings when unsafe. */
function jsonValue(v: DuckDBValue, typeId: number, tz: string): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (v instanceof DuckDBDecimalValue) return v.toDouble();
  if (typeId === DuckDBTypeId.TIMESTAMP_TZ && v instanceof DuckDBTimestampTZValue && v.isFinite) return formatTimestampTz(v.micros, tz, true);
  return String(v);
}

/** Decimals a column of doubles needs (at most 6), so that its numbers line up on the point. */
function decimalsFor(values: number[]): number {
  let d = 0;
  for (const v of values) {
    if (!Number.isFinite(v) || Math.abs(v) >= 1e15) continue;
    const s = v.toFixed(6).replace(/0+$/, '');
    const k = s.length - s.indexOf('.') - 1;
    if (k > d) d = k;
    if (d === 6) break;
  }
  return d;
}

function cutCell(s: string, max: number): string {
  const clean = s.replace(/\r?\n/g, '↵').replace(/\t/g, ' ');
  const chars = [...clean];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : clean;
}

const width = (s: string) => [...s].length;

/**
 * The table format: a header with each column's name and type, numbers right-aligned (doubles
 * with one number of decimals per column), NULL for nulls, a row count under it.
 *
 * @example formatTable(result, { timezone: 'UTC' })
 */
export function formatTable(r: QueryResult, o: FormatOptions = {}): string {
  const tz = o.timezone ?? 'UTC';
  if (r.kind === 'nothing') return 'OK\n';
  if (r.kind === 'changed') return `OK, ${r.changed.toLocaleString('en-US')} row${r.changed === 1 ? '' : 's'} changed\n`;
  const max = o.maxCellWidth ?? 60;
  const cols = r.columns;
  const right = cols.map((c) => isNumericType(c.typeId));
  const cells: string[][] = r.rows.map(() => new Array<string>(cols.length));
  cols.forEach((c, j) => {
    if (c.typeId === DuckDBTypeId.DOUBLE || c.typeId === DuckDBTypeId.FLOAT) {
      const vals = r.rows.map((row) => row[j]).filter((v): v is number => typeof v === 'number');
      const d = decimalsFor(vals);
      r.rows.forEach((row, i) => {
        const v = row[j];
        if (typeof v !== 'number') cells[i]![j] = 'NULL';
        else if (!Number.isFinite(v)) cells[i]![j] = text(v, c.typeId, tz)!;
        else if (Math.abs(v) >= 1e15 || (v !== 0 && Math.abs(v) < 5e-7)) cells[i]![j] = v.toExponential(6);
        else cells[i]![j] = v.toFixed(d);
      });
    } else {
      r.rows.forEach((row, i) => {
        const s = text(row[j]!, c.typeId, tz);
        cells[i]![j] = s === null ? 'NULL' : cutCell(s, max);
      });
    }
  });
  const types = cols.map((c) => c.type.toLowerCase());
  const widths = cols.map((c, j) => Math.max(width(c.name), width(types[j]!), ...cells.map((row) => width(row[j]!))));
  const fit = (s: string, j: number) => (right[j] ? s.padStart(widths[j]! + s.length - width(s)) : s.padEnd(widths[j]! + s.length - width(s)));
  const line = (row: string[]) => ` ${row.map(fit).join(' | ')}`.trimEnd();
  const out: string[] = [line(cols.map((c) => c.name)), line(types), widths.map((w) => '-'.repeat(w + 2)).join('+')];
  for (const row of cells) out.push(line(row));
  const n = r.totalRows;
  const shown = r.rows.length;
  let foot = `(${n.toLocaleString('en-US')} row${n === 1 ? '' : 's'}`;
  if (shown < n) foot += `, first ${shown.toLocaleString('en-US')} shown: add LIMIT, or use --format csv`;
  out.push(`${foot})`);
  return `${out.join('\n')}\n`;
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * CSV (RFC 4180): a header line, then a line per row; null is an empty field, numbers in full
 * precision, timestamps as DuckDB writes them.
 *
 * @example formatCsv(result) // 'trader_id,var_99\nTR01,412345.12\n'
 */
export function formatCsv(r: QueryResult, o: FormatOptions = {}): string {
  if (r.kind !== 'rows') return '';
  const tz = o.timezone ?? 'UTC';
  const out = [r.columns.map((c) => csvField(c.name)).join(',')];
  for (const row of r.rows) out.push(row.map((v, j) => csvField(text(v, r.columns[j]!.typeId, tz) ?? '')).join(','));
  return `${out.join('\n')}\n`;
}

/**
 * JSON: an array of row objects, one per line; numbers as numbers (NaN/Infinity as null),
 * timestamps as ISO 8601 strings with their offset. Repeated column names get `_1`, `_2`.
 *
 * @example formatJson(result) // '[\n{"trader_id":"TR01","var_99":412345.12}\n]\n'
 */
export function formatJson(r: QueryResult, o: FormatOptions = {}): string {
  if (r.kind !== 'rows') return '';
  const tz = o.timezone ?? 'UTC';
  const seen = new Map<string, number>();
  const names = r.columns.map((c) => {
    const k = seen.get(c.name) ?? 0;
    seen.set(c.name, k + 1);
    return k ? `${c.name}_${k}` : c.name;
  });
  const lines = r.rows.map((row) => {
    const obj: Record<string, unknown> = {};
    row.forEach((v, j) => (obj[names[j]!] = jsonValue(v, r.columns[j]!.typeId, tz)));
    return JSON.stringify(obj);
  });
  return lines.length ? `[\n${lines.join(',\n')}\n]\n` : '[]\n';
}

/**
 * One result in the chosen format.
 *
 * @example process.stdout.write(formatResult(result, 'csv', { timezone: 'America/New_York' }))
 */
export function formatResult(r: QueryResult, format: OutputFormat, o: FormatOptions = {}): string {
  switch (format) {
    case 'table':
      return formatTable(r, o);
    case 'csv':
      return formatCsv(r, o);
    case 'json':
      return formatJson(r, o);
  }
}
