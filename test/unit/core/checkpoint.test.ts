import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointStore, readCheckpoint, type CheckpointData } from '../../../src/core/checkpoint.js';
import { CheckpointError } from '../../../src/core/errors.js';

function data(seq: number): CheckpointData {
  return {
    version: 1,
    seq,
    createdAt: 0,
    jobFingerprint: 'job',
    sourcePosition: { lines: [seq, 2] },
    runner: { wm: -Infinity },
    operators: new Map<string, unknown>([['w', { acc: new Float64Array([1, Number.NaN]), keys: new Map([['a', 1]]) }]]),
    sinks: undefined,
  };
}

describe('CheckpointStore', () => {
  it('writes atomically, keeps the newest N and reads back structured state', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rf-chk-'));
    const store = new CheckpointStore(dir, { keep: 2 });
    for (let i = 1; i <= 4; i++) await store.write(data(i));
    const names = await readdir(dir);
    expect(names.sort()).toEqual(['chk-000000000003.bin', 'chk-000000000004.bin']);
    const latest = await store.latest();
    expect(latest?.seq).toBe(4);
    const op = latest!.operators.get('w') as { acc: Float64Array; keys: Map<string, number> };
    expect(op.acc).toBeInstanceOf(Float64Array);
    expect(Number.isNaN(op.acc[1])).toBe(true);
    expect(op.keys.get('a')).toBe(1);
    expect((latest!.runner as { wm: number }).wm).toBe(-Infinity);
  });

  it('falls back to the previous checkpoint when the newest is damaged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rf-chk-'));
    const store = new CheckpointStore(dir, { keep: 3 });
    await store.write(data(1));
    const f2 = await store.write(data(2));
    const bytes = await readFile(f2);
    await writeFile(f2, bytes.subarray(0, bytes.length - 10)); // torn write
    await expect(readCheckpoint(f2)).rejects.toBeInstanceOf(CheckpointError);
    expect((await store.latest())?.seq).toBe(1);
  });

  it('has no checkpoint in a missing or empty directory', async () => {
    expect(await new CheckpointStore('/nonexistent/riskflow').latest()).toBeUndefined();
    const dir = await mkdtemp(join(tmpdir(), 'rf-chk-'));
    expect(await new CheckpointStore(dir).latest()).toBeUndefined();
  });

  it('rejects a file that is not a checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rf-chk-'));
    const f = join(dir, 'chk-000000000001.bin');
    await writeFile(f, 'hello');
    await expect(readCheckpoint(f)).rejects.toThrow(/not a riskflow checkpoint/);
  });
});
