import { Multicast } from './multicast.js';
import { grown } from './typed-arrays.js';
import type { Alert } from './alerts.js';
import { JobContext } from './context.js';
import { END_OF_TIME, Watermark, type Element, type Stream, type Timestamped } from './element.js';
import { InternalError, RiskflowError } from './errors.js';
import type { CheckpointData, CheckpointStore } from './checkpoint.js';
import type { ReferenceData } from './reference.js';
import { systemClock, type Clock } from './time.js';
import { WatermarkTracker, type WatermarkTrackerSnapshot } from './watermarks.js';
import type { SnapshotRows } from './snapshot-rows.js';

/**
 * Module-local alias of the watermark class: V8 reloads an imported binding from its module cell
 * (with a hole check) at every use in optimised code, a local `const` it folds.
 */
const W = Watermark;

/** One batch from a source: parallel arrays, so no wrapper object per record. */
export interface SourceBatch {
  records: ReadonlyArray<Timestamped>;
  /** Index into `BatchSource.streamNames` of each record's stream. */
  streams: Uint8Array;
  /** Partition name of each record (optional: default one partition per stream). */
  partitions?: ReadonlyArray<string>;
  length: number;
}

/**
 * A pull-based source: the runner asks for the next batch only after the previous one went
 * through the whole graph and the sinks flushed (that is the backpressure). `position()` and
 * `seek()` let a checkpoint resume it exactly.
 */
export interface BatchSource {
  readonly streamNames: readonly string[];
  nextBatch(): Promise<SourceBatch | null>;
  position(): unknown;
  seek(pos: unknown): Promise<void>;
}

/** A source a topology declares: which input stream, and its watermark strategy. */
export interface SourceDecl {
  name: string;
  stream: string;
  outOfOrdernessMs: number;
  idleTimeoutMs: number;
}

/** What the runner hands a topology to wire itself to. */
export interface BuildEnv {
  ctx: JobContext;
  inputs: Record<string, Stream<any>>;
  reference: ReferenceData;
  onAlert(alert: Alert): void;
  onOutput(sink: string, record: unknown): void;
  onLate(stepId: string, record: unknown): void;
  /** A failure inside the graph (e.g. a user function threw): the run stops with it. */
  onError?(err: unknown): void;
  /** Event time between state snapshots (default 60 s). */
  snapshotIntervalMs?: number;
  /** Rows of a snapshot table as of event time `snapshotTime` (CONTRACTS.md section 5). */
  onSnapshot?(table: string, snapshotTime: number, rows: SnapshotRows): void;
}

/** The part of a compiled topology the runner needs. */
export interface RunnableTopology {
  name: string;
  sources: readonly SourceDecl[];
  build(env: BuildEnv): void;
}

/** Where a job's results go. `flush()` is awaited after every batch; `snapshot()` goes into checkpoints. */
export interface JobSinks {
  onAlert(alert: Alert): void;
  onOutput(sink: string, record: unknown): void;
  onLate(stepId: string, record: unknown): void;
  onSnapshot?(table: string, snapshotTime: number, rows: SnapshotRows): void;
  flush(): Promise<void>;
  /**
   * A sink whose `flush()` only hands output over (write-behind) waits here until all of it is
   * durable; called before every checkpoint's `snapshot()` and when a run ends.
   */
  sync?(): Promise<void>;
  snapshot?(): unknown;
  restore?(state: unknown): Promise<void>;
  /**
   * Called once a checkpoint (whose `snapshot()` this sink gave) is durably written: a
   * transactional sink commits the output of the interval here (two-phase commit, as Flink's
   * `notifyCheckpointComplete`). A failure fails the run; the next run restores that checkpoint.
   */
  commit?(checkpointSeq: number): Promise<void>;
}

