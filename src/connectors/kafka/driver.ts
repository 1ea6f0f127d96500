import { UsageError } from '../../core/errors.js';

/**
 * How to reach a Kafka cluster. `ssl` and `sasl` are passed through to the driver untouched and
 * never logged (see {@link redactConnection}).
 *
 * @example
 * const conn: KafkaConnection = { brokers: ['localhost:9092'], sasl: { mechanism: 'plain', username: 'u', password: 'p' }, ssl: true };
 */
export interface KafkaConnection {
  brokers: string[];
  clientId?: string;
  ssl?: boolean | { ca?: string | string[]; cert?: string; key?: string; rejectUnauthorized?: boolean };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** Extra client properties for the driver (librdkafka properties for `confluent`). */
  extra?: Record<string, string | number | boolean>;
}

/** A topic and partition. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A message to produce. Without `partition` the driver's Java-compatible murmur2 partitioner picks one from the key. */
export interface OutMessage {
  topic: string;
  partition?: number;
  key: string | null;
  value: string;
  /** Message headers (produce-day stamps `riskflow-seq`). */
  headers?: Record<string, string>;
}

/** A consumed message, as both drivers deliver it. */
export interface InMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  /** Headers by name; a repeated header is an array. */
  headers?: Record<string, Buffer | string | Array<Buffer | string> | undefined>;
}

/** A batch of consumed messages of one partition, in offset order. */
export interface InBatch {
  topic: string;
  partition: number;
  /** The partition's end offset as of the fetch ('-1' or '-1001' when the driver does not know). */
  highWatermark: string;
  messages: InMessage[];
}

/** Offsets of a partition: `low` is the first offset present, `high` the next offset to be written. */
export interface PartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

/**
 * A producer. Transactional when it was created with a `transactionalId`: `begin()`, the sends,
 * then `commit()` or `abort()`; creating it fences any older producer with the same id (its open
 * transaction is aborted by the broker).
 */
export interface DriverProducer {
  readonly transactional: boolean;
  /** Sends and waits until every message is acknowledged by all in-sync replicas. */
  send(messages: readonly OutMessage[]): Promise<void>;
  begin(): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  close(): Promise<void>;
}

/** What a consumer calls back. The assignment callbacks are awaited before fetching resumes. */
export interface ConsumerHandlers {
  /**
   * Partitions newly assigned to this member. Returns the offset to start each at (a checkpoint's
   * position); a partition left out starts at the earliest offset. Before it returns, nothing of
   * these partitions is delivered.
   */
  onAssigned(tps: TopicPartition[]): Promise<Array<TopicPartition & { offset: string }>>;
  /** Partitions taken away from this member (a rebalance). */
  onRevoked(tps: TopicPartition[]): Promise<void>;
  /** A batch of one partition. Must return quickly: buffer, and pause the partition when full. */
  onBatch(batch: InBatch): Promise<void> | void;
  /** A failure the consumer cannot recover from by itself. */
  onError?(err: unknown): void;
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  handlers: ConsumerHandlers;
  /** Group session timeout: how long a dead member keeps its partitions (default 10 s). */
  sessionTimeoutMs?: number;
  /** How long the broker may hold a fetch that finds no data (default {@link DEFAULT_FETCH_WAIT_MS}). */
  fetchWaitMs?: number;
}

/**
 * The default fetch wait (Kafka's fetch.max.wait.ms): short. A real broker answers a held fetch as
 * soon as data arrives, so there the wait only sets how often an idle consumer polls (raise it
 * with `riskflow run --fetch-wait`); librdkafka's mock cluster (the test broker) holds a fetch
 * that found nothing for the whole wait, whatever arrives meanwhile, and returns at most one
 * produced batch per partition per fetch, so there every millisecond of wait is latency and
 * fewer fetches per second is a slower catch-up after any stall.
 */
export const DEFAULT_FETCH_WAIT_MS = 2;

/** A group consumer that delivers batches and lets the caller pause, resume and seek partitions. */
export interface DriverConsumer {
  pause(tps: TopicPartition[]): void;
  resume(tps: TopicPartition[]): void;
  seek(tp: TopicPartition & { offset: string }): void;
  close(): Promise<void>;
}

/** A message read back by {@link KafkaDriver.readAll}. */
export interface ReadMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
}

/**
 * One Kafka client library behind the interface the engine needs. Two implementations:
 * `kafkajs` (pure JavaScript, the default) and `confluent` (@confluentinc/kafka-javascript over
 * librdkafka, an optional dependency).
 *
 * @example
 * const driver = await loadDriver('kafkajs', { brokers: ['localhost:9092'] });
 * const p = await driver.producer({}); await p.send([{ topic: 'trades', key: 'ACME', value: '{...}' }]);
 */
export interface KafkaDriver {
  readonly name: DriverName;
  producer(opts: { transactionalId?: string; clientId?: string }): Promise<DriverProducer>;
  consumer(opts: ConsumerOptions): Promise<DriverConsumer>;
  /** Partitions of a topic with their low and high offsets. */
  offsets(topic: string): Promise<PartitionOffsets[]>;
  /**
   * Creates a topic unless it exists (looked up without auto-creating it). Resolves to true when
   * it created it; rejects when it is missing and cannot be created (e.g. no CreateTopics on the
   * cluster, or no permission).
   */
  ensureTopic(topic: string, partitions: number): Promise<boolean>;
  /** Reads every message of a topic present now (from the low to the high offsets), in partition then offset order. */
  readAll(topic: string, opts?: { readCommitted?: boolean; timeoutMs?: number }): Promise<ReadMessage[]>;
  close(): Promise<void>;
}

export type DriverName = 'kafkajs' | 'confluent';

/**
 * Loads a driver by name. `confluent` needs the optional dependency @confluentinc/kafka-javascript
 * (built against librdkafka): a clear usage error says how to install it when it is missing.
 *
 * @example
 * const d = await loadDriver(process.env.RISKFLOW_KAFKA_DRIVER === 'confluent' ? 'confluent' : 'kafkajs', conn);
 */
export async function loadDriver(name: string, conn: KafkaConnection): Promise<KafkaDriver> {
  if (!conn.brokers.length) throw new UsageError('no Kafka brokers given (--brokers host:port,...)');
  if (name === 'kafkajs') {
    const { KafkajsDriver } = await import('./kafkajs-driver.js');
    return KafkajsDriver.create(conn);
  }
  if (name === 'confluent') {
    const { ConfluentDriver } = await import('./confluent-driver.js');
    return ConfluentDriver.create(conn);
  }
  throw new UsageError(`unknown Kafka driver '${name}': use kafkajs or confluent`, { field: 'driver' });
}

/** The connection with secrets replaced, for logs and error messages. */
export function redactConnection(conn: KafkaConnection): Record<string, unknown> {
  return {
    brokers: conn.brokers,
    clientId: conn.clientId,
    ssl: conn.ssl === undefined ? undefined : Boolean(conn.ssl),
    sasl: conn.sasl ? { mechanism: conn.sasl.mechanism, username: '***', password: '***' } : undefined,
  };
}

/** Parses `host:port,host:port`. */
export function parseBrokers(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Offsets are decimal strings in both drivers; compare them as bigints. */
export function offsetNum(o: string): bigint {
  return BigInt(o);
}
