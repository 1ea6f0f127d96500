import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Alert } from '../core/alerts.js';
import { CheckpointStore } from '../core/checkpoint.js';
import { UsageError } from '../core/errors.js';
import { Runner, type BatchSource, type LatencySummary, type RunStats, type SourceBatch } from '../core/runner.js';
import { formatEventTime, parseDuration, systemClock } from '../core/time.js';
import { loadDay, DayReplaySource, Pacer, parseSpeed } from '../connectors/replay/index.js';
import { ProgressReporter } from '../observability/progress.js';
import { loadTopology, type LoadedTopology } from '../topology/index.js';
import { packageRoot } from './paths.js';
import { ReplaySinks, type SinkCounts } from './replay-sinks.js';
import { ReplaySnapshots } from './replay-snapshots.js';
import { evaluateDetection, formatDetectionTable, loadDetectionInputs, type DetectionResult } from './detection.js';

export interface ReplayOptions {
  dayDir: string;
  /** Topology files; default: the standard topologies in the package's topologies/. */
  topologies?: string[];
  outDir: string;
  /** `max` (default) or `<N>x`. */
  speed?: string;
  /** `--set a.b=value` overrides, applied to every topology that declares the parameter. */
  set?: string[];
  checkpointDir?: string;
  /** Event time between checkpoints (default 60s). */
  checkpointEvery?: string;
  /** Ignore an existing checkpoint and start from the beginning. */
  fresh?: boolean;
  progress?: boolean;
  stderr?: NodeJS.WritableStream;
  keepAlerts?: boolean;
  signal?: AbortSignal;
  /**
   * Records per batch (default {@link REPLAY_BATCH}, or {@link FAST_REPLAY_BATCH} at full speed
   * without checkpoints). Outputs do not depend on it.
   */
  batchSize?: number;
  /** Event time between state snapshots (default 60s); written under <out>/snapshots. */
  snapshotEvery?: string;
  /** Snapshot files kept per table: a number, or `all` (default). */
  snapshotRetention?: string;
  /** Time every Nth event's processing; the percentiles go to summary.latencyUs (benchmarks). */
  latencySampleEvery?: number;
  /** Print the detection table on stderr when the day has incidents.json (default true). */
  printDetection?: boolean;
  /** Called after every batch (tests stop a run at a chosen batch with it). */
  onBatch?: (stats: RunStats) => void;
}

/** Records per batch of a replay: the runner paces, checkpoints and stops between batches. */
export const REPLAY_BATCH = 4096;

/**
 * Records per batch of a replay at full speed without checkpoints (nothing happens between its
 * batches but the sinks' flush): the runner takes a batch through one topology after the other,
 * and longer batches keep each topology's working set in cache longer. On the bench day (three
 * topologies, 2.67M events) main-thread CPU fell 11% from 4096 (3 interleaved pairs; 16384: 6%,
 * 65536: 15% but +127 MB peak RSS), for +57 MB peak RSS.
 */
export const FAST_REPLAY_BATCH = 32_768;

export interface ReplaySummary {
  day: string;
  date: string | undefined;
  topologies: Array<{ name: string; file: string }>;
  overrides: string[];
  events: { total: number; byStream: Record<string, number> };
  deadLetters: number;
  late: Record<string, number>;
  alerts: { total: number; byType: Record<string, number>; byTopic: Record<string, number> };
  outputs: Record<string, number>;
  eventTime: { first: string | null; last: string | null };
  wallMs: number;
  eventsPerSecond: number;
  checkpoints: number;
  resumedFromCheckpoint: number | null;
  completed: boolean;
  /** Per-event processing latency in µs, when sampled (`latencySampleEvery`). */
  latencyUs?: LatencySummary;
  /** Labelled incidents against the alerts raised, when the day has incidents.json. */
  detection?: DetectionResult;
}

export interface ReplayResult {
  summary: ReplaySummary;
  stats: RunStats;
  alerts: Alert[] | undefined;
  topologies: LoadedTopology[];
}

