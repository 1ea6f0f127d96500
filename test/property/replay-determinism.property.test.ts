import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replayDay } from '../../src/cli/replay.js';
import { DEMO_DAY, MALFORMED_DAY, MARKET_WATCH, alertsWithoutEmittedAt, tempDir } from '../e2e/helpers.js';

interface RunOpts {
  batchSize: number;
  /** Stop after this many batches (as a crash after a checkpoint would), then resume from the checkpoint. */
  stopAfter?: number;
}

async function run(dayDir: string, o: RunOpts): Promise<{ alerts: string; bars: string }> {
  const out = await tempDir('rf-prop-');
  const base = { dayDir, topologies: [MARKET_WATCH], outDir: out, progress: false, batchSize: o.batchSize };
  if (o.stopAfter !== undefined) {
    const checkpointDir = join(out, 'checkpoints');
    const ac = new AbortController();
    let n = 0;
    const first = await replayDay({
      ...base,
      checkpointDir,
      checkpointEvery: '10s',
      signal: ac.signal,
      onBatch: () => {
        if (++n >= o.stopAfter!) ac.abort();
      },
    });
    if (!first.stats.completed) {
      const second = await replayDay({ ...base, checkpointDir });
      expect(second.stats.completed).toBe(true);
      expect(second.stats.restoredFromSeq).toBeGreaterThan(0);
    }
  } else {
    await replayDay(base);
  }
  const { readFile } = await import('node:fs/promises');
  return {
    alerts: await alertsWithoutEmittedAt(join(out, 'alerts.jsonl')),
    bars: await readFile(join(out, 'outputs/minute-bars.jsonl'), 'utf8'),
  };
}

describe('replay determinism (property)', () => {
  it('alerts and outputs do not depend on the batch size', async () => {
    const reference = await run(DEMO_DAY, { batchSize: 4096 });
    expect(reference.alerts.length).toBeGreaterThan(0);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20_000 }), async (batchSize) => {
        expect(await run(DEMO_DAY, { batchSize })).toEqual(reference);
      }),
      { numRuns: 6 },
    );
  }, 120_000);

  it('stopping at any batch and resuming from the checkpoint gives byte-identical alerts', async () => {
    const reference = await run(DEMO_DAY, { batchSize: 4096 });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 200, max: 3000 }), fc.integer({ min: 1, max: 60 }), async (batchSize, stopAfter) => {
        expect(await run(DEMO_DAY, { batchSize, stopAfter })).toEqual(reference);
      }),
      { numRuns: 6 },
    );
  }, 120_000);

  it('on random days, two replays give the same alerts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3000 }), move: fc.double({ min: -0.03, max: 0.03, noNaN: true }), trade: fc.boolean(), inst: fc.constantFrom('ACME', 'BYTE', 'BOLT') }), { minLength: 50, maxLength: 400 }),
        fc.integer({ min: 1, max: 500 }),
        async (steps, batchSize) => {
          const dir = await tempDir('rf-rday-');
          const day = join(dir, 'day');
          await cp(MALFORMED_DAY, day, { recursive: true });
          let ts = Date.parse('2024-03-15T13:30:00Z');
          const mids: Record<string, number> = { ACME: 142.5, BYTE: 88.2, BOLT: 61.4 };
          const quotes: string[] = [];
          const trades: string[] = [];
          steps.forEach((s, i) => {
            ts += s.dt;
            const m = (mids[s.inst] = mids[s.inst]! * (1 + s.move));
            if (s.trade) {
              trades.push(JSON.stringify({ type: 'trade', ts, tradeId: `T${i}`, instrument: s.inst, traderId: `TR0${(i % 9) + 1}`, side: i % 2 ? 'BUY' : 'SELL', qty: 100 + (i % 7) * 50, price: +(m * (1 + s.move)).toFixed(2) }));
            } else {
              quotes.push(JSON.stringify({ type: 'quote', ts, instrument: s.inst, bid: +(m - 0.01).toFixed(2), ask: +(m + 0.01).toFixed(2), bidSize: 5000, askSize: 5000 }));
            }
          });
          await writeFile(join(day, 'quotes.jsonl'), `${quotes.join('\n')}\n`);
          await writeFile(join(day, 'trades.jsonl'), `${trades.join('\n')}\n`);
          const a = await run(day, { batchSize: 4096 });
          const b = await run(day, { batchSize });
          expect(b).toEqual(a);
        },
      ),
      { numRuns: 10 },
    );
  }, 120_000);
});
