import { mkdir, readFile, writeFile, truncate, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Bool, Dictionary, Field, Float32, Int32, Int64, Int8, RecordBatch, Schema, Struct, Table, Utf8, makeData, tableToIPC, vectorFromArray } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotSink } from '../../../src/connectors/snapshot-sink.js';
import { QueryError, SqlSession, type QueryResult } from '../../../src/query/session.js';
import { MIN, T0, alert, positionRows, tempDir } from './helpers.js';

/** Rows of a result as plain JS (numbers, strings, null; timestamps as epoch ms). */
function plain(r: QueryResult): unknown[][] {
  return r.rows.map((row) =>
    row.map((v) => {
      if (typeof v === 'bigint') return Number(v);
      if (v && typeof v === 'object' && 'micros' in v) return Number((v as { micros: bigint }).micros / 1000n);
      return v;
    }),
  );
}

async function one(s: SqlSession, sql: string): Promise<unknown[][]> {
  const rs = await s.query(sql);
  return plain(rs[rs.length - 1]!);
}

describe('loading snapshots into DuckDB', () => {
  let dir: string;
  let session: SqlSession;
  const snaps = [T0, T0 + MIN, T0 + 2 * MIN];
  const rowsAt = new Map(snaps.map((t, k) => [t, positionRows(5000 + k, k + 1)]));

  beforeAll(async () => {
    dir = await tempDir();
    const sink = new SnapshotSink({ dir: join(dir, 'snapshots') });
    await sink.open();
    sink.onAlert(alert({ eventTime: T0 - 1, entity: { traderId: 'TR03' }, value: 412_345.12, threshold: 500_000 }));
    sink.onAlert(alert({ eventTime: T0 + 61_000, entity: { traderId: 'TR07' }, value: 90_000, threshold: 100_000 }));
    for (const t of snaps) {
      sink.onSnapshot('positions', t, rowsAt.get(t)!);
      sink.onSnapshot('trader_risk', t, [
        { trader_id: 'TR03', var_99: 412_345.12 + (t - T0) / 1000, var_limit: 500_000, pnl: -10, gross_exposure: 1e6, net_exposure: 5e5, drawdown: 1, concentration: 0.5, es_99: 5e5 },
        { trader_id: 'TR07', var_99: 90_000, var_limit: 100_000, pnl: 25, gross_exposure: 2e5, net_exposure: 0, drawdown: 0, concentration: null, es_99: 1e5 },
      ]);
      sink.onSnapshot('market', t, [{ instrument: 'ACME', mark_price: 100 - (t - T0) / MIN, spread_bps: 5 + (t - T0) / MIN, depth: 1e6, ret_60s: null, luld_lower: 95, luld_upper: 105, luld_state: 'NORMAL' }]);
      await sink.flush();
    }
    await sink.close();
    session = await SqlSession.open({ snapshots: join(dir, 'snapshots') });
  });
  afterAll(() => session?.close());

  it('loads one table per folder, with a latest_ view each', async () => {
    const r = session.report;
    expect(r.errors).toEqual([]);
    expect(r.tables.map((t) => [t.name, t.files])).toEqual([
      ['alerts', 3],
      ['market', 3],
      ['positions', 3],
      ['trader_risk', 3],
    ]);
    const tables = await session.tables();
    expect(tables.filter((t) => t.kind === 'view').map((t) => t.name)).toEqual(['latest_alerts', 'latest_market', 'latest_positions', 'latest_trader_risk']);
    expect(await session.schema('positions')).toEqual([
      { name: 'snapshot_time', type: 'TIMESTAMP WITH TIME ZONE', nullable: true },
      { name: 'trader_id', type: 'VARCHAR', nullable: true },
      { name: 'instrument', type: 'VARCHAR', nullable: true },
      ...['qty', 'avg_price', 'mark_price', 'notional', 'realized_pnl', 'unrealized_pnl'].map((name) => ({ name, type: 'DOUBLE', nullable: true })),
    ]);
  });

  it('round trip: state -> Arrow file -> DuckDB -> query gives the values back, nulls included', async () => {
    for (const t of snaps) {
      const back = await one(
        session,
        `SELECT trader_id, instrument, qty, avg_price, mark_price, notional, realized_pnl, unrealized_pnl
         FROM positions WHERE epoch_ms(snapshot_time) = ${t} ORDER BY rowid`,
      );
      const want = rowsAt.get(t)!.map((r) => [r.trader_id, r.instrument, r.qty, r.avg_price, r.mark_price, r.notional, r.realized_pnl, r.unrealized_pnl]);
      expect(back.length).toBe(want.length);
      expect(back).toEqual(want);
    }
    expect(await one(session, 'SELECT count(*) FROM positions WHERE mark_price IS NULL')).toEqual([[6 + 6 + 6]]);
    const [[n]] = (await one(session, 'SELECT count(*) FROM latest_positions')) as [[number]];
    expect(n).toBe(5002);
  });

  it('the alerts table: every field, entity and details as JSON DuckDB can read', async () => {
    const rows = await one(
      session,
      `SELECT epoch_ms(snapshot_time), entity->>'traderId', value / threshold, details->>'desk', type
       FROM alerts ORDER BY snapshot_time, event_time`,
    );
    expect(rows).toEqual([
      [T0, 'TR03', 412_345.12 / 500_000, 'Équités', 'VAR_LIMIT'],
      [T0 + MIN, 'TR03', 412_345.12 / 500_000, 'Équités', 'VAR_LIMIT'],
      [T0 + 2 * MIN, 'TR03', 412_345.12 / 500_000, 'Équités', 'VAR_LIMIT'],
      [T0 + 2 * MIN, 'TR07', 0.9, 'Équités', 'VAR_LIMIT'],
    ]);
  });

  it('arbitrary SQL: joins, window functions, CTEs', async () => {
    const over = await one(
      session,
      `WITH r AS (SELECT snapshot_time, trader_id, var_99 / var_limit AS used FROM trader_risk)
       SELECT trader_id, round(used, 4) FROM r WHERE used > 0.8 AND snapshot_time = TIMESTAMPTZ '2024-03-15 14:31:00+00' ORDER BY 1`,
    );
    expect(over).toEqual([
      ['TR03', 0.8248],
      ['TR07', 0.9],
    ]);
    const spread = await one(
      session,
      `SELECT epoch_ms(snapshot_time), spread_bps, spread_bps - lag(spread_bps) OVER (PARTITION BY instrument ORDER BY snapshot_time)
       FROM market ORDER BY snapshot_time`,
    );
    expect(spread).toEqual([
      [T0, 5, null],
      [T0 + MIN, 6, 1],
      [T0 + 2 * MIN, 7, 1],
    ]);
    const joined = await one(
      session,
      `SELECT t.trader_id, count(*), round(sum(p.notional), 2) = round(sum(p2.notional), 2)
       FROM latest_trader_risk t JOIN latest_positions p USING (trader_id)
       JOIN (SELECT trader_id, notional, instrument FROM latest_positions) p2 ON p2.trader_id = p.trader_id AND p2.instrument = p.instrument
       GROUP BY 1 ORDER BY 1`,
    );
    expect(joined.map((r) => r[0])).toEqual(['TR03', 'TR07']);
  });

  it('SQL errors are QueryErrors with DuckDB’s message', async () => {
    await expect(session.query('SELEC 1')).rejects.toThrow(QueryError);
    await expect(session.query('SELECT nope FROM positions')).rejects.toThrow(/nope/);
  });

  it('the session reaches no file beyond the snapshots, and cannot be unlocked', async () => {
    const denied = [
      "SELECT * FROM read_csv('/etc/passwd')",
      "SELECT * FROM '/etc/passwd'",
      "SELECT * FROM read_text('/etc/hostname')",
      "SELECT * FROM glob('/etc/*')",
      "COPY positions TO '/tmp/riskflow-leak.csv'",
      "ATTACH '/tmp/riskflow-leak.db'",
      'INSTALL httpfs',
      'LOAD httpfs',
      'SET enable_external_access = true',
      "SET allowed_directories = ['/']",
      'SET lock_configuration = false',
      'RESET lock_configuration',
    ];
    for (const sql of denied) await expect(session.query(sql), sql).rejects.toThrow(QueryError);
    expect(await one(session, "SELECT current_setting('enable_external_access'), current_setting('lock_configuration')")).toEqual([[false, true]]);
    // Loading ran on one thread; queries get DuckDB's default back.
    const fresh = await DuckDBInstance.create(':memory:');
    const fc = await fresh.connect();
    const threads = Number((await fc.runAndReadAll("SELECT current_setting('threads')")).getRows()[0]![0]);
    fc.closeSync();
    fresh.closeSync();
    expect(await one(session, "SELECT current_setting('threads')")).toEqual([[threads]]);
    await expect(session.query("SELECT * FROM read_csv('/etc/passwd')")).rejects.toThrow(/disabled by configuration/);
    expect(await stat('/tmp/riskflow-leak.csv').catch(() => null)).toBeNull();
  });
});

