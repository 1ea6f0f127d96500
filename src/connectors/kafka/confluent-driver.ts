import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { UsageError } from '../../core/errors.js';
import { DEFAULT_FETCH_WAIT_MS } from './driver.js';
import type {
  ConsumerOptions,
  DriverConsumer,
  DriverProducer,
  InMessage,
  KafkaConnection,
  KafkaDriver,
  PartitionOffsets,
  ReadMessage,
  TopicPartition,
} from './driver.js';
import { collectUntilEnd, kafkaJsApiProducer } from './driver-util.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

const require = createRequire(import.meta.url);

const ERR_ASSIGN = -175;
const ERR_REVOKE = -174;
/** Most messages one consume() call takes. */
const CONSUME_MAX = 8192;
/** An idle consumer's longest sleep without a queue signal. */
const IDLE_POLL_MS = 50;

/**
 * A message of the binding's KafkaConsumer as the engine takes it: the object is reused (its
 * offset becomes a string; headers, an array of one-entry objects there, become one record).
 */
function inMessage(m: Any): InMessage {
  m.offset = String(m.offset);
  if (m.key === undefined) m.key = null;
  if (m.value === undefined) m.value = null;
  const hs = m.headers as Array<Record<string, Buffer>> | undefined;
  if (hs !== undefined) {
    const rec: Record<string, Buffer | Buffer[]> = {};
    for (const one of hs) {
      for (const k in one) {
        const prev = rec[k];
        rec[k] = prev === undefined ? one[k]! : Array.isArray(prev) ? [...prev, one[k]!] : [prev, one[k]!];
      }
    }
    m.headers = rec;
  }
  return m as InMessage;
}

/**
 * The @confluentinc/kafka-javascript driver (librdkafka underneath), through its KafkaJS-shaped
 * API. Producers use librdkafka's `murmur2_random` partitioner so keys land on the same
 * partitions as with kafkajs and Java clients; consumers use the `range` assignor, which keeps
 * partition p of every input topic on one member (a task).
 */
export class ConfluentDriver implements KafkaDriver {
  readonly name = 'confluent' as const;
  private admin: Any | undefined;
  private nativeClient: Any | undefined;
  private readonly closers: Array<() => Promise<void>> = [];

  private constructor(
    private readonly lib: Any,
    private readonly kafka: Any,
    private readonly props: Record<string, unknown>,
    private readonly conn: KafkaConnection,
  ) {}

  static async create(conn: KafkaConnection): Promise<ConfluentDriver> {
    let lib: Any;
    try {
      lib = require('@confluentinc/kafka-javascript');
    } catch (cause) {
      throw new UsageError(
        'the confluent driver needs the optional dependency @confluentinc/kafka-javascript, built against librdkafka: ' +
          'apt-get install -y zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev && CKJS_LINKING=dynamic npm install @confluentinc/kafka-javascript ' +
          `(${(cause as Error).message.split('\n')[0]})`,
        { field: 'driver' },
      );
    }
    const { KafkaJS } = lib;
    const props: Record<string, unknown> = { ...(conn.extra ?? {}) };
    if (!process.env.RISKFLOW_KAFKA_DEBUG) props['log_level'] = 0;
    const kafka = new KafkaJS.Kafka({
      kafkaJS: {
        clientId: conn.clientId ?? 'riskflow',
        brokers: conn.brokers,
        // The client rejects keys present with an undefined value.
        ...(conn.ssl !== undefined ? { ssl: conn.ssl } : {}),
        ...(conn.sasl !== undefined ? { sasl: conn.sasl } : {}),
        logLevel: process.env.RISKFLOW_KAFKA_DEBUG ? KafkaJS.logLevel.INFO : KafkaJS.logLevel.NOTHING,
      },
      ...props,
    });
    return new ConfluentDriver(lib, kafka, props, conn);
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
    const p = this.kafka.producer({
      kafkaJS: {
        idempotent: true,
        acks: -1,
        ...(opts.transactionalId !== undefined ? { transactionalId: opts.transactionalId, transactionTimeout: 120_000 } : {}),
      },
      partitioner: 'murmur2_random',
      'linger.ms': 2,
      // librdkafka retries through outages on its own; give it time to ride one out.
      'message.timeout.ms': 120_000,
      'allow.auto.create.topics': false,
    });
    await p.connect();
    const producer = kafkaJsApiProducer(p, transactional);
    this.closers.push(() => p.disconnect().catch(() => undefined));
    return producer;
  }

