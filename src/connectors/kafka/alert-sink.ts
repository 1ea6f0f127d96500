import type { Alert } from '../../core/alerts.js';
import { InternalError } from '../../core/errors.js';
import type { JobSinks } from '../../core/runner.js';
import type { DeadLetter } from '../events.js';
import type { DriverProducer, OutMessage } from './driver.js';

/** Counters a run reports. */
export interface KafkaSinkCounts {
  alerts: number;
  alertsByTopic: Record<string, number>;
  deadLetters: number;
  late: number;
  outputs: Record<string, number>;
}

export interface KafkaSinkOptions {
  producer: DriverProducer;
  /** Identifies the task in commit markers: `<group>/<task>`. */
  taskKey: string;
  /** Prepended to every topic name (alert topics, dead letters, outputs, commits). */
  topicPrefix?: string;
  /** Topic of the transaction commit markers (default `riskflow-commits`). */
  commitsTopic?: string;
  /** Produce sink-step outputs to `riskflow-output-<name>` (default: counted only). */
  outputs?: boolean;
  /** The last transaction sequence committed for a task key (read from the commits topic). */
  lastCommitted?: (taskKey: string) => Promise<number>;
  log?: (line: string) => void;
}

interface PreparedTxn {
  seq: number;
  output: OutMessage[];
}

interface SinkSnapshot {
  counts: KafkaSinkCounts;
  /** Transactional mode: the interval's output, committed after this checkpoint was written. */
  txn?: PreparedTxn;
}

/** The Kafka message key of an alert: its entity id (values joined with `|` for a pair). */
export function alertKey(a: Alert): string {
  return Object.values(a.entity).join('|');
}

/**
 * The sinks of one task of `riskflow run`: alerts to their topics (CONTRACTS.md section 3, key =
 * entity id), bad records and late records to `riskflow-dead-letters`.
 *
 * Transactional producer (exactly-once for `read_committed` consumers): everything a checkpoint
 * interval outputs is produced in one Kafka transaction. The checkpoint's snapshot carries that
 * output (a prepared transaction, Flink's two-phase commit); the transaction also gets a marker
 * `{txn: n}` for this task on the commits topic (sent by `snapshot()`, while the checkpoint file is
 * written), and once the checkpoint is written `commit()` commits it. A crash
 * before the checkpoint aborts the transaction (the restarted producer fences it) and the
 * interval is recomputed from the previous checkpoint; a crash between checkpoint and commit is
 * recovered in `restore()`: no marker n, so the prepared output is produced again and committed.
 * The checkpoint is written and committed while the task goes on (the runner's background
 * checkpoint): output given between `snapshot()` and `commit()` belongs to the next interval and is
 * held until the commit, then produced in the next transaction.
 *
 * Idempotent producer (the fallback where transactions are not available): each batch's output is
 * acknowledged before the next batch; after a crash the interval since the last checkpoint is
 * produced again, with the same deterministic alertIds, which consumers dedupe.
 */
export class KafkaTaskSinks implements JobSinks {
  counts: KafkaSinkCounts = { alerts: 0, alertsByTopic: {}, deadLetters: 0, late: 0, outputs: {} };
  private pending: OutMessage[] = [];
  private interval: OutMessage[] = [];
  private inTxn = false;
  /**
   * A checkpoint took the open transaction's output (`snapshot()`) and its `commit()` has not
   * come yet: what is given meanwhile belongs to the next interval and is held in `pending`.
   */
  private sealed = false;
  /** The open transaction's commit marker, sent by `snapshot()`. */
  private markerSent: Promise<void> | undefined;
  private txnSeq = 0;
  private readonly prefix: string;
  private readonly deadTopic: string;
  private readonly commitsTopic: string;

  constructor(private readonly o: KafkaSinkOptions) {
    this.prefix = o.topicPrefix ?? '';
    this.deadTopic = `${this.prefix}riskflow-dead-letters`;
    this.commitsTopic = o.commitsTopic ?? `${this.prefix}riskflow-commits`;
  }

  get transactional(): boolean {
    return this.o.producer.transactional;
  }

  onAlert(a: Alert): void {
    const topic = this.prefix + a.topic;
    this.pending.push({ topic, key: alertKey(a), value: JSON.stringify(a) });
    this.counts.alerts++;
    this.counts.alertsByTopic[a.topic] = (this.counts.alertsByTopic[a.topic] ?? 0) + 1;
  }

