/**
 * The Kafka test harness: a real Kafka-protocol broker (librdkafka's mock cluster, driven by
 * mock-broker.c, compiled here with `cc ... -lrdkafka`), or the cluster in KAFKA_BROKERS when set;
 * the riskflow commands as child processes (so tests can kill -9 them); independent readers of
 * topics (kcat, or a kafkajs consumer).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ALERT_TOPICS } from '../../src/core/alerts.js';

/** The package root, from the source (test/kafka) or the build (dist/test/kafka). */
export const ROOT = ((): string => {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
export const DEMO_DAY = join(ROOT, 'fixtures/demo-day');
export const SAMPLE_DAY = join(ROOT, 'fixtures/sample-day');
/** The standard topologies, as `riskflow replay` without --topology runs them (name order). */
export const STANDARD = ['desk-risk', 'market-risk', 'surveillance'].map((n) => join(ROOT, `topologies/${n}.yaml`));
export const MALFORMED_DAY = join(ROOT, 'fixtures/malformed-day');
export const MARKET_WATCH = join(ROOT, 'topologies/examples/market-watch.yaml');
const ENTRY = join(ROOT, 'dist/test/kafka/entry.cjs');
const BIN = join(ROOT, 'dist/src/cli/bin.cjs');

/** Whether the confluent driver (optional dependency) is installed. */
export function hasConfluent(): boolean {
  try {
    createRequire(import.meta.url)('@confluentinc/kafka-javascript');
    return true;
  } catch {
    return false;
  }
}

export function hasKcat(): boolean {
  return spawnSync('kcat', ['-V'], { encoding: 'utf8' }).status === 0;
}

/** Drivers to test: both when the confluent one is installed. */
export function drivers(): Array<'kafkajs' | 'confluent'> {
  return hasConfluent() ? ['kafkajs', 'confluent'] : ['kafkajs'];
}

export async function tempDir(prefix = 'rf-kafka-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

function compileMockBroker(): string {
  const src = join(ROOT, 'test/kafka/mock-broker.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const bin = join(tmpdir(), `riskflow-mock-broker-${hash}`);
  if (existsSync(bin)) return bin;
  const r = spawnSync('cc', ['-O2', '-o', bin, src, '-lrdkafka'], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`cannot build the mock broker (apt-get install -y librdkafka-dev): ${r.stderr || r.error?.message}`);
  }
  return bin;
}

/** A Kafka cluster for a test file. */
export interface Cluster {
  bootstrap: string;
  /** Whether brokers can be taken down and up (the mock cluster only). */
  readonly controllable: boolean;
  topic(name: string, partitions: number): Promise<void>;
  down(broker: number): Promise<void>;
  up(broker: number): Promise<void>;
  stop(): Promise<void>;
}

class MockCluster implements Cluster {
  readonly controllable = true;
  private readonly lines: AsyncIterator<string>;
  private queue: Promise<unknown> = Promise.resolve();
  constructor(
    private readonly proc: ChildProcess,
    readonly bootstrap: string,
    lines: AsyncIterator<string>,
  ) {
    this.lines = lines;
  }

  private command(line: string): Promise<string> {
    const next = this.queue.then(async () => {
      this.proc.stdin!.write(`${line}\n`);
      const r = await this.lines.next();
      if (r.done || r.value !== 'ok') throw new Error(`mock broker: ${line}: ${r.done ? 'exited' : r.value}`);
      return r.value;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  async topic(name: string, partitions: number): Promise<void> {
    await this.command(`topic ${name} ${partitions} 3`);
  }
  async down(broker: number): Promise<void> {
    await this.command(`down ${broker}`);
  }
  async up(broker: number): Promise<void> {
    await this.command(`up ${broker}`);
  }
  async stop(): Promise<void> {
    this.proc.stdin!.end();
    await new Promise((r) => {
      if (this.proc.exitCode !== null) r(undefined);
      else this.proc.once('exit', r);
    });
  }
}

class ExternalCluster implements Cluster {
  readonly controllable = false;
  constructor(readonly bootstrap: string) {}
  async topic(name: string, partitions: number): Promise<void> {
    const { Kafka, logLevel } = createRequire(import.meta.url)('kafkajs');
    const admin = new Kafka({ brokers: this.bootstrap.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
  }
  async down(): Promise<void> {
    throw new Error('cannot take brokers of an external cluster down');
  }
  async up(): Promise<void> {
    throw new Error('cannot take brokers of an external cluster up');
  }
  async stop(): Promise<void> {}
}

/** Starts a 3-broker mock cluster, or uses KAFKA_BROKERS. */
export async function startCluster(): Promise<Cluster> {
  if (process.env.KAFKA_BROKERS) return new ExternalCluster(process.env.KAFKA_BROKERS);
  const bin = compileMockBroker();
  const proc = spawn(bin, ['3'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done || !first.value.startsWith('bootstrap ')) throw new Error('the mock broker did not start');
  return new MockCluster(proc, first.value.slice('bootstrap '.length), lines);
}

/**
 * Creates the input, alert, dead-letter and commit topics under a prefix (tests isolate by
 * prefix), and with a group the internal topic that elects its global task's owner (the mock
 * cluster has no CreateTopics, so `riskflow run` cannot create it there itself).
 */
export async function createTopics(c: Cluster, prefix: string, inputPartitions = 6, group?: string): Promise<void> {
  for (const t of ['trades', 'quotes', 'orders']) await c.topic(prefix + t, inputPartitions);
  for (const t of [...ALERT_TOPICS, 'riskflow-dead-letters']) await c.topic(prefix + t, 3);
  await c.topic(`${prefix}riskflow-commits`, 1);
  if (group !== undefined) await c.topic(`${prefix}riskflow-global.${group}`, 1);
}

/** A unique topic prefix and group for one scenario. */
export function scenario(name: string): { prefix: string; group: string } {
  const id = randomUUID().slice(0, 8);
  return { prefix: `${name}-${id}.`, group: `${name}-${id}` };
}

export interface Proc {
  proc: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  stderr(): string;
}

/**
 * Every riskflow process started since the last `takeStarted()`: the suite's setup file reports
 * their stderr when a test fails (a timeout included) and kills those still running.
 */
const startedProcs: Array<{ args: string[]; p: Proc }> = [];
export function takeStarted(): Array<{ args: string[]; p: Proc }> {
  return startedProcs.splice(0);
}

/** Starts `riskflow <args>` (run / produce-day) as a child process. */
export function riskflow(args: string[], env: Record<string, string> = {}): Proc {
  const proc = spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((res) =>
    proc.on('exit', (code, signal) => setImmediate(() => res({ code, signal, stdout, stderr }))),
  );
  const p = { proc, done, stderr: () => stderr };
  startedProcs.push({ args, p });
  return p;
}

/**
 * Waits for a process to exit, at most `ms`; past that it is killed and the wait fails with its
 * stderr (so a hang reports where the process was, instead of a bare test timeout).
 */
export async function exitWithin(p: Proc, ms: number, what: string): Promise<Awaited<Proc['done']>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.proc.kill('SIGKILL');
      reject(new Error(`${what} did not exit within ${ms / 1000} s; killed. Its stderr:\n${p.stderr()}`));
    }, ms);
  });
  try {
    return await Promise.race([p.done, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a riskflow command to completion and fails with its stderr when it does not exit 0. */
export async function riskflowOk(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await riskflow(args, env).done;
  if (r.code !== 0) throw new Error(`riskflow ${args.join(' ')} exited ${r.code ?? r.signal}:\n${r.stderr}`);
  return r.stdout;
}

/** Every message of a topic read with kcat (an independent client): `key\tvalue` lines. */
export function kcatRead(bootstrap: string, topic: string): Array<{ key: string; value: string }> {
  const r = spawnSync('kcat', ['-b', bootstrap, '-C', '-t', topic, '-e', '-q', '-X', 'isolation.level=read_committed', '-f', '%k\t%s\n'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`kcat ${topic}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const i = l.indexOf('\t');
      return { key: l.slice(0, i), value: l.slice(i + 1) };
    });
}

/** Every message of a topic read with a kafkajs consumer (the other independent client). */
export async function kafkajsRead(bootstrap: string, topic: string): Promise<Array<{ key: string; value: string }>> {
  const { Kafka, logLevel } = createRequire(import.meta.url)('kafkajs');
  const kafka = new Kafka({ brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = (await admin.fetchTopicOffsets(topic)) as Array<{ partition: number; high: string; low: string }>;
  await admin.disconnect();
  const left = new Map(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]));
  const out: Array<{ key: string; value: string; partition: number; offset: bigint }> = [];
  if (!left.size) return [];
  const c = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`kafkajs read of ${topic} timed out`)), 60_000);
    void c.run({
      eachMessage: async ({ partition, message }: { partition: number; message: { key: Buffer | null; value: Buffer | null; offset: string } }) => {
        out.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', partition, offset: BigInt(message.offset) });
        const hi = left.get(partition);
        if (hi !== undefined && BigInt(message.offset) + 1n >= hi) left.delete(partition);
        if (!left.size) {
          clearTimeout(t);
          resolve();
        }
      },
    });
  });
  await c.disconnect();
  return out.map(({ key, value }) => ({ key, value }));
}

/** Alerts of every alert topic under a prefix, read with kcat (or kafkajs when kcat is missing). */
/** Every message of a topic, with kcat when installed, else with kafkajs. */
export async function readTopic(bootstrap: string, topic: string): Promise<Array<{ key: string; value: string }>> {
  return hasKcat() ? kcatRead(bootstrap, topic) : kafkajsRead(bootstrap, topic);
}

export async function readAlerts(bootstrap: string, prefix: string): Promise<Array<{ key: string; value: string }>> {
  const out: Array<{ key: string; value: string }> = [];
  for (const t of ALERT_TOPICS) out.push(...(await readTopic(bootstrap, prefix + t)));
  return out;
}

/** An alert's JSON without `emittedAt`, the only field allowed to differ between runs. */
export function stripEmittedAt(json: string): string {
  return json.replace(/,"emittedAt":\d+(\.\d+)?\}$/, '}');
}

/** The alerts of `riskflow replay` on a day (topology undefined: the standard ones), as sorted lines without emittedAt. */
export async function replayAlerts(
  day: string,
  topology: string | string[] | undefined,
  extra: string[] = [],
): Promise<{ alerts: string[]; deadLetters: Array<Record<string, unknown>> }> {
  const out = await tempDir('rf-replay-');
  const topo = (topology === undefined ? [] : Array.isArray(topology) ? topology : [topology]).flatMap((t) => ['--topology', t]);
  const r = spawnSync(process.execPath, [BIN, 'replay', day, ...topo, '--out', out, '--no-progress', '--quiet', ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`replay failed: ${r.stderr}`);
  const lines = (f: string) => readFile(join(out, f), 'utf8').then((t) => t.split('\n').filter(Boolean));
  return {
    alerts: (await lines('alerts.jsonl')).map(stripEmittedAt).sort(),
    deadLetters: (await lines('dead-letters.jsonl')).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Produces raw messages with a plain kafkajs producer (for malformed input). */
export async function produceRaw(bootstrap: string, topic: string, messages: Array<{ key: string | null; value: string }>): Promise<void> {
  const { Kafka, logLevel, Partitioners } = createRequire(import.meta.url)('kafkajs');
  const p = new Kafka({ brokers: bootstrap.split(','), logLevel: logLevel.NOTHING }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await p.connect();
  try {
    await p.send({ topic, messages, acks: -1 });
  } finally {
    await p.disconnect();
  }
}
