/**
 * A replay of a recorded day with the Arrow snapshot sink, for the SQL tests: until the risk
 * steps land, a small position book step (`testPositionBook`) produces the `positions` table the
 * way the contract asks (rows as of each interval time T, then at the last event time).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Alert } from '../../src/core/alerts.js';
import { Watermark, type Element, type Timestamped } from '../../src/core/element.js';
import { Runner, type BatchSource, type SourceBatch } from '../../src/core/runner.js';
import { ManualClock } from '../../src/core/time.js';
import { DayReplaySource, loadDay } from '../../src/connectors/replay/index.js';
import { elementOperator } from '../../src/operators/internals.js';
import { compileTopology, defineTopology, loadTopology, registerStepType, type LoadedTopology, type StepBase } from '../../src/topology/index.js';
import { ReplaySnapshots } from '../../src/cli/replay-snapshots.js';
import { ROOT } from './helpers.js';

interface Trade extends Timestamped {
  traderId: string;
  instrument: string;
  side: 'BUY' | 'SELL';
  qty: number;
  price: number;
}

interface BookStep extends StepBase {
  type: 'testPositionBook';
  input: string;
}

/** Net quantity and last trade price per (trader, instrument): a deliberately simple book. */
registerStepType<BookStep>(
  'testPositionBook',
  {
    terminal: true,
    validate() {},
    build(_step, [input], env) {
      const iv = env.snapshotIntervalMs;
      const book = new Map<string, { trader_id: string; instrument: string; qty: number; mark_price: number }>();
      let next = Number.NaN;
      let last = Number.NaN;
      const rows = () =>
        [...book.values()]
          .sort((a, b) => (a.trader_id < b.trader_id ? -1 : a.trader_id > b.trader_id ? 1 : a.instrument < b.instrument ? -1 : 1))
          .map((p) => ({ ...p, notional: p.qty * p.mark_price }));
      return input!.pipe(
        elementOperator<Trade, never>(() => ({
          onRecord(t: Trade) {
            if (Number.isNaN(next)) next = Math.ceil(t.ts / iv) * iv;
            // The book as of T: every trade with ts <= T applied, none after (replay is in ts order).
            while (t.ts > next) {
              env.snapshot('positions', next, rows());
              next += iv;
            }
            const k = `${t.traderId}\u0000${t.instrument}`;
            const p = book.get(k) ?? { trader_id: t.traderId, instrument: t.instrument, qty: 0, mark_price: t.price };
            p.qty += t.side === 'BUY' ? t.qty : -t.qty;
            p.mark_price = t.price;
            book.set(k, p);
            last = t.ts;
          },
          onWatermark(wm: Watermark, emit: (e: Element<never>) => void) {
            if (wm.ts === Number.POSITIVE_INFINITY && !Number.isNaN(last)) env.snapshot('positions', last, rows());
            emit(wm);
          },
        })),
      );
    },
  },
  { replace: true },
);

export const BOOK_TOPOLOGY = defineTopology({
  name: 'test-book',
  sources: { trades: { stream: 'trade' } },
  steps: [{ id: 'book', type: 'testPositionBook', input: 'trades' } as never],
});

export interface SnapshotReplay {
  alerts: Alert[];
  trades: Trade[];
  snapshots: ReplaySnapshots;
}

/**
 * Replays `dayDir` with the position book (unless `book: false`) and `extra` topology files
 * (market-watch for alerts, the standard topologies), writing snapshots under
 * `<outDir>/snapshots` as `riskflow replay` will.
 */
export async function replayWithSnapshots(
  dayDir: string,
  outDir: string,
  o: { every?: string; retention?: string; extra?: string[]; batchSize?: number; book?: boolean } = {},
): Promise<SnapshotReplay> {
  const day = await loadDay(dayDir);
  const topologies: LoadedTopology[] = o.book === false ? [] : [compileTopology(BOOK_TOPOLOGY)];
  for (const f of o.extra ?? []) topologies.push(await loadTopology(f));
  const streams = [...new Set(topologies.flatMap((t) => t.sources.map((s) => s.stream)))];
  const snapshots = new ReplaySnapshots(outDir, { every: o.every ?? '60s', retention: o.retention });
  await snapshots.open();
  const alerts: Alert[] = [];
  const trades: Trade[] = [];
  const source = new DayReplaySource(day, { streams: streams as Array<'trade' | 'quote' | 'order'>, batchSize: o.batchSize ?? 4096, onDeadLetter: () => undefined });
  await source.open();
  const batchSource: BatchSource = {
    streamNames: streams,
    nextBatch: async () => {
      const b = (await source.nextBatch()) as SourceBatch | null;
      if (b) for (let i = 0; i < b.length; i++) if (streams[b.streams[i]!] === 'trade') trades.push(b.records[i] as Trade);
      return b;
    },
    position: () => source.position(),
    seek: (p) => Promise.resolve(source.seek(p as never)),
  };
  try {
    await new Runner({
      source: batchSource,
      topologies,
      reference: day.reference,
      clock: new ManualClock(1_700_000_000_000),
      snapshotIntervalMs: snapshots.intervalMs,
      sinks: {
        onAlert: (a) => {
          alerts.push(a);
          snapshots.onAlert(a);
        },
        onOutput: () => undefined,
        onLate: () => undefined,
        onSnapshot: (table, time, rows) => snapshots.onSnapshot(table, time, rows),
        flush: () => snapshots.flush(),
      },
      onBatch: (st) => snapshots.advance(st.lastEventTime, st.firstEventTime),
    }).run();
  } finally {
    await source.close();
  }
  await snapshots.close();
  return { alerts, trades, snapshots };
}

/** `riskflow sql ...` from the built CLI (through a shim while main.ts has no `sql` case). */
export async function sqlCommand(): Promise<string[]> {
  const main = await readFile(join(ROOT, 'dist/src/cli/main.js'), 'utf8').catch(() => '');
  return /case 'sql'/.test(main) ? [join(ROOT, 'dist/src/cli/bin.cjs'), 'sql'] : [join(ROOT, 'dist/test/e2e/sql-entry.js')];
}
