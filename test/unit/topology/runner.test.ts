import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/core/alerts.js';
import type { Timestamped } from '../../../src/core/element.js';
import { emptyReference } from '../../../src/core/reference.js';
import { Runner, type BatchSource, type SourceBatch } from '../../../src/core/runner.js';
import { ManualClock } from '../../../src/core/time.js';
import { loadTopology } from '../../../src/topology/index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/market-watch.yaml', import.meta.url));
const T0 = 1_700_000_040_000;

/** One stream of quotes as batches of `size`, the way a replay source hands them to the runner. */
function quoteSource(records: Timestamped[], size: number): BatchSource {
  let i = 0;
  return {
    streamNames: ['quote', 'trade', 'order'],
    async nextBatch(): Promise<SourceBatch | null> {
      if (i >= records.length) return null;
      const part = records.slice(i, i + size);
      i += part.length;
      return { records: part, streams: new Uint8Array(part.length), length: part.length };
    },
    position: () => i,
    async seek(p) {
      i = p as number;
    },
  };
}

describe('a loaded topology under the runner', () => {
  it('gives the same alerts however the input is batched', async () => {
    const mids = [100, 100.2, 99, 94.9, 95];
    const secs = [0, 5, 20, 30, 45];
    const quotes = secs.map((s, k) => ({ type: 'quote', ts: T0 + s * 1000, instrument: 'ACME', bid: mids[k]! - 0.05, ask: mids[k]! + 0.05, bidSize: 1, askSize: 1 }));
    const run = async (size: number) => {
      const alerts: Alert[] = [];
      const outputs: Record<string, number> = {};
      const t = await loadTopology(FIXTURE);
      await new Runner({
        source: quoteSource(quotes, size),
        topologies: [t],
        reference: emptyReference(),
        clock: new ManualClock(7),
        sinks: {
          onAlert: (a) => alerts.push(a),
          onOutput: (n) => (outputs[n] = (outputs[n] ?? 0) + 1),
          onLate: () => undefined,
          flush: async () => undefined,
        },
      }).run();
      return { alerts, outputs };
    };
    const a = await run(1);
    const b = await run(100);
    expect(a.alerts.map((x) => x.message)).toEqual([
      'ACME fell 5.3% from its 60s high (limit 5%)',
      'ACME fell 5.2% from its 60s high (limit 5%)',
      'ACME fell 5.2% from its 60s high (limit 5%)',
    ]);
    expect(JSON.stringify(b.alerts)).toBe(JSON.stringify(a.alerts));
    expect(a.outputs['mid-swings']).toBeGreaterThan(10);
  });
});
