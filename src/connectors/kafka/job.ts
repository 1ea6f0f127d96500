import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { CheckpointStore, type CheckpointData } from '../../core/checkpoint.js';
import { RiskflowError, UsageError } from '../../core/errors.js';
import type { ReferenceData } from '../../core/reference.js';
import { Runner, type RunStats, type RunnableTopology } from '../../core/runner.js';
import type { StreamName } from '../events.js';
import { KafkaTaskSinks, type KafkaSinkCounts } from './alert-sink.js';
import type { DriverConsumer, DriverProducer, InBatch, KafkaDriver, TopicPartition } from './driver.js';
import { KafkaTaskSource, type TaskInput, type TaskPosition } from './task-source.js';
import { TaskLock } from './task-lock.js';

export interface KafkaJobOptions {
  driver: KafkaDriver;
  /** Topologies whose state is keyed by instrument: one instance per partition task. */
  topologies: readonly RunnableTopology[];
  reference: ReferenceData;
  /** The partition tasks' input streams, in merge order (as a replay orders them). */
  streams: StreamName[];
  /** Topologies that need a global view (scope.ts): run by the job's single global task. */
  globalTopologies?: readonly RunnableTopology[];
  /** The global task's input streams, in merge order. */
  globalStreams?: StreamName[];
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
  /** The consumers' fetch wait (driver.ts, DEFAULT_FETCH_WAIT_MS). */
  fetchWaitMs?: number;
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
  /** Tasks this process ran (some more than once, after a rebalance or a failure); 'global' is the global task. */
  tasksRun: TaskId[];
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

/** A partition task (its partition number) or the global task. */
export type TaskId = number | 'global';
const GLOBAL = 'global' as const;

interface Task {
  id: TaskId;
  abort: AbortController;
  source: KafkaTaskSource;
  sinks: KafkaTaskSinks;
  producer: DriverProducer;
  /** The global task's own consumer (group `<group>.global`). */
  consumer?: DriverConsumer;
  done: Promise<void>;
  stats?: RunStats;
}

const MAX_TASK_RESTARTS = 20;

/** The internal topic whose partition 0 elects the owner of a group's global task. */
export function globalTopicName(prefix: string | undefined, group: string): string {
  return `${prefix ?? ''}riskflow-global.${group}`;
}

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
 * Topologies that need a global view (scope.ts) run in one more task, the **global task**: it
 * reads every partition of its input topics through its own consumer (group `<group>.global`, of
 * which it is the only member, so it is assigned every partition and seeks to its checkpointed
 * offsets) and merges them into a replay's exact record sequence (task-source.ts). Its owner is
 * the member of the job's group that is assigned partition 0 of the internal topic
 * `<prefix>riskflow-global.<group>` (1 partition, created if missing). It has its own checkpoint
 * directory `task-global`, task lock, producer (`riskflow-<group>-task-global`) and commit
 * markers, and moves between processes exactly like a partition task.
 *
 * Bounded mode stops every task at the end offsets seen at start, flushes every window, writes a
 * final checkpoint and returns once every task of the job is complete (whoever ran it).
 */
export class KafkaJob {
  private readonly tasks = new Map<TaskId, Task>();
  private readonly completed = new Set<TaskId>();
  private readonly ran: TaskId[] = [];
  private consumer: DriverConsumer | undefined;
  /** This process owns the global task (assigned the internal topic): its start, cancellable. */
  private globalOwned: { abort: AbortController; starting: Promise<void> } | undefined;
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

  /** Input topics of the partition tasks (none when every topology is global). */
  private topics(): string[] {
    return this.hasPartitionTasks() ? this.o.streams.map((s) => this.o.inputTopics[s]) : [];
  }

  private globalTopics(): string[] {
    return this.hasGlobal() ? (this.o.globalStreams ?? []).map((s) => this.o.inputTopics[s]) : [];
  }

  private hasPartitionTasks(): boolean {
    return this.o.topologies.length > 0 && this.o.streams.length > 0;
  }

  private hasGlobal(): boolean {
    return (this.o.globalTopologies?.length ?? 0) > 0 && (this.o.globalStreams?.length ?? 0) > 0;
  }

  private get globalTopic(): string {
    return globalTopicName(this.o.topicPrefix, this.o.group);
  }