export interface RunnerOptions {
  source: BatchSource;
  topologies: readonly RunnableTopology[];
  reference: ReferenceData;
  sinks: JobSinks;
  clock?: Clock;
  /** Emit a watermark once it has moved this far in event time (default 100 ms). */
  watermarkIntervalMs?: number;
  /** Event time between state snapshots that topologies emit (default 60 s). */
  snapshotIntervalMs?: number;
  checkpoint?: {
    store: CheckpointStore;
    /** Event time between checkpoints (default 60 s). */
    everyEventMs?: number;
    fingerprint: string;
    /** Resume from this checkpoint. */
    restore?: CheckpointData | undefined;
    /**
     * Also checkpoint when this much processing time has passed since the last one and records
     * came (or an idle flush moved the watermarks) since: live sources. A live source that returns
     * an empty batch when quiet lets this happen without records (the commit of the last alerts).
     */
    everyWallMs?: number;
    /**
     * Write checkpoint files off the batch path: the state is serialised at once and the file
     * (with its fsync) is written, then `sinks.commit()` called, while the next batches run, one
     * checkpoint at a time; the final checkpoint of a stop or of the end is awaited. Only for
     * sinks whose output does not wait on the checkpoint (the idempotent Kafka fallback), or that
     * hold back the output given after `snapshot()` until `commit()` (the transactional Kafka
     * sink): a crash then resumes from the previous checkpoint. `sync()` is only called once the
     * pending checkpoint is committed.
     */
    background?: boolean;
  };
  /** Write a checkpoint after the end of input, once every window has flushed (a finished job's state). */
  checkpointOnComplete?: boolean;
  /** Called after each batch with the batch's last event time: paces `--speed Nx`. */
  pace?: (eventTime: number) => Promise<void>;
  onBatch?: (stats: RunStats) => void;
  /** Time every Nth record's processing (see {@link Runner.latencyPercentiles}); 0 or absent: off. */
  latencySampleEvery?: number;
  /**
   * Live inputs only (never a replay or a bounded run): processing-time idleness. When the source
   * has delivered no record for this long (wall time), event time is taken to have moved on with
   * the wall clock: every input's watermark moves to the largest event time seen plus the wall
   * time since the last record, and on again after each further quiet period, so windows and
   * timers fire although no further record comes (the end of a trading day). A record that
   * arrives later with an event time at or below it is late, as with any watermark. Absent:
   * watermarks follow the records alone.
   */
  idleWallMs?: number;
  /** Stops between batches (no end-of-input flush): a stop, not an end. */
  signal?: AbortSignal;
  /** Write a checkpoint when stopped by the signal. */
  checkpointOnStop?: boolean;
}

