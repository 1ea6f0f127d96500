import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { CheckpointStore, type CheckpointData } from '../../core/checkpoint.js';
import { RiskflowError, UsageError } from '../../core/errors.js';
import type { ReferenceData } from '../../core/reference.js';
import { Runner, type RunStats, type RunnableTopology } from '../../core/runner.js';
import type { StreamName } from '../events.js';
import { KafkaTaskSinks, type KafkaSinkCounts } from './alert-sink.js';
import type { DriverConsumer, DriverProducer, InBatch, KafkaDriver, TopicPartition } from './driver.js';
import { KafkaTaskSource, type TaskPosition } from './task-source.js';
import { TaskLock } from './task-lock.js';

export interface KafkaJobOptions {
  driver: KafkaDriver;
  topologies: readonly RunnableTopology[];
  reference: ReferenceData;
  /** The job's input streams, in merge order (as a replay orders them). */
  streams: StreamName[];
  /** Input topic of each stream. */
  inputTopics: Record<StreamName, string>;
  group: string;
  checkpointDir: string;
  fingerprint: string;
  bounded: boolean;
  /** Kafka transactions for exactly-once alerts (else idempotent producer + deterministic alertIds). */
  transactional: boolean;
  topicPrefix?: string;
  outputs?: boolean;
  checkpointEveryEventMs?: number;
  checkpointEveryWallMs?: number;
  sessionTimeoutMs?: number;
  batchSize?: number;
  maxBuffered?: number;
  /** Records per second per task, at most (a throttled backfill). */
  maxRate?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface KafkaJobSummary {
  group: string;
  driver: string;
  transactional: boolean;
  bounded: boolean;
  partitions: number;
  /** Tasks this process ran (some more than once, after a rebalance or a failure). */
  tasksRun: number[];
  events: number;
  alerts: number;
  alertsByTopic: Record<string, number>;
  deadLetters: number;
  late: number;
  checkpoints: number;
  completed: boolean;
  wallMs: number;
  eventsPerSecond: number;
}

interface Task {
  p: number;
  abort: AbortController;
  source: KafkaTaskSource;
  sinks: KafkaTaskSinks;
  producer: DriverProducer;
  done: Promise<void>;
  stats?: RunStats;
}

const MAX_TASK_RESTARTS = 20;

/**
 * `riskflow run` as a library: one process of a consumer group. Every partition number p of the
 * (co-partitioned) input topics is a task, Kafka Streams style: the group assigns tasks to
 * processes, and each task runs its own {@link Runner} over its partitions with its own operator
 * state, checkpointed under `<checkpointDir>/task-<p>` (state + offsets, written atomically). When
 * a task moves to another process (a rebalance, a crash), the new owner takes the task lock,
 * restores the task's latest checkpoint and seeks to its offsets: keyed state moves with its
 * partitions. Each task has its own producer (transactional id `riskflow-<group>-task-<p>`, so a
 * new owner fences the old one).
 *
 * Bounded mode stops every task at the end offsets seen at start, flushes every window, writes a
 * final checkpoint and returns once every task of the job is complete (whoever ran it).
 */
export class KafkaJob {
  private readonly tasks = new Map<number, Task>();
  private readonly completed = new Set<number>();
  private readonly ran: number[] = [];
  private consumer: DriverConsumer | undefined;
  private partitions = 0;
  private ends = new Map<string, bigint>();
  private lows = new Map<string, bigint>();
  private failure: unknown;
  private readonly totals = { events: 0, checkpoints: 0 };
  private readonly counts: KafkaSinkCounts = { alerts: 0, alertsByTopic: {}, deadLetters: 0, late: 0, outputs: {} };
  private readonly log: (line: string) => void;
  private wake: (() => void) | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly o: KafkaJobOptions) {
    this.log = o.log ?? (() => undefined);
    // Every task listens for the job's stop.
    setMaxListeners(0, this.stopping.signal);
  }

  private topics(): string[] {
    return this.o.streams.map((s) => this.o.inputTopics[s]);
  }

