import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  Bool,
  Dictionary,
  Float64,
  Int32,
  Int64,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Table,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
  type DataType,
  type Vector,
} from 'apache-arrow';

export const DEMO = join(import.meta.dirname, '../../../fixtures/demo-day');
export const MALFORMED = join(import.meta.dirname, '../../../fixtures/malformed-day');
export const REFERENCE_FILES = ['day.json', 'instruments.csv', 'traders.csv', 'history.csv'];

const dirs: string[] = [];

/** A fresh temporary directory, removed by `cleanupTempDirs()`. */
export function tempDir(prefix = 'riskflow-replay-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanupTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A day directory with the demo reference files and the given extra files (name -> content). */
export function makeDay(files: Record<string, string | Uint8Array>, opts: { reference?: boolean } = {}): string {
  const dir = tempDir();
  if (opts.reference !== false) for (const f of REFERENCE_FILES) copyFileSync(join(DEMO, f), join(dir, f));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

export const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

export function readJsonl(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function gzipFile(from: string): Uint8Array {
  return gzipSync(readFileSync(from));
}

/**
 * Arrow IPC bytes for plain records: `ts` as Timestamp(ms), `instrument` dictionary-encoded,
 * strings Utf8, numbers Float64 (or Int32 for `intColumns`), booleans Bool; missing values null.
 */
export function arrowBytes(
  records: Record<string, unknown>[],
  opts: { format: 'file' | 'stream'; batchRows?: number; intColumns?: string[] },
): Uint8Array {
  const names: string[] = [];
  for (const r of records) for (const k of Object.keys(r)) if (!names.includes(k)) names.push(k);
  const typeOf = (name: string): DataType => {
    if (name === 'ts') return new TimestampMillisecond();
    if (name === 'instrument') return new Dictionary(new Utf8(), new Int32());
    if (opts.intColumns?.includes(name)) return new Int32();
    const v = records.find((r) => r[name] !== undefined && r[name] !== null)?.[name];
    if (typeof v === 'number') return new Float64();
    if (typeof v === 'boolean') return new Bool();
    if (typeof v === 'bigint') return new Int64();
    return new Utf8();
  };
  const types = names.map(typeOf);
  const entries: Array<[string, Vector]> = [];
  names.forEach((n, i) => {
    const values = records.map((r) => {
      const v = r[n];
      if (v === undefined || v === null) return null;
      return n === 'ts' ? new Date(v as number) : v;
    });
    entries.push([n, vectorFromArray(values as never[], types[i]! as never) as Vector]);
  });
  // Slices of one table share one dictionary: the file format allows no replacement dictionaries.
  // fromEntries defines own properties, so even a column named __proto__ stays a column.
  const table = new Table(Object.fromEntries(entries));
  const batchRows = opts.batchRows ?? records.length;
  const batches: RecordBatch[] = [];
  for (let s = 0; s < records.length; s += batchRows) batches.push(...table.slice(s, s + batchRows).batches);
  const writer = opts.format === 'file' ? RecordBatchFileWriter.writeAll(batches) : RecordBatchStreamWriter.writeAll(batches);
  return writer.toUint8Array(true);
}
