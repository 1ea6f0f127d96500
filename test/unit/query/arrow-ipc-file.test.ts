import { tableFromIPC, tableToIPC, tableFromArrays } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { IpcFileTemplates, ipcShape, type IpcSample } from '../../../src/connectors/arrow-ipc-file.js';
import {
  SNAPSHOT_TABLES,
  decodeSnapshotRows,
  encodeSnapshot,
  encodeSnapshotWithArrow,
  snapshotIpcColumns,
  snapshotIpcSample,
  type SnapshotColumn,
  type SnapshotColumnType,
} from '../../../src/connectors/snapshot-sink.js';
import { SnapshotColumns } from '../../../src/core/snapshot-rows.js';
import { rng } from '../surveillance/helpers.js';
import { T0 } from './helpers.js';

const TYPES: SnapshotColumnType[] = ['timestamp', 'float64', 'dictionary', 'string', 'json', 'bool'];
const WORDS = ['ACME', 'BOLT', '', 'é', 'Zürich', '東京', '🚀 rocket', 'a"b\\c', 'TR03', 'x'.repeat(37), '\u0000nul'];

/**
 * A random cell of a column of `type`; `nullRate` of them null (null, undefined or, in row
 * objects, a missing key), some of another JS type than the column's.
 */
function cell(type: SnapshotColumnType, r: () => number, nullRate: number, words: readonly string[]): unknown {
  const u = r();
  if (u < nullRate) return r() < 0.5 ? null : undefined;
  const pick = (): string => words[Math.floor(r() * words.length)]!;
  switch (type) {
    case 'float64': {
      const k = r();
      if (k < 0.05) return Number.NaN;
      if (k < 0.08) return -0;
      if (k < 0.1) return r() < 0.5 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      if (k < 0.12) return String((r() - 0.5) * 1e6);
      if (k < 0.13) return 7n;
      return (r() - 0.5) * 10 ** Math.floor(r() * 12);
    }
    case 'timestamp': {
      const k = r();
      if (k < 0.05) return new Date(T0 + Math.floor(r() * 1e7)).toISOString();
      if (k < 0.08) return new Date(T0 - Math.floor(r() * 1e9));
      if (k < 0.1) return 'not a time';
      if (k < 0.12) return -Math.floor(r() * 1e12) - 0.5;
      if (k < 0.14) return Number.NaN;
      // Runs of one time, as a window's bounds.
      return T0 + Math.floor(r() * 4) * 60_000 + (r() < 0.1 ? 0.75 : 0);
    }
    case 'dictionary':
    case 'string':
      return r() < 0.05 ? Math.floor(r() * 100) : pick();
    case 'json':
      return r() < 0.5 ? { id: pick(), n: Math.floor(r() * 10), nested: [1, null, 'ü'] } : pick();
    case 'bool':
      return r() < 0.1 ? Math.floor(r() * 2) : r() < 0.5;
  }
}

/** What a cell reads back as from the file (decodeSnapshotRows). */
function expected(type: SnapshotColumnType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'float64':
      return typeof v === 'number' ? v : Number(v);
    case 'timestamp': {
      const ms = typeof v === 'number' ? v : v instanceof Date ? v.getTime() : Date.parse(v as string);
      return Number.isFinite(ms) ? Math.floor(ms) : null;
    }
    case 'json':
      return typeof v === 'string' ? v : JSON.stringify(v);
    case 'bool':
      return Boolean(v);
    default:
      return String(v);
  }
}

interface Case {
  columns: SnapshotColumn[];
  rows: Array<Record<string, unknown>>;
  columnar: SnapshotColumns;
}

/** Random rows for `columns`, also as SnapshotColumns (all-number float64 columns as Float64Array, some left out). */
function randomCase(columns: SnapshotColumn[], n: number, r: () => number): Case {
  const nullRates = columns.map(() => [0, 0, 0.01, 0.3, 1][Math.floor(r() * 5)]!);
  const words = WORDS.slice(0, 1 + Math.floor(r() * WORDS.length));
  const rows: Array<Record<string, unknown>> = [];
  for (let i = 0; i < n; i++) {
    const row: Record<string, unknown> = {};
    columns.forEach((c, j) => {
      const v = cell(c.type, r, nullRates[j]!, words);
      if (v !== undefined || r() < 0.5) row[c.name] = v;
    });
    rows.push(row);
  }
  const cols: Record<string, ArrayLike<unknown>> = {};
  for (const c of columns) {
    if (r() < 0.05) continue; // a column left out: null in every row
    const cells = rows.map((row) => row[c.name]);
    cols[c.name] = c.type === 'float64' && cells.every((v) => typeof v === 'number') && r() < 0.8 ? Float64Array.from(cells as number[]) : cells;
  }
  return { columns, rows, columnar: new SnapshotColumns(n, cols) };
}