  /**
   * A group consumer on the binding's own KafkaConsumer (not its KafkaJS-compatible layer, which
   * cost about 40% of the throughput in per-message objects and a message cache): a loop takes
   * what librdkafka has fetched (`consume(n)` without waiting), hands it on per partition, and
   * sleeps until librdkafka signals a non-empty queue. Rebalances are handled here: an assignment
   * waits for `onAssigned` (the tasks' checkpoints give the offsets), a revocation for `onRevoked`
   * (the tasks' final checkpoints), and no messages are taken meanwhile.
   */
  async consumer(opts: ConsumerOptions): Promise<DriverConsumer> {
    const h = opts.handlers;
    let closing = false;
    // Rebalance work, in the order librdkafka asked for it; the loop takes nothing until it is done.
    let rebalancing: Promise<void> = Promise.resolve();
    let wakeup: (() => void) | undefined;
    let signalled = false;
    const wake = () => {
      signalled = true;
      const w = wakeup;
      wakeup = undefined;
      w?.();
    };
    const tpsOf = (a: Array<{ topic: string; partition: number }>) => a.map((x) => ({ topic: x.topic, partition: x.partition }));
    const c: Any = new this.lib.KafkaConsumer(
      {
        ...this.baseProps(),
        'group.id': opts.groupId,
        'enable.auto.commit': false,
        'enable.auto.offset.store': false,
        'partition.assignment.strategy': 'range',
        'isolation.level': 'read_committed',
        'session.timeout.ms': opts.sessionTimeoutMs ?? 10_000,
        'heartbeat.interval.ms': 1000,
        'fetch.wait.max.ms': opts.fetchWaitMs ?? DEFAULT_FETCH_WAIT_MS,
        'allow.auto.create.topics': false,
        // Internal to the binding (its KafkaJS layer uses it too): called when the consumer queue
        // gets messages or events, so an idle loop sleeps instead of polling.
        queue_non_empty_cb: wake,
        rebalance_cb: (err: Any, assignment: Array<{ topic: string; partition: number }>) => {
          const code = err?.code;
          if (closing) {
            // Closing: librdkafka waits for the (un)assign; the tasks were stopped before.
            try {
              if (code === ERR_ASSIGN) c.assign(assignment);
              else c.unassign();
            } catch {
              // disconnected meanwhile
            }
            return;
          }
          rebalancing = rebalancing.then(async () => {
            try {
              if (code === ERR_ASSIGN) {
                const starts = await h.onAssigned(tpsOf(assignment));
                const at = new Map(starts.map((s) => [`${s.topic}/${s.partition}`, s.offset]));
                c.assign(
                  assignment.map((a) => {
                    const o = at.get(`${a.topic}/${a.partition}`);
                    return o === undefined ? { topic: a.topic, partition: a.partition } : { topic: a.topic, partition: a.partition, offset: Number(o) };
                  }),
                );
              } else if (code === ERR_REVOKE) {
                await h.onRevoked(tpsOf(assignment));
                c.unassign();
              } else {
                h.onError?.(err);
              }
            } catch (e) {
              if (!closing) h.onError?.(e);
            }
          });
          wake();
        },
      },
      { 'auto.offset.reset': 'earliest' },
    );
    await new Promise<void>((res, rej) => c.connect({ timeout: 30_000 }, (err: Any) => (err ? rej(err) : res())));
    // consume(n) returns at once with what is already fetched (up to n).
    c.setDefaultConsumeTimeout(0);
    c.setDefaultIsTimeoutOnlyForFirstMessage(true);
    c.on('event.error', (err: Any) => {
      // Broker connections come and go (an outage): librdkafka retries by itself; only a fatal
      // error ends the consumer.
      if (err?.isFatal && !closing) h.onError?.(err);
    });
    c.subscribe(opts.topics);

    const take = () =>
      new Promise<Any[]>((res, rej) => c.consume(CONSUME_MAX, (err: Any, msgs: Any[]) => (err ? rej(err) : res(msgs))));
    const loop = (async () => {
      while (!closing) {
        await rebalancing;
        if (closing) break;
        signalled = false;
        let msgs: Any[];
        try {
          msgs = await take();
        } catch (err) {
          if (closing) break;
          if ((err as Any)?.isFatal) {
            h.onError?.(err);
            break;
          }
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        if (msgs.length === 0) {
          // Sleep until librdkafka has something (or a rebalance was asked for); a timer covers
          // a signal that came between the consume and here.
          if (signalled) continue;
          await new Promise<void>((res) => {
            const t = setTimeout(res, IDLE_POLL_MS);
            wakeup = () => {
              clearTimeout(t);
              res();
            };
          });
          continue;
        }
        // Consecutive runs of one partition become one batch, in offset order.
        let from = 0;
        while (from < msgs.length) {
          const topic = msgs[from].topic as string;
          const partition = msgs[from].partition as number;
          let to = from + 1;
          while (to < msgs.length && msgs[to].partition === partition && msgs[to].topic === topic) to++;
          const messages = new Array<InMessage>(to - from);
          for (let i = from; i < to; i++) messages[i - from] = inMessage(msgs[i]);
          let highWatermark = '-1';
          try {
            highWatermark = String(c.getWatermarkOffsets(topic, partition).highOffset);
          } catch {
            // not known yet
          }
          await h.onBatch({ topic, partition, highWatermark, messages });
          from = to;
        }
      }
    })();

    let closed: Promise<void> | undefined;
    const close = () =>
      (closed ??= (async () => {
        closing = true;
        wake();
        await loop.catch(() => undefined);
        await rebalancing.catch(() => undefined);
        await new Promise<void>((res) => c.disconnect(() => res()));
      })());
    this.closers.push(close);
    return {
      pause: (tps) => {
        try {
          c.pause(tps);
        } catch {
          // closing
        }
      },
      resume: (tps) => {
        try {
          c.resume(tps);
        } catch {
          // closing
        }
        wake();
      },
      seek: (tp) =>
        c.seek({ topic: tp.topic, partition: tp.partition, offset: Number(tp.offset) }, 0, (err: Any) => {
          if (err && !closing) h.onError?.(err);
        }),
      close,
    };
  }

  /** A plain librdkafka client for metadata and watermark queries (the admin API's ListOffsets needs newer brokers). */
  private async native(): Promise<Any> {
    if (!this.nativeClient) {
      const c = new this.lib.KafkaConsumer({ ...this.baseProps(), 'group.id': `riskflow-meta-${randomUUID()}` }, {});
      await new Promise<void>((res, rej) => c.connect({ timeout: 10_000 }, (err: Any) => (err ? rej(err) : res())));
      this.nativeClient = c;
      this.closers.push(() => new Promise<void>((res) => c.disconnect(() => res())));
    }
    return this.nativeClient;
  }

  private baseProps(): Record<string, unknown> {
    const c = this.conn;
    const p: Record<string, unknown> = { 'bootstrap.servers': c.brokers.join(','), 'client.id': c.clientId ?? 'riskflow', ...this.props };
    if (c.ssl) p['security.protocol'] = c.sasl ? 'sasl_ssl' : 'ssl';
    else if (c.sasl) p['security.protocol'] = 'sasl_plaintext';
    if (typeof c.ssl === 'object' && c.ssl.ca) p['ssl.ca.pem'] = Array.isArray(c.ssl.ca) ? c.ssl.ca.join('\n') : c.ssl.ca;
    if (c.sasl) {
      p['sasl.mechanisms'] = c.sasl.mechanism.toUpperCase();
      p['sasl.username'] = c.sasl.username;
      p['sasl.password'] = c.sasl.password;
    }
    return p;
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const c = await this.native();
    const md = await new Promise<Any>((res, rej) => c.getMetadata({ topic, timeout: 10_000 }, (err: Any, m: Any) => (err ? rej(err) : res(m))));
    const t = (md.topics as Array<{ name: string; partitions: Array<{ id: number }> }>).find((x) => x.name === topic);
    const parts = (t?.partitions ?? []).map((p) => p.id).sort((a, b) => a - b);
    const out: PartitionOffsets[] = [];
    for (const partition of parts) {
      const w = await new Promise<Any>((res, rej) =>
        c.queryWatermarkOffsets(topic, partition, 10_000, (err: Any, o: Any) => (err ? rej(err) : res(o))),
      );
      out.push({ partition, low: String(w.lowOffset), high: String(w.highOffset) });
    }
    return out;
  }

  async ensureTopic(topic: string, partitions: number): Promise<boolean> {
    const admin = await this.getAdmin();
    if (((await admin.listTopics()) as string[]).includes(topic)) return false;
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
      return true;
    } catch (err) {
      // Created meanwhile by another member.
      if (((await admin.listTopics()) as string[]).includes(topic)) return false;
      throw err;
    }
  }

