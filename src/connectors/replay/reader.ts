import type { DeadLetter, StreamName } from '../events.js';

/**
 * A run of validated records read from one event file, with where each came from. `dead[i]`
 * holds the dead letters read since the previous record (bad lines just before record i): the
 * replay source reports them when it consumes record i, so a checkpoint taken between records
 * never loses or repeats a dead letter.
 *
 * @example
 * for (let i = 0; i < chunk.length; i++) use(chunk.records[i], chunk.lines[i]);
 */
export interface ReaderChunk {
  records: Record<string, unknown>[];
  /** Event time of each record (its validated, numeric `ts`), for the merge. */
  ts: Float64Array;
  /** 1-based line (JSONL) or row (Arrow) number of each record. */
  lines: Float64Array;
  /** Byte offset just past each record's line, for seekable (plain JSONL) files; else -1. */
  ends: Float64Array;
  dead: Array<DeadLetter[] | undefined>;
  /** False when no `dead[i]` is set: the merge then skips looking. */
  anyDead: boolean;
  length: number;
}

/**
 * Where to start reading: after `lines` lines/rows, at `byteOffset` when the file is seekable
 * (otherwise the reader re-reads and skips `lines`).
 *
 * @example
 * await reader.open({ lines: 1000, byteOffset: 131_072 });
 */
export interface ReaderStart {
  lines: number;
  byteOffset?: number | undefined;
}

/**
 * One event file of a recorded day, read in chunks of validated records; implemented for JSONL
 * (plain and gzip) and Arrow IPC. Invalid lines never stop it: they become dead letters.
 *
 * @example
 * const r = openEventReader('day/trades.jsonl', 'trade'); await r.open();
 * for (let c = await r.nextChunk(); c; c = await r.nextChunk()) ...
 */
export interface EventReader {
  readonly file: string;
  readonly stream: StreamName;
  /** True when `byteOffset` positions are meaningful (plain files): seeking is then O(1). */
  readonly seekable: boolean;
  open(start?: ReaderStart): Promise<void>;
  /** The next chunk with at least one record, or null at the end of the file. */
  nextChunk(): Promise<ReaderChunk | null>;
  /** Dead letters read after the last record; call once `nextChunk` has returned null. */
  takeTrailingDeadLetters(): DeadLetter[];
  /** File bytes read so far (compressed bytes for gzip), for progress. */
  bytesRead(): number;
  /** Size of the file in bytes (known after `open`). */
  totalBytes(): number;
  /** Lines (rows) read so far; at the end, the file's line count. */
  linesRead(): number;
  /** Byte offset just past the last line read (seekable files), else -1. */
  endOffset(): number;
  close(): Promise<void>;
}

/**
 * Shared by the readers: a fresh, empty chunk to fill with {@link pushRecord} and close with
 * {@link finishChunk} (its typed arrays grow as needed).
 *
 * @example
 * const c = newChunk(); pushRecord(c, rec, line, -1, undefined); return finishChunk(c);
 */
export function newChunk(capacity = 1024): ReaderChunk {
  const cap = Math.max(16, capacity);
  return { records: [], ts: new Float64Array(cap), lines: new Float64Array(cap), ends: new Float64Array(cap), dead: [], anyDead: false, length: 0 };
}

/**
 * Appends a validated record (its `ts` a number), with its line, end offset and the dead letters
 * read just before it.
 *
 * @example pushRecord(chunk, rec, 12, 2048, pendingDead);
 */
export function pushRecord(c: ReaderChunk, rec: Record<string, unknown>, line: number, end: number, dead: DeadLetter[] | undefined): void {
  const i = c.length;
  if (i === c.ts.length) {
    const grow = (a: Float64Array): Float64Array => {
      const b = new Float64Array(a.length * 2);
      b.set(a);
      return b;
    };
    c.ts = grow(c.ts);
    c.lines = grow(c.lines);
    c.ends = grow(c.ends);
  }
  c.records[i] = rec;
  c.ts[i] = rec['ts'] as number;
  c.lines[i] = line;
  c.ends[i] = end;
  if (dead !== undefined) {
    c.dead[i] = dead;
    c.anyDead = true;
  }
  c.length = i + 1;
}

/**
 * The chunk with its typed arrays cut to its length.
 *
 * @example return finishChunk(chunk);
 */
export function finishChunk(c: ReaderChunk): ReaderChunk {
  const n = c.length;
  if (c.ts.length !== n) {
    c.ts = c.ts.subarray(0, n);
    c.lines = c.lines.subarray(0, n);
    c.ends = c.ends.subarray(0, n);
  }
  return c;
}