function randomColumns(r: () => number): SnapshotColumn[] {
  const k = 1 + Math.floor(r() * 8);
  return Array.from({ length: k }, (_, i) => ({ name: `c${i}_${TYPES[i % 6]}`, type: r() < 0.7 ? TYPES[Math.floor(r() * 6)]! : TYPES[i % 6]! }));
}

const SIZES = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 777];

describe('Arrow IPC files from templates (byte-identical to apache-arrow tableToIPC)', () => {
  it('writes the bytes of tableToIPC for random tables of every column type, size and null pattern', () => {
    const r = rng(42);
    const schemas: SnapshotColumn[][] = [
      ...Object.values(SNAPSHOT_TABLES).map((t) => t.columns.slice()),
      TYPES.map((type, i) => ({ name: `all_${i}`, type })),
      ...Array.from({ length: 6 }, () => randomColumns(r)),
    ];
    let templated = 0;
    let files = 0;
    for (const columns of schemas) {
      const templates = new IpcFileTemplates();
      const shapesSeen = new Set<string>();
      for (let round = 0; round < 2; round++) {
        for (const n of SIZES) {
          const c = randomCase(columns, n, r);
          for (const rows of [c.rows, c.columnar]) {
            const time = T0 + round * 60_000 + (round === 1 ? 0.5 : 0);
            const want = encodeSnapshotWithArrow(columns, time, rows);
            const ipc = snapshotIpcColumns(columns, time, rows);
            const shape = ipcShape(n, ipc);
            let sampleCalls = 0;
            let referenceCalls = 0;
            const got = templates.encode(
              columns,
              n,
              ipc,
              () => {
                sampleCalls++;
                const sample = snapshotIpcSample(columns, time, rows);
                expect(sample.numRows).toBeLessThanOrEqual(Math.min(n, 1 + columns.length));
                return sample;
              },
              () => {
                referenceCalls++;
                return encodeSnapshotWithArrow(columns, time, rows);
              },
            );
            files++;
            expect(Buffer.compare(Buffer.from(got), Buffer.from(want)), `${columns.map((x) => x.type).join(',')} n=${n}`).toBe(0);
            // A sample is taken for the first file of a shape only, its template holds, and every
            // file (the first too) comes from the template, never from apache-arrow.
            expect(sampleCalls, `shape ${shape}`).toBe(shapesSeen.has(shape) ? 0 : 1);
            expect(referenceCalls, `shape ${shape}`).toBe(0);
            if (shapesSeen.has(shape)) templated++;
            shapesSeen.add(shape);
            // The module-level encoder agrees too, and the file reads back as the rows.
            expect(Buffer.compare(Buffer.from(encodeSnapshot(columns, time, rows)), Buffer.from(want))).toBe(0);
            const back = decodeSnapshotRows(got);
            expect(back.length).toBe(n);
            const given = rows instanceof SnapshotColumns ? rows.toRows() : rows;
            expect(back).toEqual(given.map((row) => Object.fromEntries([['snapshot_time', Math.floor(time)], ...columns.map((col) => [col.name, expected(col.type, row[col.name])])])));
          }
        }
      }
    }
    expect(files).toBeGreaterThan(500);
    expect(templated).toBeGreaterThan(files * 0.8);
  }, 120_000);

  it('writes the bytes of tableToIPC for grouped rows (instrument pairs, as the correlation step gives them)', () => {
    const r = rng(3);
    const columns = SNAPSHOT_TABLES.correlations.columns.slice();
    const names = ['A', 'B', 'C', 'Dé', 'E', 'F', 'G', 'H', 'I', 'J', 'K'];
    const templates = new IpcFileTemplates();
    let sampleCalls = 0;
    let referenceCalls = 0;
    for (let round = 0; round < 6; round++) {
      const ws: number[] = [];
      const a: Array<string | null> = [];
      const b: Array<string | null> = [];
      const rho: Array<number | null> = [];
      // Pairs x < y of a window's names (instrument_b runs through the dictionary in order), some
      // names left out or repeated, some cells null.
      const own = names.filter(() => r() < 0.8);
      for (let x = 0; x < own.length; x++) {
        for (let y = x + 1; y < own.length; y++) {
          ws.push(T0 - 5 * 60_000);
          a.push(r() < 0.03 ? null : own[x]!);
          b.push(r() < 0.03 ? null : r() < 0.15 ? own[Math.floor(r() * own.length)]! : own[y]!);
          rho.push(r() < 0.1 ? null : r() * 2 - 1);
        }
      }
      const n = a.length;
      const rows = new SnapshotColumns(n, { window_start: Float64Array.from(ws), window_end: Float64Array.from(ws, (t) => t + 300_000), instrument_a: a, instrument_b: b, correlation: rho, n: new Float64Array(n).fill(299) });
      const want = encodeSnapshotWithArrow(columns, T0, rows);
      const got = templates.encode(
        columns,
        n,
        snapshotIpcColumns(columns, T0, rows),
        () => {
          sampleCalls++;
          return snapshotIpcSample(columns, T0, rows);
        },
        () => {
          referenceCalls++;
          return want;
        },
      );
      expect(Buffer.compare(Buffer.from(got), Buffer.from(want)), `round ${round}`).toBe(0);
      // Again, with the dictionaries of the file before (their Utf8 buffers reused) and other correlations.
      const again = new SnapshotColumns(n, { ...rows.columns, correlation: rho.map((x) => (x === null ? 0.5 : null)) });
      expect(Buffer.compare(Buffer.from(encodeSnapshot(columns, T0, again)), Buffer.from(encodeSnapshotWithArrow(columns, T0, again))), `round ${round} again`).toBe(0);
    }
    // Every round's file came from the template made of the first round's sample.
    expect([sampleCalls, referenceCalls]).toEqual([1, 0]);
  });

  it('writes a dictionary column again only as it was when its cells are the same (nulls included)', () => {
    const columns: SnapshotColumn[] = [
      { name: 'id', type: 'dictionary' },
      { name: 'x', type: 'float64' },
    ];
    const files: unknown[][] = [
      ['A', null, 'B', 'A'],
      ['A', 'A', 'B', 'A'], // a null becomes the value of code 0
      ['A', null, 'B', 'A'], // and back
      ['A', null, 'B', null],
      ['A', null, 'B', null], // the same cells: the column of the file before
      ['A', undefined, 'B', null],
      ['B', null, 'A', null], // the same values in another order
      [7, null, 'B', null], // a number, written as its string
      ['7', null, 'B', null],
      [7, null, 'B', null],
      ['A', 'B'], // fewer rows
      ['A', 'B', 'C', 'D'],
    ];
    for (const [i, ids] of files.entries()) {
      for (const rows of [new SnapshotColumns(ids.length, { id: ids, x: new Float64Array(ids.length).fill(i) }), ids.map((id) => ({ id, x: i }))]) {
        const want = encodeSnapshotWithArrow(columns, T0, rows);
        expect(Buffer.compare(Buffer.from(encodeSnapshot(columns, T0, rows)), Buffer.from(want)), `file ${i}`).toBe(0);
      }
    }
  });

  it('reads back through apache-arrow with the schema of the reference', () => {
    const columns = TYPES.map((type, i) => ({ name: `k${i}`, type }));
    const c = randomCase(columns, 500, rng(7));
    encodeSnapshot(columns, T0, c.rows); // makes the templates
    const got = tableFromIPC(encodeSnapshot(columns, T0 + 60_000, c.columnar));
    const want = tableFromIPC(encodeSnapshotWithArrow(columns, T0 + 60_000, c.columnar));
    expect(got.schema.fields.map((f) => [f.name, String(f.type), f.nullable])).toEqual(want.schema.fields.map((f) => [f.name, String(f.type), f.nullable]));
    expect(got.numRows).toBe(500);
    for (const f of want.schema.fields) {
      expect(got.getChild(f.name)!.toArray(), f.name).toEqual(want.getChild(f.name)!.toArray());
      expect(got.getChild(f.name)!.nullCount, f.name).toBe(want.getChild(f.name)!.nullCount);
    }
  });

  it('leaves a shape whose sample file is not the expected layout to the reference', () => {
    const columns: SnapshotColumn[] = [{ name: 'x', type: 'float64' }];
    const rows = [{ x: 1 }, { x: 2 }];
    const ipc = snapshotIpcColumns(columns, T0, rows);
    const want = encodeSnapshotWithArrow(columns, T0, rows);
    const cases: Array<[string, () => IpcSample]> = [
      // A stream, not a file: no template can be made from it.
      ['a stream', () => ({ numRows: 2, columns: ipc, file: tableToIPC(tableFromArrays({ x: Float64Array.of(1, 2) }), 'stream') })],
      // The file of another table: a template is made, but does not give its bytes.
      ['another table', () => ({ numRows: 2, columns: ipc, file: encodeSnapshotWithArrow([{ name: 'x', type: 'string' }], T0, [{ x: 'a' }, { x: 'b' }]) })],
      // A sample of another shape (no rows).
      ['another shape', () => snapshotIpcSample(columns, T0, [])],
    ];
    for (const [what, sample] of cases) {
      const templates = new IpcFileTemplates();
      let samples = 0;
      let references = 0;
      const encode = () =>
        templates.encode(
          columns,
          2,
          ipc,
          () => {
            samples++;
            return sample();
          },
          () => {
            references++;
            return want;
          },
        );
      expect(encode(), what).toBe(want);
      expect(encode(), what).toBe(want);
      expect([samples, references], what).toEqual([1, 2]);
    }
  });
});
