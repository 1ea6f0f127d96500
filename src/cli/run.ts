import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import { emptyReference, type ReferenceData } from '../core/reference.js';
import { parseDuration } from '../core/time.js';
import type { StreamName } from '../connectors/events.js';
import { loadDriver, parseBrokers, type KafkaConnection } from '../connectors/kafka/driver.js';
import { KafkaJob, type KafkaJobSummary } from '../connectors/kafka/job.js';
import { topologyScope } from '../connectors/kafka/scope.js';
import { loadDay } from '../connectors/replay/index.js';
import type { LoadedTopology } from '../topology/index.js';
import { parse } from './args.js';
import { isDirectory, loadTopologies } from './replay.js';

/** Input topic of each stream (CONTRACTS.md section 1's streams), before `--topic-prefix`. */
export const INPUT_TOPICS: Record<StreamName, string> = { trade: 'trades', quote: 'quotes', order: 'orders' };

export interface RunOptions {
  topologies: string[];
  brokers: string[];
  group?: string;
  checkpointDir?: string;
  bounded?: boolean;
  driver?: string;
  /** Default: on for the confluent driver, off (idempotent fallback) for kafkajs. */
  transactions?: boolean;
  reference?: string;
  set?: string[];
  topicPrefix?: string;
  checkpointEvery?: string;
  checkpointInterval?: string;
  sessionTimeout?: string;
  /** How long the broker may hold an empty fetch (default 2ms; raise it on a real cluster to poll less when idle). */
  fetchWait?: string;
  outputs?: boolean;
  /** Records per batch (default 4096): smaller batches, lower latency. */
  batchSize?: number;
  /** Events per second per task, at most (throttles a backfill so it does not flood downstream). */
  maxRate?: number;
  /** SASL/SSL and client properties (never logged). */
  connection?: Partial<KafkaConnection>;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** Reads a Kafka client config file: `{ "ssl": ..., "sasl": {...}, "clientId": ..., "extra": {...} }`. */
export async function readKafkaConfig(file: string | undefined): Promise<Partial<KafkaConnection>> {
  const out: Partial<KafkaConnection> = {};
  if (file) {
    try {
      Object.assign(out, JSON.parse(await readFile(file, 'utf8')) as Partial<KafkaConnection>);
    } catch (cause) {
      throw new UsageError(`cannot read the Kafka client config: ${(cause as Error).message}`, { file, cause });
    }
  }
  const env = process.env;
  if (env.RISKFLOW_KAFKA_SASL_USERNAME) {
    out.sasl = {
      mechanism: (env.RISKFLOW_KAFKA_SASL_MECHANISM ?? 'plain').toLowerCase() as 'plain',
      username: env.RISKFLOW_KAFKA_SASL_USERNAME,
      password: env.RISKFLOW_KAFKA_SASL_PASSWORD ?? '',
    };
  }
  if (env.RISKFLOW_KAFKA_SSL === '1' || env.RISKFLOW_KAFKA_SSL === 'true') out.ssl ??= true;
  return out;
}

function fingerprintOf(topologies: LoadedTopology[], streams: StreamName[], topics: Record<StreamName, string>, global: LoadedTopology[]): string {
  const h = createHash('sha256');
  h.update(`kafka\u0000${streams.map((s) => topics[s]).join(',')}`);
  for (const t of topologies) h.update(`\u0000${t.name}\u0000${JSON.stringify(t.spec)}\u0000${JSON.stringify(t.params)}`);
  // Which topologies run in the global task: a checkpoint of another split is another job's.
  if (global.length) h.update(`\u0000global\u0000${global.map((t) => t.name).join(',')}`);
  return h.digest('hex');
}

async function loadReference(dir: string | undefined): Promise<ReferenceData> {
  if (!dir) return emptyReference();
  if (!(await isDirectory(dir))) throw new UsageError(`--reference ${dir} is not a directory`);
  return (await loadDay(dir)).reference;
}

/**
 * `riskflow run` as a function: consumes the input topics, runs the topologies, produces alerts.
 * Returns when a bounded run completed or when `signal` stops it (after a final checkpoint).
 *
 * @example
 * await runKafka({ topologies: ['topologies/examples/market-watch.yaml'], brokers: ['localhost:9092'], bounded: true });
 */
export async function runKafka(o: RunOptions): Promise<KafkaJobSummary> {
  const topologies = await loadTopologies(o.topologies.map((f) => resolve(f)), o.set ?? []);
  // Merge order as a replay's: streams in the order the topologies declare them.
  const streams: StreamName[] = [];
  for (const t of topologies) for (const d of t.sources) if (!streams.includes(d.stream as StreamName)) streams.push(d.stream as StreamName);
  // Topologies keyed by instrument run in every partition task; the others in the global task.
  // Each task merges its streams in the job's order (a merge restricted to some streams keeps
  // their relative order), so both see what a replay of all the topologies would.
  const partitioned: LoadedTopology[] = [];
  const global: LoadedTopology[] = [];
  for (const t of topologies) {
    const sc = topologyScope(t);
    (sc.scope === 'global' ? global : partitioned).push(t);
    if (sc.scope === 'global') o.log?.(`topology ${t.name}: global task (${sc.reasons.join('; ')})`);
    else o.log?.(`topology ${t.name}: per instrument, in every partition task`);
  }
  const streamsOf = (ts: LoadedTopology[]) => streams.filter((s) => ts.some((t) => t.sources.some((d) => d.stream === s)));
  const prefix = o.topicPrefix ?? '';
  const inputTopics = Object.fromEntries(Object.entries(INPUT_TOPICS).map(([s, t]) => [s, prefix + t])) as Record<StreamName, string>;
  const driverName = o.driver ?? 'kafkajs';
  const transactional = o.transactions ?? driverName === 'confluent';
  const group = o.group ?? `riskflow-${topologies.map((t) => t.name).join('+')}`;
  const checkpointDir = join(o.checkpointDir ?? '.riskflow/checkpoints', group);
  const reference = await loadReference(o.reference);
  const driver = await loadDriver(driverName, { ...(o.connection ?? {}), brokers: o.brokers });
  try {
    const job = new KafkaJob({
      driver,
      topologies: partitioned,
      reference,
      streams: streamsOf(partitioned),
      globalTopologies: global,
      globalStreams: streamsOf(global),
      inputTopics,
      group,
      checkpointDir,
      fingerprint: fingerprintOf(topologies, streams, inputTopics, global),
      bounded: o.bounded ?? false,
      transactional,
      topicPrefix: prefix,
      outputs: o.outputs,
      checkpointEveryEventMs: parseDuration(o.checkpointEvery ?? '60s', '--checkpoint-every'),
      checkpointEveryWallMs: o.checkpointInterval ? parseDuration(o.checkpointInterval, '--checkpoint-interval') : o.bounded ? undefined : 1000,
      batchSize: o.batchSize,
      maxRate: o.maxRate,
      sessionTimeoutMs: o.sessionTimeout ? parseDuration(o.sessionTimeout, '--session-timeout') : undefined,
      fetchWaitMs: o.fetchWait ? parseDuration(o.fetchWait, '--fetch-wait') : undefined,
      signal: o.signal,
      log: o.log,
    });
    return await job.run();
  } finally {
    await driver.close();
  }
}

/** `riskflow run <topology>... --brokers <host:port,...> [...]`: the command line. */
export async function cmdRun(argv: string[]): Promise<number> {
  const { values, positionals } = parse('run', argv, {
    brokers: { type: 'string' },
    group: { type: 'string' },
    'checkpoint-dir': { type: 'string' },
    bounded: { type: 'boolean', default: false },
    driver: { type: 'string', default: process.env.RISKFLOW_KAFKA_DRIVER ?? 'kafkajs' },
    transactions: { type: 'boolean' },
    'no-transactions': { type: 'boolean', default: false },
    reference: { type: 'string' },
    set: { type: 'string', multiple: true },
    'topic-prefix': { type: 'string' },
    'checkpoint-every': { type: 'string' },
    'checkpoint-interval': { type: 'string' },
    'session-timeout': { type: 'string' },
    'fetch-wait': { type: 'string' },
    outputs: { type: 'boolean', default: false },
    'batch-size': { type: 'string' },
    'max-rate': { type: 'string' },
    'kafka-config': { type: 'string' },
    json: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  });
  if (!positionals.length) throw new UsageError('run: give at least one topology file');
  const brokers = parseBrokers(values.brokers ?? process.env.KAFKA_BROKERS);
  if (!brokers.length) throw new UsageError('run: --brokers <host:port,...> is required (or KAFKA_BROKERS)');
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130);
    if (!values.quiet) process.stderr.write(`riskflow run: ${sig}: stopping after a final checkpoint (again to exit at once)\n`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const log = values.quiet ? undefined : (line: string) => process.stderr.write(`riskflow run: ${line}\n`);
  try {
    const summary = await runKafka({
      topologies: positionals,
      brokers,
      group: values.group,
      checkpointDir: values['checkpoint-dir'],
      bounded: values.bounded,
      driver: values.driver,
      transactions: values['no-transactions'] ? false : values.transactions,
      reference: values.reference,
      set: values.set,
      topicPrefix: values['topic-prefix'],
      checkpointEvery: values['checkpoint-every'],
      checkpointInterval: values['checkpoint-interval'],
      sessionTimeout: values['session-timeout'],
      fetchWait: values['fetch-wait'],
      outputs: values.outputs,
      batchSize: values['batch-size'] ? positiveInt(values['batch-size'], '--batch-size') : undefined,
      maxRate: values['max-rate'] ? positiveInt(values['max-rate'], '--max-rate') : undefined,
      connection: await readKafkaConfig(values['kafka-config']),
      signal: ac.signal,
      log,
    });
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else if (!values.quiet) {
      process.stdout.write(
        `run: ${summary.events.toLocaleString('en-US')} events in ${(summary.wallMs / 1000).toFixed(2)} s (${summary.eventsPerSecond.toLocaleString('en-US')} events/s), ` +
          `${summary.alerts} alerts, ${summary.deadLetters} dead letters, ${summary.late} late; tasks ${summary.tasksRun.join(',') || '-'} (${summary.partitions} partitions); ` +
          `${summary.transactional ? 'transactional' : 'idempotent'} (${summary.driver})${summary.completed ? '; complete' : ''}\n`,
      );
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got '${text}'`);
  return n;
}
