import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, stat, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Alert } from '../core/alerts.js';
import type { JobSinks } from '../core/runner.js';
import type { SnapshotRows } from '../core/snapshot-rows.js';
import type { ReplaySnapshots } from './replay-snapshots.js';

/**
 * An append-only JSONL file that can resume: `bytes` goes into checkpoints and `resumeAt(bytes)`
 * truncates what was written after the checkpoint, so a resumed replay never duplicates a line.
 * Until `close()` the file is `<path>.partial`; close renames it, so a finished file is complete.
 */
export class ResumableJsonl {
  private out: WriteStream | undefined;
  private pending: string[] = [];
  bytes = 0;
  lines = 0;
  constructor(readonly path: string) {}

  private get partial(): string {
    return `${this.path}.partial`;
  }

  async open(resumeAt?: { bytes: number; lines: number }): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    if (resumeAt) {
      const size = await stat(this.partial).then((s) => s.size, () => -1);
      if (size < resumeAt.bytes) {
        throw new Error(`${this.partial} is shorter than the checkpoint says (${size} < ${resumeAt.bytes})`);
      }
      await truncate(this.partial, resumeAt.bytes);
      this.bytes = resumeAt.bytes;
      this.lines = resumeAt.lines;
      this.out = createWriteStream(this.partial, { flags: 'a', highWaterMark: 1 << 20 });
    } else {
      this.out = createWriteStream(this.partial, { flags: 'w', highWaterMark: 1 << 20 });
    }
  }

  write(obj: unknown): void {
    const line = `${JSON.stringify(obj)}\n`;
    this.pending.push(line);
    this.bytes += Buffer.byteLength(line);
    this.lines++;
  }

  /**
   * Hands what was written since the last call to the file stream without waiting for the disk
   * (the stream writes in order); waits only while the stream holds more than its high-water mark.
   * `sync()` waits until everything handed over is written.
   */
  async flush(): Promise<void> {
    this.throwIfFailed();
    if (this.pending.length === 0 || !this.out) return;
    const chunk = this.pending.join('');
    this.pending = [];
    const out = this.out;
    this.written = new Promise<void>((res) =>
      out.write(chunk, (e) => {
        if (e) this.failure ??= e;
        res();
      }),
    );
    if (out.writableNeedDrain) await this.written;
    this.throwIfFailed();
  }

  /** flush(), then waits until every line so far is written. */
  async sync(): Promise<void> {
    await this.flush();
    await this.written;
    this.throwIfFailed();
  }
  private written: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await this.sync();
    const out = this.out;
    if (out) await new Promise<void>((res) => out.end(res));
    this.out = undefined;
    await rename(this.partial, this.path);
  }
}

interface Offset {
  bytes: number;
  lines: number;
}
interface SinksSnapshot {
  alerts: Offset;
  deadLetters: Offset;
  late: Offset;
  outputs: Record<string, Offset>;
  counts: SinkCounts;
  snapshots?: unknown;
}

/** Counters a replay reports in summary.json. */
export interface SinkCounts {
  alerts: number;
  alertsByType: Record<string, number>;
  alertsByTopic: Record<string, number>;
  late: Record<string, number>;
  outputs: Record<string, number>;
  deadLetters: number;
}

/**
 * The file sinks of `riskflow replay`: alerts.jsonl, dead-letters.jsonl, late.jsonl and one
 * outputs/<name>.jsonl per sink step, all resumable from a checkpoint.
 */
export class ReplaySinks implements JobSinks {
  readonly alerts: ResumableJsonl;
  readonly deadLetters: ResumableJsonl;
  readonly late: ResumableJsonl;
  private readonly outputs = new Map<string, ResumableJsonl>();
  counts: SinkCounts = { alerts: 0, alertsByType: {}, alertsByTopic: {}, late: {}, outputs: {}, deadLetters: 0 };
  /** Alerts kept in memory too when asked (tests, the detection table). */
  readonly kept: Alert[] | undefined;

  private readonly snapshotSink: ReplaySnapshots | undefined;

