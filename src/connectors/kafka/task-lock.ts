import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

interface LockBody {
  pid: number;
  host: string;
  token: string;
  beat: number;
}

/**
 * Ownership of a task's checkpoint directory while a process runs the task. A consumer-group
 * rebalance can hand a task to a new owner before the old one has written its last checkpoint;
 * the new owner waits here until the old one releases the lock, or the lock is stale (no
 * heartbeat for `staleMs`, or its process is gone on this host: a `kill -9`), so the new owner
 * always restores the old owner's final checkpoint and the two never write at once.
 *
 * @example
 * const lock = await TaskLock.acquire('/ckpt/task-3', { signal }); ...; await lock.release();
 */
export class TaskLock {
  private timer: NodeJS.Timeout | undefined;
  private constructor(
    private readonly file: string,
    private readonly body: LockBody,
  ) {}

  static async acquire(dir: string, opts: { staleMs?: number; signal?: AbortSignal } = {}): Promise<TaskLock> {
    const staleMs = opts.staleMs ?? 6000;
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'owner.json');
    const body: LockBody = { pid: process.pid, host: hostname(), token: randomUUID(), beat: Date.now() };
    for (;;) {
      if (opts.signal?.aborted) throw new Error('stopped while waiting for a task lock');
      try {
        const fh = await open(file, 'wx');
        await fh.writeFile(JSON.stringify(body));
        await fh.close();
        const lock = new TaskLock(file, body);
        lock.timer = setInterval(() => void lock.beat(), Math.max(200, staleMs / 4));
        lock.timer.unref();
        return lock;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let other: LockBody | undefined;
      let unreadableFor = 0;
      try {
        other = JSON.parse(await readFile(file, 'utf8')) as LockBody;
      } catch {
        // Being written or removed right now, or left empty by a process killed between creating
        // and writing it: stale once it has stayed unreadable for `staleMs`.
        other = undefined;
        unreadableFor = await stat(file).then((s) => Date.now() - s.mtimeMs, () => 0);
      }
      const dead = other !== undefined && other.host === body.host && other.pid !== process.pid && !alive(other.pid);
      if ((other !== undefined && (dead || Date.now() - other.beat > staleMs)) || unreadableFor > staleMs) {
        // Move it aside first so that two waiters cannot both remove a fresh lock.
        const aside = `${file}.stale-${body.token}`;
        await rename(file, aside).then(() => rm(aside, { force: true }), () => undefined);
        continue;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async beat(): Promise<void> {
    this.body.beat = Date.now();
    const tmp = `${this.file}.${this.body.token}.tmp`;
    try {
      await writeFile(tmp, JSON.stringify(this.body));
      await rename(tmp, this.file);
    } catch {
      // A missed heartbeat only makes the lock look older.
    }
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    try {
      const cur = JSON.parse(await readFile(this.file, 'utf8')) as LockBody;
      if (cur.token === this.body.token) await rm(this.file, { force: true });
    } catch {
      // already gone
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