  async readAll(topic: string, opts: { readCommitted?: boolean; timeoutMs?: number } = {}): Promise<ReadMessage[]> {
    const ends = await this.offsets(topic);
    if (opts.readCommitted) return this.readCommitted(topic, ends, opts.timeoutMs ?? 60_000);
    const c = this.kafka.consumer({
      kafkaJS: { groupId: `riskflow-read-${randomUUID()}`, fromBeginning: true, autoCommit: false },
      'isolation.level': opts.readCommitted ? 'read_committed' : 'read_uncommitted',
      'fetch.wait.max.ms': 50,
    });
    await c.connect();
    try {
      await c.subscribe({ topics: [topic] });
      return await collectUntilEnd(
        ends,
        opts.timeoutMs ?? 30_000,
        (push) =>
          c.run({
            eachBatch: async ({ batch }: Any) => {
              for (const m of batch.messages as Array<{ offset: string; key: Buffer | null; value: Buffer | null }>) {
                push({ topic, partition: batch.partition, offset: String(m.offset), key: m.key?.toString() ?? null, value: m.value?.toString() ?? null });
              }
            },
          }),
        topic,
      );
    } finally {
      await c.disconnect().catch(() => undefined);
    }
  }

  /**
   * Reads a topic up to its current end with read_committed, to the consumer's *position* (which
   * moves past transaction markers), so it neither stops early at a marker nor before an open
   * transaction is resolved (the last stable offset holds reads back until then).
   */
  private async readCommitted(topic: string, ends: PartitionOffsets[], timeoutMs: number): Promise<ReadMessage[]> {
    const want = ends.filter((e) => BigInt(e.high) > BigInt(e.low));
    if (!want.length) return [];
    const c = new this.lib.KafkaConsumer(
      { ...this.baseProps(), 'group.id': `riskflow-read-${randomUUID()}`, 'isolation.level': 'read_committed', 'enable.auto.commit': false },
      {},
    );
    await new Promise<void>((res, rej) => c.connect({ timeout: 10_000 }, (err: Any) => (err ? rej(err) : res())));
    const out: ReadMessage[] = [];
    try {
      c.setDefaultConsumeTimeout(100);
      c.assign(want.map((e) => ({ topic, partition: e.partition, offset: Number(e.low) })));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const msgs = await new Promise<Any[]>((res, rej) => c.consume(1000, (err: Any, m: Any[]) => (err ? rej(err) : res(m))));
        for (const m of msgs) {
          out.push({ topic, partition: m.partition, offset: String(m.offset), key: m.key?.toString() ?? null, value: m.value?.toString() ?? null });
        }
        const pos = c.position(want.map((e) => ({ topic, partition: e.partition }))) as Array<{ partition: number; offset?: number }>;
        const done = want.every((e) => {
          const p = pos.find((x) => x.partition === e.partition);
          return p?.offset !== undefined && p.offset >= 0 && BigInt(p.offset) >= BigInt(e.high);
        });
        if (done) break;
        if (Date.now() > deadline) throw new Error(`reading ${topic} (read_committed): not at its end after ${timeoutMs} ms (an open transaction?)`);
      }
    } finally {
      await new Promise<void>((res) => c.disconnect(() => res()));
    }
    return out.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
  }

  async close(): Promise<void> {
    for (const c of this.closers.reverse()) await c().catch(() => undefined);
    this.closers.length = 0;
    this.admin = undefined;
    this.nativeClient = undefined;
  }
}