export interface RunStats {
  events: number;
  eventsByStream: Record<string, number>;
  batches: number;
  firstEventTime: number;
  lastEventTime: number;
  checkpoints: number;
  restoredFromSeq: number | undefined;
  completed: boolean;
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Latency samples in µs, kept in a growable Float64Array (no object per sample). */
class LatencySampler {
  private buf = new Float64Array(1 << 16);
  private n = 0;
  add(us: number): void {
    if (this.n === this.buf.length) this.buf = grown(this.buf, this.n + 1);
    this.buf[this.n++] = us;
  }
  summary(): LatencySummary {
    const a = this.buf.slice(0, this.n).sort();
    const q = (p: number) => (a.length ? a[Math.min(a.length - 1, Math.floor(p * a.length))]! : Number.NaN);
    return { samples: a.length, p50: q(0.5), p99: q(0.99), p999: q(0.999), max: a.length ? a[a.length - 1]! : Number.NaN };
  }
}

/**
 * The runner's input subjects. `next` is the same loop as `Multicast.next`, but a method of its
 * own: its call site sees only the subscribers of topology inputs (a few operator links), where
 * the shared `Multicast.next` sees every multicast of the job and goes megamorphic.
 */
class InputMulticast<T> extends Multicast<T> {
  override next(value: T): void {
    const s = this.subs;
    for (let i = 0; i < s.length; i++) s[i]!.next(value);
  }
}

/**
 * The readers of one stream with the same watermark bounds: they observe the same records and the
 * same event-time clock, so one tracker (and one last-sent watermark) serves them all.
 */
interface WatermarkGroup {
  tracker: WatermarkTracker;
  lastWm: number;
  partition: string;
  /** Set while a record (or an idle check) is staged: the watermark to send after it, if any. */
  send: Watermark | undefined;
  /** Position in `Runner.groups`. */
  index: number;
  /** What `send` was after each record of the batch being pushed (indexed like the batch). */
  stage: Array<Watermark | undefined>;
}

/**
 * Sets what `g` sends after the record (or idle check) being pushed: its watermark `wm` when it
 * moved by `interval` or more since the last one sent, else nothing. Groups reaching the same
 * watermark at the same record share one object: returns the latest one made (`lastW` if none).
 */
function stageWatermark(g: WatermarkGroup, wm: number, interval: number, lastW: Watermark): Watermark {
  // Written as a move of at least `interval`: -Infinity - -Infinity is NaN, and no move.
  if (wm - g.lastWm >= interval) {
    g.lastWm = wm;
    const w = lastW.ts === wm ? lastW : new W(wm);
    g.send = w;
    return w;
  }
  g.send = undefined;
  return lastW;
}

interface Target {
  subject: InputMulticast<Element<Timestamped>>;
  group: WatermarkGroup;
}

/** What a topology hands the sinks during a batch (see `Runner.push`): kinds of `Effect`. */
const ALERT = 0;
const OUTPUT = 1;
const LATE = 2;
const SNAPSHOT = 3;
const FAILURE = 4;

/**
 * One call a topology made to its env during a batch, held until every topology has run the
 * batch. `at` is where the interleaved order would have made it: 2 x the record's index, plus 1
 * for the idle check after it.
 */
interface Effect {
  at: number;
  kind: number;
  a: unknown;
  b: unknown;
  c: unknown;
}

/** Sends each target the watermark its group staged (see {@link stageWatermark}), if any. */
function sendStaged(targets: Target[]): void {
  for (let j = 0; j < targets.length; j++) {
    const t = targets[j]!;
    const w = t.group.send;
    if (w !== undefined) t.subject.next(w);
  }
}

interface RunnerSnapshot {
  targets: Array<{ tracker: WatermarkTrackerSnapshot; lastWm: number }>;
  globalMax: number;
  nextIdleCheck: number;
  lastCheckpointEventTime: number;
  stats: RunStats;
}

/**
 * The runner loop: pulls a batch, pushes its records synchronously through every topology that
 * reads their stream (generating per-source watermarks on the way), flushes the sinks, checkpoints
 * when due, and pulls the next batch. At the end of a bounded input it sends END_OF_TIME so every
 * window and timer fires, then completes the inputs.
 *
 * A batch goes through one topology after the other, and what they hand the sinks is delivered in
 * the order of a record-by-record run (see `push`): the topologies of a job share nothing but the
 * records, which operators never change (steps make new records).
 *
 * Watermarks are emitted as a function of the record sequence alone (never of batch boundaries or
 * wall time), so a replay gives the same output however it is batched, stopped and resumed.
 *
 * @example
 * const stats = await new Runner({ source, topologies, reference, sinks }).run();
 */
export class Runner {
  private readonly opts: RunnerOptions;
  private readonly clock: Clock;
  private readonly interval: number;
  private readonly ctx: JobContext;
  private readonly targets: Target[] = [];
  /** Per topology: its targets of each stream (indexed like the source's streams), and all of them. */
  private readonly topoRoutes: Target[][][] = [];
  private readonly topoTargets: Target[][] = [];
  /** Every watermark group, and those of each stream (indexed like the source's streams). */
  private readonly groups: WatermarkGroup[] = [];
  private readonly routeGroups: WatermarkGroup[][] = [];
  private failure: unknown;
  private globalMax = Number.NEGATIVE_INFINITY;
  private nextIdleCheck = Number.NEGATIVE_INFINITY;
  private lastCheckpointEventTime = Number.NEGATIVE_INFINITY;
  private checkpointSeq = 0;
  private lastCheckpointWall = Number.NEGATIVE_INFINITY;
  private stats: RunStats;
  private readonly streamCounts: Float64Array;
  private readonly latency: LatencySampler | undefined;
  private untilSample = 1;

  constructor(opts: RunnerOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.interval = opts.watermarkIntervalMs ?? 100;
    const restore = opts.checkpoint?.restore;
    this.ctx = new JobContext({ restore: restore?.operators, clock: this.clock });
    this.stats = {
      events: 0,
      eventsByStream: {},
      batches: 0,
      firstEventTime: Number.NaN,
      lastEventTime: Number.NaN,
      checkpoints: 0,
      restoredFromSeq: restore?.seq,
      completed: false,
    };
    for (let i = 0; i < opts.source.streamNames.length; i++) this.routeGroups.push([]);
    this.streamCounts = new Float64Array(opts.source.streamNames.length);
    this.latency = opts.latencySampleEvery ? new LatencySampler() : undefined;
    this.untilSample = opts.latencySampleEvery ?? 1;
  }

