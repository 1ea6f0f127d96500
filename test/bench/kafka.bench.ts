/**
 * The Kafka path benchmark, for both drivers, on the test broker (librdkafka's mock cluster) or
 * on KAFKA_BROKERS:
 *
 *   npm run bench:kafka   (npm run build && node dist/test/bench/kafka.bench.js)
 *   (BENCH_KAFKA_EVENTS=300000 BENCH_KAFKA_RATE=10000 BENCH_KAFKA_SECONDS=15 BENCH_KAFKA_DRIVERS=kafkajs,confluent)
 *
 * Every engine run is a `riskflow run` process of its own (the Kafka tests' entry, which sizes its
 * thread pool as the riskflow command does); this process only produces the load and reads alerts.
 *
 * 1. Throughput: N events already on the input topics (12 partitions), `riskflow run --bounded`
 *    in one process: events / (first task started -> the process has exited).
 * 2. Latency: `riskflow run` live in its own process; a load generator produces R events/s, of
 *    which 1 in 100 is a probe trade stamped with its send time as event time; a consumer reads
 *    the alert topic: latency = consumed at - probe sent at (same clock), p50/p99 after a warm-up.
 * 3. The global task: the sample day (produce-day, 6 partitions) through the three standard
 *    topologies (all global) with `riskflow run --bounded`: its start-up (the job's group electing
 *    the owner, then the task's own consumer group: one initial rebalance delay each) and its
 *    processing rate (task started -> complete) reported apart.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { loadDriver, type OutMessage } from '../../src/connectors/kafka/driver.js';
import { createTopics, drivers, riskflow, riskflowOk, ROOT, SAMPLE_DAY, scenario, sleep, STANDARD, startCluster, tempDir, type Cluster } from '../kafka/harness.js';

const TOPOLOGY = join(ROOT, 'test/bench/kafka-bench.yaml');
const INSTRUMENTS = Array.from({ length: 48 }, (_, i) => `I${String(i).padStart(3, '0')}`);
// The mock cluster keeps only about 40,000 messages per partition: spread the load over 12.
const PARTITIONS = Number(process.env.BENCH_KAFKA_PARTITIONS ?? 12);

function quote(ts: number, i: number): OutMessage & { key: string } {
  const instrument = INSTRUMENTS[i % INSTRUMENTS.length]!;
  const mid = 100 + (i % 50) / 10;
  return {
    topic: 'quotes',
    key: instrument,
    value: `{"type":"quote","ts":${ts},"instrument":"${instrument}","bid":${(mid - 0.01).toFixed(2)},"ask":${(mid + 0.01).toFixed(2)},"bidSize":1000,"askSize":1200}`,
  };
}

function trade(ts: number, i: number, qty = 100): OutMessage & { key: string } {
  const instrument = INSTRUMENTS[i % INSTRUMENTS.length]!;
  return {
    topic: 'trades',
    key: instrument,
    value: `{"type":"trade","ts":${ts},"tradeId":"T${i}","instrument":"${instrument}","traderId":"TR${i % 13}","side":"${i % 2 ? 'BUY' : 'SELL'}","qty":${qty},"price":100.5}`,
  };
}

function pct(sorted: number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function throughput(cluster: Cluster, driver: string, n: number, transactions: boolean): Promise<{ eps: number; events: number; ms: number }> {
  const s = scenario(`bench-tp-${driver}`);
  await createTopics(cluster, s.prefix, PARTITIONS);
  const d = await loadDriver('kafkajs', { brokers: cluster.bootstrap.split(',') });
  const p = await d.producer({});
  const t0 = 1_710_509_400_000;
  for (let i = 0; i < n; i += 10_000) {
    const batch: OutMessage[] = [];
    for (let j = i; j < Math.min(n, i + 10_000); j++) {
      const m = j % 2 ? trade(t0 + j, j) : quote(t0 + j, j);
      batch.push({ ...m, topic: s.prefix + m.topic });
    }
    await p.send(batch);
  }
  await p.close();
  for (const t of ['trades', 'quotes']) {
    for (const o of await d.offsets(s.prefix + t)) {
      if (o.low !== '0') console.warn(`warning: the broker dropped the start of ${t}/${o.partition} (log start ${o.low})`);
    }
  }
  await d.close();
  const r = await runTimed(
    [
      'run', TOPOLOGY, '--brokers', cluster.bootstrap, '--bounded', '--topic-prefix', s.prefix, '--group', s.group,
      '--checkpoint-dir', await tempDir(), '--driver', driver, transactions ? '--transactions' : '--no-transactions',
    ],
    [/task \d+: started/],
  );
  const ms = r.exitAt - r.at[0]!;
  return { eps: Math.round((r.summary.events / ms) * 1000), events: r.summary.events, ms };
}

/**
 * `riskflow run ... --json` in its own process, as the latency run is, so that this process (the
 * load generator and the alert reader) carries nothing of an earlier run: when each stderr line
 * matching `marks` first came, when the process exited, and its JSON summary.
 */