describe('bad snapshot files', () => {
  it('a truncated, corrupt or foreign file is skipped with an error naming it; the other files load', async () => {
    const dir = await tempDir();
    const snapshots = join(dir, 'snapshots');
    const sink = new SnapshotSink({ dir: snapshots, alerts: false });
    await sink.open();
    for (let k = 0; k < 5; k++) sink.onSnapshot('positions', T0 + k * MIN, positionRows(100, k));
    sink.onSnapshot('market', T0, [{ instrument: 'ACME', mark_price: 1 }]);
    await sink.close();
    const pos = (k: number) => join(snapshots, 'positions', `${T0 + k * MIN}.arrow`);
    const size = (await stat(pos(1))).size;
    await truncate(pos(1), Math.floor(size / 2)); // a write cut short
    await writeFile(pos(2), 'this is not an arrow file at all');
    await writeFile(pos(3), ''); // empty
    const bytes = await readFile(pos(4));
    bytes.writeUInt32LE(0x7fffffff, bytes.length - 10); // the footer length, corrupted
    await writeFile(pos(4), bytes);
    await mkdir(join(snapshots, 'bad-name'));

    const s = await SqlSession.open({ snapshots });
    try {
      const errors = s.report.errors.map((e) => [e.file, e.message]);
      expect(errors).toEqual([
        [join(snapshots, 'bad-name'), expect.stringMatching(/cannot be a table name/)],
        [pos(1), expect.stringMatching(/^truncated Arrow IPC file: it ends without the ARROW1 footer/)],
        [pos(2), expect.stringMatching(/^not an Arrow IPC file/)],
        [pos(3), expect.stringMatching(/^not an Arrow IPC file/)],
        [pos(4), expect.stringMatching(/^corrupt Arrow IPC file/)],
      ]);
      expect(await one(s, 'SELECT count(*), count(DISTINCT snapshot_time) FROM positions')).toEqual([[100, 1]]);
      expect(await one(s, 'SELECT count(*) FROM market')).toEqual([[1]]);
    } finally {
      s.close();
    }
  });

  it('an empty or missing folder', async () => {
    const dir = await tempDir();
    await expect(SqlSession.open({ snapshots: join(dir, 'nope') })).rejects.toThrow(/no snapshots folder/);
    const s = await SqlSession.open({ snapshots: dir });
    expect(s.report.tables).toEqual([]);
    s.close();
  });
});