  constructor(
    private readonly outDir: string,
    opts: { keepAlerts?: boolean; onAlert?: (a: Alert) => void; snapshots?: ReplaySnapshots } = {},
  ) {
    this.snapshotSink = opts.snapshots;
    this.alerts = new ResumableJsonl(join(outDir, 'alerts.jsonl'));
    this.deadLetters = new ResumableJsonl(join(outDir, 'dead-letters.jsonl'));
    this.late = new ResumableJsonl(join(outDir, 'late.jsonl'));
    this.kept = opts.keepAlerts ? [] : undefined;
    this.alertHook = opts.onAlert;
  }
  private readonly alertHook: ((a: Alert) => void) | undefined;

  /**
   * Opens every file: fresh, or when `resume` is a checkpoint's sink snapshot, truncated to the
   * checkpoint's offsets so the resumed run appends exactly where the checkpoint was taken.
   */
  async open(resume?: unknown): Promise<void> {
    if (resume === undefined) {
      await Promise.all([this.alerts.open(), this.deadLetters.open(), this.late.open()]);
      await this.snapshotSink?.open();
      return;
    }
    const s = resume as SinksSnapshot;
    await Promise.all([this.alerts.open(s.alerts), this.deadLetters.open(s.deadLetters), this.late.open(s.late)]);
    for (const [name, at] of Object.entries(s.outputs)) {
      const f = new ResumableJsonl(join(this.outDir, 'outputs', `${name}.jsonl`));
      await f.open(at);
      this.outputs.set(name, f);
    }
    this.counts = structuredClone(s.counts);
    await this.snapshotSink?.open(s.snapshots);
  }

  onAlert(a: Alert): void {
    this.alerts.write(a);
    this.snapshotSink?.onAlert(a);
    this.kept?.push(a);
    const c = this.counts;
    c.alerts++;
    c.alertsByType[a.type] = (c.alertsByType[a.type] ?? 0) + 1;
    c.alertsByTopic[a.topic] = (c.alertsByTopic[a.topic] ?? 0) + 1;
    this.alertHook?.(a);
  }

  onSnapshot(table: string, time: number, rows: SnapshotRows): void {
    this.snapshotSink?.onSnapshot(table, time, rows);
  }

  onDeadLetter(d: unknown): void {
    this.deadLetters.write(d);
    this.counts.deadLetters++;
  }

  onLate(stepId: string, record: unknown): void {
    this.late.write({ step: stepId, record });
    this.counts.late[stepId] = (this.counts.late[stepId] ?? 0) + 1;
  }

  onOutput(name: string, record: unknown): void {
    let f = this.outputs.get(name);
    if (!f) {
      f = new ResumableJsonl(join(this.outDir, 'outputs', `${name}.jsonl`));
      this.outputs.set(name, f);
      this.opening.push(f.open());
    }
    f.write(record);
    this.counts.outputs[name] = (this.counts.outputs[name] ?? 0) + 1;
  }
  private opening: Promise<void>[] = [];

  async flush(): Promise<void> {
    if (this.opening.length) {
      await Promise.all(this.opening);
      this.opening = [];
    }
    await Promise.all([this.alerts.flush(), this.deadLetters.flush(), this.late.flush(), ...[...this.outputs.values()].map((o) => o.flush())]);
    await this.snapshotSink?.writeBehind();
  }

  /** Waits until everything flushed so far is on disk (before a checkpoint and at the end). */
  async sync(): Promise<void> {
    await this.flush();
    await Promise.all([this.alerts.sync(), this.deadLetters.sync(), this.late.sync(), ...[...this.outputs.values()].map((o) => o.sync())]);
    await this.snapshotSink?.flush();
  }

  snapshot(): SinksSnapshot {
    const at = (f: ResumableJsonl) => ({ bytes: f.bytes, lines: f.lines });
    return {
      alerts: at(this.alerts),
      deadLetters: at(this.deadLetters),
      late: at(this.late),
      outputs: Object.fromEntries([...this.outputs].map(([k, f]) => [k, at(f)])),
      counts: structuredClone(this.counts),
      snapshots: this.snapshotSink?.snapshot(),
    };
  }

  async close(): Promise<void> {
    await this.sync();
    await Promise.all([this.alerts.close(), this.deadLetters.close(), this.late.close(), ...[...this.outputs.values()].map((o) => o.close())]);
    await this.snapshotSink?.close();
  }
}
