import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../src/topology/steps/desk-risk.js';
import '../../src/topology/steps/market-risk.js';
import { SqlSession } from '../../src/query/session.js';
import { CONTRACT } from '../unit/query/helpers.js';
import { DEMO_DAY, ROOT, tempDir } from './helpers.js';
import { replayWithSnapshots } from './sql-fixture.js';

/**
 * The risk library's own snapshot rows (desk-risk: positions, trader_risk; market-risk: market,
 * correlations; the alerts of both) written by the snapshot sink: every file of every table has
 * exactly the Arrow schema of CONTRACTS.md section 5, and DuckDB loads them all.
 */
describe('the standard topologies’ snapshots on the demo day', { timeout: 180_000 }, () => {
  let out: string;
  beforeAll(async () => {
    out = await tempDir('rf-sql-contract-');
    await replayWithSnapshots(DEMO_DAY, out, { book: false, extra: [join(ROOT, 'topologies/desk-risk.yaml'), join(ROOT, 'topologies/market-risk.yaml')] });
  }, 180_000);

  it('every file of every table is Arrow IPC with the contract schema', async () => {
    const tables = (await readdir(join(out, 'snapshots'))).sort();
    expect(tables).toEqual(Object.keys(CONTRACT).sort());
    for (const table of tables) {
      const files = await readdir(join(out, 'snapshots', table));
      expect(files.length, table).toBeGreaterThan(0);
      for (const f of files) {
        const bytes = await readFile(join(out, 'snapshots', table, f));
        expect(bytes.subarray(0, 6).toString('latin1')).toBe('ARROW1');
        expect(bytes.subarray(bytes.length - 6).toString('latin1')).toBe('ARROW1');
        const t = tableFromIPC(bytes);
        expect(t.schema.fields.map((x) => [x.name, String(x.type)]), `${table}/${f}`).toEqual(CONTRACT[table]);
      }
    }
  });

  it('loads into DuckDB without a skipped file; ACME’s spread during the crash', async () => {
    const s = await SqlSession.open({ snapshots: join(out, 'snapshots'), timezone: 'America/New_York' });
    try {
      expect(s.report.errors).toEqual([]);
      const [r] = await s.query(`
        SELECT max(spread_bps) FILTER (WHERE snapshot_time BETWEEN TIMESTAMPTZ '2024-03-15 10:05:00' AND TIMESTAMPTZ '2024-03-15 10:10:00') AS crash,
               max(spread_bps) FILTER (WHERE snapshot_time < TIMESTAMPTZ '2024-03-15 10:00:00') AS before
        FROM market WHERE instrument = 'ACME'`);
      const [crash, before] = r!.rows[0] as [number, number];
      // The demo day's incident: ACME's spread widens during the 10:05 flash crash (incidents.json).
      expect(crash).toBeGreaterThan(3 * before);
    } finally {
      s.close();
    }
  });
});
