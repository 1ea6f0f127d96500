import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { CheckpointError, UsageError } from '../../core/errors.js';
import { isStreamName, type DeadLetter, type StreamName } from '../events.js';
import { ArrowReader } from './arrow.js';
import type { RecordedDay } from './day.js';
import { JsonlReader } from './jsonl.js';
import type { EventReader, ReaderChunk } from './reader.js';

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/**
 * The reader for an event file, chosen by its name: `.arrow` (Arrow IPC), `.jsonl.gz` (gzip
 * JSONL) or anything else (plain JSONL).
 *
 * @example
 * const r = openEventReader('day/quotes.jsonl.gz', 'quote'); await r.open();
 */
export function openEventReader(file: string, stream: StreamName): EventReader {
  if (file.endsWith('.arrow')) return new ArrowReader(file, stream);
  return new JsonlReader(file, stream, { gzip: file.endsWith('.gz') });
}

/**
 * Options of a {@link DayReplaySource}. `streams` says which streams to replay and, by their
 * order, which one goes first when records of several streams have the same `ts`.
 *
 * @example
 * { streams: ['quote', 'trade', 'order'], batchSize: 4096, onDeadLetter: (d) => dlq.write(d) }
 */
export interface DayReplayOptions {
  streams: StreamName[];
  batchSize?: number;
  onDeadLetter: (d: DeadLetter) => void;
}

/**
 * One batch of merged records. `records[i]` came from stream `opts.streams[streams[i]]`. The
 * batch object and `streams` are reused by the next `nextBatch()` call (`records` is a new array
 * each time): copy what must outlive the batch. Only the first `length` entries of `streams` are
 * meaningful (`records.length === length`).
 *
 * @example
 * for (let i = 0; i < b.length; i++) route(opts.streams[b.streams[i]!]!, b.records[i]!);
 */
export interface ReplayBatch {
  records: object[];
  streams: Uint8Array;
  length: number;
}

/**
 * Where one file of the replay stands: lines (rows) consumed, the byte offset just past them for
 * plain files (-1 for gzip and Arrow), and whether the file is finished.
 *
 * @example
 * { stream: 'trade', file: 'trades.jsonl', lines: 1200, byteOffset: 228_431, done: false }
 */
export interface ReplayFilePosition {
  stream: StreamName;
  /** Base name of the file, checked on seek so a checkpoint is not applied to another day's layout. */
  file: string;
  lines: number;
  byteOffset: number;
  done: boolean;
}

/**
 * A structured-cloneable replay position, taken between batches (checkpoint) and given back to
 * {@link DayReplaySource.seek} (restore). It also carries the progress counters so that they
 * continue where they were.
 *
 * @example
 * const pos = src.position(); v8.serialize(pos); // then later: await src.seek(pos)
 */
export interface ReplayPosition {
  version: 1;
  files: ReplayFilePosition[];
  events: number;
  deadLetters: number;
  eventTime: number;
}

/**
 * Counters for the progress bar and the run summary.
 *
 * @example
 * progressReporter.update(source.progress())
 */
export interface ReplayProgress {
  events: number;
  deadLetters: number;
  /** Largest event time replayed so far (-Infinity before the first record). */
  eventTime: number;
  bytesRead: number;
  totalBytes: number;
}

interface Cursor {
  stream: StreamName;
  index: number;
  file: string;
  reader: EventReader | undefined;
  chunk: ReaderChunk | undefined;
  i: number;
  done: boolean;
  lines: number;
  byteOffset: number;
  size: number;
}

/**
 * Replays a recorded day: reads its event files (JSONL, gzip JSONL or Arrow) and merges them into
 * one sequence ordered by event time, with a stable tie-break (the order of `opts.streams`, then
 * the order within the file), delivered in batches (DESIGN.md: the source pulls a batch, the
 * graph processes it, then the next is pulled). Records out of order within a file are passed on
 * as they are; the merge just takes the smallest head, and watermarks deal with lateness. Bad
 * lines go to `onDeadLetter`, reported in file order as the merge passes them; good records always
 * continue. Between batches, `position()` captures exactly where it is and `seek()` resumes there:
 * the concatenated output of a run stopped after any batch and resumed equals that of one run.
 *
 * @example
 * const src = new DayReplaySource(await loadDay('fixtures/demo-day'), { streams: ['quote', 'trade'], onDeadLetter: log });
 * await src.open();
 * for (let b = await src.nextBatch(); b; b = await src.nextBatch()) push(b);
 * await src.close();
 */