/** The standard topologies shipped in the package's topologies/ folder, in name order. */
export async function standardTopologies(): Promise<string[]> {
  const dir = join(packageRoot(), 'topologies');
  const names = (await readdir(dir)).filter((n) => /\.(ya?ml)$/.test(n) || (/\.ts$/.test(n) && !n.endsWith('.d.ts'))).sort();
  return names.map((n) => join(dir, n));
}

/**
 * Loads the topologies, giving each the `--set` overrides of the parameters it declares. A
 * parameter that no topology declares is a usage error (a typo must not silently do nothing).
 */
export async function loadTopologies(files: string[], set: string[] = []): Promise<LoadedTopology[]> {
  const bare = await Promise.all(files.map((f) => loadTopology(f)));
  const used = new Set<string>();
  const out: LoadedTopology[] = [];
  for (let i = 0; i < files.length; i++) {
    const mine = set.filter((s) => {
      const path = s.slice(0, s.indexOf('=') < 0 ? s.length : s.indexOf('='));
      if (declares(bare[i]!.params, path)) {
        used.add(s);
        return true;
      }
      return false;
    });
    out.push(mine.length ? await loadTopology(files[i]!, { set: mine }) : bare[i]!);
  }
  const unknown = set.filter((s) => !used.has(s));
  if (unknown.length) {
    throw new UsageError(`--set ${unknown.join(', ')}: no topology declares ${unknown.length > 1 ? 'these parameters' : 'this parameter'}`);
  }
  return out;
}

function declares(params: unknown, path: string): boolean {
  let cur: unknown = params;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(part in (cur as object))) return false;
    cur = (cur as Record<string, unknown>)[part];
  }
  return true;
}

/**
 * `riskflow replay`: runs topologies over a recorded day and writes alerts.jsonl,
 * dead-letters.jsonl, late.jsonl, outputs/ and summary.json under `outDir`.
 *
 * @example await replayDay({ dayDir: 'fixtures/demo-day', outDir: 'out' })
 */