  /** Job-wide operator state registry (for tests and diagnostics). */
  get context(): JobContext {
    return this.ctx;
  }

  async run(): Promise<RunStats> {
    try {
      return await this.runLoop();
    } catch (err) {
      // A checkpoint being written (and committed) in the background ends before the run does:
      // whoever handles the failure (aborting a transaction, closing the producer) comes after it.
      await this.pendingCheckpoint;
      throw err;
    }
  }

  private async runLoop(): Promise<RunStats> {
    const { sinks } = this.opts;
    this.wire();
    const restore = this.opts.checkpoint?.restore;
    if (restore) await this.restoreFrom(restore);
    this.lastCheckpointWall = this.clock.now();

    for (;;) {
      if (this.opts.signal?.aborted) {
        await this.checkpointWritten();
        await sinks.flush();
        await sinks.sync?.();
        if (this.opts.checkpointOnStop && this.opts.checkpoint) await this.writeCheckpoint(true);
        await this.checkpointWritten();
        return this.stats;
      }
      const batch = await this.nextBatch();
      if (batch === null) break;
      if (batch.length > 0) this.dirty = true;
      this.push(batch);
      this.throwIfFailed();
      await sinks.flush();
      this.stats.batches++;
      this.opts.onBatch?.(this.stats);
      if (this.opts.pace && batch.length > 0) await this.opts.pace(this.stats.lastEventTime);
      const cp = this.opts.checkpoint;
      if (
        cp &&
        (this.globalMax - this.lastCheckpointEventTime >= (cp.everyEventMs ?? 60_000) ||
          (cp.everyWallMs !== undefined && this.dirty && this.clock.now() - this.lastCheckpointWall >= cp.everyWallMs))
      ) {
        await this.writeCheckpoint();
      }
    }
    for (const t of this.targets) t.subject.next(END_OF_TIME);
    this.throwIfFailed();
    for (const t of this.targets) t.subject.complete();
    this.throwIfFailed();
    await this.checkpointWritten();
    await sinks.flush();
    await sinks.sync?.();
    this.stats.completed = true;
    if (this.opts.checkpointOnComplete && this.opts.checkpoint) await this.writeCheckpoint(true);
    await this.checkpointWritten();
    return this.stats;
  }

  private wire(): void {
    const { source, topologies, sinks, reference } = this.opts;
    const streamIndex = new Map(source.streamNames.map((s, i) => [s, i] as const));
    const groupByKey = new Map<string, WatermarkGroup>();
    for (const topo of topologies) {
      const inputs: Record<string, Stream<any>> = {};
      const routes: Target[][] = source.streamNames.map(() => []);
      const mine: Target[] = [];
      for (const decl of topo.sources) {
        const idx = streamIndex.get(decl.stream);
        if (idx === undefined) {
          throw new InternalError(`topology '${topo.name}' reads stream '${decl.stream}' that the source does not provide`);
        }
        const key = `${idx}|${decl.outOfOrdernessMs}|${decl.idleTimeoutMs}`;
        let group = groupByKey.get(key);
        if (group === undefined) {
          group = {
            tracker: new WatermarkTracker({ outOfOrdernessMs: decl.outOfOrdernessMs, idleTimeoutMs: decl.idleTimeoutMs }),
            lastWm: Number.NEGATIVE_INFINITY,
            partition: decl.stream,
            send: undefined,
            index: this.groups.length,
            stage: [],
          };
          group.tracker.addPartition(decl.stream);
          groupByKey.set(key, group);
          this.groups.push(group);
          this.routeGroups[idx]!.push(group);
        }
        const target: Target = { subject: new InputMulticast(), group };
        this.targets.push(target);
        routes[idx]!.push(target);
        mine.push(target);
        inputs[decl.name] = target.subject;
      }
      this.topoRoutes.push(routes);
      this.topoTargets.push(mine);
      // During a batch a topology's calls are held (see `push`), otherwise they go straight on.
      topo.build({
        ctx: this.ctx,
        inputs,
        reference,
        onAlert: (a) => (this.holding ? this.hold(ALERT, a, undefined, undefined) : sinks.onAlert(a)),
        onOutput: (n, r) => (this.holding ? this.hold(OUTPUT, n, r, undefined) : sinks.onOutput(n, r)),
        onLate: (s, r) => (this.holding ? this.hold(LATE, s, r, undefined) : sinks.onLate(s, r)),
        onError: (err) => {
          if (this.holding) this.hold(FAILURE, err, undefined, undefined);
          else this.failure ??= err;
        },
        snapshotIntervalMs: this.opts.snapshotIntervalMs ?? 60_000,
        onSnapshot: (table, time, rows) => (this.holding ? this.hold(SNAPSHOT, table, time, rows) : sinks.onSnapshot?.(table, time, rows)),
      });
    }
    this.firstRoutes = this.topoRoutes[0] ?? source.streamNames.map(() => []);
    this.firstTargets = this.topoTargets[0] ?? [];
  }

