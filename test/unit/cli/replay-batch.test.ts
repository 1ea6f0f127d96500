import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FAST_REPLAY_BATCH, REPLAY_BATCH, replayDay, type ReplayOptions } from '../../../src/cli/replay.js';
import { DEMO_DAY, MARKET_WATCH, alertsWithoutEmittedAt, tempDir } from '../../e2e/helpers.js';

/** Replays the demo day with `o`; the batches' sizes and the outputs. */
async function run(o: Partial<ReplayOptions>): Promise<{ sizes: number[]; alerts: string; bars: string }> {
  const outDir = await tempDir('rf-batch-');
  const sizes: number[] = [];
  let events = 0;
  await replayDay({
    dayDir: DEMO_DAY,
    topologies: [MARKET_WATCH],
    outDir,
    progress: false,
    printDetection: false,
    ...o,
    onBatch: (st) => {
      sizes.push(st.events - events);
      events = st.events;
    },
  });
  return {
    sizes,
    alerts: await alertsWithoutEmittedAt(join(outDir, 'alerts.jsonl')),
    bars: await readFile(join(outDir, 'outputs/minute-bars.jsonl'), 'utf8'),
  };
}

describe('replay batch size', () => {
  it('is long at full speed without checkpoints, short when pacing or checkpointing, and the outputs are the same', async () => {
    const fast = await run({});
    // The demo day's 16,859 events: one batch of them (then the empty end).
    expect(FAST_REPLAY_BATCH).toBeGreaterThan(16_859);
    expect(fast.sizes.filter((n) => n > 0)).toEqual([16_859]);
    const short = await run({ batchSize: REPLAY_BATCH });
    expect(short.sizes.filter((n) => n > 0)).toEqual([4096, 4096, 4096, 4096, 16_859 - 4 * 4096]);
    const checkpointed = await run({ checkpointDir: await tempDir('rf-batch-cp-') });
    expect(checkpointed.sizes).toEqual(short.sizes);
    const paced = await run({ speed: '100000x' });
    expect(paced.sizes).toEqual(short.sizes);
    for (const r of [short, checkpointed, paced]) {
      expect(r.alerts).toBe(fast.alerts);
      expect(r.bars).toBe(fast.bars);
    }
    expect(fast.alerts.length).toBeGreaterThan(0);
  });
});
