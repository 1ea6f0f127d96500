import type { Timestamped } from '../../core/element.js';
import type { BatchSource, SourceBatch } from '../../core/runner.js';
import { validateEvent, type DeadLetter, type StreamName } from '../events.js';
import type { InBatch, InMessage, TopicPartition } from './driver.js';

/** The message header `produce-day` stamps with a line's index in its stream's day file. */
export const SEQ_HEADER = 'riskflow-seq';

/** One input partition of a task: partition `partition` of the topic that carries `stream`. */
export interface TaskInput {
  stream: StreamName;
  topic: string;
  partition: number;
}

export interface KafkaTaskSourceOptions {
  /**
   * The task's partitions in the job's stream order (the merge's tie-break): one per stream for a
   * partition task; every partition of each stream for the global task, stream by stream, in
   * partition order.
   */
  inputs: TaskInput[];
  /** Offset to start each input at (index-aligned with `inputs`). */
  start: bigint[];
  /** Bounded mode: the end offset of each input (seen at start); the source ends there. */
  end?: bigint[];
  /** Records per batch (default 4096). */
  batchSize?: number;
  /** Messages buffered per partition before it is paused (default 20,000). */
  maxBuffered?: number;
  onDeadLetter(d: DeadLetter & { topic: string; partition: number }): void;
  pause(tp: TopicPartition): void;
  resume(tp: TopicPartition): void;
  /** Re-positions the consumer (after a seek to somewhere else than the start). */
  seekConsumer(tp: TopicPartition & { offset: string }): void;
  /** Stops waiting: `nextBatch()` then returns an empty batch, so the runner sees its signal. */
  signal?: AbortSignal;
  /** At most this many records per second (a throttled backfill); default unlimited. */
  maxRate?: number;
  /**
   * Live mode: how long a partition that is behind but has nothing fetched yet may hold the merge
   * back (default 20 ms). Bounded mode always waits: a backfill must be exactly ordered.
   */
  alignMs?: number;
  /**
   * Live mode: after waiting this long without a record, `nextBatch()` returns an empty batch, so
   * the runner keeps its wall-clock checkpoints (and with them the commit of a transaction's
   * alerts) while the input is quiet. Absent: it waits for records.
   */
  quietReturnMs?: number;
}

interface Head {
  rec: Timestamped | null;
  dead: DeadLetter | null;
  /** The message's `riskflow-seq` header (its line in the day file), NaN without one. */
  seq: number;
}

interface InputState {
  input: TaskInput;
  /** Index of the input's stream in `streamNames`. */
  streamIdx: number;
  chunks: InMessage[][];
  /** Index of the next message in chunks[0]. */
  at: number;
  buffered: number;
  /** Next offset the consumer is expected to deliver (older ones are stale duplicates). */
  fetched: bigint;
  /** Next offset to process: the position a checkpoint records. */
  next: bigint;
  end: bigint | undefined;
  /** The partition's end offset as last reported by a fetch. */
  high: bigint;
  paused: boolean;
  head: Head | undefined;
}

/** A task's position: the next offset of each input partition, by `topic/partition`. */
export type TaskPosition = Record<string, string>;

/**
 * The input of one task (one partition number across the co-partitioned input topics), as a
 * pull-based {@link BatchSource} for the {@link Runner}. The consumer pushes fetched batches in
 * with {@link push}; `nextBatch()` merges the task's partitions by event time with the stream
 * order as tie-break, exactly as a replay merges a day's files, so a backfill gives the same
 * record sequence (hence the same watermarks and alerts) however the broker interleaves
 * fetches. A partition that has nothing buffered but is known to have more (behind its end
 * offset) holds the merge back, so uneven fetching never makes records late; a caught-up live
 * partition does not. Each partition's buffer is bounded: it is paused when full and resumed once
 * drained, so memory stays bounded under any input rate.
 *
 * Values are JSON events (CONTRACTS.md section 1), validated like a replay's lines; a bad one
 * goes to `onDeadLetter` with the reason, topic, partition, offset and raw value.
 *
 * The global task's source has every partition of each stream. It first restores each stream's
 * own order from its partitions, by the `riskflow-seq` header `produce-day` stamps on every
 * message (the line's index in its day file; without it: event time, then partition), and then
 * merges the streams exactly as above: the record sequence of a replay of the whole day.
 */