  /** The source's next batch; with `idleWallMs`, the idle flush while it keeps the runner waiting. */
  private async nextBatch(): Promise<SourceBatch | null> {
    const idleMs = this.opts.idleWallMs;
    const next = this.opts.source.nextBatch();
    if (!(idleMs !== undefined && idleMs > 0)) return next;
    for (;;) {
      // Due idleMs after the last record (or the last idle flush), across calls: a live source
      // may return empty batches while quiet.
      if (!Number.isFinite(this.nextIdleWall)) this.nextIdleWall = this.clock.now() + idleMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const quiet = new Promise<'quiet'>((res) => (timer = setTimeout(() => res('quiet'), Math.max(0, this.nextIdleWall - this.clock.now()))));
      const got = await Promise.race([next, quiet]);
      clearTimeout(timer);
      if (got !== 'quiet') {
        if (got !== null && got.length > 0) {
          this.lastRecordWall = this.clock.now();
          this.nextIdleWall = this.lastRecordWall + idleMs;
        }
        return got;
      }
      this.nextIdleWall = this.clock.now() + idleMs;
      if (this.flushIdle()) {
        this.dirty = true;
        this.throwIfFailed();
        await this.opts.sinks.flush();
      }
    }
  }

  /**
   * Processing-time idleness (see `idleWallMs`): every input's watermark to the largest event
   * time seen plus the wall time since the last record. True when a watermark moved.
   */
  private flushIdle(): boolean {
    if (!Number.isFinite(this.globalMax) || !Number.isFinite(this.lastRecordWall)) return false;
    const to = this.globalMax + Math.max(0, this.clock.now() - this.lastRecordWall);
    let moved = false;
    const w = new W(to);
    for (const g of this.groups) {
      g.send = to > g.lastWm ? w : undefined;
      if (g.send !== undefined) {
        g.lastWm = to;
        moved = true;
      }
    }
    sendStaged(this.targets);
    return moved;
  }
  /** Wall time the last batch with records arrived (for `idleWallMs`). */
  private lastRecordWall = Number.NEGATIVE_INFINITY;
  /** When the next idle flush is due (`idleWallMs`); NaN until the first wait. */
  private nextIdleWall = Number.NaN;

