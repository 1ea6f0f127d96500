import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonlFileSink } from '../../../src/connectors/jsonl-sink.js';
import { cleanupTempDirs, tempDir } from './helpers.js';

afterAll(cleanupTempDirs);

describe('JsonlFileSink', () => {
  it('writes one line per object to <file>.tmp and renames it on close', async () => {
    const file = join(tempDir(), 'out', 'alerts.jsonl');
    const sink = new JsonlFileSink(file);
    sink.write({ a: 1, s: 'x\ny' });
    sink.write({ b: [1, 2] });
    await sink.flush();
    expect(existsSync(file)).toBe(false);
    expect(readFileSync(`${file}.tmp`, 'utf8')).toBe('{"a":1,"s":"x\\ny"}\n{"b":[1,2]}\n');
    sink.writeLine('{"c":true}');
    await sink.close();
    expect(existsSync(`${file}.tmp`)).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('{"a":1,"s":"x\\ny"}\n{"b":[1,2]}\n{"c":true}\n');
    expect(sink.lines).toBe(3);
    await sink.close(); // idempotent
    expect(() => sink.write({})).toThrow(/after close/);
  });

  it('keeps the order of many lines written through small buffers, including multi-byte text', async () => {
    const file = join(tempDir(), 'many.jsonl');
    const sink = new JsonlFileSink(file, { bufferBytes: 64 });
    for (let i = 0; i < 2000; i++) sink.write({ i, note: i % 7 === 0 ? 'é€😀' : 'x' });
    await sink.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(2000);
    expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(2000).keys()]);
    expect(JSON.parse(lines[7]!)).toEqual({ i: 7, note: 'é€😀' });
  });

  it('creates an empty file when nothing was written, and abort() leaves nothing behind', async () => {
    const dir = tempDir();
    const empty = new JsonlFileSink(join(dir, 'dead-letters.jsonl'));
    await empty.close();
    expect(readFileSync(join(dir, 'dead-letters.jsonl'), 'utf8')).toBe('');
    const aborted = new JsonlFileSink(join(dir, 'partial.jsonl'));
    aborted.write({ a: 1 });
    await aborted.flush();
    await aborted.abort();
    expect(existsSync(join(dir, 'partial.jsonl'))).toBe(false);
    expect(existsSync(join(dir, 'partial.jsonl.tmp'))).toBe(false);
  });
});
