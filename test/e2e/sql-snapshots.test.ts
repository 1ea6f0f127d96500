import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlSession } from '../../src/query/session.js';
import { DEMO_DAY, MARKET_WATCH, tempDir } from './helpers.js';
import { replayWithSnapshots, type SnapshotReplay } from './sql-fixture.js';

const MIN = 60_000;

describe('snapshots of a replayed day agree with the engine state at their event time', { timeout: 120_000 }, () => {
  let out: string;
  let run: SnapshotReplay;
  let s: SqlSession;
  beforeAll(async () => {
    out = await tempDir('rf-sql-e2e-');
    run = await replayWithSnapshots(DEMO_DAY, out, { extra: [MARKET_WATCH] });
    s = await SqlSession.open({ snapshots: join(out, 'snapshots'), timezone: 'America/New_York' });
  }, 120_000);
  afterAll(() => s?.close());

  it('has a positions file per minute of the day and one at the last trade', async () => {
    const times = (await readdir(join(out, 'snapshots', 'positions'))).map((n) => Number(n.replace('.arrow', ''))).sort((a, b) => a - b);
    const first = run.trades[0]!.ts;
    const last = run.trades[run.trades.length - 1]!.ts;
    expect(times[0]).toBe(Math.ceil(first / MIN) * MIN);
    expect(times[times.length - 1]).toBe(last);
    for (let i = 1; i < times.length - 1; i++) expect(times[i]! - times[i - 1]!).toBe(MIN);
    expect(s.report.errors).toEqual([]);
    const [r] = await s.query('SELECT count(DISTINCT snapshot_time) FROM positions');
    expect(Number(r!.rows[0]![0])).toBe(times.length);
  });

  it('positions at T = the trades with ts <= T, for every snapshot time', async () => {
    const [timesR] = await s.query('SELECT DISTINCT epoch_ms(snapshot_time) FROM positions ORDER BY 1');
    const times = timesR!.rows.map((r) => Number(r[0]));
    const [all] = await s.query('SELECT epoch_ms(snapshot_time), trader_id, instrument, qty, mark_price, notional FROM positions ORDER BY 1, 2, 3');
    const byTime = new Map<number, unknown[][]>();
    for (const row of all!.rows) {
      const t = Number(row[0]);
      if (!byTime.has(t)) byTime.set(t, []);
      byTime.get(t)!.push(row.slice(1));
    }
    let i = 0;
    const book = new Map<string, [string, string, number, number]>();
    for (const t of times) {
      for (; i < run.trades.length && run.trades[i]!.ts <= t; i++) {
        const x = run.trades[i]!;
        const k = `${x.traderId}\u0000${x.instrument}`;
        const p = book.get(k) ?? [x.traderId, x.instrument, 0, 0];
        p[2] += x.side === 'BUY' ? x.qty : -x.qty;
        p[3] = x.price;
        book.set(k, p);
      }
      const want = [...book.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1)).map(([tr, ins, q, m]) => [tr, ins, q, m, q * m]);
      expect(byTime.get(t), `positions at ${new Date(t).toISOString()}`).toEqual(want);
    }
  });

  it('an analyst’s question at a wall-clock time of the day (session time zone America/New_York)', async () => {
    const [r] = await s.query(`
      SELECT trader_id, sum(abs(notional)) AS gross
      FROM positions WHERE snapshot_time = TIMESTAMPTZ '2024-03-15 10:00:00'
      GROUP BY trader_id ORDER BY gross DESC LIMIT 3`);
    const t = Date.UTC(2024, 2, 15, 14, 0); // 10:00 in New York (EDT)
    const book = new Map<string, Map<string, [number, number]>>();
    for (const x of run.trades) {
      if (x.ts > t) break;
      const m = book.get(x.traderId) ?? new Map<string, [number, number]>();
      const p = m.get(x.instrument) ?? [0, 0];
      p[0] += x.side === 'BUY' ? x.qty : -x.qty;
      p[1] = x.price;
      m.set(x.instrument, p);
      book.set(x.traderId, m);
    }
    const gross = [...book].map(([tr, m]) => [tr, [...m.values()].reduce((g, [q, px]) => g + Math.abs(q * px), 0)] as [string, number]);
    gross.sort((a, b) => b[1] - a[1]);
    expect(r!.rows.map((x) => [x[0], x[1]])).toEqual(gross.slice(0, 3).map(([tr, g]) => [tr, expect.closeTo(g, 6)]));
  });

  it('alerts: the snapshot at T holds exactly the alerts with event time <= T; latest_alerts has them all', async () => {
    expect(run.alerts.length).toBe(3);
    const [r] = await s.query('SELECT epoch_ms(snapshot_time), count(*) FROM alerts GROUP BY 1 ORDER BY 1');
    for (const [t, n] of r!.rows.map((x) => [Number(x[0]), Number(x[1])])) {
      expect(n).toBe(run.alerts.filter((a) => a.eventTime <= t!).length);
    }
    const [latest] = await s.query('SELECT alert_id, type, entity, epoch_ms(event_time) FROM latest_alerts ORDER BY event_time');
    const want = [...run.alerts].sort((a, b) => a.eventTime - b.eventTime).map((a) => [a.alertId, a.type, JSON.stringify(a.entity), a.eventTime]);
    expect(latest!.rows.map((x) => [x[0], x[1], x[2], Number(x[3])])).toEqual(want);
  });

  it('the same day gives byte-identical snapshot files however it is batched', async () => {
    const other = await tempDir('rf-sql-e2e-');
    await replayWithSnapshots(DEMO_DAY, other, { extra: [MARKET_WATCH], batchSize: 777 });
    for (const table of ['alerts', 'positions']) {
      const names = (await readdir(join(out, 'snapshots', table))).sort();
      expect((await readdir(join(other, 'snapshots', table))).sort()).toEqual(names);
      for (const n of names) {
        const a = await readFile(join(out, 'snapshots', table, n));
        const b = await readFile(join(other, 'snapshots', table, n));
        expect(Buffer.compare(a, b), `${table}/${n}`).toBe(0);
      }
    }
  });
});