  /**
   * Pushes a batch topology by topology. The first topology takes each record as its watermarks
   * (and those of the idle checks) are staged, as a function of the record sequence alone; then
   * each further topology takes the whole batch, its records and watermarks in the order the
   * record-by-record interleaving gives it, its working set staying in cache for a batch instead
   * of a few records (pushing each record through every topology in turn mixed the three standard
   * topologies' working sets every few records). What the topologies hand the sinks meanwhile is
   * held and delivered afterwards in the interleaved order (by record, then topology), so the sinks
   * see exactly the calls of a record-by-record run.
   */
  private push(batch: SourceBatch): void {
    const { records, streams, partitions, length } = batch;
    const interval = this.interval;
    const counts = this.streamCounts;
    const sampler = this.latency;
    const groups = this.groups;
    for (let j = 0; j < groups.length; j++) {
      const g = groups[j]!;
      if (g.stage.length < length) g.stage = new Array<Watermark | undefined>(length).fill(undefined);
    }
    if (this.sampleAt.length < length) {
      this.sampleAt = new Int32Array(length);
      this.sampleMs = new Float64Array(length);
    }
    const sampleAt = this.sampleAt;
    const sampleMs = this.sampleMs;
    // The first topology takes each record as it is staged (a job of one topology makes one pass).
    const routes = this.firstRoutes;
    const first = this.firstTargets;
    // The last watermark object staged: groups that reach the same watermark at the same record
    // share one immutable object instead of one each.
    let lastW = this.lastW;
    let nIdle = 0;
    let nSample = 0;
    const ahead = this.tsAhead;
    let from = 0;
    let upTo = 0;
    this.holding = true;
    try {
      for (let i = 0; i < length; i++) {
        if (i === upTo) {
          // The event times of the next records, read in a tight loop: their loads overlap, where
          // one record at a time each would wait for memory (a batch's records were built before
          // it and are out of cache by the time they come), and the records are in cache after.
          from = i;
          upTo = Math.min(length, i + ahead.length);
          for (let k = from; k < upTo; k++) ahead[k - from] = records[k]!.ts;
        }
        const ts = ahead[i - from]!;
        const s = streams[i]!;
        // Every Nth record is timed from entering the graph until everything it caused (watermark
        // firings included) has run, in every topology: the per-event processing latency.
        const t0 = sampler !== undefined && --this.untilSample === 0 ? performance.now() : 0;
        if (ts > this.globalMax) this.globalMax = ts;
        const partition = partitions ? partitions[i]! : undefined;
        // The watermark is computed before the record goes downstream: only this record moved it.
        const gs = this.routeGroups[s]!;
        for (let j = 0; j < gs.length; j++) {
          const g = gs[j]!;
          lastW = stageWatermark(g, g.tracker.observeCurrent(partition ?? g.partition, ts), interval, lastW);
          g.stage[i] = g.send;
        }
        const targets = routes[s]!;
        if (targets.length > 0) {
          this.at = 2 * i;
          const rec = records[i]!;
          for (let j = 0; j < targets.length; j++) {
            const t = targets[j]!;
            const w = t.group.send;
            t.subject.next(rec);
            if (w !== undefined) t.subject.next(w);
          }
        }
        if (this.globalMax >= this.nextIdleCheck) {
          lastW = this.stageIdle(lastW, i, nIdle++);
          this.at = 2 * i + 1;
          sendStaged(first);
        }
        counts[s]!++;
        if (t0 !== 0) {
          sampleAt[nSample] = i;
          sampleMs[nSample++] = performance.now() - t0;
          this.untilSample = this.opts.latencySampleEvery!;
        }
      }
      this.lastW = lastW;
      for (let k = 1; k < this.topoRoutes.length; k++) this.pushTopology(k, records, streams, length, nIdle, nSample);
    } finally {
      this.holding = false;
      this.deliver();
    }
    for (let m = 0; m < nSample; m++) sampler!.add(sampleMs[m]! * 1000);
    if (length > 0) this.countBatch(records, length);
  }

  /** Topology k's part of `push`: the batch's records, with the watermarks staged for them. */
  private pushTopology(k: number, records: ReadonlyArray<Timestamped>, streams: Uint8Array, length: number, nIdle: number, nSample: number): void {
    const routes = this.topoRoutes[k]!;
    const mine = this.topoTargets[k]!;
    const idleAt = this.idleAt;
    const idleSends = this.idleSends;
    const ng = this.groups.length;
    const sampleAt = this.sampleAt;
    const sampleMs = this.sampleMs;
    let q = 0;
    let nextIdle = nIdle > 0 ? idleAt[0]! : -1;
    let m = 0;
    let nextSample = nSample > 0 ? sampleAt[0]! : -1;
    for (let i = 0; i < length; i++) {
      const targets = routes[streams[i]!]!;
      const idle = i === nextIdle;
      // A sampled record's time here, where this topology has something to do with it.
      const t0 = i === nextSample && (targets.length > 0 || idle) ? performance.now() : 0;
      if (targets.length > 0) {
        this.at = 2 * i;
        const rec = records[i]!;
        for (let j = 0; j < targets.length; j++) {
          const t = targets[j]!;
          // Read before the record goes down: after it, whatever the topology did has evicted
          // the group and its stage from the cache.
          const w = t.group.stage[i];
          t.subject.next(rec);
          if (w !== undefined) t.subject.next(w);
        }
      }
      if (idle) {
        this.at = 2 * i + 1;
        const base = q * ng;
        for (let j = 0; j < mine.length; j++) {
          const t = mine[j]!;
          const w = idleSends[base + t.group.index];
          if (w !== undefined) t.subject.next(w);
        }
        q++;
        nextIdle = q < nIdle ? idleAt[q]! : -1;
      }
      if (i === nextSample) {
        if (t0 !== 0) sampleMs[m] = sampleMs[m]! + (performance.now() - t0);
        m++;
        nextSample = m < nSample ? sampleAt[m]! : -1;
      }
    }
  }