  onDeadLetter(d: DeadLetter): void {
    this.pending.push({ topic: this.deadTopic, key: d.source, value: JSON.stringify(d) });
    this.counts.deadLetters++;
  }

  onLate(stepId: string, record: unknown): void {
    const d: DeadLetter = { source: `late:${stepId}`, reason: `late record for step '${stepId}'`, raw: JSON.stringify(record) };
    this.pending.push({ topic: this.deadTopic, key: d.source, value: JSON.stringify(d) });
    this.counts.late++;
  }

  onOutput(name: string, record: unknown): void {
    this.counts.outputs[name] = (this.counts.outputs[name] ?? 0) + 1;
    if (this.o.outputs) this.pending.push({ topic: `${this.prefix}riskflow-output-${name}`, key: null, value: JSON.stringify(record) });
  }

  /** The sends in flight, one after the other (the runner's flushes and the one after a commit). */
  private sending: Promise<void> = Promise.resolve();

  flush(): Promise<void> {
    // Sealed: the runner writes the checkpoint in the background; what was held meanwhile
    // (bounded by one checkpoint interval's output) is sent as soon as it commits.
    if (!this.pending.length || this.sealed) return this.sending;
    const run = this.sending.then(() => this.send());
    this.sending = run.catch(() => undefined);
    return run;
  }

  private async send(): Promise<void> {
    if (!this.pending.length || this.sealed) return;
    const out = this.pending;
    this.pending = [];
    if (this.transactional) {
      if (!this.inTxn) {
        await this.o.producer.begin();
        this.inTxn = true;
      }
      await this.o.producer.send(out);
      for (const m of out) this.interval.push(m);
    } else {
      await this.o.producer.send(out);
    }
  }

  /** Everything given so far is in the open transaction (or acknowledged): called before `snapshot()`. */
  async sync(): Promise<void> {
    if (this.sealed) throw new InternalError('alert sink: sync() while a checkpoint awaits its commit()');
    await this.flush();
  }

  snapshot(): SinkSnapshot {
    const counts = structuredClone(this.counts);
    if (!this.transactional) return { counts };
    if (this.sealed) throw new InternalError('alert sink: snapshot() while a checkpoint awaits its commit()');
    this.txnSeq++;
    this.sealed = true;
    if (this.inTxn) {
      // The marker goes into the transaction while the checkpoint file is written: it is seen
      // only if the transaction commits, which commit() does after the file is durable.
      const sent = this.o.producer.send([this.marker(this.txnSeq)]);
      sent.catch(() => undefined);
      this.markerSent = sent;
    }
    return { counts, txn: { seq: this.txnSeq, output: this.interval.slice() } };
  }

  async commit(): Promise<void> {
    if (!this.transactional) return;
    const marker = this.markerSent;
    if (marker) {
      this.markerSent = undefined;
      await marker;
      await this.o.producer.commit();
      this.inTxn = false;
      this.interval = [];
    }
    this.sealed = false;
    // What the next interval gave meanwhile goes out now (in the next transaction), not with the
    // next batch, which may be a fetch away.
    await this.flush();
  }

  private marker(seq: number): OutMessage {
    return { topic: this.commitsTopic, key: this.o.taskKey, value: JSON.stringify({ task: this.o.taskKey, txn: seq }) };
  }

  async restore(state: unknown): Promise<void> {
    const s = state as SinkSnapshot | undefined;
    if (!s) return;
    this.counts = structuredClone(s.counts);
    if (!this.transactional || !s.txn) return;
    this.txnSeq = s.txn.seq;
    if (!s.txn.output.length) return;
    const last = this.o.lastCommitted ? await this.o.lastCommitted(this.o.taskKey) : -1;
    if (last >= s.txn.seq) return;
    // The checkpoint was written but its transaction never committed: commit its output now.
    this.o.log?.(`${this.o.taskKey}: recovering the interrupted commit of transaction ${s.txn.seq} (${s.txn.output.length} messages)`);
    await this.o.producer.begin();
    await this.o.producer.send(s.txn.output);
    await this.o.producer.send([this.marker(s.txn.seq)]);
    await this.o.producer.commit();
  }

  /** Aborts an open transaction (a stop without checkpoint). */
  async abort(): Promise<void> {
    this.sealed = false;
    this.markerSent = undefined;
    if (this.inTxn) {
      this.inTxn = false;
      this.interval = [];
      await this.o.producer.abort().catch(() => undefined);
    }
  }
}