export class KafkaTaskSource implements BatchSource {
  readonly streamNames: readonly string[];
  private readonly states: InputState[];
  private readonly batchSize: number;
  private readonly maxBuffered: number;
  private waiter: (() => void) | undefined;
  private readonly keyIndex = new Map<string, number>();
  /** Input indexes of each stream (in `streamNames` order). */
  private readonly groups: number[][];
  /** One input per stream (a partition task): the plain merge. */
  private readonly single: boolean;
  private held = false;

  constructor(private readonly opts: KafkaTaskSourceOptions) {
    const names: StreamName[] = [];
    for (const i of opts.inputs) if (!names.includes(i.stream)) names.push(i.stream);
    this.streamNames = names;
    this.groups = names.map(() => []);
    opts.inputs.forEach((i, k) => this.groups[names.indexOf(i.stream)]!.push(k));
    this.single = this.groups.every((g) => g.length === 1) && opts.inputs.every((inp, k) => names.indexOf(inp.stream) === k);
    this.batchSize = opts.batchSize ?? 4096;
    this.maxBuffered = opts.maxBuffered ?? 20_000;
    this.states = opts.inputs.map((input, i) => ({
      input,
      streamIdx: names.indexOf(input.stream),
      chunks: [],
      at: 0,
      buffered: 0,
      fetched: opts.start[i]!,
      next: opts.start[i]!,
      end: opts.end?.[i],
      high: -1n,
      paused: false,
      head: undefined,
    }));
    opts.inputs.forEach((inp, i) => this.keyIndex.set(`${inp.topic}/${inp.partition}`, i));
    opts.signal?.addEventListener('abort', () => this.wake(), { once: true });
  }

  /** Hands the source a fetched batch of one of its partitions. */
  push(batch: InBatch): void {
    const i = this.keyIndex.get(`${batch.topic}/${batch.partition}`);
    if (i === undefined) return;
    const s = this.states[i]!;
    const hw = batch.highWatermark ? BigInt(batch.highWatermark) : -1n;
    if (hw > s.high) s.high = hw;
    const ms = batch.messages;
    if (!ms.length) return;
    let from = 0;
    // A refetch after a seek or a consumer restart may repeat what is already buffered.
    while (from < ms.length && BigInt(ms[from]!.offset) < s.fetched) from++;
    let to = ms.length;
    // Bounded: what was written after the start is not part of this run.
    if (s.end !== undefined) while (to > from && BigInt(ms[to - 1]!.offset) >= s.end) to--;
    if (from >= to) return;
    const chunk = from === 0 && to === ms.length ? ms : ms.slice(from, to);
    s.chunks.push(chunk);
    s.buffered += chunk.length;
    s.fetched = BigInt(chunk[chunk.length - 1]!.offset) + 1n;
    if (s.fetched > s.high) s.high = s.fetched;
    if (!s.paused && s.buffered >= this.maxBuffered) {
      s.paused = true;
      this.opts.pause({ topic: s.input.topic, partition: s.input.partition });
    }
    this.wake();
  }

  /**
   * Holds the merge (nothing is taken) while on: the global task holds until its consumer has
   * been assigned every partition, so that a partition that is not fetched yet cannot be
   * overtaken by the others in live mode.
   */
  hold(on: boolean): void {
    if (this.held === on) return;
    this.held = on;
    if (!on) this.wake();
  }

  /** Where the consumer should be for a partition of this task (after a rejoin). */
  fetchPosition(tp: TopicPartition): string | undefined {
    const i = this.keyIndex.get(`${tp.topic}/${tp.partition}`);
    return i === undefined ? undefined : this.states[i]!.fetched.toString();
  }

  /** True when every partition reached its end offset (bounded) and everything was taken. */
  get exhausted(): boolean {
    return this.states.every((s) => this.isDone(s));
  }

  private isDone(s: InputState): boolean {
    return s.end !== undefined && s.buffered === 0 && s.next >= s.end;
  }

  /** Since when the merge has been held back by a live partition (NaN: it is not). */
  private heldSince = Number.NaN;