  /**
   * Idle sources follow the job's event-time clock; checking every interval keeps it cheap. Stages
   * what each group sends after record i as idle check q. Returns the last watermark object staged.
   */
  private stageIdle(lastW: Watermark, i: number, q: number): Watermark {
    const interval = this.interval;
    this.nextIdleCheck = this.globalMax + interval;
    const groups = this.groups;
    if (q === this.idleAt.length) this.idleAt = grown(this.idleAt, q + 1);
    this.idleAt[q] = i;
    const base = q * groups.length;
    for (let j = 0; j < groups.length; j++) {
      const g = groups[j]!;
      g.tracker.advanceClock(this.globalMax);
      lastW = stageWatermark(g, g.tracker.current(), interval, lastW);
      this.idleSends[base + j] = g.send;
    }
    return lastW;
  }

  /** Holds a topology's call to its env made during `push`, at the position being pushed. */
  private hold(kind: number, a: unknown, b: unknown, c: unknown): void {
    this.held.push({ at: this.at, kind, a, b, c });
  }

  /** Hands the calls held during `push` to the sinks, in the record-by-record order. */
  private deliver(): void {
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    // Stable: calls at one position stay in topology order (the topologies ran in that order),
    // and each topology's own calls in theirs.
    held.sort((x, y) => x.at - y.at);
    const sinks = this.opts.sinks;
    for (const e of held) {
      if (e.kind === ALERT) sinks.onAlert(e.a as Alert);
      else if (e.kind === OUTPUT) sinks.onOutput(e.a as string, e.b);
      else if (e.kind === LATE) sinks.onLate(e.a as string, e.b);
      else if (e.kind === SNAPSHOT) sinks.onSnapshot?.(e.a as string, e.b as number, e.c as SnapshotRows);
      else this.failure ??= e.a;
    }
  }

  /** Set while `push` runs the topologies: their calls to the sinks are held. */
  private holding = false;
  /** Where `push` is: 2 x the record's index, plus 1 during the idle check after it. */
  private at = 0;
  private held: Effect[] = [];
  /** Records after which `push` checks idleness (for its batch), and what each group sends there. */
  private idleAt = new Int32Array(64);
  private readonly idleSends: Array<Watermark | undefined> = [];
  /** The first topology's targets of each stream, and all of them (none without topologies). */
  private firstRoutes: Target[][] = [];
  private firstTargets: Target[] = [];
  /** Event times of the records `push` is about to stage (see there). */
  private readonly tsAhead = new Float64Array(256);
  /** The batch's sampled records (latency) and their time so far, in ms. */
  private sampleAt = new Int32Array(0);
  private sampleMs = new Float64Array(0);
  /** The last watermark object `push` staged (shared by the groups that reach the same watermark). */
  private lastW: Watermark = new W(Number.NEGATIVE_INFINITY);

  /**
   * The run's counters after a batch (apart from the per-record loop: code that runs once per batch
   * has no type feedback when the loop gets optimised, and would throw its optimised code away).
   */
  private countBatch(records: ReadonlyArray<Timestamped>, length: number): void {
    const counts = this.streamCounts;
    const names = this.opts.source.streamNames;
    for (let k = 0; k < names.length; k++) if (counts[k]! > 0) this.stats.eventsByStream[names[k]!] = counts[k]!;
    this.stats.events += length;
    if (Number.isNaN(this.stats.firstEventTime)) this.stats.firstEventTime = records[0]!.ts;
    this.stats.lastEventTime = records[length - 1]!.ts;
  }

