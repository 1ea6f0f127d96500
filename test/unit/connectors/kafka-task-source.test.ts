import { describe, expect, it } from 'vitest';
import type { InMessage } from '../../../src/connectors/kafka/driver.js';
import { KafkaTaskSource, type TaskInput } from '../../../src/connectors/kafka/task-source.js';

const msg = (offset: number, value: string): InMessage => ({ offset: String(offset), key: null, value: Buffer.from(value), timestamp: '0' });
const trade = (ts: number) =>
  JSON.stringify({ type: 'trade', ts, tradeId: `T${ts}`, instrument: 'ACME', traderId: 'TR1', side: 'BUY', qty: 10, price: 100 });

function source(inputs: TaskInput[], end: bigint[], dead: unknown[]): KafkaTaskSource {
  return new KafkaTaskSource({
    inputs,
    start: inputs.map(() => 0n),
    end,
    batchSize: 100,
    maxBuffered: 1000,
    onDeadLetter: (d) => dead.push(d),
    pause: () => undefined,
    resume: () => undefined,
    seekConsumer: () => undefined,
  });
}

/** nextBatch() within `ms`, or 'waiting'. */
async function next(src: KafkaTaskSource, ms = 500): Promise<unknown> {
  return Promise.race([src.nextBatch(), new Promise((r) => setTimeout(() => r('waiting'), ms))]);
}

describe('KafkaTaskSource (bounded)', () => {
  it('ends when its last records are malformed and were taken alone (no fetch comes to wake it)', async () => {
    const dead: unknown[] = [];
    const inputs: TaskInput[] = [
      { stream: 'trade', topic: 'trades', partition: 2 },
      { stream: 'quote', topic: 'quotes', partition: 2 },
    ];
    const src = source(inputs, [3n, 0n], dead);
    src.push({ topic: 'trades', partition: 2, highWatermark: '3', messages: [msg(0, trade(1000)), msg(1, trade(2000))] });
    const first = (await next(src)) as { length: number };
    expect(first.length).toBe(2);
    // The partition's last record, malformed, arrives after the good ones were taken.
    src.push({ topic: 'trades', partition: 2, highWatermark: '3', messages: [msg(2, '{"type":"trade",')] });
    expect(await next(src)).toBeNull();
    expect(dead).toHaveLength(1);
    expect(src.exhausted).toBe(true);
  });

  it('takes good records behind malformed ones in the same call', async () => {
    const dead: unknown[] = [];
    const src = source([{ stream: 'trade', topic: 'trades', partition: 0 }], [3n], dead);
    src.push({ topic: 'trades', partition: 0, highWatermark: '3', messages: [msg(0, 'nope'), msg(1, '{}'), msg(2, trade(5000))] });
    const b = (await next(src)) as { length: number; records: Array<{ ts: number }> };
    expect(b.length).toBe(1);
    expect(b.records[0]!.ts).toBe(5000);
    expect(dead).toHaveLength(2);
    expect(await next(src)).toBeNull();
  });

  it('waits for a partition that has more to come, and is woken by its fetch', async () => {
    const src = source([{ stream: 'trade', topic: 'trades', partition: 0 }], [2n], []);
    src.push({ topic: 'trades', partition: 0, highWatermark: '2', messages: [msg(0, trade(1000))] });
    expect(((await next(src)) as { length: number }).length).toBe(1);
    const pending = src.nextBatch();
    expect(await Promise.race([pending, new Promise((r) => setTimeout(() => r('waiting'), 200))])).toBe('waiting');
    src.push({ topic: 'trades', partition: 0, highWatermark: '2', messages: [msg(1, trade(2000))] });
    expect(((await pending) as { length: number }).length).toBe(1);
    expect(await next(src)).toBeNull();
  });
});

describe('KafkaTaskSource (live)', () => {
  const live = (quietReturnMs?: number) =>
    new KafkaTaskSource({
      inputs: [{ stream: 'trade', topic: 'trades', partition: 0 }],
      start: [0n],
      batchSize: 100,
      maxBuffered: 1000,
      onDeadLetter: () => undefined,
      pause: () => undefined,
      resume: () => undefined,
      seekConsumer: () => undefined,
      quietReturnMs,
    });

  it('returns an empty batch once quiet for quietReturnMs (the runner then keeps its wall-clock checkpoints), records as they come', async () => {
    const src = live(40);
    const t0 = Date.now();
    const empty = (await next(src, 1000)) as { length: number };
    expect(empty.length).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(35);
    const pending = src.nextBatch();
    setTimeout(() => src.push({ topic: 'trades', partition: 0, highWatermark: '1', messages: [msg(0, trade(1000))] }), 10);
    expect(((await pending) as { length: number }).length).toBe(1);
  });

  it('without quietReturnMs it waits for records', async () => {
    expect(await next(live(), 200)).toBe('waiting');
  });
});
