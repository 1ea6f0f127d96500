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
  /** 1-based line (JSONL) or row (Arrow) number of each record. */
  lines: number[];
  /** Byte offset just past each record's line, for seekable (plain JSONL) files; else -1. */
  ends: number[];
  dead: Array<DeadLetter[] | undefined>;
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
 * Shared by the readers: a fresh, empty chunk.
 *
 * @example
 * const c = newChunk(); const i = c.length++; c.records[i] = rec;
 */
export function newChunk(): ReaderChunk {
  return { records: [], lines: [], ends: [], dead: [], length: 0 };
}