  /** Per-event processing latency percentiles (µs) when `latencySampleEvery` is set. */
  latencyPercentiles(): LatencySummary | undefined {
    return this.latency?.summary();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      const f = this.failure;
      if (f instanceof RiskflowError) throw f;
      throw new InternalError('the dataflow failed', { cause: f });
    }
  }

  private snapshotRunner(): RunnerSnapshot {
    return {
      targets: this.targets.map((t) => ({ tracker: t.group.tracker.snapshot(), lastWm: t.group.lastWm })),
      globalMax: this.globalMax,
      nextIdleCheck: this.nextIdleCheck,
      lastCheckpointEventTime: this.lastCheckpointEventTime,
      stats: { ...this.stats, eventsByStream: { ...this.stats.eventsByStream } },
    };
  }

  /** Waits for a checkpoint written in the background (`checkpoint.background`), if any. */
  private async checkpointWritten(): Promise<void> {
    const p = this.pendingCheckpoint;
    this.pendingCheckpoint = undefined;
    if (p) await p;
    this.throwIfFailed();
  }
  private pendingCheckpoint: Promise<void> | undefined;
  /**
   * Records or an idle flush since the last checkpoint: a wall-clock checkpoint (`everyWallMs`) is
   * taken only then, so a quiet live source that returns empty batches writes none.
   */
  private dirty = false;

  private async writeCheckpoint(final = false): Promise<void> {
    const cp = this.opts.checkpoint!;
    await this.checkpointWritten();
    await this.opts.sinks.sync?.();
    this.dirty = false;
    this.lastCheckpointEventTime = this.globalMax;
    this.checkpointSeq++;
    this.stats.checkpoints++;
    const seq = this.checkpointSeq;
    // store.write serialises before its first await: the state below is captured now.
    const written = cp.store.write({
      version: 1,
      seq: this.checkpointSeq,
      createdAt: this.clock.now(),
      jobFingerprint: cp.fingerprint,
      sourcePosition: this.opts.source.position(),
      runner: this.snapshotRunner(),
      operators: this.ctx.snapshot(),
      sinks: this.opts.sinks.snapshot?.(),
    });
    if (cp.background && !final) {
      this.lastCheckpointWall = this.clock.now();
      this.pendingCheckpoint = written
        .then(() => this.opts.sinks.commit?.(seq))
        .then(
          () => undefined,
          (err: unknown) => {
            this.failure ??= err;
          },
        );
      return;
    }
    await written;
    this.lastCheckpointWall = this.clock.now();
    await this.opts.sinks.commit?.(seq);
  }

  private async restoreFrom(chk: CheckpointData): Promise<void> {
    const cp = this.opts.checkpoint!;
    if (chk.jobFingerprint !== cp.fingerprint) {
      throw new RiskflowError('E_CHECKPOINT', 'the checkpoint belongs to another job (topologies, parameters or input changed)');
    }
    const unclaimed = this.ctx.unclaimed();
    if (unclaimed.length) {
      throw new RiskflowError('E_CHECKPOINT', `checkpointed state has no operator: ${unclaimed.join(', ')}`);
    }
    const r = chk.runner as RunnerSnapshot;
    if (r.targets.length !== this.targets.length) {
      throw new RiskflowError('E_CHECKPOINT', 'the checkpoint has a different set of sources');
    }
    // The targets of one group have equal entries (they were one group when it was taken).
    r.targets.forEach((s, i) => {
      const g = this.targets[i]!.group;
      g.tracker.restore(s.tracker);
      g.lastWm = s.lastWm;
    });
    this.globalMax = r.globalMax;
    this.nextIdleCheck = r.nextIdleCheck;
    this.lastCheckpointEventTime = r.lastCheckpointEventTime;
    this.stats = { ...r.stats, restoredFromSeq: chk.seq, completed: false };
    this.opts.source.streamNames.forEach((name, k) => (this.streamCounts[k] = this.stats.eventsByStream[name] ?? 0));
    this.checkpointSeq = chk.seq;
    await this.opts.source.seek(chk.sourcePosition);
    await this.opts.sinks.restore?.(chk.sinks);
  }
}
