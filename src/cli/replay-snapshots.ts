import { join } from 'node:path';
import { UsageError } from '../core/errors.js';
import { parseDuration } from '../core/time.js';
import { SnapshotSink } from '../connectors/snapshot-sink.js';

/**
 * Options of `riskflow replay` about snapshots (`--snapshot-every`, `--snapshot-retention`).
 *
 * @example new ReplaySnapshots('out', { every: '5m', retention: 12 })
 */
export interface ReplaySnapshotOptions {
  /** Event time between snapshots: a duration (`60s`, `5m`) or ms; default 60 s. */
  every?: string | number;
  /** Files kept per table: a count, or `all`/`0` for every one (the default). */
  retention?: string | number;
}

/**
 * `--snapshot-retention`: a count of files kept per table, `all` or `0` for all of them.
 *
 * @example parseRetention('24') // 24
 */
export function parseRetention(v: string | number | undefined): number {
  if (v === undefined || v === 'all') return 0;
  const n = typeof v === 'number' ? v : /^\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--snapshot-retention ${String(v)}: give a number of files per table (or 'all')`);
  return n;
}

/**
 * The snapshot sink of `riskflow replay`: Arrow files under `<out>/snapshots/<table>/<T>.arrow`
 * (CONTRACTS.md section 5). It plugs into ReplaySinks like the JSONL files do: `onSnapshot` and
 * `onAlert` from the job, `flush()` after every batch, `snapshot()` into checkpoints and
 * `open(state)` on resume, `close()` at the end of a completed run; `advance(last, first)` from
 * the runner's batch stats gives the `alerts` table its snapshot times. `intervalMs` is the value
 * to hand the Runner as `snapshotIntervalMs`.
 *
 * @example
 * const snapshots = new ReplaySnapshots('out', { every: '60s', retention: 'all' });
 * await snapshots.open();
 * // ... the run: onSnapshot/onAlert, flush() after each batch, advance(st.lastEventTime, st.firstEventTime)
 * await snapshots.close();
 */
export class ReplaySnapshots extends SnapshotSink {
  declare readonly intervalMs: number;

  constructor(outDir: string, o: ReplaySnapshotOptions = {}) {
    let intervalMs: number;
    try {
      intervalMs = parseDuration(o.every ?? '60s', '--snapshot-every');
    } catch (e) {
      throw new UsageError(`--snapshot-every: ${(e as Error).message}`);
    }
    if (!(intervalMs > 0)) throw new UsageError(`--snapshot-every ${String(o.every)}: give a positive duration such as 60s or 5m`);
    super({ dir: join(outDir, 'snapshots'), retention: parseRetention(o.retention), intervalMs });
  }
}