  /** A partition with nothing buffered that is known to have more holds the merge back. */
  private blocks(s: InputState): boolean {
    if (s.buffered > 0) return false;
    if (s.end !== undefined) return s.next < s.end;
    if (s.next >= s.high) return false;
    // Live: wait for the lagging partition's next fetch, but not for long (latency).
    const now = Date.now();
    if (Number.isNaN(this.heldSince)) this.heldSince = now;
    return now - this.heldSince < (this.opts.alignMs ?? 20);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Until woken, or `timeoutMs` at most (Infinity: no limit). */
  private wait(timeoutMs: number): Promise<void> {
    return new Promise<void>((res) => {
      const t = Number.isFinite(timeoutMs) ? setTimeout(() => this.wake(), timeoutMs) : undefined;
      this.waiter = () => {
        clearTimeout(t);
        res();
      };
    });
  }

  private taken = 0;
  private rateStart = Number.NaN;

  async nextBatch(): Promise<SourceBatch | null> {
    const quiet = this.opts.quietReturnMs;
    const until = quiet !== undefined && quiet > 0 ? Date.now() + quiet : Number.POSITIVE_INFINITY;
    for (;;) {
      if (this.opts.signal?.aborted) return EMPTY_BATCH();
      if (this.exhausted) return null;
      const left = until - Date.now();
      if (left <= 0) return EMPTY_BATCH();
      if (this.held) {
        await this.wait(left);
        continue;
      }
      const popped = this.popped;
      const batch = this.single ? this.take() : this.takeMerged();
      if (batch.length > 0) {
        this.heldSince = Number.NaN;
        await this.throttle(batch.length);
        return batch;
      }
      // Only bad records were taken (dead letters): look again before waiting, as the source
      // may be exhausted now (a task whose last records are malformed) and no fetch will wake it.
      if (this.popped !== popped) continue;
      await this.wait(Math.min(left, Number.isNaN(this.heldSince) ? Number.POSITIVE_INFINITY : (this.opts.alignMs ?? 20)));
    }
  }

  private async throttle(n: number): Promise<void> {
    const rate = this.opts.maxRate;
    if (!rate) return;
    if (Number.isNaN(this.rateStart)) this.rateStart = Date.now();
    this.taken += n;
    const wait = this.rateStart + (this.taken / rate) * 1000 - Date.now();
    if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
  }

  private take(): SourceBatch {
    const records: Timestamped[] = [];
    const streams: number[] = [];
    const states = this.states;
    outer: while (records.length < this.batchSize) {
      let best = -1;
      let bestTs = Number.POSITIVE_INFINITY;
      for (let i = 0; i < states.length; i++) {
        const s = states[i]!;
        if (s.buffered === 0) {
          if (this.blocks(s)) break outer;
          continue;
        }
        let h = this.head(s);
        while (h.dead) {
          this.opts.onDeadLetter(h.dead as DeadLetter & { topic: string; partition: number });
          this.pop(s);
          if (s.buffered === 0) {
            if (this.blocks(s)) break outer;
            h = undefined as unknown as Head;
            break;
          }
          h = this.head(s);
        }
        if (!h) continue;
        const ts = h.rec!.ts;
        // Strict '<' keeps the earlier stream on ties, as a replay's merge does.
        if (ts < bestTs) {
          bestTs = ts;
          best = i;
        }
      }
      if (best < 0) break;
      const s = states[best]!;
      records.push(s.head!.rec!);
      streams.push(best);
      this.pop(s);
    }
    return { records, streams: Uint8Array.from(streams), length: records.length };
  }

  /**
   * The global task's merge: each stream's next record is the one of its partitions' heads that
   * comes first in its day file (smallest `riskflow-seq`; without the header, smallest event
   * time, then partition); the streams are then merged as in {@link take}. A partition that has
   * nothing buffered but is known to have more holds everything back, as there.
   */
  private takeMerged(): SourceBatch {
    const records: Timestamped[] = [];
    const streams: number[] = [];
    const states = this.states;
    const groups = this.groups;
    while (records.length < this.batchSize) {
      let best = -1;
      let bestTs = Number.POSITIVE_INFINITY;
      let blocked = false;
      for (let g = 0; g < groups.length; g++) {
        const i = this.streamHead(groups[g]!);
        if (i === BLOCKED) {
          blocked = true;
          break;
        }
        if (i < 0) continue;
        const ts = states[i]!.head!.rec!.ts;
        // Strict '<' keeps the earlier stream on ties, as a replay's merge does.
        if (ts < bestTs) {
          bestTs = ts;
          best = i;
        }
      }
      if (blocked || best < 0) break;
      const s = states[best]!;
      records.push(s.head!.rec!);
      streams.push(s.streamIdx);
      this.pop(s);
    }
    return { records, streams: Uint8Array.from(streams), length: records.length };
  }

  /** The input holding a stream's next record, -1 when none is buffered, BLOCKED when one must be waited for. */
  private streamHead(group: number[]): number {
    let cand = -1;
    let cSeq = Number.NaN;
    let cTs = 0;
    for (const i of group) {
      const s = this.states[i]!;
      let h: Head | undefined;
      for (;;) {
        if (s.buffered === 0) {
          if (this.blocks(s)) return BLOCKED;
          h = undefined;
          break;
        }
        h = this.head(s);
        if (!h.dead) break;
        this.opts.onDeadLetter(h.dead as DeadLetter & { topic: string; partition: number });
        this.pop(s);
      }
      if (!h) continue;
      const ts = h.rec!.ts;
      const better =
        cand < 0 || (!Number.isNaN(h.seq) && !Number.isNaN(cSeq) ? h.seq < cSeq : ts < cTs);
      if (better) {
        cand = i;
        cSeq = h.seq;
        cTs = ts;
      }
    }
    return cand;
  }

  private head(s: InputState): Head {
    if (s.head) return s.head;
    const m = s.chunks[0]![s.at]!;
    const raw = m.value === null ? '' : m.value.toString('utf8');
    let obj: unknown;
    const seq = this.single ? Number.NaN : seqOf(m);
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      s.head = { rec: null, dead: this.dead(s, m, raw, `not valid JSON: ${(e as Error).message}`), seq };
      return s.head;
    }
    const r = validateEvent(s.input.stream, obj);
    s.head = r.ok
      ? { rec: r.record as unknown as Timestamped, dead: null, seq }
      : { rec: null, dead: this.dead(s, m, raw, r.reason, r.field), seq };
    return s.head;
  }

