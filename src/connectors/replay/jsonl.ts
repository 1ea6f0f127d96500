import { isAscii } from 'node:buffer';
import { createReadStream, type ReadStream } from 'node:fs';
import { open as openFile, stat, type FileHandle } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InputError } from '../../core/errors.js';
import { quickValid, validateEvent, type DeadLetter, type StreamName } from '../events.js';
import { FlatJsonParser, TextPiece } from './flat-json.js';
import { finishChunk, newChunk, pushRecord, type EventReader, type ReaderChunk, type ReaderStart } from './reader.js';

/** Largest run of lines decoded into one string (bytes). */
const ASCII_PIECE = 96 * 1024;

/**
 * Streams a JSONL event file (plain, or gzip when the name ends in `.gz`), one JSON object per
 * line, validating each with {@link validateEvent}. Lines that are not JSON or fail validation
 * become dead letters carrying the file, line number, reason and raw text; blank lines are
 * skipped. Lines are split on raw bytes so that the byte offset of every line end is known: a
 * plain file resumes from a checkpoint by seeking, a gzip file by re-reading and skipping lines.
 *
 * @example
 * const r = new JsonlReader('day/trades.jsonl', 'trade');
 * await r.open({ lines: 120, byteOffset: 20_480 }); // resume after line 120
 * const chunk = await r.nextChunk();
 */
export class JsonlReader implements EventReader {
  readonly seekable: boolean;
  private readonly gzip: boolean;
  private readonly highWaterMark: number;
  private fileStream: ReadStream | undefined;
  private input: Readable | undefined;
  private iter: AsyncIterator<Buffer> | undefined;
  /** A plain file's reads (a gzip file goes through streams). */
  private chunks: FileChunks | undefined;
  private size = 0;
  private startOffset = 0;
  /** Unprocessed bytes after the last newline of the previous buffer, and their file offset. */
  private carry: Buffer | undefined;
  private carryStart = 0;
  /** File offset of the next buffer's first byte. */
  private streamPos = 0;
  private line = 0;
  /** Flat lines without whitespace (every recorded day's) skip JSON.parse; it gets the others. */
  private readonly flat = new FlatJsonParser();
  private skip = 0;
  private lastEnd = 0;
  private pending: DeadLetter[] | undefined;
  private ended = false;
  private chunk: ReaderChunk = newChunk();

  constructor(
    readonly file: string,
    readonly stream: StreamName,
    opts: { gzip?: boolean; highWaterMark?: number } = {},
  ) {
    this.gzip = opts.gzip ?? file.endsWith('.gz');
    this.seekable = !this.gzip;
    this.highWaterMark = opts.highWaterMark ?? 256 * 1024;
  }

  async open(start: ReaderStart = { lines: 0 }): Promise<void> {
    try {
      this.size = (await stat(this.file)).size;
    } catch (cause) {
      throw new InputError(`cannot read: ${(cause as Error).message}`, { file: this.file, cause });
    }
    const seek = this.seekable && start.byteOffset !== undefined && start.byteOffset > 0;
    if (seek && start.byteOffset! > this.size) {
      throw new InputError(`cannot resume at byte ${start.byteOffset}: the file has only ${this.size} bytes`, {
        file: this.file,
      });
    }
    this.startOffset = seek ? start.byteOffset! : 0;
    this.streamPos = this.startOffset;
    this.lastEnd = this.startOffset;
    this.line = seek ? start.lines : 0;
    this.skip = seek ? 0 : start.lines;
    if (this.gzip) {
      this.fileStream = createReadStream(this.file, { start: this.startOffset, highWaterMark: this.highWaterMark });
      // pipeline() forwards a read error of the file to the gunzip stream, so iteration rejects.
      this.input = pipeline(this.fileStream, createGunzip({ chunkSize: Math.max(64, this.highWaterMark) }), () => {});
      this.iter = this.input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    } else {
      let fh: FileHandle;
      try {
        fh = await openFile(this.file, 'r');
      } catch (cause) {
        throw new InputError(`cannot read: ${(cause as Error).message}`, { file: this.file, cause });
      }
      this.chunks = new FileChunks(fh, this.startOffset, this.highWaterMark);
      this.iter = this.chunks;
    }
  }

