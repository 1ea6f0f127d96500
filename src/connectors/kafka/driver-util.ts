import type { DriverProducer, OutMessage, PartitionOffsets, ReadMessage } from './driver.js';

/** `topic/partition`, the key of per-partition maps. */
export function tpKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

/** Messages grouped by topic, topics in first-seen order, messages in order. */
export function groupByTopic(messages: readonly OutMessage[]): Array<[string, OutMessage[]]> {
  const m = new Map<string, OutMessage[]>();
  for (const msg of messages) {
    let a = m.get(msg.topic);
    if (!a) m.set(msg.topic, (a = []));
    a.push(msg);
  }
  return [...m];
}

/**
 * Runs a consumer (started by `start`, which gets a `push` for every message) until every
 * partition has delivered up to its `high` offset in `ends`, then returns the messages sorted by
 * partition and offset. Fails after `timeoutMs`.
 */
export async function collectUntilEnd(
  ends: PartitionOffsets[],
  timeoutMs: number,
  start: (push: (m: ReadMessage) => void) => Promise<unknown>,
  topic: string,
): Promise<ReadMessage[]> {
  const want = new Map(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]));
  const out: ReadMessage[] = [];
  const done = () => want.size === 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  let last = Date.now();
  const push = (m: ReadMessage) => {
    last = Date.now();
    out.push(m);
    const hi = want.get(m.partition);
    if (hi !== undefined && BigInt(m.offset) + 1n >= hi) {
      want.delete(m.partition);
      if (done()) resolve();
    }
  };
  if (done()) return out;
  await start(push);
  // Transaction markers take offsets too: a partition whose last data offset is below `high`
  // is finished once nothing has come for a while.
  const idle = setInterval(() => {
    if (Date.now() - last > 3000) resolve();
  }, 250);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`reading ${topic}: timed out after ${timeoutMs} ms (partitions left: ${[...want.keys()].join(',')})`)), timeoutMs);
  });
  try {
    await Promise.race([finished, timeout]);
  } finally {
    clearTimeout(timer);
    clearInterval(idle);
  }
  return out.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
}

/**
 * The driver producer over a connected producer with the KafkaJS API (kafkajs itself, or the
 * confluent client's KafkaJS layer): batches by topic, a transaction object while one is open.
 * `sendOptions` go into every `sendBatch` (kafkajs: `{ acks: -1 }`).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function kafkaJsApiProducer(p: any, transactional: boolean, sendOptions: Record<string, unknown> = {}): DriverProducer {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let txn: any | undefined;
  const toBatch = (messages: readonly OutMessage[]) =>
    groupByTopic(messages).map(([topic, ms]) => ({
      topic,
      messages: ms.map((m) => {
        const out: { key: string | null; value: string; partition?: number; headers?: Record<string, string> } = { key: m.key, value: m.value };
        if (m.partition !== undefined) out.partition = m.partition;
        if (m.headers !== undefined) out.headers = m.headers;
        return out;
      }),
    }));
  return {
    transactional,
    async send(messages) {
      if (!messages.length) return;
      await (txn ?? p).sendBatch({ topicMessages: toBatch(messages), ...sendOptions });
    },
    async begin() {
      txn = await p.transaction();
    },
    async commit() {
      const t = txn;
      txn = undefined;
      await t?.commit();
    },
    async abort() {
      const t = txn;
      txn = undefined;
      await t?.abort();
    },
    close: () => p.disconnect(),
  };
}
