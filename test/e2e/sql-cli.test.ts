import { spawnSync } from 'node:child_process';
import { cp, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DAY, MARKET_WATCH, ROOT, tempDir } from './helpers.js';
import { replayWithSnapshots, sqlCommand } from './sql-fixture.js';

describe('riskflow sql (the built CLI)', { timeout: 120_000 }, () => {
  let out: string;
  let snapshots: string;
  let cmd: string[];
  const sql = (args: string[], input?: string) => {
    const r = spawnSync(process.execPath, [...cmd, ...args], { cwd: ROOT, encoding: 'utf8', input, env: { ...process.env, NO_COLOR: '1', RISKFLOW_SQL_HISTORY: '' } });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  beforeAll(async () => {
    cmd = await sqlCommand();
    out = await tempDir('rf-sql-cli-');
    await replayWithSnapshots(DEMO_DAY, out, { extra: [MARKET_WATCH] });
    snapshots = join(out, 'snapshots');
  }, 120_000);

  it('runs a query from the command line and prints an aligned table', () => {
    const r = sql(['--snapshots', snapshots, '--timezone', 'America/New_York', "SELECT type, entity->>'instrument' AS instrument, event_time FROM latest_alerts WHERE type = 'PRICE_DROP'"]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ type +\| instrument \| event_time/m);
    expect(r.stdout).toMatch(/^ varchar +\| varchar +\| timestamp with time zone/m);
    expect(r.stdout).toMatch(/^ PRICE_DROP \| ACME +\| 2024-03-15 \d\d:\d\d:\d\d(\.\d+)?-04/m);
    expect(r.stdout).toMatch(/^\(1 row\)$/m);
  });

  it('--format csv and json', () => {
    const csv = sql(['--snapshots', snapshots, '--format', 'csv', 'SELECT trader_id, qty FROM latest_positions ORDER BY trader_id, instrument LIMIT 2']);
    expect(csv.status).toBe(0);
    const lines = csv.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('trader_id,qty');
    expect(lines.length).toBe(3);
    const json = sql(['--snapshots', snapshots, '--format', 'json', 'SELECT count(*) AS n, max(snapshot_time) AS at FROM positions']);
    const rows = JSON.parse(json.stdout) as Array<{ n: number; at: string }>;
    expect(rows).toEqual([{ n: expect.any(Number), at: expect.stringMatching(/^2024-03-15T\d\d:\d\d:\d\d(\.\d+)?\+00:00$/) }]);
  });

  it('--export writes Parquet and CSV with DuckDB’s writer', async () => {
    const dir = await tempDir('rf-sql-export-');
    const q = 'SELECT trader_id, sum(abs(notional)) AS gross FROM latest_positions GROUP BY 1 ORDER BY 1';
    const want = JSON.parse(sql(['--snapshots', snapshots, '--format', 'json', q]).stdout) as Array<{ trader_id: string; gross: number }>;
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    for (const ext of ['parquet', 'csv']) {
      const file = join(dir, `gross.${ext}`);
      const r = sql(['--snapshots', snapshots, '--export', file, q]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`wrote ${want.length} rows to ${file} (${ext})\n`);
      const back = (await c.runAndReadAll(`SELECT trader_id, gross FROM '${file}' ORDER BY 1`)).getRowObjectsJson();
      expect(back).toEqual(want);
    }
    c.closeSync();
    db.closeSync();
    const bad = sql(['--snapshots', snapshots, '--export', join(dir, 'x.xlsx'), q]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown format '.xlsx'/);
  });

  it('a truncated snapshot file is reported on stderr, naming it; the rest loads', async () => {
    const copy = join(await tempDir('rf-sql-bad-'), 'snapshots');
    await cp(snapshots, copy, { recursive: true });
    const victim = join(copy, 'positions', (await readdir(join(copy, 'positions'))).sort()[3]!);
    await truncate(victim, Math.floor((await stat(victim)).size / 3));
    const good = sql(['--snapshots', snapshots, '--format', 'csv', 'SELECT count(DISTINCT snapshot_time) AS n FROM positions']);
    const r = sql(['--snapshots', copy, '--format', 'csv', 'SELECT count(DISTINCT snapshot_time) AS n FROM positions']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`riskflow: warning: skipped ${victim}: truncated Arrow IPC file: it ends without the ARROW1 footer (${(await stat(victim)).size} bytes; was the write interrupted?)\n`);
    expect(Number(r.stdout.split('\n')[1])).toBe(Number(good.stdout.split('\n')[1]) - 1);
  });

  it('bad SQL and reaching for other files exit 2 with DuckDB’s reason; a missing folder too', () => {
    const parse = sql(['--snapshots', snapshots, 'SELEC 1']);
    expect(parse.status).toBe(2);
    expect(parse.stderr).toMatch(/^riskflow: error: Parser Error: syntax error at or near "SELEC"/);
    const file = sql(['--snapshots', snapshots, "SELECT * FROM read_csv('/etc/passwd')"]);
    expect(file.status).toBe(2);
    expect(file.stderr).toMatch(/Permission Error: Cannot access file "\/etc\/passwd" - file system operations are disabled by configuration/);
    const none = sql(['--snapshots', join(out, 'nope'), 'SELECT 1']);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no snapshots folder at .*nope/);
    const usage = sql(['--snapshots', snapshots, '--format', 'xml', 'SELECT 1']);
    expect(usage.status).toBe(2);
  });

  it('reads statements piped on stdin (a script), one result after another', async () => {
    const script = join(out, 'q.sql');
    await writeFile(script, "SELECT 1 AS one;\nSELECT 'two'\n  AS two;\n");
    const r = sql(['--snapshots', snapshots, '--format', 'csv'], await readFile(script, 'utf8'));
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('one\n1\ntwo\ntwo\n');
    const bad = sql(['--snapshots', snapshots], 'SELECT nope;\nSELECT 1;\n');
    expect(bad.status).toBe(2);
    expect(bad.stdout).toMatch(/Error: Binder Error/);
  });
});
