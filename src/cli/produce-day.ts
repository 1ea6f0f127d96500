import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { UsageError } from '../core/errors.js';
import { STREAM_NAMES, type StreamName } from '../connectors/events.js';
import { loadDriver, parseBrokers, type KafkaConnection, type OutMessage } from '../connectors/kafka/driver.js';
import { SEQ_HEADER } from '../connectors/kafka/task-source.js';
import { loadDay, parseSpeed } from '../connectors/replay/index.js';
import { parse } from './args.js';
import { readKafkaConfig, INPUT_TOPICS } from './run.js';

export interface ProduceDayOptions {
  dayDir: string;
  brokers: string[];
  driver?: string;
  /** `max` (default) or `<N>x` of event time. */
  speed?: string;
  topicPrefix?: string;
  /** Only these streams (default: every stream the day has). */
  streams?: StreamName[];
  connection?: Partial<KafkaConnection>;
  signal?: AbortSignal;
  onProgress?: (sent: number) => void;
}

export interface ProduceDaySummary {
  messages: number;
  byTopic: Record<string, number>;
  wallMs: number;
}

interface Cursor {
  stream: StreamName;
  index: number;
  lines: AsyncIterator<string>;
  line: string | undefined;
  /** Index of `line` in its file (0-based, blank lines counted): the `riskflow-seq` header. */
  lineNo: number;
  ts: number;
}

/** The event time of a raw line, or NaN (a malformed line keeps its place in its file). */
function tsOf(line: string): number {
  const m = /"ts"\s*:\s*("([^"]*)"|-?[0-9.eE+-]+)/.exec(line);
  if (!m) return Number.NaN;
  if (m[2] !== undefined) return Date.parse(m[2]);
  return Number(m[1]);
}

function keyOf(line: string): string | null {
  const m = /"instrument"\s*:\s*"([^"]*)"/.exec(line);
  return m ? m[1]! : null;
}

function lines(file: string): AsyncIterator<string> {
  const input = file.endsWith('.gz') ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
  return createInterface({ input, crlfDelay: Infinity })[Symbol.asyncIterator]();
}

async function advance(c: Cursor): Promise<void> {
  for (;;) {
    const r = await c.lines.next();
    if (r.done) {
      c.line = undefined;
      return;
    }
    c.lineNo++;
    if (r.value.trim() === '') continue;
    c.line = r.value;
    const ts = tsOf(r.value);
    // A line without a readable ts goes out right after its predecessor in the file.
    if (Number.isFinite(ts)) c.ts = ts;
    return;
  }
}

/**
 * `riskflow produce-day`: publishes a recorded day's events to the input topics (`trades`,
 * `quotes`, `orders`, after `topicPrefix`), each line's bytes as the message value, keyed by
 * instrument (so every stream of an instrument lands on the same partition number: the topics
 * are co-partitioned). Each message carries a header `riskflow-seq`: the line's index in its
 * file, by which the global task restores each stream's file order across partitions (see
 * connectors/kafka/README.md). The streams are merged by event time as a replay merges them; with
 * `--speed Nx` messages go out at N times the day's pace. Malformed lines are published as they
 * are, for the engine's dead letters.
 *
 * @example
 * await produceDay({ dayDir: 'fixtures/demo-day', brokers: ['localhost:9092'], speed: '60x' });
 */
export async function produceDay(o: ProduceDayOptions): Promise<ProduceDaySummary> {
  const started = Date.now();
  const day = await loadDay(o.dayDir);
  const speed = parseSpeed(o.speed ?? 'max');
  const wanted = o.streams ?? STREAM_NAMES;
  const cursors: Cursor[] = [];
  for (const stream of STREAM_NAMES) {
    const file = day.files[stream];
    if (!file || !wanted.includes(stream)) continue;
    if (file.endsWith('.arrow')) throw new UsageError(`produce-day publishes JSONL days; ${file} is Arrow`, { file });
    const c: Cursor = { stream, index: cursors.length, lines: lines(file), line: undefined, lineNo: -1, ts: Number.NEGATIVE_INFINITY };
    await advance(c);
    cursors.push(c);
  }
  const prefix = o.topicPrefix ?? '';
  const driver = await loadDriver(o.driver ?? 'kafkajs', { ...(o.connection ?? {}), brokers: o.brokers });
  const byTopic: Record<string, number> = {};
  let sent = 0;
  try {
    const producer = await driver.producer({});
    let pending: OutMessage[] = [];
    const flush = async () => {
      if (!pending.length) return;
      const out = pending;
      pending = [];
      await producer.send(out);
      sent += out.length;
      o.onProgress?.(sent);
    };
    let wallStart = Number.NaN;
    let eventStart = Number.NaN;
    for (;;) {
      if (o.signal?.aborted) break;
      let best: Cursor | undefined;
      for (const c of cursors) if (c.line !== undefined && (!best || c.ts < best.ts)) best = c;
      if (!best) break;
      const line = best.line!;
      const topic = prefix + INPUT_TOPICS[best.stream];
      pending.push({ topic, key: keyOf(line), value: line, headers: { [SEQ_HEADER]: String(best.lineNo) } });
      byTopic[topic] = (byTopic[topic] ?? 0) + 1;
      const ts = best.ts;
      await advance(best);
      if (Number.isFinite(speed) && Number.isFinite(ts)) {
        if (Number.isNaN(wallStart)) {
          wallStart = Date.now();
          eventStart = ts;
        }
        const wait = wallStart + (ts - eventStart) / speed - Date.now();
        if (wait >= 2) {
          await flush();
          await new Promise((r) => setTimeout(r, wait));
        }
      }
      if (pending.length >= 2000) await flush();
    }
    await flush();
    await producer.close();
  } finally {
    await driver.close();
  }
  return { messages: sent, byTopic, wallMs: Date.now() - started };
}

/** `riskflow produce-day <dayDir> --brokers <host:port,...> [--speed max|<N>x]`. */
export async function cmdProduceDay(argv: string[]): Promise<number> {
  const { values, positionals } = parse('produce-day', argv, {
    brokers: { type: 'string' },
    speed: { type: 'string', default: 'max' },
    driver: { type: 'string', default: process.env.RISKFLOW_KAFKA_DRIVER ?? 'kafkajs' },
    'topic-prefix': { type: 'string' },
    streams: { type: 'string' },
    'kafka-config': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new UsageError('produce-day: give exactly one day directory');
  const brokers = parseBrokers(values.brokers ?? process.env.KAFKA_BROKERS);
  if (!brokers.length) throw new UsageError('produce-day: --brokers <host:port,...> is required (or KAFKA_BROKERS)');
  const streams = values.streams?.split(',').map((s) => s.trim()) as StreamName[] | undefined;
  for (const s of streams ?? []) if (!STREAM_NAMES.includes(s)) throw new UsageError(`produce-day: unknown stream '${s}'`);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const s = await produceDay({
      dayDir: positionals[0]!,
      brokers,
      driver: values.driver,
      speed: values.speed,
      topicPrefix: values['topic-prefix'],
      streams,
      connection: await readKafkaConfig(values['kafka-config']),
      signal: ac.signal,
    });
    if (!values.quiet) {
      process.stdout.write(
        `produced ${s.messages.toLocaleString('en-US')} messages in ${(s.wallMs / 1000).toFixed(2)} s: ` +
          `${Object.entries(s.byTopic).map(([t, n]) => `${t} ${n}`).join(', ')}\n`,
      );
    }
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