async function runTimed(args: string[], marks: RegExp[]): Promise<{ summary: { events: number }; at: number[]; t0: number; exitAt: number }> {
  const t0 = Date.now();
  const p = riskflow([...args, '--json']);
  const at = marks.map(() => Number.NaN);
  let buf = '';
  p.proc.stderr!.on('data', (d: Buffer) => {
    const now = Date.now();
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      marks.forEach((re, k) => {
        if (Number.isNaN(at[k]) && re.test(line)) at[k] = now;
      });
    }
  });
  const r = await p.done;
  const exitAt = Date.now();
  if (r.code !== 0) throw new Error(`riskflow ${args.join(' ')} exited ${r.code ?? r.signal}:\n${r.stderr}`);
  return { summary: JSON.parse(r.stdout.trim().split('\n').pop()!) as { events: number }, at, t0, exitAt };
}

async function latency(
  cluster: Cluster,
  driver: string,
  rate: number,
  seconds: number,
  transactions: boolean,
): Promise<{ p50: number; p99: number; max: number; n: number; sent: number }> {
  const s = scenario(`bench-lat-${driver}`);
  await createTopics(cluster, s.prefix, PARTITIONS);
  const ck = await tempDir();
  const engine = riskflow([
    'run', TOPOLOGY, '--brokers', cluster.bootstrap, '--topic-prefix', s.prefix, '--group', s.group, '--checkpoint-dir', ck,
    '--driver', driver, transactions ? '--transactions' : '--no-transactions', '--batch-size', '512',
    '--checkpoint-interval', transactions ? '50ms' : '1s',
  ]);
  for (let i = 0; i < 6000 && (engine.stderr().match(/task \d+: started/g) ?? []).length < PARTITIONS; i++) await sleep(10);

  // The alert reader: an independent kafkajs consumer.
  const { Kafka, logLevel } = createRequire(import.meta.url)('kafkajs');
  const kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${s.group}-reader`, maxWaitTimeInMs: 5, minBytes: 1 });
  await consumer.connect();
  await consumer.subscribe({ topics: [`${s.prefix}market-risk-alerts`], fromBeginning: true });
  const lat: Array<[number, number]> = [];
  void consumer.run({
    eachMessage: async ({ message }: { message: { value: Buffer } }) => {
      const now = Date.now();
      const a = JSON.parse(message.value.toString()) as { eventTime: number };
      lat.push([a.eventTime, now - a.eventTime]);
    },
  });
  await sleep(3000); // the reader joins its group

  // The load generator uses kafkajs whatever the engine's driver (its sends are the quicker here).
  const d = await loadDriver('kafkajs', { brokers: cluster.bootstrap.split(',') });
  const p = await d.producer({});
  const start = Date.now();
  let sent = 0;
  let i = 0;
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  while (Date.now() - start < seconds * 1000) {
    const due = start + ((sent + perTick) / rate) * 1000;
    const batch: OutMessage[] = [];
    for (let k = 0; k < perTick; k++, i++) {
      const now = Date.now();
      const m = i % 100 === 99 ? trade(now, i, 1_000_000) : i % 2 ? trade(now, i) : quote(now, i);
      batch.push({ ...m, topic: s.prefix + m.topic });
    }
    await p.send(batch);
    sent += batch.length;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
  }
  const achieved = Math.round((sent / (Date.now() - start)) * 1000);
  await sleep(2000);
  await p.close();
  await d.close();
  engine.proc.kill('SIGTERM');
  await engine.done;
  await consumer.disconnect();
  const warm = start + 3000;
  const xs = lat.filter(([t]) => t >= warm).map(([, l]) => l).sort((a, b) => a - b);
  return { p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: xs[xs.length - 1] ?? Number.NaN, n: xs.length, sent: achieved };
}

async function globalTask(cluster: Cluster, driver: string): Promise<{ events: number; startupMs: number; runMs: number }> {
  const s = scenario(`bench-global-${driver}`);
  await createTopics(cluster, s.prefix, 6, s.group);
  await riskflowOk(['produce-day', SAMPLE_DAY, '--brokers', cluster.bootstrap, '--topic-prefix', s.prefix, '--driver', driver, '--quiet']);
  const r = await runTimed(
    [
      'run', ...STANDARD, '--reference', SAMPLE_DAY, '--brokers', cluster.bootstrap, '--bounded', '--topic-prefix', s.prefix,
      '--group', s.group, '--checkpoint-dir', await tempDir(), '--driver', driver,
    ],
    [/task global: started/, /task global: complete/],
  );
  return { events: r.summary.events, startupMs: r.at[0]! - r.t0, runMs: r.at[1]! - r.at[0]! };
}

async function main(): Promise<void> {
  const n = Number(process.env.BENCH_KAFKA_EVENTS ?? 400_000);
  const rate = Number(process.env.BENCH_KAFKA_RATE ?? 10_000);
  const seconds = Number(process.env.BENCH_KAFKA_SECONDS ?? 15);
  const list = (process.env.BENCH_KAFKA_DRIVERS?.split(',') ?? drivers()) as string[];
  const cluster = await startCluster();
  console.log(`riskflow Kafka benchmark: node ${process.version}, broker ${process.env.KAFKA_BROKERS ? cluster.bootstrap : 'librdkafka mock cluster (3 brokers)'}, ${PARTITIONS} input partitions`);
  try {
    for (const driver of list) {
      const modes = driver === 'confluent' ? [false, true] : [false];
      for (const tx of modes) {
        const t = await throughput(cluster, driver, n, tx);
        console.log(`${driver.padEnd(9)} ${tx ? 'transactional' : 'idempotent   '}  throughput: ${t.eps.toLocaleString('en-US')} events/s (${t.events.toLocaleString('en-US')} events in ${t.ms} ms, bounded, one process)`);
        const l = await latency(cluster, driver, rate, seconds, tx);
        console.log(
          `${driver.padEnd(9)} ${tx ? 'transactional' : 'idempotent   '}  alert latency at ${l.sent.toLocaleString('en-US')} events/s: p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms (${l.n} probe alerts)`,
        );
      }
      const g = await globalTask(cluster, driver);
      console.log(
        `${driver.padEnd(9)} global task (3 standard topologies, sample day): ${Math.round((g.events / g.runMs) * 1000).toLocaleString('en-US')} events/s once started ` +
          `(${g.events.toLocaleString('en-US')} events in ${g.runMs} ms); start-up ${g.startupMs} ms (process start, two consumer-group joins); ` +
          `overall ${Math.round((g.events / (g.startupMs + g.runMs)) * 1000).toLocaleString('en-US')} events/s`,
      );
    }
  } finally {
    await cluster.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