  async nextChunk(): Promise<ReaderChunk | null> {
    if (!this.iter) throw new InputError('reader not opened', { file: this.file });
    this.chunk = newChunk(4096);
    while (this.chunk.length === 0 && !this.ended) {
      let r: IteratorResult<Buffer>;
      try {
        r = await this.iter.next();
      } catch (cause) {
        throw new InputError(`cannot read after line ${this.line}: ${(cause as Error).message}`, {
          file: this.file,
          line: this.line,
          cause,
        });
      }
      if (r.done) {
        this.ended = true;
        if (this.carry && this.carry.length > 0) {
          this.line++;
          const end = this.carryStart + this.carry.length;
          this.handleLine(this.carry, 0, this.carry.length, end);
          this.lastEnd = end;
        }
        this.carry = undefined;
        break;
      }
      this.consume(r.value);
    }
    return this.chunk.length > 0 ? finishChunk(this.chunk) : null;
  }

  private consume(data: Buffer): void {
    const base = this.streamPos;
    this.streamPos += data.length;
    let pos = 0;
    if (this.carry && this.carry.length > 0) {
      // The line that started in an earlier buffer ends at this one's first newline: only that
      // line is copied, not the whole buffer.
      const nl = data.indexOf(10);
      if (nl < 0) {
        this.carry = Buffer.concat([this.carry, data]);
        return;
      }
      const line = Buffer.concat([this.carry, data.subarray(0, nl)]);
      this.line++;
      const end = base + nl + 1;
      if (this.skip > 0) this.skip--;
      else this.handleLine(line, 0, line.length, end);
      this.lastEnd = end;
      this.carry = undefined;
      pos = nl + 1;
    }
    const last = data.lastIndexOf(10);
    while (pos <= last) {
      // Pieces of whole lines under 128 KB: a longer string goes to V8's large-object space, whose
      // allocation costs ten times the copy.
      let to = last + 1;
      if (to - pos > ASCII_PIECE) {
        const nl = data.lastIndexOf(10, pos + ASCII_PIECE - 1);
        if (nl >= pos) to = nl + 1;
      }
      if (isAscii(data.subarray(pos, to))) this.asciiLines(data, pos, to, base);
      else this.byteLines(data, pos, to, base);
      pos = to;
    }
    // A copy: the buffer is read into again (FileChunks).
    this.carry = pos < data.length ? Buffer.from(data.subarray(pos)) : undefined;
    this.carryStart = base + pos;
  }

  /** Complete lines buf[from..to) (to just past a newline), the buffer starting at file offset `base`. */
  private byteLines(buf: Buffer, from: number, to: number, base: number): void {
    let pos = from;
    while (pos < to) {
      const nl = buf.indexOf(10, pos);
      this.line++;
      const end = base + nl + 1;
      if (this.skip > 0) this.skip--;
      else this.handleLine(buf, pos, nl, end);
      this.lastEnd = end;
      pos = nl + 1;
    }
  }

  /**
   * Complete lines buf[from..to) of ASCII (ending with a newline), the buffer starting at file
   * offset `base`. The fast path reads each line's bytes and finds where it ends (its closing
   * brace, then the newline), so the lines it takes are never scanned twice; the text is decoded
   * only if a string is cut from it (a declined line for JSON.parse, a string not shared).
   */
  private asciiLines(buf: Buffer, from: number, to: number, base: number): void {
    const piece = new TextPiece(buf, from, to);
    const flat = this.flat;
    let pos = from;
    while (pos < to) {
      this.line++;
      const obj = this.skip > 0 ? undefined : flat.parse(buf, pos, to, piece);
      let nl: number;
      if (obj !== undefined) {
        // Just past the closing brace: the newline, or CR LF (the piece ends with a newline).
        nl = buf[flat.at] === 13 ? flat.at + 1 : flat.at;
      } else {
        nl = buf.indexOf(10, pos);
      }
      const endOffset = base + nl + 1;
      if (this.skip > 0) {
        this.skip--;
      } else if (obj !== undefined) {
        this.handleParsed(obj, piece, pos, flat.at, endOffset);
      } else {
        let end = nl;
        if (end > pos && buf[end - 1] === 13) end--;
        if (end > pos) this.handleText(piece.slice(pos, end), endOffset);
      }
      this.lastEnd = endOffset;
      pos = nl + 1;
    }
  }

