import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InternalError, RiskflowError } from '../core/errors.js';

/**
 * A buffered JSON Lines file writer for outputs such as `alerts.jsonl` and `dead-letters.jsonl`.
 * `write(obj)` appends one line to an in-memory buffer (written out in the background once it
 * grows past `bufferBytes`); `flush()` resolves when everything written so far is in the file;
 * `close()` flushes, syncs and renames `<path>.tmp` to `<path>`, so a crash never leaves a
 * half-written file under the final name. Parent directories are created as needed.
 *
 * @example
 * const sink = new JsonlFileSink('out/alerts.jsonl');
 * sink.write(alert);
 * await sink.close(); // out/alerts.jsonl now exists, complete
 */
export class JsonlFileSink {
  readonly tmpPath: string;
  /** Lines written so far. */
  lines = 0;
  private readonly bufferBytes: number;
  private parts: string[] = [];
  private buffered = 0;
  private handle: Promise<FileHandle> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private closed = false;

  constructor(
    readonly path: string,
    opts: { bufferBytes?: number } = {},
  ) {
    this.tmpPath = `${path}.tmp`;
    this.bufferBytes = opts.bufferBytes ?? 1 << 20;
  }

  /** Appends `JSON.stringify(obj)` as one line. */
  write(obj: unknown): void {
    this.writeLine(JSON.stringify(obj));
  }

  /** Appends an already serialised line (it must not contain a newline). */
  writeLine(text: string): void {
    if (this.closed) throw new InternalError(`write after close: ${this.path}`);
    this.parts.push(text, '\n');
    this.buffered += text.length + 1;
    this.lines++;
    if (this.buffered >= this.bufferBytes) void this.drain().catch(() => {});
  }

  /** Resolves once every line written so far is in the (temporary) file. */
  async flush(): Promise<void> {
    await this.drain();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Flushes, syncs to disk, closes and moves the file to its final name. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    const fh = await this.fileHandle();
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(this.tmpPath, this.path);
  }

  /** Gives up: closes and deletes the temporary file, leaving no output. */
  async abort(): Promise<void> {
    this.closed = true;
    this.parts = [];
    this.buffered = 0;
    try {
      await this.chain;
    } catch {
      // Aborting anyway.
    }
    if (this.handle) {
      try {
        await (await this.handle).close();
      } catch {
        // Already closed.
      }
    }
    await rm(this.tmpPath, { force: true });
  }

  private fileHandle(): Promise<FileHandle> {
    this.handle ??= (async () => {
      await mkdir(dirname(this.tmpPath), { recursive: true });
      return open(this.tmpPath, 'w');
    })();
    return this.handle;
  }

  // Writes are chained so that lines reach the file in the order they were written.
  private drain(): Promise<void> {
    const text = this.parts.length > 0 ? this.parts.join('') : '';
    this.parts = [];
    this.buffered = 0;
    const fileReady = this.fileHandle();
    this.chain = this.chain.then(async () => {
      const fh = await fileReady;
      if (text.length === 0) return;
      // A single write() may be partial; loop until the whole buffer is out.
      const buf = Buffer.from(text, 'utf8');
      for (let off = 0; off < buf.length; ) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
    });
    this.chain = this.chain.catch((cause: unknown) => {
      this.failure ??=
        cause instanceof RiskflowError ? cause : new InternalError(`cannot write ${this.tmpPath}: ${(cause as Error).message}`, { cause, file: this.tmpPath });
    });
    return this.chain;
  }
}