describe('Arrow files from other writers', () => {
  it('loads any Arrow IPC file: ints, floats, bools, plain and dictionary strings (duplicate entries too), evolving columns', async () => {
    const dir = await tempDir();
    const folder = join(dir, 'things');
    await mkdir(folder);
    // File 1: written by apache-arrow's own helpers, without snapshot_time.
    await writeFile(
      join(folder, '1.arrow'),
      tableToIPC(
        new Table({
          id: vectorFromArray(new Int32Array([1, 2, 3])),
          x: vectorFromArray(new Float32Array([0.5, 1.5, 2.5])),
          name: vectorFromArray(['a', null, 'ç'], new Utf8()),
          big: vectorFromArray([1n, -2n, 3n], new Int64()),
          flag: vectorFromArray([true, null, false], new Bool()),
        }),
        'file',
      ),
    );
    // File 2: a dictionary with a repeated entry and Int8 indices; `x` missing; a new column.
    const dict = vectorFromArray(['p', 'q', 'p'], new Utf8());
    const dtype = new Dictionary(new Utf8(), new Int8(), 7);
    const fields = [new Field('id', new Int32(), true), new Field('name', dtype, true), new Field('extra', new Float32(), true)];
    const schema = new Schema(fields);
    const children = [
      makeData({ type: new Int32(), length: 3, data: new Int32Array([4, 5, 6]) }),
      makeData({ type: dtype, length: 3, data: new Int8Array([2, 1, 0]), dictionary: dict }),
      makeData({ type: new Float32(), length: 3, data: new Float32Array([9, 8, 7]) }),
    ];
    const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length: 3, children }));
    await writeFile(join(folder, '2.arrow'), tableToIPC(new Table(schema, [batch]), 'file'));

    const s = await SqlSession.open({ snapshots: dir });
    try {
      expect(s.report.errors).toEqual([]);
      expect(await s.schema('things')).toEqual([
        { name: 'id', type: 'INTEGER', nullable: true },
        { name: 'x', type: 'FLOAT', nullable: true },
        { name: 'name', type: 'VARCHAR', nullable: true },
        { name: 'big', type: 'BIGINT', nullable: true },
        { name: 'flag', type: 'BOOLEAN', nullable: true },
        { name: 'extra', type: 'FLOAT', nullable: true },
      ]);
      expect(await one(s, 'SELECT * FROM things ORDER BY id')).toEqual([
        [1, 0.5, 'a', 1, true, null],
        [2, 1.5, null, -2, null, null],
        [3, 2.5, 'ç', 3, false, null],
        [4, null, 'p', null, null, 9],
        [5, null, 'q', null, null, 8],
        [6, null, 'p', null, null, 7],
      ]);
      expect(s.report.tables[0]!.latestView).toBe(false);
    } finally {
      s.close();
    }
  });
});

