/**
 * The global task's merge without a broker: a day's three streams spread over 6 partitions each
 * (by instrument, as produce-day keys them) and fed to a KafkaTaskSource in random chunks and
 * interleavings give exactly the record sequence of a replay of the day's files, also when the
 * files hold records out of event-time order (a replay takes each file in file order) and ties of
 * event time across instruments: the `riskflow-seq` header restores each stream's file order.
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StreamName } from '../../src/connectors/events.js';
import type { InMessage } from '../../src/connectors/kafka/driver.js';
import { KafkaTaskSource, SEQ_HEADER, type TaskInput } from '../../src/connectors/kafka/task-source.js';
import { DayReplaySource, loadDay } from '../../src/connectors/replay/index.js';
import { DEMO_DAY } from './harness.js';

const STREAMS: StreamName[] = ['trade', 'quote', 'order'];
const FILES: Record<StreamName, string> = { trade: 'trades.jsonl', quote: 'quotes.jsonl', order: 'orders.jsonl' };
const PARTITIONS = 6;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The demo day with every 37th line of each file moved 5 lines later: out of event-time order. */
async function disorderedDay(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rf-disorder-'));
  await cp(DEMO_DAY, dir, { recursive: true });
  for (const s of STREAMS) {
    const lines = (await readFile(join(DEMO_DAY, FILES[s]), 'utf8')).split('\n').filter(Boolean);
    for (let i = 0; i + 5 < lines.length; i += 37) lines.splice(i + 5, 0, lines.splice(i, 1)[0]!);
    await writeFile(join(dir, FILES[s]), `${lines.join('\n')}\n`);
  }
  return dir;
}

/** A replay's record sequence, as `stream json` lines. */
async function replaySequence(day: string): Promise<string[]> {
  const src = new DayReplaySource(await loadDay(day), { streams: STREAMS, onDeadLetter: () => undefined });
  await src.open();
  const out: string[] = [];
  for (let b = await src.nextBatch(); b; b = await src.nextBatch()) {
    for (let i = 0; i < b.length; i++) out.push(`${STREAMS[b.streams[i]!]} ${JSON.stringify(b.records[i])}`);
  }
  return out;
}

function partitionOf(line: string): number {
  const inst = /"instrument":"([^"]*)"/.exec(line)?.[1] ?? '';
  let h = 0;
  for (const c of inst) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % PARTITIONS;
}

/** The global task's sequence over the day's lines spread on 6 partitions per stream. */
async function globalSequence(day: string, seed: number, headers: boolean): Promise<string[]> {
  const inputs: TaskInput[] = STREAMS.flatMap((stream) => Array.from({ length: PARTITIONS }, (_, partition) => ({ stream, topic: `${stream}s`, partition })));
  const parts: InMessage[][] = inputs.map(() => []);
  for (const [k, stream] of STREAMS.entries()) {
    const lines = (await readFile(join(day, FILES[stream]), 'utf8')).split('\n');
    lines.forEach((line, n) => {
      if (!line) return;
      const msgs = parts[k * PARTITIONS + partitionOf(line)]!;
      msgs.push({
        offset: String(msgs.length),
        key: null,
        value: Buffer.from(line),
        timestamp: '0',
        ...(headers ? { headers: { [SEQ_HEADER]: Buffer.from(String(n)) } } : {}),
      });
    });
  }
  const source = new KafkaTaskSource({
    inputs,
    start: inputs.map(() => 0n),
    end: parts.map((p) => BigInt(p.length)),
    batchSize: 257,
    onDeadLetter: () => undefined,
    pause: () => undefined,
    resume: () => undefined,
    seekConsumer: () => undefined,
  });
  const out: string[] = [];
  const drained = (async () => {
    for (let b = await source.nextBatch(); b; b = await source.nextBatch()) {
      for (let i = 0; i < b.length; i++) out.push(`${source.streamNames[b.streams[i]!]} ${JSON.stringify(b.records[i])}`);
    }
  })();
  // Fetches arrive in random chunks, partitions interleaved at random, while the merge runs.
  const random = lcg(seed);
  const at = parts.map(() => 0);
  for (;;) {
    const left = parts.map((p, i) => (at[i]! < p.length ? i : -1)).filter((i) => i >= 0);
    if (!left.length) break;
    const i = left[Math.floor(random() * left.length)]!;
    const n = 1 + Math.floor(random() * 400);
    source.push({ topic: inputs[i]!.topic, partition: inputs[i]!.partition, highWatermark: String(parts[i]!.length), messages: parts[i]!.slice(at[i]!, at[i]! + n) });
    at[i]! += n;
    if (random() < 0.3) await new Promise((r) => setImmediate(r));
  }
  await drained;
  return out;
}

describe('the global task merges 6 partitions per stream into the record sequence of a replay', () => {
  it('with out-of-order files and event-time ties, whatever the fetch interleaving; without the riskflow-seq header it would not', async () => {
    const day = await disorderedDay();
    const replay = await replaySequence(day);
    expect(replay.length).toBe(20_563);
    for (const seed of [1, 2, 3]) expect(await globalSequence(day, seed, true), `seed ${seed}`).toEqual(replay);
    // The control: event time alone cannot restore a file's order.
    expect(await globalSequence(day, 1, false)).not.toEqual(replay);
  });
});
