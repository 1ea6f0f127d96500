import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeAlert, type Alert } from '../../../src/core/alerts.js';

/** 2024-03-15 14:30:00 UTC (10:30 in New York). */
export const T0 = Date.UTC(2024, 2, 15, 14, 30);
export const MIN = 60_000;

export async function tempDir(prefix = 'rf-query-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Positions rows as the risk steps hand them over (CONTRACTS.md 5, without snapshot_time). */
export function positionRows(n: number, seed = 1): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = [];
  for (let i = 0; i < n; i++) {
    const qty = ((i * 37 + seed) % 2001) - 1000;
    const avg = 10 + ((i * 13 + seed) % 500) / 7;
    const mark = avg * (1 + (((i + seed) % 11) - 5) / 100);
    rows.push({
      trader_id: `TR${String(i % 97).padStart(2, '0')}`,
      instrument: `I${String(Math.floor(i / 97)).padStart(4, '0')}`,
      qty,
      avg_price: avg,
      // Some nulls at places that cross the 8-bit validity bytes and the 2048-row chunks.
      mark_price: i % 1000 === 7 || i === 2048 ? null : mark,
      notional: qty * mark,
      realized_pnl: i % 3 === 0 ? -12.5 * i : 0,
      unrealized_pnl: qty * (mark - avg),
    });
  }
  return rows;
}

export function alert(over: Partial<Alert> & { eventTime: number }): Alert {
  return makeAlert(
    {
      type: over.type ?? 'VAR_LIMIT',
      severity: over.severity ?? 'warning',
      topic: over.topic ?? 'portfolio-risk-alerts',
      rule: over.rule ?? 'var-limit',
      topology: over.topology ?? 'portfolio-risk',
      entity: over.entity ?? { traderId: 'TR03' },
      eventTime: over.eventTime,
      windowStart: over.windowStart,
      windowEnd: over.windowEnd,
      value: over.value ?? 412_345.12,
      threshold: over.threshold ?? 500_000,
      message: over.message ?? 'TR03 VaR 412,345 is 82% of its limit 500,000',
      details: over.details ?? { pct: 0.82, desk: 'Équités' },
    },
    1_700_000_000_123,
  );
}

export const TS = 'Timestamp<MILLISECOND, UTC>';
export const DICT = 'Dictionary<Int32, Utf8>';

/** The Arrow schema of CONTRACTS.md section 5, table by table, as apache-arrow names the types. */
export const CONTRACT: Record<string, Array<[string, string]>> = {
  positions: [
    ['snapshot_time', TS],
    ['trader_id', DICT],
    ['instrument', DICT],
    ['qty', 'Float64'],
    ['avg_price', 'Float64'],
    ['mark_price', 'Float64'],
    ['notional', 'Float64'],
    ['realized_pnl', 'Float64'],
    ['unrealized_pnl', 'Float64'],
  ],
  trader_risk: [
    ['snapshot_time', TS],
    ['trader_id', DICT],
    ...['gross_exposure', 'net_exposure', 'pnl', 'drawdown', 'concentration', 'var_99', 'es_99', 'var_limit'].map((c) => [c, 'Float64'] as [string, string]),
  ],
  correlations: [
    ['snapshot_time', TS],
    ['window_start', TS],
    ['window_end', TS],
    ['instrument_a', DICT],
    ['instrument_b', DICT],
    ['correlation', 'Float64'],
    ['n', 'Float64'],
  ],
  market: [
    ['snapshot_time', TS],
    ['instrument', DICT],
    ...['mark_price', 'spread_bps', 'depth', 'ret_60s', 'luld_lower', 'luld_upper'].map((c) => [c, 'Float64'] as [string, string]),
    ['luld_state', DICT],
  ],
  alerts: [
    ['snapshot_time', TS],
    ['alert_id', 'Utf8'],
    ['type', DICT],
    ['severity', DICT],
    ['topic', DICT],
    ['rule', DICT],
    ['topology', DICT],
    ['entity', 'Utf8'],
    ['event_time', TS],
    ['window_start', TS],
    ['window_end', TS],
    ['value', 'Float64'],
    ['threshold', 'Float64'],
    ['message', 'Utf8'],
    ['details', 'Utf8'],
    ['emitted_at', TS],
  ],
};
