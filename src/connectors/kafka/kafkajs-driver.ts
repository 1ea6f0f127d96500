import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { DEFAULT_FETCH_WAIT_MS } from './driver.js';
import type {
  ConsumerOptions,
  DriverConsumer,
  DriverProducer,
  InBatch,
  KafkaConnection,
  KafkaDriver,
  PartitionOffsets,
  ReadMessage,
  TopicPartition,
} from './driver.js';
import { collectUntilEnd, kafkaJsApiProducer, tpKey } from './driver-util.js';

// kafkajs is CommonJS; its types are loose enough that the driver keeps its own narrow ones.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

const require = createRequire(import.meta.url);

/**
 * Assigns partitions by number across all subscribed topics (partition p of every input topic to
 * the same member), so that one member owns a whole task: Kafka Streams' co-partitioning. The
 * partition numbers are split in contiguous ranges over the members sorted by id, like Kafka's
 * RangeAssignor (which the confluent driver uses).
 */
function taskAssigner(kafkajs: Any): Any {
  const { AssignerProtocol } = kafkajs;
  return ({ cluster }: Any) => ({
    name: 'RiskflowTaskAssigner',
    version: 0,
    async assign({ members, topics }: { members: Array<{ memberId: string }>; topics: string[] }) {
      const ids = members.map((m) => m.memberId).sort();
      const out = new Map<string, Record<string, number[]>>(ids.map((id) => [id, {}]));
      for (const topic of topics) {
        const parts = (cluster.findTopicPartitionMetadata(topic) as Array<{ partitionId: number }>)
          .map((m) => m.partitionId)
          .sort((a, b) => a - b);
        const per = Math.floor(parts.length / ids.length);
        const extra = parts.length % ids.length;
        let i = 0;
        ids.forEach((id, m) => {
          const n = per + (m < extra ? 1 : 0);
          out.get(id)![topic] = parts.slice(i, i + n);
          i += n;
        });
      }
      return ids.map((memberId) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: out.get(memberId)!, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }: { topics: string[] }) {
      return { name: 'RiskflowTaskAssigner', metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
    },
  });
}

/** The kafkajs driver (pure JavaScript; the default). */
export class KafkajsDriver implements KafkaDriver {
  readonly name = 'kafkajs' as const;
  private admin: Any | undefined;
  private warned = false;
  private readonly closers: Array<() => Promise<void>> = [];

  private constructor(
    private readonly lib: Any,
    private readonly kafka: Any,
  ) {}

  static async create(conn: KafkaConnection): Promise<KafkajsDriver> {
    let lib: Any;
    try {
      lib = require('kafkajs');
    } catch (cause) {
      throw new Error(`the kafkajs driver needs the kafkajs package: npm install kafkajs (${(cause as Error).message})`);
    }
    const kafka = new lib.Kafka({
      clientId: conn.clientId ?? 'riskflow',
      brokers: conn.brokers,
      ssl: conn.ssl,
      sasl: conn.sasl,
      // Outages are ridden out, not turned into failures: retry for about a minute.
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 40 },
      connectionTimeout: 3000,
      logLevel: process.env.RISKFLOW_KAFKA_DEBUG ? lib.logLevel.INFO : lib.logLevel.NOTHING,
      ...(conn.extra ?? {}),
    });
    return new KafkajsDriver(lib, kafka);
  }

  private async getAdmin(): Promise<Any> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
      this.closers.push(() => admin.disconnect());
    }
    return this.admin;
  }

  async producer(opts: { transactionalId?: string }): Promise<DriverProducer> {
    const transactional = opts.transactionalId !== undefined;
    const make = (idempotent: boolean) =>
      this.kafka.producer({
        createPartitioner: this.lib.Partitioners.DefaultPartitioner,
        idempotent,
        maxInFlightRequests: 1,
        transactionalId: opts.transactionalId,
        transactionTimeout: 60_000,
        allowAutoTopicCreation: false,
      });
    let p = make(true);
    try {
      await p.connect();
    } catch (err) {
      // kafkajs finds the producer-id coordinator through the controller; brokers that report
      // none (librdkafka's mock cluster) cannot give it one. Without transactions, fall back to
      // a plain producer (acks=all, one request in flight): a retry may then duplicate a
      // message, which the deterministic alertIds let consumers dedupe.
      if (transactional || (err as Error).name !== 'KafkaJSBrokerNotFound') throw err;
      if (!this.warned) process.stderr.write(`riskflow: kafkajs: no idempotent producer on this cluster (${(err as Error).message}); using acks=all without idempotence\n`);
      this.warned = true;
      await p.disconnect().catch(() => undefined);
      p = make(false);
      await p.connect();
    }
    const producer = kafkaJsApiProducer(p, transactional, { acks: -1 });
    this.closers.push(() => p.disconnect().catch(() => undefined));
    return producer;
  }

  async consumer(opts: ConsumerOptions): Promise<DriverConsumer> {
    const c = this.kafka.consumer({
      groupId: opts.groupId,
      partitionAssigners: [taskAssigner(this.lib)],
      sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 1000,
      // How long the coordinator waits for members to rejoin: members rejoin at once (task
      // hand-over waits on the task lock, not on the rebalance), so keep it near the session.
      rebalanceTimeout: (opts.sessionTimeoutMs ?? 10_000) + 2000,
      readUncommitted: false,
      maxBytesPerPartition: 1 << 20,
      // A short fetch wait keeps alert latency low when a broker holds fetches to the wait (driver.ts).
      maxWaitTimeInMs: opts.fetchWaitMs ?? DEFAULT_FETCH_WAIT_MS,
      allowAutoTopicCreation: false,
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 40, restartOnFailure: async () => true },
    });
    const h = opts.handlers;
    let owned = new Map<string, TopicPartition>();
    // Assignment changes are applied one at a time, in order.
    let chain: Promise<void> = Promise.resolve();
    c.on(c.events.GROUP_JOIN, (e: Any) => {
      const assignment = e.payload.memberAssignment as Record<string, number[]>;
      const now = new Map<string, TopicPartition>();
      for (const [topic, parts] of Object.entries(assignment)) for (const partition of parts) now.set(tpKey(topic, partition), { topic, partition });
      const added = [...now].filter(([k]) => !owned.has(k)).map(([, tp]) => tp);
      const removed = [...owned].filter(([k]) => !now.has(k)).map(([, tp]) => tp);
      owned = now;
      // Hold the new partitions until their start offsets are known (pause before the first fetch).
      if (added.length) c.pause(groupByTopicTp(added));
      chain = chain.then(async () => {
        try {
          if (removed.length) await h.onRevoked(removed);
          // A rejoin (after a rebalance or a consumer restart) would start kept partitions over
          // from the group's committed offsets, which riskflow does not use: ask for all of them.
          const all = [...now.values()];
          if (all.length) {
            const starts = await h.onAssigned(all);
            for (const s of starts) c.seek({ topic: s.topic, partition: s.partition, offset: s.offset });
            if (added.length) c.resume(groupByTopicTp(added));
          }
        } catch (err) {
          h.onError?.(err);
        }
      });
    });
    c.on(c.events.CRASH, (e: Any) => {
      if (e.payload?.restart === false) h.onError?.(e.payload.error);
    });
    await c.connect();
    await c.subscribe({ topics: opts.topics, fromBeginning: true });
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch }: Any) => {
        if (!owned.has(tpKey(batch.topic, batch.partition))) return;
        const b: InBatch = { topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, messages: batch.messages };
        await h.onBatch(b);
      },
    });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await c.disconnect().catch(() => undefined);
    };
    this.closers.push(close);
    return {
      pause: (tps) => c.pause(groupByTopicTp(tps)),
      resume: (tps) => c.resume(groupByTopicTp(tps)),
      seek: (tp) => c.seek(tp),
      close,
    };
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const admin = await this.getAdmin();
    const r = (await admin.fetchTopicOffsets(topic)) as Array<{ partition: number; offset: string; high: string; low: string }>;
    return r.map((o) => ({ partition: o.partition, low: o.low, high: o.high ?? o.offset })).sort((a, b) => a.partition - b.partition);
  }

  async ensureTopic(topic: string, partitions: number): Promise<boolean> {
    const admin = await this.getAdmin();
    if (((await admin.listTopics()) as string[]).includes(topic)) return false;
    // Its own admin with few retries: a cluster that cannot create topics says so quickly.
    const a = this.kafka.admin({ retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 2 } });
    await a.connect();
    try {
      return Boolean(await a.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true }));
    } finally {
      await a.disconnect().catch(() => undefined);
    }
  }

  async readAll(topic: string, opts: { readCommitted?: boolean; timeoutMs?: number } = {}): Promise<ReadMessage[]> {
    const ends = await this.offsets(topic);
    const c = this.kafka.consumer({ groupId: `riskflow-read-${randomUUID()}`, readUncommitted: !opts.readCommitted, maxWaitTimeInMs: 100, sessionTimeout: 10_000 });
    await c.connect();
    try {
      await c.subscribe({ topics: [topic], fromBeginning: true });
      return await collectUntilEnd(ends, opts.timeoutMs ?? 30_000, (push) =>
        c.run({
          autoCommit: false,
          eachBatch: async ({ batch }: Any) => {
            for (const m of batch.messages as Array<{ offset: string; key: Buffer | null; value: Buffer | null }>) {
              push({ topic, partition: batch.partition, offset: m.offset, key: m.key?.toString() ?? null, value: m.value?.toString() ?? null });
            }
          },
        }),
        topic,
      );
    } finally {
      await c.disconnect().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    for (const c of this.closers.reverse()) await c().catch(() => undefined);
    this.closers.length = 0;
    this.admin = undefined;
  }
}

function groupByTopicTp(tps: TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const m = new Map<string, number[]>();
  for (const tp of tps) {
    let a = m.get(tp.topic);
    if (!a) m.set(tp.topic, (a = []));
    a.push(tp.partition);
  }
  return [...m].map(([topic, partitions]) => ({ topic, partitions }));
}