  async run(): Promise<KafkaJobSummary> {
    const started = Date.now();
    const { driver } = this.o;
    const counts = new Map<string, number>();
    for (const t of this.topics()) {
      const offs = await driver.offsets(t);
      if (!offs.length) throw new UsageError(`input topic '${t}' does not exist or has no partitions`);
      counts.set(t, offs.length);
      for (const o of offs) {
        this.ends.set(`${t}/${o.partition}`, BigInt(o.high));
        this.lows.set(`${t}/${o.partition}`, BigInt(o.low));
      }
    }
    const distinct = new Set(counts.values());
    if (distinct.size !== 1) {
      throw new UsageError(
        `input topics must have the same number of partitions (co-partitioned by key): ${[...counts].map(([t, n]) => `${t}=${n}`).join(', ')}`,
      );
    }
    this.partitions = [...distinct][0]!;
    this.log(`group ${this.o.group}: ${this.partitions} tasks over ${this.topics().join(', ')}${this.o.bounded ? ' (bounded)' : ''}`);

    const onStop = () => this.stopping.abort();
    this.o.signal?.addEventListener('abort', onStop, { once: true });
    if (this.o.signal?.aborted) onStop();

    this.consumer = await driver.consumer({
      groupId: this.o.group,
      topics: this.topics(),
      sessionTimeoutMs: this.o.sessionTimeoutMs,
      handlers: {
        onAssigned: (tps) => this.onAssigned(tps),
        onRevoked: (tps) => this.onRevoked(tps),
        onBatch: (b) => this.onBatch(b),
        onError: (e) => this.fail(e),
      },
    });
    try {
      await this.waitForEnd();
    } finally {
      await this.stopAll();
      await this.consumer.close();
      this.o.signal?.removeEventListener('abort', onStop);
    }
    if (this.failure !== undefined) throw this.failure;
    const wallMs = Date.now() - started;
    return {
      group: this.o.group,
      driver: driver.name,
      transactional: this.o.transactional,
      bounded: this.o.bounded,
      partitions: this.partitions,
      tasksRun: this.ran,
      events: this.totals.events,
      alerts: this.counts.alerts,
      alertsByTopic: this.counts.alertsByTopic,
      deadLetters: this.counts.deadLetters,
      late: this.counts.late,
      checkpoints: this.totals.checkpoints,
      completed: this.o.bounded && this.completed.size === this.partitions,
      wallMs,
      eventsPerSecond: wallMs > 0 ? Math.round((this.totals.events / wallMs) * 1000) : 0,
    };
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    this.stopping.abort();
    this.wake?.();
  }

  private async waitForEnd(): Promise<void> {
    for (;;) {
      if (this.failure !== undefined || this.stopping.signal.aborted) return;
      if (this.o.bounded && (await this.allComplete())) return;
      await new Promise<void>((res) => {
        this.wake = res;
        setTimeout(res, 500).unref();
      });
      this.wake = undefined;
    }
  }

  /** Bounded: every task of the job finished, here or in another process (its final checkpoint says so). */
  private async allComplete(): Promise<boolean> {
    for (let p = 0; p < this.partitions; p++) {
      if (this.completed.has(p)) continue;
      if (this.tasks.has(p)) return false;
      const latest = await this.store(p).latest();
      if (!isComplete(latest)) return false;
    }
    return true;
  }

  private store(p: number): CheckpointStore {
    return new CheckpointStore(join(this.o.checkpointDir, `task-${p}`), { keep: 3 });
  }

  private inputsOf(p: number): TopicPartition[] {
    return this.topics().map((topic) => ({ topic, partition: p }));
  }