  private dead(s: InputState, m: InMessage, raw: string, reason: string, field?: string): DeadLetter {
    const d: DeadLetter & { topic: string; partition: number } = {
      source: `${s.input.topic}/${s.input.partition}`,
      topic: s.input.topic,
      partition: s.input.partition,
      offset: m.offset,
      reason,
      raw,
      stream: s.input.stream,
    };
    if (field !== undefined) d.field = field;
    return d;
  }

  /** Records taken so far (good and bad). */
  private popped = 0;

  private pop(s: InputState): void {
    this.popped++;
    const chunk = s.chunks[0]!;
    s.next = BigInt(chunk[s.at]!.offset) + 1n;
    s.head = undefined;
    s.buffered--;
    if (++s.at >= chunk.length) {
      s.chunks.shift();
      s.at = 0;
    }
    if (s.paused && s.buffered <= this.maxBuffered >> 1) {
      s.paused = false;
      this.opts.resume({ topic: s.input.topic, partition: s.input.partition });
    }
  }

  position(): TaskPosition {
    const out: TaskPosition = {};
    for (const s of this.states) out[`${s.input.topic}/${s.input.partition}`] = s.next.toString();
    return out;
  }

  async seek(pos: unknown): Promise<void> {
    const p = pos as TaskPosition;
    for (const s of this.states) {
      const at = p[`${s.input.topic}/${s.input.partition}`];
      if (at === undefined || BigInt(at) === s.next) continue;
      // Somewhere else than where the consumer was started: drop the buffer and refetch.
      s.chunks = [];
      s.at = 0;
      s.buffered = 0;
      s.head = undefined;
      s.next = s.fetched = BigInt(at);
      this.opts.seekConsumer({ topic: s.input.topic, partition: s.input.partition, offset: at });
      if (s.paused) {
        s.paused = false;
        this.opts.resume({ topic: s.input.topic, partition: s.input.partition });
      }
    }
  }
}

const BLOCKED = -2;

const EMPTY_BATCH = (): SourceBatch => ({ records: [], streams: new Uint8Array(0), length: 0 });

/** The `riskflow-seq` header of a message, NaN when it has none (or not a number). */
function seqOf(m: InMessage): number {
  const v = m.headers?.[SEQ_HEADER];
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined || one === null) return Number.NaN;
  const n = Number(one.toString());
  return Number.isFinite(n) ? n : Number.NaN;
}