  async run(): Promise<KafkaJobSummary> {
    const started = Date.now();
    const { driver } = this.o;
    const counts = new Map<string, number>();
    for (const t of new Set([...this.topics(), ...this.globalTopics()])) {
      const offs = await driver.offsets(t);
      if (!offs.length) throw new UsageError(`input topic '${t}' does not exist or has no partitions`);
      counts.set(t, offs.length);
      for (const o of offs) {
        this.ends.set(`${t}/${o.partition}`, BigInt(o.high));
        this.lows.set(`${t}/${o.partition}`, BigInt(o.low));
      }
    }
    // Partition tasks need co-partitioned topics; the global task reads whatever there is.
    const distinct = new Set(this.topics().map((t) => counts.get(t)!));
    if (distinct.size > 1) {
      throw new UsageError(
        `input topics must have the same number of partitions (co-partitioned by key): ${this.topics().map((t) => `${t}=${counts.get(t)}`).join(', ')}`,
      );
    }
    this.partitions = Math.max(0, ...counts.values());
    for (const t of this.globalTopics()) this.globalParts.set(t, counts.get(t)!);
    if (this.hasPartitionTasks()) {
      this.log(`group ${this.o.group}: ${this.partitions} tasks over ${this.topics().join(', ')}${this.o.bounded ? ' (bounded)' : ''}`);
    }
    if (this.hasGlobal()) {
      await this.ensureGlobalTopic();
      this.log(
        `group ${this.o.group}: global task over every partition of ${this.globalTopics().join(', ')}${this.o.bounded ? ' (bounded)' : ''}; ` +
          `its owner is the member assigned ${this.globalTopic}/0`,
      );
    }

    const onStop = () => this.stopping.abort();
    this.o.signal?.addEventListener('abort', onStop, { once: true });
    if (this.o.signal?.aborted) onStop();

    this.consumer = await driver.consumer({
      groupId: this.o.group,
      topics: [...this.topics(), ...(this.hasGlobal() ? [this.globalTopic] : [])],
      sessionTimeoutMs: this.o.sessionTimeoutMs,
      fetchWaitMs: this.o.fetchWaitMs,
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
      completed: this.o.bounded && this.jobTasks().every((id) => this.completed.has(id)),
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

  /** Every task of the job: the partition tasks and the global task. */
  private jobTasks(): TaskId[] {
    const ids: TaskId[] = [];
    if (this.hasPartitionTasks()) for (let p = 0; p < this.partitions; p++) ids.push(p);
    if (this.hasGlobal()) ids.push(GLOBAL);
    return ids;
  }

  /** Bounded: every task of the job finished, here or in another process (its final checkpoint says so). */
  private async allComplete(): Promise<boolean> {
    for (const id of this.jobTasks()) {
      if (this.completed.has(id)) continue;
      if (this.tasks.has(id)) return false;
      const latest = await this.store(id).latest();
      if (!isComplete(latest)) return false;
    }
    return true;
  }

  private store(id: TaskId): CheckpointStore {
    return new CheckpointStore(join(this.o.checkpointDir, `task-${id}`), { keep: 3 });
  }

  private inputsOf(p: number): TopicPartition[] {
    return this.topics().map((topic) => ({ topic, partition: p }));
  }

  /** Partition counts of the global task's topics. */
  private readonly globalParts = new Map<string, number>();

  /**
   * The internal topic that elects the global task's owner: created with 1 partition when
   * missing; a cluster that cannot create it needs it created by its operators.
   */
  private async ensureGlobalTopic(): Promise<void> {
    const topic = this.globalTopic;
    try {
      if (await this.o.driver.ensureTopic(topic, 1)) this.log(`created the internal topic ${topic} (1 partition)`);
    } catch (err) {
      throw new UsageError(
        `the internal topic ${topic}, whose partition 0 elects the owner of the global task, is missing and cannot be created ` +
          `(${(err as Error).message}): create it with 1 partition`,
        { cause: err },
      );
    }
  }

  private async onAssigned(tps: TopicPartition[]): Promise<Array<TopicPartition & { offset: string }>> {
    if (tps.some((t) => t.topic === this.globalTopic && t.partition === 0)) this.launchGlobal();
    tps = tps.filter((t) => t.topic !== this.globalTopic);
    const ps = [...new Set(tps.map((t) => t.partition))].sort((a, b) => a - b);
    // New tasks start side by side (lock, checkpoint, producer: a transactional producer's
    // initialisation is a broker round trip or more each): nothing of this member's partitions is
    // fetched before the last one is up.
    const fresh = ps.filter((p) => !this.tasks.has(p));
    const started = await Promise.allSettled(fresh.map((p) => this.startTask(p)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const posOf = new Map(fresh.map((p, i) => [p, (started[i] as PromiseFulfilledResult<TaskPosition | undefined>).value]));
    const starts: Array<TopicPartition & { offset: string }> = [];
    for (const p of ps) {
      const existing = posOf.has(p) ? undefined : this.tasks.get(p);
      if (existing) {
        // Still ours after a rejoin: continue where the task's consumer was.
        for (const tp of this.inputsOf(p)) starts.push({ ...tp, offset: existing.source.fetchPosition(tp) ?? '0' });
        continue;
      }
      const pos = posOf.get(p);
      if (pos) for (const tp of this.inputsOf(p)) starts.push({ ...tp, offset: pos[`${tp.topic}/${tp.partition}`]! });
    }
    return starts;
  }

  private async onRevoked(tps: TopicPartition[]): Promise<void> {
    const global = tps.some((t) => t.topic === this.globalTopic && t.partition === 0);
    const ps = new Set(tps.filter((t) => t.topic !== this.globalTopic).map((t) => t.partition));
    await Promise.all([...[...ps].map((p) => this.stopTask(p)), ...(global ? [this.stopGlobal()] : [])]);
  }

  private onBatch(b: InBatch): void {
    if (b.topic === this.globalTopic) return;
    this.tasks.get(b.partition)?.source.push(b);
  }

  /**
   * This process was assigned the internal topic: start the global task in the background (its
   * lock may have to wait for the previous owner's final checkpoint; the group's other
   * partitions must not wait for that).
   */
  private launchGlobal(): void {
    if (this.globalOwned || this.stopping.signal.aborted) return;
    const abort = new AbortController();
    const starting = this.startTask(GLOBAL, undefined, abort.signal).then(
      () => undefined,
      (err: unknown) => {
        if (!abort.signal.aborted && !this.stopping.signal.aborted) this.fail(err);
      },
    );
    this.globalOwned = { abort, starting };
  }

  /** The internal topic was taken away: stop the global task with a final checkpoint. */
  private async stopGlobal(): Promise<void> {
    const g = this.globalOwned;
    if (!g) return;
    this.globalOwned = undefined;
    g.abort.abort();
    await g.starting;
    await this.stopTask(GLOBAL);
  }

  /**
   * Creates a task from its latest checkpoint; returns the offsets to start its partitions at
   * (the global task positions its own consumer).
   */
  private async startTask(id: TaskId, lock?: TaskLock, cancel?: AbortSignal): Promise<TaskPosition | undefined> {
    if (this.stopping.signal.aborted || cancel?.aborted) return undefined;
    const isGlobal = id === GLOBAL;
    const dir = join(this.o.checkpointDir, `task-${id}`);
    if (!lock) {
      const wait = new AbortController();
      const stop = () => wait.abort();
      this.stopping.signal.addEventListener('abort', stop, { once: true });
      cancel?.addEventListener('abort', stop, { once: true });
      try {
        lock = await TaskLock.acquire(dir, { signal: wait.signal });
      } finally {
        this.stopping.signal.removeEventListener('abort', stop);
        cancel?.removeEventListener('abort', stop);
      }
      if (cancel?.aborted) {
        await lock.release();
        return undefined;
      }
    }
    const store = this.store(id);
    const restore = await store.latest();
    if (restore && restore.jobFingerprint !== this.o.fingerprint) {
      await lock.release();
      throw new UsageError(
        `${dir} holds a checkpoint of another job (topologies, parameters or topics differ): use another --checkpoint-dir or --group`,
      );
    }
    const inputs: TaskInput[] = isGlobal
      ? (this.o.globalStreams ?? []).flatMap((stream) => {
          const topic = this.o.inputTopics[stream];
          return Array.from({ length: this.globalParts.get(topic) ?? 0 }, (_, partition) => ({ stream, topic, partition }));
        })
      : this.o.streams.map((stream) => ({ stream, topic: this.o.inputTopics[stream], partition: id }));
    const key = (i: TopicPartition) => `${i.topic}/${i.partition}`;
    const pos: TaskPosition = restore
      ? (restore.sourcePosition as TaskPosition)
      : Object.fromEntries(inputs.map((i) => [key(i), String(this.lows.get(key(i)) ?? 0n)]));
    if (this.o.bounded && isComplete(restore)) {
      this.completed.add(id);
      await lock.release();
      this.wake?.();
      return pos;
    }
    const abort = new AbortController();
    const stopAll = () => abort.abort();
    this.stopping.signal.addEventListener('abort', stopAll, { once: true });
    let own: DriverConsumer | undefined;
    const consumer = (): DriverConsumer | undefined => (isGlobal ? own : this.consumer);
    // Bad input records are reported once: by the partition tasks for their streams, by the
    // global task for the streams only it reads.
    const deadStreams = new Set<string>(isGlobal ? (this.o.globalStreams ?? []).filter((s) => !this.topics().includes(this.o.inputTopics[s])) : this.o.streams);
    const source = new KafkaTaskSource({
      inputs,
      start: inputs.map((i) => BigInt(pos[key(i)] ?? '0')),
      end: this.o.bounded ? inputs.map((i) => this.ends.get(key(i)) ?? 0n) : undefined,
      batchSize: this.o.batchSize,
      maxBuffered: this.o.maxBuffered,
      maxRate: this.o.maxRate,
      onDeadLetter: (d) => {
        if (d.stream === undefined || deadStreams.has(d.stream)) sinks.onDeadLetter(d);
      },
      pause: (tp) => consumer()?.pause([tp]),
      resume: (tp) => consumer()?.resume([tp]),
      seekConsumer: (tp) => consumer()?.seek(tp),
      signal: abort.signal,
      // Live: an empty batch once the input has been quiet for a checkpoint interval, so the
      // interval's alerts are committed (visible to read_committed readers) without new input.
      quietReturnMs: this.o.bounded ? undefined : this.o.checkpointEveryWallMs,
    });
    const taskKey = `${this.o.group}/task-${id}`;
    const producer = await this.o.driver.producer({
      transactionalId: this.o.transactional ? `riskflow-${this.o.group}-task-${id}` : undefined,
    });
    const sinks = new KafkaTaskSinks({
      producer,
      taskKey,
      topicPrefix: this.o.topicPrefix,
      outputs: this.o.outputs,
      lastCommitted: (key) => this.lastCommitted(key),
      log: this.log,
    });
    const topologies = isGlobal ? (this.o.globalTopologies ?? []) : this.o.topologies;
    const runner = new Runner({
      source,
      topologies,
      reference: this.o.reference,
      sinks,
      checkpoint: {
        store,
        fingerprint: this.o.fingerprint,
        restore,
        everyEventMs: this.o.checkpointEveryEventMs ?? 60_000,
        everyWallMs: this.o.checkpointEveryWallMs,
        // The checkpoint file is written, and the interval's transaction committed after it, off
        // the batch path (no 10-70 ms stall per checkpoint): the idempotent fallback's output does
        // not wait on it, the transactional sink holds the next interval's output until the commit.
        background: true,
      },
      signal: abort.signal,
      checkpointOnStop: true,
      checkpointOnComplete: this.o.bounded,
      // Live: processing-time idleness after the longest idle timeout of the task's sources, so
      // the day's last windows fire although no further record comes (README, Kafka).
      idleWallMs: this.o.bounded ? undefined : liveIdleMs(topologies),
    });
    if (isGlobal) {
      // Held until the consumer has every partition (a previous owner's consumer may still be
      // in the group for a moment); each partition starts where the task's source is.
      source.hold(true);
      const assigned = new Set<string>();
      const all = () => inputs.every((i) => assigned.has(key(i)));
      try {
        own = await this.o.driver.consumer({
          groupId: `${this.o.group}.global`,
          topics: [...new Set(inputs.map((i) => i.topic))],
          sessionTimeoutMs: this.o.sessionTimeoutMs,
          fetchWaitMs: this.o.fetchWaitMs,
          handlers: {
            onAssigned: async (tps) => {
              for (const tp of tps) assigned.add(key(tp));
              source.hold(!all());
              return tps.map((tp) => ({ ...tp, offset: source.fetchPosition(tp) ?? String(this.lows.get(key(tp)) ?? 0n) }));
            },
            onRevoked: async (tps) => {
              for (const tp of tps) assigned.delete(key(tp));
              source.hold(!all());
            },
            onBatch: (b) => source.push(b),
            onError: (e) => this.fail(e),
          },
        });
      } catch (err) {
        this.stopping.signal.removeEventListener('abort', stopAll);
        await producer.close().catch(() => undefined);
        await lock.release();
        throw err;
      }
    }
    if (cancel?.aborted) {
      // Taken away while starting (the global task moved on).
      this.stopping.signal.removeEventListener('abort', stopAll);
      await own?.close().catch(() => undefined);
      await producer.close().catch(() => undefined);
      await lock.release();
      return undefined;
    }
    const task: Task = { id, abort, source, sinks, producer, consumer: own, done: Promise.resolve() };
    this.tasks.set(id, task);
    this.ran.push(id);
    const where = isGlobal
      ? `${inputs.length} partitions of ${[...new Set(inputs.map((i) => i.topic))].join(', ')}`
      : inputs.map((i) => `${key(i)}@${pos[key(i)]}`).join(' ');
    this.log(`task ${id}: started ${restore ? `from checkpoint ${restore.seq}` : 'from the beginning'} (${where})`);
    const before = restore ? (restore.runner as { stats: RunStats }).stats : undefined;
    const beforeCounts = (restore?.sinks as { counts?: KafkaSinkCounts } | undefined)?.counts;
    const closeInput = async () => {
      if (own) await own.close().catch(() => undefined);
    };
    task.done = runner.run().then(
      async (stats) => {
        this.account(task, stats, before, beforeCounts);
        this.tasks.delete(id);
        this.stopping.signal.removeEventListener('abort', stopAll);
        await producer.close().catch(() => undefined);
        await closeInput();
        if (stats.completed) {
          this.completed.add(id);
          this.log(`task ${id}: complete (${stats.events} events, ${sinks.counts.alerts} alerts)`);
        }
        await lock!.release();
        this.wake?.();
      },
      async (err) => {
        this.tasks.delete(id);
        this.stopping.signal.removeEventListener('abort', stopAll);
        await sinks.abort();
        await producer.close().catch(() => undefined);
        await closeInput();
        if (err instanceof UsageError || abort.signal.aborted || this.stopping.signal.aborted) {
          await lock!.release();
          if (!abort.signal.aborted) this.fail(err);
          return;
        }
        const n = this.ran.filter((x) => x === id).length;
        if (n > MAX_TASK_RESTARTS) {
          await lock!.release();
          this.fail(err instanceof RiskflowError ? err : new RiskflowError('E_KAFKA', `task ${id} failed ${n} times`, { cause: err }));
          return;
        }
        // A failure (broker gone too long, a fenced producer): restart from the last checkpoint.
        this.log(`task ${id}: failed (${(err as Error).message}); restarting from its last checkpoint`);
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * n)));
        // The global task may have moved to another process meanwhile.
        if (isGlobal && (!this.globalOwned || this.globalOwned.abort.signal.aborted)) {
          await lock!.release();
          return;
        }
        try {
          const again = await this.startTask(id, lock, isGlobal ? this.globalOwned?.abort.signal : undefined);
          if (again && !isGlobal) for (const tp of this.inputsOf(id)) this.consumer!.seek({ ...tp, offset: again[key(tp)]! });
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

  private async stopTask(id: TaskId): Promise<void> {
    const t = this.tasks.get(id);
    if (!t) return;
    t.abort.abort();
    await t.done;
  }

  private async stopAll(): Promise<void> {
    this.globalOwned?.abort.abort();
    await this.globalOwned?.starting;
    await Promise.all([...this.tasks.keys()].map((id) => this.stopTask(id)));
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

/**
 * The wall-clock quiet spell after which a live task's event time moves on without records: the
 * longest finite `idleTimeout` of its topologies' sources (60 s when none is finite).
 */
export function liveIdleMs(topologies: ReadonlyArray<{ sources: ReadonlyArray<{ idleTimeoutMs?: number }> }>): number {
  let ms = 0;
  for (const t of topologies) for (const s of t.sources) if (s.idleTimeoutMs !== undefined && Number.isFinite(s.idleTimeoutMs)) ms = Math.max(ms, s.idleTimeoutMs);
  return ms > 0 ? ms : 60_000;
}