describe('--export with DuckDB’s writer', () => {
  it('writes Parquet and CSV that read back the same, and nothing else', async () => {
    const dir = await tempDir();
    const sink = new SnapshotSink({ dir: join(dir, 'snapshots'), alerts: false });
    await sink.open();
    sink.onSnapshot('positions', T0, positionRows(3000));
    await sink.close();
    const sql = 'SELECT trader_id, sum(notional) AS notional, count(*) AS n FROM positions GROUP BY 1 ORDER BY 1';
    const check = await DuckDBInstance.create(':memory:');
    const c = await check.connect();
    for (const ext of ['parquet', 'csv']) {
      const file = join(dir, 'exports', `by-trader.${ext}`);
      const s = await SqlSession.open({ snapshots: join(dir, 'snapshots'), exportPath: file });
      try {
        expect(s.hasExtension('parquet')).toBe(true);
        const out = await s.exportTo(`${sql};`);
        expect(out).toEqual({ file, rows: 97, format: ext });
        const want = await one(s, sql);
        const reader = ext === 'parquet' ? `read_parquet('${file}')` : `read_csv('${file}')`;
        const got = (await c.runAndReadAll(`SELECT * FROM ${reader} ORDER BY 1`)).getRows().map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v)));
        expect(got).toEqual(want);
        // Exporting does not open the session to other files.
        await expect(s.query(`COPY positions TO '${join(dir, 'other.csv')}'`)).rejects.toThrow(QueryError);
        await expect(s.exportTo('SELECT 1; SELECT 2')).rejects.toThrow(/exactly one query/);
      } finally {
        s.close();
      }
    }
    c.closeSync();
    check.closeSync();
    const s = await SqlSession.open({ snapshots: join(dir, 'snapshots'), exportPath: join(dir, 'x.xlsx') });
    await expect(s.exportTo(sql)).rejects.toThrow(/unknown format '.xlsx'/);
    s.close();
  });
});
