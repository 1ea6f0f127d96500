import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TaskLock } from '../../../src/connectors/kafka/task-lock.js';

const dir = () => mkdtemp(join(tmpdir(), 'rf-lock-'));
const settled = async (p: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('TaskLock', () => {
  it('is exclusive: a second owner waits until the first releases', async () => {
    const d = await dir();
    const a = await TaskLock.acquire(d);
    const b = TaskLock.acquire(d);
    expect(await settled(b, 400)).toBe(false);
    await a.release();
    expect(await settled(b, 2000)).toBe(true);
    await (await b).release();
  });

  it('takes over the lock of a process that is gone (kill -9)', async () => {
    const d = await dir();
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(child.stdout);
    await writeFile(join(d, 'owner.json'), JSON.stringify({ pid: deadPid, host: hostname(), token: 'x', beat: Date.now() }));
    const lock = TaskLock.acquire(d, { staleMs: 60_000 });
    expect(await settled(lock, 2000)).toBe(true);
    expect(JSON.parse(await readFile(join(d, 'owner.json'), 'utf8')).pid).toBe(process.pid);
    await (await lock).release();
  });

  it('takes over a lock whose heartbeat stopped, from another host', async () => {
    const d = await dir();
    await writeFile(join(d, 'owner.json'), JSON.stringify({ pid: 1, host: 'elsewhere', token: 'x', beat: Date.now() }));
    const lock = TaskLock.acquire(d, { staleMs: 600 });
    expect(await settled(lock, 300)).toBe(false);
    expect(await settled(lock, 2000)).toBe(true);
    await (await lock).release();
  });

  it('takes over a lock file left empty (its writer killed between creating and writing it), once it is stale', async () => {
    const d = await dir();
    const file = join(d, 'owner.json');
    await writeFile(file, '');
    const lock = TaskLock.acquire(d, { staleMs: 800 });
    expect(await settled(lock, 300)).toBe(false);
    expect(await settled(lock, 3000)).toBe(true);
    await (await lock).release();
    // An old empty file goes at once.
    await writeFile(file, '');
    const old = new Date(Date.now() - 10_000);
    await utimes(file, old, old);
    expect(await settled(TaskLock.acquire(d, { staleMs: 800 }).then((l) => l.release()), 500)).toBe(true);
  });

  it('stops waiting when its signal aborts', async () => {
    const d = await dir();
    const a = await TaskLock.acquire(d);
    const ac = new AbortController();
    const b = TaskLock.acquire(d, { signal: ac.signal });
    ac.abort();
    await expect(b).rejects.toThrow(/stopped while waiting/);
    await a.release();
  });
});