export class DayReplaySource {
  private readonly cursors: Cursor[];
  private readonly batchSize: number;
  private readonly onDeadLetter: (d: DeadLetter) => void;
  private readonly batch: ReplayBatch;
  private events = 0;
  private deadLetters = 0;
  private eventTime = Number.NEGATIVE_INFINITY;
  private opened = false;

  constructor(
    readonly day: RecordedDay,
    private readonly opts: DayReplayOptions,
  ) {
    const seen = new Set<StreamName>();
    for (const s of opts.streams) {
      if (!isStreamName(s)) throw new UsageError(`unknown stream '${String(s)}': use trade, quote or order`);
      if (seen.has(s)) throw new UsageError(`stream '${s}' listed twice`);
      seen.add(s);
    }
    this.batchSize = opts.batchSize ?? 4096;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new UsageError(`batchSize must be a positive integer, got ${this.batchSize}`);
    }
    this.onDeadLetter = opts.onDeadLetter;
    this.cursors = [];
    opts.streams.forEach((stream, index) => {
      const file = day.files[stream];
      // A stream the day does not have (orders are optional) simply contributes nothing.
      if (file === undefined) return;
      this.cursors.push({ stream, index, file, reader: undefined, chunk: undefined, i: 0, done: false, lines: 0, byteOffset: 0, size: 0 });
    });
    this.batch = { records: [], streams: new Uint8Array(this.batchSize), length: 0 };
  }

  /** Opens every file at its start. */
  async open(): Promise<void> {
    await this.closeReaders();
    for (const c of this.cursors) {
      c.lines = 0;
      c.byteOffset = 0;
      c.done = false;
      await this.openCursor(c);
    }
    this.events = 0;
    this.deadLetters = 0;
    this.eventTime = Number.NEGATIVE_INFINITY;
    this.opened = true;
  }

  private async openCursor(c: Cursor): Promise<void> {
    c.chunk = undefined;
    c.i = 0;
    const r = openEventReader(c.file, c.stream);
    c.reader = r;
    await r.open({ lines: c.lines, byteOffset: r.seekable ? c.byteOffset : undefined });
    c.size = r.totalBytes();
  }

  /**
   * The next batch (up to `batchSize` records), or null when every file is exhausted. Dead
   * letters met on the way are passed to `onDeadLetter` before this resolves.
   */
  async nextBatch(): Promise<ReplayBatch | null> {
    if (!this.opened) await this.open();
    const cursors = this.cursors;
    const nc = cursors.length;
    // A new array per batch: it is young, like the records stored into it, so the stores need no
    // remembered-set entry (a long-lived array would take one per record, for the scavenger).
    const records: object[] = new Array<object>(this.batchSize);
    const streams = this.batch.streams;
    const max = this.batchSize;
    let eventTime = this.eventTime;
    let n = 0;
    while (n < max) {
      let best: Cursor | undefined;
      let bestTs = 0;
      let bestK = -1;
      for (let k = 0; k < nc; k++) {
        const c = cursors[k]!;
        if (c.done) continue;
        if (c.chunk === undefined || c.i >= c.chunk.length) {
          await this.refill(c);
          if (c.done) continue;
        }
        const ts = c.chunk!.ts[c.i]!;
        // Strict '<' keeps the earlier stream on ties: cursors are in `opts.streams` order.
        if (best === undefined || ts < bestTs) {
          best = c;
          bestTs = ts;
          bestK = k;
        }
      }
      if (best === undefined) break;
      // The run of `best` goes on while its records stay ahead of every other head: before the
      // heads of earlier streams, not after those of later ones (ties go to the earlier stream).
      let before = Number.POSITIVE_INFINITY;
      let upTo = Number.POSITIVE_INFINITY;
      for (let k = 0; k < nc; k++) {
        const c = cursors[k]!;
        if (k === bestK || c.done) continue;
        const h = c.chunk!.ts[c.i]!;
        if (k < bestK) {
          if (h < before) before = h;
        } else if (h < upTo) upTo = h;
      }
      const chunk = best.chunk!;
      const cts = chunk.ts;
      const crec = chunk.records;
      const idx = best.index;
      const len = chunk.length;
      let i = best.i;
      if (chunk.anyDead) {
        const dead = chunk.dead;
        do {
          const d = dead[i];
          if (d !== undefined) this.emitDead(d);
          const ts = cts[i]!;
          if (ts > eventTime) eventTime = ts;
          records[n] = crec[i]!;
          streams[n] = idx;
          n++;
          i++;
        } while (n < max && i < len && cts[i]! < before && cts[i]! <= upTo);
      } else {
        do {
          const ts = cts[i]!;
          if (ts > eventTime) eventTime = ts;
          records[n] = crec[i]!;
          streams[n] = idx;
          n++;
          i++;
        } while (n < max && i < len && cts[i]! < before && cts[i]! <= upTo);
      }
      best.i = i;
    }
    this.eventTime = eventTime;
    this.events += n;
    if (n === 0) {
      this.batch.records = [];
      this.batch.length = 0;
      return null;
    }
    if (n < max) records.length = n;
    this.batch.records = records;
    this.batch.length = n;
    return this.batch;
  }

  // Where a cursor stands is the line and end offset of its last consumed record, read from its
  // chunk when asked (not stored per record).
  private sync(c: Cursor): void {
    const chunk = c.chunk;
    if (chunk !== undefined && c.i > 0) {
      c.lines = chunk.lines[c.i - 1]!;
      c.byteOffset = chunk.ends[c.i - 1]!;
    }
  }

  private async refill(c: Cursor): Promise<void> {
    this.sync(c);
    const r = c.reader!;
    const chunk = await r.nextChunk();
    if (chunk !== null) {
      c.chunk = chunk;
      c.i = 0;
      return;
    }
    const trailing = r.takeTrailingDeadLetters();
    if (trailing.length > 0) this.emitDead(trailing);
    c.done = true;
    c.chunk = undefined;
    c.lines = r.linesRead();
    c.byteOffset = r.endOffset();
    c.size = r.totalBytes();
    await r.close();
    c.reader = undefined;
  }

  private emitDead(list: DeadLetter[]): void {
    for (const d of list) {
      this.deadLetters++;
      this.onDeadLetter(d);
    }
  }

  /** Where the replay stands after the last batch returned; see {@link ReplayPosition}. */
  position(): ReplayPosition {
    for (const c of this.cursors) this.sync(c);
    return {
      version: 1,
      files: this.cursors.map((c) => ({
        stream: c.stream,
        file: basename(c.file),
        lines: c.lines,
        byteOffset: c.byteOffset,
        done: c.done,
      })),
      events: this.events,
      deadLetters: this.deadLetters,
      eventTime: this.eventTime,
    };
  }

  /**
   * Continues from a position taken by `position()` on a source over the same day and streams:
   * the next batch starts with the record after the last one consumed. Plain JSONL files seek to
   * the byte offset; gzip and Arrow files are re-read and skipped.
   */
  async seek(pos: ReplayPosition): Promise<void> {
    if (pos === null || typeof pos !== 'object' || pos.version !== 1 || !Array.isArray(pos.files)) {
      throw new CheckpointError('not a replay position (expected version 1)');
    }
    const want = this.cursors.map((c) => `${c.stream}:${basename(c.file)}`).join(', ');
    const got = pos.files.map((f) => `${f.stream}:${f.file}`).join(', ');
    if (want !== got) {
      throw new CheckpointError(`the checkpoint was taken on other input files (${got}), this replay reads ${want}`);
    }
    await this.closeReaders();
    for (let k = 0; k < this.cursors.length; k++) {
      const c = this.cursors[k]!;
      const f = pos.files[k]!;
      c.lines = f.lines;
      c.byteOffset = f.byteOffset;
      c.done = f.done;
      c.chunk = undefined;
      c.i = 0;
      if (!c.done) await this.openCursor(c);
      else c.size = await fileSize(c.file);
    }
    this.events = pos.events;
    this.deadLetters = pos.deadLetters;
    this.eventTime = pos.eventTime;
    this.opened = true;
  }

  /** Counters for progress reporting; cheap enough to call after every batch. */
  progress(): ReplayProgress {
    let bytesRead = 0;
    let totalBytes = 0;
    for (const c of this.cursors) {
      totalBytes += c.size;
      bytesRead += c.done ? c.size : (c.reader?.bytesRead() ?? 0);
    }
    return { events: this.events, deadLetters: this.deadLetters, eventTime: this.eventTime, bytesRead, totalBytes };
  }

  /** Releases the open files; the source can be opened or seeked again afterwards. */
  async close(): Promise<void> {
    await this.closeReaders();
    this.opened = false;
  }

  private async closeReaders(): Promise<void> {
    for (const c of this.cursors) {
      this.sync(c);
      const r = c.reader;
      c.reader = undefined;
      c.chunk = undefined;
      if (r) await r.close();
    }
  }
}
