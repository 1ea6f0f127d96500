import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import {
  SNAPSHOT_TABLES,
  SnapshotSink,
  alertRow,
  decodeSnapshotRows,
  defineSnapshotTable,
  encodeSnapshot,
  snapshotTableSchema,
  type SnapshotSinkState,
} from '../../../src/connectors/snapshot-sink.js';
import { ReplaySnapshots, parseRetention } from '../../../src/cli/replay-snapshots.js';
import { UsageError } from '../../../src/core/errors.js';
import { SnapshotColumns } from '../../../src/core/snapshot-rows.js';
import { CONTRACT, DICT, MIN, T0, TS, alert, positionRows, tempDir } from './helpers.js';

const traderRisk = [
  { trader_id: 'TR03', gross_exposure: 2.5e6, net_exposure: -1.2e5, pnl: -3400.5, drawdown: 5000, concentration: 0.41, var_99: 412_345.12, es_99: 500_100, var_limit: 500_000 },
  { trader_id: 'TR07', gross_exposure: 0, net_exposure: 0, pnl: 0, drawdown: 0, concentration: null, var_99: 0, es_99: 0, var_limit: 250_000 },
];
const correlations = [{ window_start: T0 - 5 * MIN, window_end: T0, instrument_a: 'ACME', instrument_b: 'BOLT', correlation: 0.93, n: 299 }];
const market = [
  { instrument: 'ACME', mark_price: 101.5, spread_bps: 9.85, depth: 2.1e6, ret_60s: -0.012, luld_lower: 96.4, luld_upper: 106.6, luld_state: 'NORMAL' },
  { instrument: 'ZERO', mark_price: null, spread_bps: null, depth: null, ret_60s: null, luld_lower: null, luld_upper: null, luld_state: null },
];

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe('SnapshotSink: Arrow IPC files of CONTRACTS.md section 5', () => {
  it('writes every contract table as a valid Arrow IPC file with the contract schema', async () => {
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir });
    await sink.open();
    sink.onAlert(alert({ eventTime: T0 - 30_000, windowStart: T0 - MIN, windowEnd: T0 }));
    sink.onSnapshot('positions', T0, positionRows(10));
    sink.onSnapshot('trader_risk', T0, traderRisk);
    sink.onSnapshot('correlations', T0, correlations);
    sink.onSnapshot('market', T0, market);
    await sink.flush();
    await sink.close();

    expect(await files(dir)).toEqual(['alerts', 'correlations', 'market', 'positions', 'trader_risk']);
    for (const table of Object.keys(CONTRACT)) {
      const bytes = await readFile(join(dir, table, `${T0}.arrow`));
      // The IPC *file* format: magic at both ends, so readers can seek to the footer.
      expect(bytes.subarray(0, 6).toString('latin1')).toBe('ARROW1');
      expect(bytes.subarray(bytes.length - 6).toString('latin1')).toBe('ARROW1');
      const t = tableFromIPC(bytes);
      expect(t.schema.fields.map((f) => [f.name, String(f.type)])).toEqual(CONTRACT[table]);
      expect(t.schema.fields[0]!.nullable).toBe(false);
      expect(t.getChild('snapshot_time')!.get(0)).toBe(T0);
    }
    expect(Object.keys(SNAPSHOT_TABLES).sort()).toEqual(Object.keys(CONTRACT).sort());
  });

  it('keeps values, nulls and ids exactly', async () => {
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir });
    await sink.open();
    const a = alert({ eventTime: T0 - 1000 });
    sink.onAlert(a);
    sink.onSnapshot('market', T0, market);
    sink.onSnapshot('correlations', T0, correlations);
    await sink.close();
    const rows = decodeSnapshotRows(await readFile(join(dir, 'market', `${T0}.arrow`)));
    expect(rows).toEqual(market.map((r) => ({ snapshot_time: T0, ...r })));
    const corr = decodeSnapshotRows(await readFile(join(dir, 'correlations', `${T0}.arrow`)));
    expect(corr).toEqual([{ snapshot_time: T0, ...correlations[0] }]);
    const [al] = decodeSnapshotRows(await readFile(join(dir, 'alerts', `${T0}.arrow`)));
    expect(al).toEqual({
      snapshot_time: T0,
      alert_id: a.alertId,
      type: 'VAR_LIMIT',
      severity: 'warning',
      topic: 'portfolio-risk-alerts',
      rule: 'var-limit',
      topology: 'portfolio-risk',
      entity: '{"traderId":"TR03"}',
      event_time: T0 - 1000,
      window_start: null,
      window_end: null,
      value: 412_345.12,
      threshold: 500_000,
      message: a.message,
      details: '{"pct":0.82,"desk":"Équités"}',
      emitted_at: 1_700_000_000_123,
    });
  });

  it('writes atomically: a finished file or none, never a temporary name left behind', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'market'), { recursive: true });
    // The leftovers of an interrupted earlier run: a temporary file and an old snapshot.
    await writeFile(join(dir, 'market', `.${T0}.arrow.1234.tmp`), 'half a file');
    await writeFile(join(dir, 'market', `${T0 - MIN}.arrow`), 'old run');
    await writeFile(join(dir, 'market', 'notes.txt'), 'not ours');
    const sink = new SnapshotSink({ dir });
    await sink.open();
    sink.onSnapshot('market', T0, market);
    await sink.close();
    expect(await files(join(dir, 'market'))).toEqual([`${T0}.arrow`, 'notes.txt']);
  });

  it('retention keeps the newest N files of each table', async () => {
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir, retention: 3 });
    await sink.open();
    for (let k = 1; k <= 5; k++) {
      sink.onSnapshot('market', T0 + k * MIN, market);
      await sink.flush();
    }
    await sink.close();
    expect(await files(join(dir, 'market'))).toEqual([3, 4, 5].map((k) => `${T0 + k * MIN}.arrow`));
    expect(await files(join(dir, 'alerts'))).toEqual([3, 4, 5].map((k) => `${T0 + k * MIN}.arrow`));
    expect(sink.counts.byTable.market).toEqual({ files: 3, rows: 6 });
    expect(parseRetention('all')).toBe(0);
    expect(parseRetention('12')).toBe(12);
    expect(() => parseRetention('-1')).toThrow(UsageError);
    expect(() => new ReplaySnapshots(dir, { every: 'soon' })).toThrow(UsageError);
    expect(new ReplaySnapshots(dir, { every: '5m' }).intervalMs).toBe(300_000);
  });

  it('alerts are cumulative: the snapshot at T has every alert with eventTime <= T, late ones included after close', async () => {
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir });
    await sink.open();
    const a1 = alert({ eventTime: T0 + 10_000, entity: { traderId: 'TR01' } });
    const a2 = alert({ eventTime: T0 + 70_000, entity: { traderId: 'TR02' } });
    // A window alert for an event before T0+1m, emitted only once the window closed (after T0+2m was snapshotted).
    const late = alert({ eventTime: T0 + 50_000, type: 'LIQUIDITY_SPREAD', entity: { instrument: 'ACME' } });
    sink.onAlert(a1);
    sink.onSnapshot('market', T0 + MIN, market);
    sink.onAlert(a2);
    sink.onSnapshot('market', T0 + 2 * MIN, market);
    sink.onSnapshot('market', T0 + 3 * MIN, market);
    await sink.flush();
    // Written during the run (before close): T0+1m has a1 only.
    const during = decodeSnapshotRows(await readFile(join(dir, 'alerts', `${T0 + MIN}.arrow`)));
    expect(during.map((r) => r.alert_id)).toEqual([a1.alertId]);
    sink.onAlert(late);
    await sink.close();
    const at = async (k: number) => decodeSnapshotRows(await readFile(join(dir, 'alerts', `${T0 + k * MIN}.arrow`))).map((r) => r.alert_id);
    expect(await at(1)).toEqual([a1.alertId, late.alertId]);
    expect(await at(2)).toEqual([a1.alertId, late.alertId, a2.alertId]);
    expect(await at(3)).toEqual([a1.alertId, late.alertId, a2.alertId]);
  });

  it('an alerts file with the rows of the one before differs from it in snapshot_time only; every file is its plain encoding', async () => {
    // Alerts come at some snapshot times only, one of them late (event time before the last
    // snapshot: close() rewrites the files it belongs to), so files alternate between new rows
    // and the rows of the file before.
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir });
    await sink.open();
    const fired = [
      [1, alert({ eventTime: T0 + 10_000, entity: { traderId: 'TR01' } })],
      [4, alert({ eventTime: T0 + 3 * MIN + 5_000, type: 'LIQUIDITY_SPREAD', entity: { instrument: 'ACME' }, message: 'spread wide' })],
      [4, alert({ eventTime: T0 + 3 * MIN + 9_000, windowStart: T0 + 3 * MIN, windowEnd: T0 + 4 * MIN })],
      [7, alert({ eventTime: T0 + 2 * MIN + 1_000, entity: { traderId: 'TR09' }, message: 'late é' })],
    ] as const;
    for (let k = 1; k <= 9; k++) {
      for (const [at, a] of fired) if (at === k) sink.onAlert(a);
      sink.onSnapshot('market', T0 + k * MIN, market);
      await sink.flush();
    }
    await sink.close();
    const cols = snapshotTableSchema('alerts')!.columns;
    for (let k = 1; k <= 9; k++) {
      const t = T0 + k * MIN;
      const rows = fired
        .filter(([, a]) => a.eventTime <= t)
        .map(([, a]) => alertRow(a))
        .sort((x, y) => (x.event_time as number) - (y.event_time as number));
      expect(Buffer.compare(await readFile(join(dir, 'alerts', `${t}.arrow`)), Buffer.from(encodeSnapshot(cols, t, rows))), `alerts at ${k}m`).toBe(0);
    }
  });

  it('advance() gives the alerts table a snapshot at every interval even without other tables, and one at the end', async () => {
    const dir = await tempDir();
    const run = async (batches: Array<[number, number]>) => {
      const d = join(dir, String(batches.length));
      const sink = new SnapshotSink({ dir: d, intervalMs: MIN });
      await sink.open();
      sink.onAlert(alert({ eventTime: T0 + 90_000 }));
      for (const [first, last] of batches) sink.advance(last, first);
      await sink.close();
      return files(join(d, 'alerts'));
    };
    const one = await run([[T0 + 5_000, T0 + 245_000]]);
    const many = await run([
      [T0 + 5_000, T0 + 30_000],
      [T0 + 5_000, T0 + 130_000],
      [T0 + 5_000, T0 + 245_000],
    ]);
    expect(one).toEqual([T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN, T0 + 245_000].map((t) => `${t}.arrow`));
    expect(many).toEqual(one);
  });

  it('several producers of one (table, T) make one file; rows given twice are kept once', async () => {
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir, alerts: false });
    await sink.open();
    const rows = positionRows(4);
    sink.onSnapshot('positions', T0, rows.slice(0, 2));
    sink.onSnapshot('positions', T0, rows.slice(1, 3));
    await sink.flush();
    // After the file was written: a late producer, and a step's end-of-input snapshot on the same T.
    sink.onSnapshot('positions', T0, rows.slice(3));
    sink.onSnapshot('positions', T0, rows.slice(0, 1));
    await sink.close();
    const back = decodeSnapshotRows(await readFile(join(dir, 'positions', `${T0}.arrow`)));
    expect(back).toEqual(rows.map((r) => ({ snapshot_time: T0, ...r })));
    expect(await files(dir)).toEqual(['positions']);
  });

  it('extra tables: declared ones keep their types, others are inferred from their rows', async () => {
    defineSnapshotTable({
      table: 'order_book',
      columns: [
        { name: 'instrument', type: 'dictionary' },
        { name: 'as_of', type: 'timestamp' },
        { name: 'bid', type: 'float64' },
        { name: 'halted', type: 'bool' },
      ],
    });
    expect(() => defineSnapshotTable({ table: 'order_book', columns: [{ name: 'x', type: 'float64' }] })).toThrow(/already declared/);
    expect(() => defineSnapshotTable({ table: 'Bad-Name', columns: [] })).toThrow(/table name/);
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir, alerts: false });
    await sink.open();
    sink.onSnapshot('order_book', T0, [{ instrument: 'ACME', as_of: T0 - 5, bid: 101.2, halted: false }]);
    sink.onSnapshot('desk_totals', T0, [
      { desk: 'rates', n: 3, flags: { a: 1 }, ok: true, note: null },
      { desk: 'credit', n: 4.5, flags: null, ok: false, note: 'x' },
    ]);
    await sink.close();
    const ob = tableFromIPC(await readFile(join(dir, 'order_book', `${T0}.arrow`)));
    expect(ob.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      `snapshot_time:${TS}`,
      `instrument:${DICT}`,
      `as_of:${TS}`,
      'bid:Float64',
      'halted:Bool',
    ]);
    const dt = tableFromIPC(await readFile(join(dir, 'desk_totals', `${T0}.arrow`)));
    expect(dt.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      `snapshot_time:${TS}`,
      'desk:Utf8',
      'n:Float64',
      'flags:Utf8',
      'ok:Bool',
      'note:Utf8',
    ]);
    expect(decodeSnapshotRows(await readFile(join(dir, 'desk_totals', `${T0}.arrow`)))[0]).toEqual({
      snapshot_time: T0,
      desk: 'rates',
      n: 3,
      flags: '{"a":1}',
      ok: true,
      note: null,
    });
    expect(() => sink.onSnapshot('alerts', T0, [])).not.toThrow();
    const withAlerts = new SnapshotSink({ dir });
    expect(() => withAlerts.onSnapshot('alerts', T0, [])).toThrow(/written by the snapshot sink/);
  });

  it('checkpoint, stop, resume: the files are those of an uninterrupted run', async () => {
    const feed = (sink: SnapshotSink, k: number) => {
      sink.onAlert(alert({ eventTime: T0 + k * MIN - 1, entity: { traderId: `TR${k}` } }));
      sink.onSnapshot('positions', T0 + k * MIN, positionRows(20, k));
    };
    const whole = await tempDir();
    {
      const sink = new SnapshotSink({ dir: whole, retention: 4 });
      await sink.open();
      for (let k = 1; k <= 6; k++) {
        feed(sink, k);
        await sink.flush();
      }
      await sink.close();
    }
    const cut = await tempDir();
    let state: SnapshotSinkState;
    {
      const sink = new SnapshotSink({ dir: cut, retention: 4 });
      await sink.open();
      for (let k = 1; k <= 3; k++) {
        feed(sink, k);
        await sink.flush();
      }
      state = structuredClone(sink.snapshot());
      // Work after the checkpoint that the crash loses: its files must not survive the resume.
      feed(sink, 4);
      await sink.flush();
    }
    {
      const sink = new SnapshotSink({ dir: cut, retention: 4 });
      await sink.open(state);
      for (let k = 4; k <= 6; k++) {
        feed(sink, k);
        await sink.flush();
      }
      await sink.close();
    }
    for (const table of ['alerts', 'positions']) {
      const names = await files(join(whole, table));
      expect(await files(join(cut, table))).toEqual(names);
      for (const n of names) expect(Buffer.compare(await readFile(join(cut, table, n)), await readFile(join(whole, table, n)))).toBe(0);
    }
  });

  it('reuses the memory of written files without a stale byte (files growing and shrinking)', async () => {
    // Each file is written before the next is encoded, so the next one of at most its size is
    // encoded into the same memory: every byte of it (padding included) must be its own.
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir, alerts: false });
    await sink.open();
    const cols = snapshotTableSchema('positions')!.columns;
    const want = new Map<number, Buffer>();
    const sizes = [900, 7, 3000, 1, 450, 0, 2100, 33, 2999, 12];
    for (let k = 0; k < sizes.length; k++) {
      const t = T0 + k * MIN;
      // Instrument names of odd lengths: the dictionary's Utf8 data ends inside its padding.
      const rows = positionRows(sizes[k]!, k + 3).map((r, i) => ({ ...r, instrument: `${String(r['instrument'])}${'x'.repeat((i + k) % 5)}` }));
      want.set(t, Buffer.from(encodeSnapshot(cols, t, rows)));
      sink.onSnapshot('positions', t, rows);
      await sink.flush();
    }
    await sink.close();
    for (const [t, bytes] of want) expect(Buffer.compare(await readFile(join(dir, 'positions', `${t}.arrow`)), bytes), `file ${t}`).toBe(0);
  });

  it('rows given as columns make the same file bytes as the same rows given as objects', async () => {
    /** The rows as columns: Float64Array for number columns without nulls, arrays otherwise. */
    const asColumns = (rows: Array<Record<string, unknown>>, drop: string[] = []): SnapshotColumns => {
      const cols: Record<string, ArrayLike<unknown>> = {};
      for (const name of Object.keys(rows[0]!)) {
        if (drop.includes(name)) continue;
        const cells = rows.map((r) => r[name]);
        cols[name] = cells.every((v) => typeof v === 'number') ? Float64Array.from(cells as number[]) : cells;
      }
      return new SnapshotColumns(rows.length, cols);
    };
    const big = positionRows(5000);
    for (const r of big.slice(0, 40)) r['avg_price'] = Number.NaN; // NaN numbers stay NaN, never null
    // Window bounds given as numbers: runs of one time, fractional and negative ms, a NaN and an
    // infinity (null), the run ending at the last row.
    const starts = [T0, T0, T0, T0 + 0.75, T0 + 0.75, Number.NaN, Number.NaN, T0, -1.5, Number.POSITIVE_INFINITY, T0 + 60_000, T0 + 60_000];
    const manyWindows = Array.from({ length: 40 }, (_, i) => ({
      ...correlations[0]!,
      window_start: starts[Math.min(i, starts.length - 1)]!,
      window_end: i < 20 ? T0 + MIN : T0 + 2 * MIN,
      n: i,
    }));
    const cases: Array<[string, Array<Record<string, unknown>>]> = [
      ['positions', big],
      ['trader_risk', traderRisk],
      ['correlations', correlations],
      ['correlations', manyWindows],
      ['market', market],
    ];
    for (const [table, rows] of cases) {
      const cols = snapshotTableSchema(table)!.columns;
      const want = Buffer.from(encodeSnapshot(cols, T0, rows));
      expect(Buffer.compare(Buffer.from(encodeSnapshot(cols, T0, asColumns(rows))), want), table).toBe(0);
    }
    // A column left out is null in every row, as a key left out of every row object.
    const cols = snapshotTableSchema('positions')!.columns;
    const without = big.map(({ mark_price: _m, ...r }) => r);
    expect(Buffer.compare(Buffer.from(encodeSnapshot(cols, T0, asColumns(big, ['mark_price']))), Buffer.from(encodeSnapshot(cols, T0, without)))).toBe(0);

    // Through the sink: a columnar producer, a second producer of the same (table, T), a
    // checkpoint taken with columns pending, and an undeclared table typed from its columns.
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir, alerts: false });
    await sink.open();
    sink.onSnapshot('positions', T0, asColumns(big));
    sink.onSnapshot('positions', T0 + MIN, asColumns(big.slice(0, 10)));
    sink.onSnapshot('positions', T0 + MIN, big.slice(5, 20));
    sink.onSnapshot('desk_book', T0, new SnapshotColumns(2, { desk: ['rates', null], n: Float64Array.of(3, 4.5) }));
    const state = sink.snapshot();
    expect(state.pending.find((p) => p.table === 'positions' && p.time === T0)!.rows).toEqual(big);
    await sink.close();
    expect(decodeSnapshotRows(await readFile(join(dir, 'positions', `${T0}.arrow`)))).toEqual(big.map((r) => ({ snapshot_time: T0, ...r })));
    expect(decodeSnapshotRows(await readFile(join(dir, 'positions', `${T0 + MIN}.arrow`)))).toEqual(big.slice(0, 20).map((r) => ({ snapshot_time: T0 + MIN, ...r })));
    const desk = tableFromIPC(await readFile(join(dir, 'desk_book', `${T0}.arrow`)));
    expect(desk.schema.fields.map((f) => [f.name, String(f.type)])).toEqual([['snapshot_time', 'Timestamp<MILLISECOND, UTC>'], ['desk', 'Utf8'], ['n', 'Float64']]);
    expect(decodeSnapshotRows(await readFile(join(dir, 'desk_book', `${T0}.arrow`)))).toEqual([
      { snapshot_time: T0, desk: 'rates', n: 3 },
      { snapshot_time: T0, desk: null, n: 4.5 },
    ]);
  });
});
