import { describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaTaskSinks } from '../../../src/connectors/kafka/alert-sink.js';
import type { DriverProducer, OutMessage } from '../../../src/connectors/kafka/driver.js';
import { Runner, type BatchSource, type RunnableTopology, type SourceBatch } from '../../../src/core/runner.js';
import { CheckpointStore, readCheckpoint } from '../../../src/core/checkpoint.js';
import { makeAlert, type Alert } from '../../../src/core/alerts.js';
import { emptyReference } from '../../../src/core/reference.js';
import { ManualClock } from '../../../src/core/time.js';
import { elementOperator } from '../../../src/operators/internals.js';
import type { Timestamped } from '../../../src/core/element.js';

interface Rec extends Timestamped {
  v: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A transactional producer that keeps what each committed transaction held; `commit()` takes
 * `commitMs` (a broker round trip), and it refuses a send outside a transaction or a begin
 * inside one, as a Kafka producer does.
 */
class FakeTxProducer implements DriverProducer {
  readonly transactional = true;
  committed: OutMessage[][] = [];
  private open: OutMessage[] | undefined;
  /** Called when a commit starts and when it ends (to see what ran meanwhile). */
  onCommit?: (phase: 'start' | 'end') => void;
  constructor(private readonly commitMs = 0) {}
  async send(ms: readonly OutMessage[]): Promise<void> {
    if (!this.open) throw new Error('send outside a transaction');
    const into = this.open;
    await sleep(0);
    into.push(...ms);
  }
  async begin(): Promise<void> {
    if (this.open) throw new Error('begin inside a transaction');
    this.open = [];
  }
  async commit(): Promise<void> {
    if (!this.open) throw new Error('commit outside a transaction');
    this.onCommit?.('start');
    await sleep(this.commitMs);
    this.committed.push(this.open);
    this.open = undefined;
    this.onCommit?.('end');
  }
  async abort(): Promise<void> {
    this.open = undefined;
  }
  async close(): Promise<void> {}
  /** Keys of the open transaction's messages (undefined: none open). */
  openKeys(): Array<string | null> | undefined {
    return this.open?.map((m) => m.key);
  }
  /** Committed non-marker messages, in order. */
  output(): string[] {
    return this.committed.flat().filter((m) => !m.topic.endsWith('riskflow-commits')).map((m) => m.value);
  }
  lastCommitted(): number {
    let last = -1;
    for (const m of this.committed.flat()) if (m.topic.endsWith('riskflow-commits')) last = (JSON.parse(m.value) as { txn: number }).txn;
    return last;
  }
}

class ArraySource implements BatchSource {
  readonly streamNames = ['alpha'];
  private i = 0;
  constructor(private readonly items: Rec[], private readonly size: number, private readonly failAt = Number.POSITIVE_INFINITY) {}
  async nextBatch(): Promise<SourceBatch | null> {
    if (this.i >= this.failAt) throw new Error('source failed');
    if (this.i >= this.items.length) return null;
    const slice = this.items.slice(this.i, this.i + this.size);
    this.i += slice.length;
    await sleep(0);
    return { records: slice, streams: new Uint8Array(slice.length), length: slice.length };
  }
  position(): unknown {
    return this.i;
  }
  async seek(pos: unknown): Promise<void> {
    this.i = pos as number;
  }
}

/** Alerts on every record whose value is a multiple of 7 (state: the records seen). */
const topology: RunnableTopology = {
  name: 't',
  sources: [{ name: 'a', stream: 'alpha', outOfOrdernessMs: 0, idleTimeoutMs: 2000 }],
  build(env) {
    const op = elementOperator<Rec, never>(
      () => {
        let seen = 0;
        return {
          onRecord(r) {
            seen++;
            if (r.v % 7 !== 0) return;
            env.onAlert(
              makeAlert(
                {
                  type: 'N', severity: 'info', topic: 'market-risk-alerts', rule: 'seventh', topology: 't',
                  entity: { instrument: `I${r.v % 5}` }, eventTime: r.ts, value: seen, threshold: 0, message: '', details: {},
                },
                0,
              ),
            );
          },
          onWatermark(wm, emit) {
            emit(wm);
          },
          checkpoint: { snapshot: () => seen, restore: (s) => (seen = s as number) },
        };
      },
      { id: 't/seventh', ctx: env.ctx },
    );
    env.inputs.a!.pipe(op).subscribe({ error: (e) => env.onError?.(e) });
  },
};

const records: Rec[] = Array.from({ length: 3000 }, (_, i) => ({ ts: 1000 + i * 10, v: (i * 31) % 101 }));
const expected = records.filter((r) => r.v % 7 === 0).length;

function sinksOf(producer: FakeTxProducer): KafkaTaskSinks {
  return new KafkaTaskSinks({ producer, taskKey: 'g/task-0', lastCommitted: async () => producer.lastCommitted() });
}

function runner(source: BatchSource, sinks: KafkaTaskSinks, store: CheckpointStore, extra: Partial<ConstructorParameters<typeof Runner>[0]> = {}) {
  return new Runner({
    source,
    topologies: [topology],
    reference: emptyReference(),
    sinks,
    clock: new ManualClock(0),
    checkpoint: { store, fingerprint: 'f', everyEventMs: 1500, background: true },
    checkpointOnComplete: true,
    checkpointOnStop: true,
    ...extra,
  });
}

const alertIds = (values: string[]) => values.map((v) => (JSON.parse(v) as Alert).alertId);

describe('KafkaTaskSinks, transactional', () => {
  it('holds what comes after a checkpoint took the transaction until its commit, then sends it at once in the next one', async () => {
    const p = new FakeTxProducer();
    const s = sinksOf(p);
    const alert = (n: number) =>
      makeAlert({ type: 'N', severity: 'info', topic: 'market-risk-alerts', rule: 'r', topology: 't', entity: { instrument: `I${n}` }, eventTime: n, value: n, threshold: 0, message: '', details: {} }, 0);
    s.onAlert(alert(1));
    await s.flush();
    await s.sync();
    const snap = s.snapshot() as { txn: { seq: number; output: OutMessage[] } };
    expect(snap.txn.seq).toBe(1);
    expect(snap.txn.output.map((m) => m.key)).toEqual(['I1']);
    // The next interval's alert while the checkpoint is being written: held, not in transaction 1.
    s.onAlert(alert(2));
    await s.flush();
    await expect(s.sync()).rejects.toThrow(/awaits its commit/);
    expect(() => s.snapshot()).toThrow(/awaits its commit/);
    await s.commit();
    expect(p.committed.length).toBe(1);
    expect(p.committed[0]!.map((m) => m.key)).toEqual(['I1', 'g/task-0']);
    // The held alert went out with the commit, in the next transaction.
    expect(p.openKeys()).toEqual(['I2']);
    await s.flush();
    await s.sync();
    const snap2 = s.snapshot() as { txn: { seq: number; output: OutMessage[] } };
    expect(snap2.txn.output.map((m) => m.key)).toEqual(['I2']);
    await s.commit();
    expect(p.committed[1]!.map((m) => m.key)).toEqual(['I2', 'g/task-0']);
    expect(JSON.parse(p.committed[1]![1]!.value)).toEqual({ task: 'g/task-0', txn: 2 });
  });

  it('background checkpoints: the run goes on while a transaction commits, and each transaction holds exactly its checkpoint interval', async () => {
    const p = new FakeTxProducer(15);
    let batches = 0;
    let during = 0;
    let at = 0;
    p.onCommit = (phase) => {
      if (phase === 'start') at = batches;
      else during += batches - at;
    };
    const dir = await mkdtemp(join(tmpdir(), 'rf-sink-'));
    const store = new CheckpointStore(dir, { keep: 1000 });
    const stats = await runner(new ArraySource(records, 20), sinksOf(p), store, { onBatch: () => batches++ }).run();
    expect(stats.completed).toBe(true);
    // Batches ran while commits were in flight (the commit is off the batch path).
    expect(during).toBeGreaterThan(0);
    const out = alertIds(p.output());
    expect(out.length).toBe(expected);
    expect(new Set(out).size).toBe(expected);
    // Transaction n holds what checkpoint n prepared, and its marker says n.
    const files = await store.list();
    expect(files.length).toBe(stats.checkpoints);
    expect(p.committed.length).toBeGreaterThan(5);
    for (const f of files) {
      const c = await readCheckpoint(join(dir, f));
      const txn = (c.sinks as { txn: { seq: number; output: OutMessage[] } }).txn;
      if (!txn.output.length) continue;
      const committed = p.committed.find((t) => t.some((m) => m.topic === 'riskflow-commits' && (JSON.parse(m.value) as { txn: number }).txn === txn.seq));
      expect(committed).toBeDefined();
      expect(committed!.slice(0, -1)).toEqual(txn.output);
    }
  });

  it('a failure mid-run, then a restart from the latest checkpoint: every alert committed once', async () => {
    for (const failAt of [400, 1220, 2600]) {
      const p = new FakeTxProducer(10);
      const dir = await mkdtemp(join(tmpdir(), 'rf-sink-'));
      const store = new CheckpointStore(dir, { keep: 1000 });
      const first = sinksOf(p);
      await expect(runner(new ArraySource(records, 20, failAt), first, store).run()).rejects.toThrow(/source failed/);
      // As the Kafka job does after a failure: abort the open transaction, restart from the checkpoint.
      await first.abort();
      const restore = await store.latest();
      expect(restore).toBeDefined();
      const stats = await runner(new ArraySource(records, 20), sinksOf(p), store, { checkpoint: { store, fingerprint: 'f', everyEventMs: 1500, background: true, restore } }).run();
      expect(stats.completed).toBe(true);
      const out = alertIds(p.output());
      expect(out.length).toBe(expected);
      expect(new Set(out).size).toBe(expected);
    }
  });
});