  /** One line buf[start..end) (a line of a non-ASCII run, or one that spanned two buffers). */
  private handleLine(buf: Buffer, start: number, end: number, endOffset: number): void {
    if (this.skip > 0) {
      this.skip--;
      return;
    }
    if (end > start && buf[end - 1] === 13) end--;
    if (end === start) return;
    if (isAscii(buf.subarray(start, end))) {
      const piece = new TextPiece(buf, start, end);
      const obj = this.flat.parse(buf, start, end, piece);
      if (obj === undefined || this.flat.at !== end) this.handleText(piece.slice(start, end), endOffset);
      else this.handleParsed(obj, piece, start, end, endOffset);
      return;
    }
    let text = buf.toString('utf8', start, end);
    if (this.line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    this.handleText(text, endOffset);
  }

  /** A line the fast path declined (or not ASCII): JSON.parse decides. */
  private handleText(text: string, endOffset: number): void {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      if (text.trim().length === 0) return;
      this.dead(`not valid JSON: ${(e as Error).message}`, undefined, text);
      return;
    }
    this.handleParsed(obj, text, 0, text.length, endOffset);
  }

  /** A parsed line (text[from..to), or bytes from..to of a piece): validated, then a record or a dead letter. */
  private handleParsed(obj: unknown, text: string | TextPiece, from: number, to: number, endOffset: number): void {
    if (!quickValid(this.stream, obj)) {
      const v = validateEvent(this.stream, obj);
      if (!v.ok) {
        this.dead(v.reason, v.field, text.slice(from, to));
        return;
      }
    }
    pushRecord(this.chunk, obj as Record<string, unknown>, this.line, this.seekable ? endOffset : -1, this.pending);
    this.pending = undefined;
  }

  private dead(reason: string, field: string | undefined, raw: string): void {
    const d: DeadLetter = { source: this.file, line: this.line, reason, raw, stream: this.stream };
    if (field !== undefined) d.field = field;
    (this.pending ??= []).push(d);
  }

  takeTrailingDeadLetters(): DeadLetter[] {
    const p = this.pending ?? [];
    this.pending = undefined;
    return p;
  }

  bytesRead(): number {
    if (this.ended) return this.size;
    return this.startOffset + (this.chunks?.bytesRead ?? this.fileStream?.bytesRead ?? 0);
  }

  totalBytes(): number {
    return this.size;
  }

  linesRead(): number {
    return this.line;
  }

  endOffset(): number {
    return this.seekable ? this.lastEnd : -1;
  }

  async close(): Promise<void> {
    this.input?.destroy();
    this.fileStream?.destroy();
    await this.chunks?.close();
    this.chunks = undefined;
    this.iter = undefined;
  }
}

/**
 * A file's bytes from `start`, in chunks read into two buffers used in turn, the next read
 * started while the caller works on the chunk just returned. A read stream allocates a buffer per
 * read instead: on the bench day that was about 1300 fresh 256 KB backing stores per replay, each
 * paying page faults and adding to V8's external-memory pressure. A chunk is overwritten by the
 * read after the next one: the caller copies what it keeps.
 */
class FileChunks implements AsyncIterator<Buffer> {
  private readonly bufs: Buffer[];
  private turn = 0;
  private pos: number;
  private ahead: Promise<number> | undefined;
  private done = false;
  bytesRead = 0;

  constructor(
    private readonly fh: FileHandle,
    start: number,
    size: number,
  ) {
    this.bufs = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
    this.pos = start;
  }

  private read(buf: Buffer): Promise<number> {
    const r = this.fh.read(buf, 0, buf.length, this.pos).then((x) => x.bytesRead);
    // Observed here; awaited (and its failure reported) when its turn comes.
    r.catch(() => undefined);
    return r;
  }

  async next(): Promise<IteratorResult<Buffer>> {
    if (this.done) return { done: true, value: undefined };
    const buf = this.bufs[this.turn]!;
    const n = await (this.ahead ?? this.read(buf));
    this.ahead = undefined;
    if (n === 0) {
      this.done = true;
      return { done: true, value: undefined };
    }
    this.pos += n;
    this.bytesRead += n;
    this.turn ^= 1;
    this.ahead = this.read(this.bufs[this.turn]!);
    return { done: false, value: buf.subarray(0, n) };
  }

  async close(): Promise<void> {
    this.done = true;
    // A read still in flight ends before the handle closes.
    await this.ahead?.catch(() => undefined);
    this.ahead = undefined;
    await this.fh.close();
  }
}
