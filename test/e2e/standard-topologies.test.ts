import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { decodeSnapshotRows } from '../../src/connectors/snapshot-sink.js';
import { replayDay, standardTopologies } from '../../src/cli/replay.js';
import { genDay } from '../../src/cli/gen-day.js';
import { ROOT, tempDir } from './helpers.js';
import type { Alert } from '../../src/core/alerts.js';

const SAMPLE_DAY = join(ROOT, 'fixtures/sample-day');

/** Alerts on entities the day lists as calm: there must be none. */
async function calmViolations(dayDir: string, alerts: Alert[]): Promise<Alert[]> {
  const calm = JSON.parse(await readFile(join(dayDir, 'calm.json'), 'utf8')) as { instruments: string[]; traders: string[] };
  const ci = new Set(calm.instruments);
  const ct = new Set(calm.traders);
  return alerts.filter((a) => {
    const e = a.entity;
    if (e.traderId !== undefined) return ct.has(e.traderId);
    if (e.instrument !== undefined) return ci.has(e.instrument);
    // A pair is calm only when both instruments are.
    return e.instrumentA !== undefined && ci.has(e.instrumentA) && ci.has(e.instrumentB!);
  });
}

describe('the standard topologies (desk-risk, market-risk, surveillance)', () => {
  it('are what replay runs without --topology', async () => {
    const names = (await standardTopologies()).map((f) => f.split('/').pop());
    expect(names).toEqual(['desk-risk.yaml', 'market-risk.yaml', 'surveillance.yaml']);
  });

  it('detect every labelled incident of the sample day, and the calm entities stay silent', async () => {
    const out = await tempDir();
    const r = await replayDay({ dayDir: SAMPLE_DAY, outDir: out, progress: false, printDetection: false, keepAlerts: true });
    const d = r.summary.detection!;
    expect(d.missed).toEqual([]);
    expect(d.totals.detected).toBe(d.totals.labelled);
    expect(d.totals.labelled).toBe(21);
    expect(d.totals.falseAlerts).toBe(0);
    // Every alert type of CONTRACTS.md section 3 appears, on its topic.
    const topicOf = new Map(r.alerts!.map((a) => [a.type, a.topic]));
    expect([...topicOf.keys()].sort()).toEqual(
      [
        'POSITION_LIMIT', 'NOTIONAL_LIMIT', 'LOSS_LIMIT', 'CONCENTRATION_LIMIT', 'DRAWDOWN', 'VAR_LIMIT', 'FLASH_CRASH',
        'ULTRAFAST_EXTREME_EVENT', 'LULD_LIMIT_STATE', 'LULD_PAUSE', 'MARKET_WIDE_HALT', 'CORRELATION_HIGH', 'CORRELATION_BREAK',
        'LIQUIDITY_SPREAD', 'LIQUIDITY_DEPTH', 'WASH_TRADE', 'SPOOFING', 'LAYERING', 'MARKING_THE_CLOSE', 'FRONT_RUNNING',
      ].sort(),
    );
    expect(topicOf.get('VAR_LIMIT')).toBe('portfolio-risk-alerts');
    expect(topicOf.get('NOTIONAL_LIMIT')).toBe('position-risk-alerts');
    expect(topicOf.get('CORRELATION_BREAK')).toBe('correlation-risk-alerts');
    expect(topicOf.get('LIQUIDITY_DEPTH')).toBe('liquidity-risk-alerts');
    expect(topicOf.get('SPOOFING')).toBe('surveillance-alerts');
    expect(topicOf.get('FLASH_CRASH')).toBe('market-risk-alerts');
    expect(await calmViolations(SAMPLE_DAY, r.alerts!)).toEqual([]);
    // Alert ids are unique (distinct rules per alert type where a step raises several).
    expect(new Set(r.alerts!.map((a) => a.alertId)).size).toBe(r.alerts!.length);
    // The last alerts snapshot holds every alert, including those fired at end of input (the close).
    const files = (await readdir(join(out, 'snapshots/alerts'))).sort((a, b) => Number.parseInt(a) - Number.parseInt(b));
    const last = decodeSnapshotRows(await readFile(join(out, 'snapshots/alerts', files[files.length - 1]!)));
    expect(last.map((row) => row.alert_id).sort()).toEqual(r.alerts!.map((a) => a.alertId).sort());
    for (const table of ['positions', 'trader_risk', 'market', 'correlations']) {
      expect((await readdir(join(out, 'snapshots', table))).length, table).toBeGreaterThan(10);
    }
  });

  it('do the same on a day generated with another seed and date', async () => {
    const day = join(await tempDir(), 'day');
    await genDay({ date: '2024-06-11', seed: 4242, out: day, instruments: 30, traders: 36, hours: 1 });
    const r = await replayDay({ dayDir: day, outDir: join(day, 'out'), progress: false, printDetection: false, keepAlerts: true });
    const d = r.summary.detection!;
    expect(d.missed).toEqual([]);
    expect(d.totals.falseAlerts).toBe(0);
    expect(await calmViolations(day, r.alerts!)).toEqual([]);
  });
});
