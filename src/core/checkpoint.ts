import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { CheckpointError } from './errors.js';

/** What a checkpoint holds: source positions, watermark generators, operator state, sink offsets. */
export interface CheckpointData {
  version: 1;
  /** Sequence number, increasing per job. */
  seq: number;
  /** Processing time the checkpoint was written. */
  createdAt: number;
  /** Identifies the job (topologies, parameters, input) so a checkpoint is not restored into another job. */
  jobFingerprint: string;
  sourcePosition: unknown;
  runner: unknown;
  operators: Map<string, unknown>;
  sinks: unknown;
}

const MAGIC = Buffer.from('RFCK1\n');
const NAME = /^chk-(\d{12})\.bin$/;

/**
 * A directory of checkpoints. Each is written to a temporary file, fsynced, then renamed, so a
 * crash leaves either the old or the new checkpoint, never half of one; the newest `keep` are
 * kept. `latest()` skips a damaged newest file and falls back to the one before.
 *
 * @example
 * const store = new CheckpointStore('.riskflow-checkpoints', { keep: 3 });
 * await store.write(data); const last = await store.latest();
 */
export class CheckpointStore {
  private readonly keep: number;
  constructor(readonly dir: string, opts: { keep?: number } = {}) {
    this.keep = Math.max(1, opts.keep ?? 3);
  }

  /**
   * Writes a checkpoint. `data` is serialised before the first await, so the caller may go on
   * changing the state it came from while the file is written.
   */
  async write(data: CheckpointData): Promise<string> {
    let body: Buffer;
    try {
      body = serialize(data);
    } catch (cause) {
      throw new CheckpointError('operator state is not serialisable', { cause });
    }
    await mkdir(this.dir, { recursive: true });
    const name = `chk-${String(data.seq).padStart(12, '0')}.bin`;
    const final = join(this.dir, name);
    const tmp = `${final}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.write(MAGIC);
      await fh.write(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    await this.prune();
    return final;
  }

  /** Names of the checkpoints present, oldest first. */
  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new CheckpointError(`cannot read checkpoint directory ${this.dir}`, { cause: e, file: this.dir });
    }
    return names.filter((n) => NAME.test(n)).sort();
  }

  /** The newest readable checkpoint, or undefined when there is none. */
  async latest(): Promise<CheckpointData | undefined> {
    const names = await this.list();
    for (let i = names.length - 1; i >= 0; i--) {
      const file = join(this.dir, names[i]!);
      try {
        return await readCheckpoint(file);
      } catch {
        // A damaged newest checkpoint (disk full, torn copy) must not block recovery: use the previous one.
        continue;
      }
    }
    return undefined;
  }

  async clear(): Promise<void> {
    for (const n of await this.list()) await rm(join(this.dir, n), { force: true });
  }

  private async prune(): Promise<void> {
    const names = await this.list();
    for (const n of names.slice(0, Math.max(0, names.length - this.keep))) {
      await rm(join(this.dir, n), { force: true });
    }
  }
}

export async function readCheckpoint(file: string): Promise<CheckpointData> {
  const buf = await readFile(file);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new CheckpointError('not a riskflow checkpoint', { file });
  }
  try {
    const data = deserialize(buf.subarray(MAGIC.length)) as CheckpointData;
    if (data.version !== 1) throw new Error(`unsupported version ${String(data.version)}`);
    return data;
  } catch (cause) {
    throw new CheckpointError('damaged checkpoint', { file, cause });
  }
}