export async function replayDay(o: ReplayOptions): Promise<ReplayResult> {
  const started = systemClock.now();
  const files = o.topologies?.length ? o.topologies.map((f) => resolve(f)) : await standardTopologies();
  const topologies = await loadTopologies(files, o.set ?? []);
  const day = await loadDay(o.dayDir);
  const speed = parseSpeed(o.speed ?? 'max');

  const streams: string[] = [];
  for (const t of topologies) for (const s of t.sources) if (!streams.includes(s.stream)) streams.push(s.stream);

  const snapshots = new ReplaySnapshots(o.outDir, { every: o.snapshotEvery ?? '60s', retention: o.snapshotRetention });
  const sinks = new ReplaySinks(o.outDir, { keepAlerts: o.keepAlerts ?? false, snapshots });
  const source = new DayReplaySource(day, {
    streams: streams as Array<'trade' | 'quote' | 'order'>,
    batchSize: o.batchSize ?? (Number.isFinite(speed) || o.checkpointDir !== undefined ? REPLAY_BATCH : FAST_REPLAY_BATCH),
    onDeadLetter: (d) => sinks.onDeadLetter(d),
  });
  await source.open();
  const batchSource: BatchSource = {
    streamNames: streams,
    nextBatch: () => source.nextBatch() as Promise<SourceBatch | null>,
    position: () => source.position(),
    seek: (p) => Promise.resolve(source.seek(p as never)),
  };

  let store: CheckpointStore | undefined;
  let restore;
  // A resume must not change the snapshot interval: it is part of the job.
  const fingerprint = jobFingerprint(resolve(o.dayDir), topologies, snapshots.intervalMs);
  if (o.checkpointDir) {
    store = new CheckpointStore(o.checkpointDir);
    if (o.fresh) await store.clear();
    restore = await store.latest();
    if (restore && restore.jobFingerprint !== fingerprint) {
      throw new UsageError(
        `${o.checkpointDir} holds a checkpoint of another job (day, topologies or parameters differ): use --fresh or another --checkpoint-dir`,
      );
    }
  }
  await mkdir(o.outDir, { recursive: true });
  await sinks.open(restore?.sinks);

  const stderr = o.stderr ?? process.stderr;
  const progress = o.progress === false ? undefined : new ProgressReporter({ stream: stderr as NodeJS.WriteStream });
  const pacer = Number.isFinite(speed) ? new Pacer(speed) : undefined;

  const runner = new Runner({
    source: batchSource,
    topologies,
    reference: day.reference,
    sinks,
    checkpoint: store
      ? { store, fingerprint, restore, everyEventMs: parseDuration(o.checkpointEvery ?? '60s', '--checkpoint-every') }
      : undefined,
    pace: pacer ? (t) => pacer.pace(t) : undefined,
    snapshotIntervalMs: snapshots.intervalMs,
    onBatch: (st) => {
      snapshots.advance(st.lastEventTime, st.firstEventTime);
      if (progress) progress.update({ ...source.progress(), deadLetters: sinks.counts.deadLetters });
      o.onBatch?.(st);
    },
    signal: o.signal,
    checkpointOnStop: true,
    latencySampleEvery: o.latencySampleEvery,
  });
  let stats: RunStats;
  try {
    stats = await runner.run();
  } finally {
    await source.close();
  }
  progress?.finish();
  if (stats.completed) await sinks.close();
  else await sinks.sync();

  const wallMs = systemClock.now() - started;
  const summary = summarize(o, day.meta?.date, topologies, stats, sinks.counts, wallMs);
  const latency = runner.latencyPercentiles();
  if (latency) summary.latencyUs = latency;
  if (stats.completed) {
    const labelled = await loadDetectionInputs(o.dayDir);
    if (labelled) {
      // Read back from the file: after a resume, alerts from before the checkpoint are only there.
      const alerts = (await readFile(sinks.alerts.path, 'utf8'))
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Alert);
      summary.detection = evaluateDetection(labelled.incidents, alerts, labelled.calm ? { calm: labelled.calm } : {});
      if (o.printDetection !== false) stderr.write(`${formatDetectionTable(summary.detection)}\n`);
    }
  }
  if (stats.completed) await writeFile(join(o.outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return { summary, stats, alerts: sinks.kept, topologies };
}

function jobFingerprint(dayDir: string, topologies: LoadedTopology[], snapshotIntervalMs: number): string {
  const h = createHash('sha256');
  h.update(`${dayDir}\u0000${snapshotIntervalMs}`);
  for (const t of topologies) h.update(`\u0000${t.name}\u0000${JSON.stringify(t.spec)}\u0000${JSON.stringify(t.params)}`);
  return h.digest('hex');
}

function summarize(
  o: ReplayOptions,
  date: string | undefined,
  topologies: LoadedTopology[],
  stats: RunStats,
  counts: SinkCounts,
  wallMs: number,
): ReplaySummary {
  return {
    day: o.dayDir,
    date,
    topologies: topologies.map((t) => ({ name: t.name, file: t.file })),
    overrides: o.set ?? [],
    events: { total: stats.events, byStream: stats.eventsByStream },
    deadLetters: counts.deadLetters,
    late: counts.late,
    alerts: { total: counts.alerts, byType: counts.alertsByType, byTopic: counts.alertsByTopic },
    outputs: counts.outputs,
    eventTime: {
      first: Number.isFinite(stats.firstEventTime) ? formatEventTime(stats.firstEventTime) : null,
      last: Number.isFinite(stats.lastEventTime) ? formatEventTime(stats.lastEventTime) : null,
    },
    wallMs,
    eventsPerSecond: wallMs > 0 ? Math.round((stats.events / wallMs) * 1000) : 0,
    checkpoints: stats.checkpoints,
    resumedFromCheckpoint: stats.restoredFromSeq ?? null,
    completed: stats.completed,
  };
}

/** Does a path exist and is it a directory (for friendly usage errors)? */
export async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}