  private async onAssigned(tps: TopicPartition[]): Promise<Array<TopicPartition & { offset: string }>> {
    const byP = new Set(tps.map((t) => t.partition));
    const starts: Array<TopicPartition & { offset: string }> = [];
    for (const p of [...byP].sort((a, b) => a - b)) {
      const existing = this.tasks.get(p);
      if (existing) {
        // Still ours after a rejoin: continue where the task's consumer was.
        for (const tp of this.inputsOf(p)) starts.push({ ...tp, offset: existing.source.fetchPosition(tp) ?? '0' });
        continue;
      }
      const pos = await this.startTask(p);
      if (pos) for (const tp of this.inputsOf(p)) starts.push({ ...tp, offset: pos[`${tp.topic}/${tp.partition}`]! });
    }
    return starts;
  }

  private async onRevoked(tps: TopicPartition[]): Promise<void> {
    const ps = new Set(tps.map((t) => t.partition));
    await Promise.all([...ps].map((p) => this.stopTask(p)));
  }

  private onBatch(b: InBatch): void {
    this.tasks.get(b.partition)?.source.push(b);
  }

  /** Creates task p from its latest checkpoint; returns the offsets to start its partitions at. */
  private async startTask(p: number, lock?: TaskLock): Promise<TaskPosition | undefined> {
    if (this.stopping.signal.aborted) return undefined;
    const dir = join(this.o.checkpointDir, `task-${p}`);
    lock ??= await TaskLock.acquire(dir, { signal: this.stopping.signal });
    const store = this.store(p);
    const restore = await store.latest();
    if (restore && restore.jobFingerprint !== this.o.fingerprint) {
      await lock.release();
      throw new UsageError(
        `${dir} holds a checkpoint of another job (topologies, parameters or topics differ): use another --checkpoint-dir or --group`,
      );
    }
    const inputs = this.o.streams.map((stream) => ({ stream, topic: this.o.inputTopics[stream], partition: p }));
    const pos: TaskPosition = restore
      ? (restore.sourcePosition as TaskPosition)
      : Object.fromEntries(inputs.map((i) => [`${i.topic}/${p}`, String(this.lows.get(`${i.topic}/${p}`) ?? 0n)]));
    if (this.o.bounded && isComplete(restore)) {
      this.completed.add(p);
      await lock.release();
      this.wake?.();
      return pos;
    }
    const abort = new AbortController();
    const stopAll = () => abort.abort();
    this.stopping.signal.addEventListener('abort', stopAll, { once: true });
    const consumer = () => this.consumer!;
    const source = new KafkaTaskSource({
      inputs,
      start: inputs.map((i) => BigInt(pos[`${i.topic}/${p}`] ?? '0')),
      end: this.o.bounded ? inputs.map((i) => this.ends.get(`${i.topic}/${p}`) ?? 0n) : undefined,
      batchSize: this.o.batchSize,
      maxBuffered: this.o.maxBuffered,
      maxRate: this.o.maxRate,
      onDeadLetter: (d) => sinks.onDeadLetter(d),
      pause: (tp) => consumer().pause([tp]),
      resume: (tp) => consumer().resume([tp]),
      seekConsumer: (tp) => consumer().seek(tp),
      signal: abort.signal,
    });
    const taskKey = `${this.o.group}/task-${p}`;
    const producer = await this.o.driver.producer({
      transactionalId: this.o.transactional ? `riskflow-${this.o.group}-task-${p}` : undefined,
    });
    const sinks = new KafkaTaskSinks({
      producer,
      taskKey,
      topicPrefix: this.o.topicPrefix,
      outputs: this.o.outputs,
      lastCommitted: (key) => this.lastCommitted(key),
      log: this.log,
    });
    const runner = new Runner({
      source,
      topologies: this.o.topologies,
      reference: this.o.reference,
      sinks,
      checkpoint: {
        store,
        fingerprint: this.o.fingerprint,
        restore,
        everyEventMs: this.o.checkpointEveryEventMs ?? 60_000,
        everyWallMs: this.o.checkpointEveryWallMs,
      },
      signal: abort.signal,
      checkpointOnStop: true,
      checkpointOnComplete: this.o.bounded,
    });
    const task: Task = { p, abort, source, sinks, producer, done: Promise.resolve() };
    this.tasks.set(p, task);
    this.ran.push(p);
    this.log(`task ${p}: started ${restore ? `from checkpoint ${restore.seq}` : 'from the beginning'} (${inputs.map((i) => `${i.topic}/${p}@${pos[`${i.topic}/${p}`]}`).join(' ')})`);
    const before = restore ? (restore.runner as { stats: RunStats }).stats : undefined;
    const beforeCounts = (restore?.sinks as { counts?: KafkaSinkCounts } | undefined)?.counts;
    task.done = runner.run().then(
      async (stats) => {
        this.account(task, stats, before, beforeCounts);
        this.tasks.delete(p);
        this.stopping.signal.removeEventListener('abort', stopAll);
        await producer.close().catch(() => undefined);
        if (stats.completed) {
          this.completed.add(p);
          this.log(`task ${p}: complete (${stats.events} events, ${sinks.counts.alerts} alerts)`);
        }
        await lock!.release();
        this.wake?.();
      },
      async (err) => {
        this.tasks.delete(p);
        this.stopping.signal.removeEventListener('abort', stopAll);
        await sinks.abort();
        await producer.close().catch(() => undefined);
        if (err instanceof UsageError || abort.signal.aborted || this.stopping.signal.aborted) {
          await lock!.release();
          if (!abort.signal.aborted) this.fail(err);
          return;
        }
        const n = this.ran.filter((x) => x === p).length;
        if (n > MAX_TASK_RESTARTS) {
          await lock!.release();
          this.fail(err instanceof RiskflowError ? err : new RiskflowError('E_KAFKA', `task ${p} failed ${n} times`, { cause: err }));
          return;
        }
        // A failure (broker gone too long, a fenced producer): restart from the last checkpoint.
        this.log(`task ${p}: failed (${(err as Error).message}); restarting from its last checkpoint`);
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * n)));
        try {
          const again = await this.startTask(p, lock);
          if (again) for (const tp of this.inputsOf(p)) this.consumer!.seek({ ...tp, offset: again[`${tp.topic}/${p}`]! });
        } catch (e) {
          this.fail(e);
        }
      },
    );
    return pos;
  }

  private account(task: Task, stats: RunStats, before: RunStats | undefined, b: KafkaSinkCounts | undefined): void {
    // Counters continue from the checkpoint: count only what this run added.
    this.totals.events += stats.events - (before?.events ?? 0);
    this.totals.checkpoints += stats.checkpoints - (before?.checkpoints ?? 0);
    const c = task.sinks.counts;
    this.counts.alerts += c.alerts - (b?.alerts ?? 0);
    this.counts.deadLetters += c.deadLetters - (b?.deadLetters ?? 0);
    this.counts.late += c.late - (b?.late ?? 0);
    for (const [k, v] of Object.entries(c.alertsByTopic)) {
      this.counts.alertsByTopic[k] = (this.counts.alertsByTopic[k] ?? 0) + v - (b?.alertsByTopic[k] ?? 0);
    }
    task.stats = stats;
  }

  private async stopTask(p: number): Promise<void> {
    const t = this.tasks.get(p);
    if (!t) return;
    t.abort.abort();
    await t.done;
  }

  private async stopAll(): Promise<void> {
    await Promise.all([...this.tasks.keys()].map((p) => this.stopTask(p)));
  }

  /** The last transaction a task committed, from the commits topic (read_committed). */
  private async lastCommitted(key: string): Promise<number> {
    const topic = `${this.o.topicPrefix ?? ''}riskflow-commits`;
    const msgs = await this.o.driver.readAll(topic, { readCommitted: true, timeoutMs: 60_000 });
    const map = new Map<string, number>();
    for (const m of msgs) {
      if (!m.key || !m.value) continue;
      try {
        const v = JSON.parse(m.value) as { txn: number };
        map.set(m.key, Math.max(map.get(m.key) ?? -1, v.txn));
      } catch {
        // not ours
      }
    }
    return map.get(key) ?? -1;
  }
}

function isComplete(chk: CheckpointData | undefined): boolean {
  return Boolean(chk && (chk.runner as { stats?: RunStats } | undefined)?.stats?.completed);
}
