import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeadLetter, StreamName } from '../../../src/connectors/events.js';
import { ArrowReader } from '../../../src/connectors/replay/arrow.js';
import { JsonlReader } from '../../../src/connectors/replay/jsonl.js';
import type { EventReader } from '../../../src/connectors/replay/reader.js';
import { openEventReader } from '../../../src/connectors/replay/source.js';
import { arrowBytes, cleanupTempDirs, DEMO, gzipFile, readJsonl, tempDir } from './helpers.js';

afterAll(cleanupTempDirs);

interface ReadAll {
  records: Record<string, unknown>[];
  lines: number[];
  dead: DeadLetter[];
}

async function readAll(r: EventReader, start?: { lines: number; byteOffset?: number }): Promise<ReadAll> {
  await r.open(start);
  const out: ReadAll = { records: [], lines: [], dead: [] };
  for (let c = await r.nextChunk(); c; c = await r.nextChunk()) {
    for (let i = 0; i < c.length; i++) {
      if (c.dead[i]) out.dead.push(...c.dead[i]!);
      out.records.push(c.records[i]!);
      out.lines.push(c.lines[i]!);
    }
  }
  out.dead.push(...r.takeTrailingDeadLetters());
  expect(r.bytesRead()).toBe(r.totalBytes());
  await r.close();
  return out;
}

describe('event file readers', () => {
  const dir = tempDir();
  const cases: Array<[StreamName, string]> = [
    ['trade', 'trades.jsonl'],
    ['quote', 'quotes.jsonl'],
    ['order', 'orders.jsonl'],
  ];

  for (const [stream, name] of cases) {
    it(`JSONL, gzip JSONL and Arrow (file and stream format) give identical ${stream} records`, async () => {
      const src = join(DEMO, name);
      const expected = readJsonl(src);
      const plain = await readAll(new JsonlReader(src, stream));
      expect(plain.records).toEqual(expected);
      expect(plain.dead).toEqual([]);
      expect(plain.lines).toEqual(expected.map((_, i) => i + 1));

      const gz = join(dir, `${name}.gz`);
      writeFileSync(gz, gzipFile(src));
      expect((await readAll(openEventReader(gz, stream))).records).toEqual(expected);

      for (const format of ['file', 'stream'] as const) {
        const file = join(dir, `${stream}s-${format}.arrow`);
        writeFileSync(file, arrowBytes(expected, { format, batchRows: 1000 }));
        const arrow = await readAll(openEventReader(file, stream));
        expect(arrow.records).toEqual(expected);
        expect(arrow.lines).toEqual(plain.lines);
      }
    });
  }

  it('splits lines correctly across tiny read buffers, CRLF, BOM, blank lines and no final newline', async () => {
    const rows = readJsonl(join(DEMO, 'trades.jsonl')).slice(0, 40);
    const text = '\ufeff' + rows.map((r) => JSON.stringify(r)).join('\r\n') + '\r\n\r\n   \n';
    const file = join(dir, 'crlf.jsonl');
    writeFileSync(file, text.trimEnd());
    for (const highWaterMark of [7, 64, 1 << 16]) {
      const got = await readAll(new JsonlReader(file, 'trade', { highWaterMark }));
      expect(got.records).toEqual(rows);
      expect(got.dead).toEqual([]);
    }
    const gz = join(dir, 'crlf.jsonl.gz');
    writeFileSync(gz, gzipSync(text));
    expect((await readAll(new JsonlReader(gz, 'trade', { highWaterMark: 13 }))).records).toEqual(rows);
  });

  it('reads lines with characters outside ASCII (JSON.parse) among ASCII ones (fast path), however the buffers split them', async () => {
    const rows = readJsonl(join(DEMO, 'trades.jsonl')).slice(0, 30);
    rows[3] = { ...rows[3], venue: 'Zürich' };
    rows[4] = { ...rows[4], account: '東京-1', venue: 'X\u2028Y' };
    rows[20] = { ...rows[20], account: 'Ω' };
    const file = join(dir, 'utf8.jsonl');
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    for (const highWaterMark of [5, 97, 1 << 16]) {
      const got = await readAll(new JsonlReader(file, 'trade', { highWaterMark }));
      expect(got.records).toEqual(rows);
      expect(got.dead).toEqual([]);
      expect(got.lines).toEqual(rows.map((_, i) => i + 1));
    }
  });

  it('resumes a plain file at a byte offset and a gzip/Arrow file by skipping lines', async () => {
    const src = join(DEMO, 'quotes.jsonl');
    const full = await readAll(new JsonlReader(src, 'quote'));
    // Find the byte offset after line 1000 the way the source does: from the chunk's `ends`.
    const r = new JsonlReader(src, 'quote');
    await r.open();
    let offset = -1;
    for (let c = await r.nextChunk(); c && offset < 0; c = await r.nextChunk()) {
      const i = c.lines.indexOf(1000);
      if (i >= 0) offset = c.ends[i]!;
    }
    await r.close();
    expect(offset).toBeGreaterThan(0);
    const resumed = await readAll(new JsonlReader(src, 'quote'), { lines: 1000, byteOffset: offset });
    expect(resumed.records).toEqual(full.records.slice(1000));
    expect(resumed.lines[0]).toBe(1001);

    const gz = join(dir, 'q.jsonl.gz');
    writeFileSync(gz, gzipFile(src));
    expect((await readAll(openEventReader(gz, 'quote'), { lines: 1000 })).records).toEqual(full.records.slice(1000));

    const arrow = join(dir, 'q.arrow');
    writeFileSync(arrow, arrowBytes(full.records, { format: 'file', batchRows: 300 }));
    const a = await readAll(new ArrowReader(arrow, 'quote'), { lines: 1000 });
    expect(a.records).toEqual(full.records.slice(1000));
    expect(a.lines[0]).toBe(1001);
  });

  it('turns bad lines into dead letters with file, line, reason, field and raw text', async () => {
    const file = join(dir, 'bad.jsonl');
    const good = { type: 'trade', ts: 1, tradeId: 'T1', instrument: 'A', traderId: 'X', side: 'BUY', qty: 1, price: 1 };
    const lines = [
      JSON.stringify(good),
      '{"type":"trade",',
      JSON.stringify({ ...good, qty: -5 }),
      '',
      JSON.stringify({ ...good, tradeId: 'T2' }),
      '[1,2]',
    ];
    writeFileSync(file, lines.join('\n') + '\n');
    const got = await readAll(new JsonlReader(file, 'trade'));
    expect(got.records.map((r) => r['tradeId'])).toEqual(['T1', 'T2']);
    expect(got.dead.map((d) => [d.line, d.field, d.stream, d.source])).toEqual([
      [2, undefined, 'trade', file],
      [3, 'qty', 'trade', file],
      [6, undefined, 'trade', file],
    ]);
    expect(got.dead[0]!.reason).toMatch(/not valid JSON/);
    expect(got.dead[0]!.raw).toBe('{"type":"trade",');
    expect(got.dead[1]!.raw).toBe(lines[2]);
    expect('field' in got.dead[0]!).toBe(false);
  });

  it('Arrow: integer and timestamp columns become numbers; null cells are absent; type is filled in', async () => {
    const rows = [
      { ts: 1710509401334, tradeId: 'T1', instrument: 'ACME', traderId: 'X', side: 'BUY', qty: 100, price: 1.5, venue: 'XNAS' },
      { ts: 1710509401335, tradeId: 'T2', instrument: 'BOLT', traderId: 'Y', side: 'SELL', qty: 200, price: 2.5 },
      { ts: 1710509401336, tradeId: 'T3', instrument: 'ACME', traderId: 'Y', side: 'SELL', qty: -1, price: 2.5 },
    ];
    const file = join(dir, 'typed.arrow');
    writeFileSync(file, arrowBytes(rows, { format: 'stream', intColumns: ['qty'] }));
    const got = await readAll(new ArrowReader(file, 'trade'));
    expect(got.records).toEqual([
      { type: 'trade', ...rows[0] },
      { type: 'trade', ...rows[1] },
    ]);
    expect(got.dead).toHaveLength(1);
    expect(got.dead[0]).toMatchObject({ line: 3, field: 'qty', stream: 'trade' });
    expect(JSON.parse(got.dead[0]!.raw)).toMatchObject({ tradeId: 'T3', qty: -1 });
  });

  it('Arrow: null cells of boolean, text and number columns are absent, every other cell kept (batches of 7 rows)', async () => {
    const rows = Array.from({ length: 40 }, (_, r) => {
      const o: Record<string, unknown> = { ts: 1710509401000 + r, orderId: `O${r}`, traderId: 'X', instrument: 'ACME', side: 'BUY', qty: 100, price: 1.5, action: 'NEW' };
      if (r % 3 !== 0) o['clientOrder'] = r % 3 === 1;
      if (r % 4 !== 0) o['note'] = `n${r}`;
      if (r % 5 !== 0) o['score'] = r * 1.5;
      return o;
    });
    const file = join(dir, 'nulls.arrow');
    writeFileSync(file, arrowBytes(rows, { format: 'file', batchRows: 7 }));
    const got = await readAll(new ArrowReader(file, 'order'));
    expect(got.dead).toEqual([]);
    expect(got.records.map((x) => JSON.stringify(x))).toEqual(rows.map((x) => JSON.stringify({ type: 'order', ...x })));
  });

  it('Arrow: 64-bit integers become numbers; odd column names are kept as plain data', async () => {
    const base = { ts: 1710509401334, tradeId: 'T1', instrument: 'ACME', traderId: 'X', side: 'BUY', qty: 100, price: 1.5 };
    const odd = JSON.parse('{"__proto__": "p", "a\\"b": 1, "x\\"]; throw new Error(1); //": 2}') as Record<string, unknown>;
    const rows = [{ ...base, seq: 7n, ...odd }, { ...base, tradeId: 'T2', seq: 9007199254740993n, ...odd }];
    const file = join(dir, 'odd.arrow');
    writeFileSync(file, arrowBytes(rows, { format: 'file' }));
    const got = await readAll(new ArrowReader(file, 'trade'));
    expect(got.records).toHaveLength(2);
    expect(got.records[0]!['seq']).toBe(7);
    expect(got.records[1]!['seq']).toBe(9007199254740992);
    expect(Object.getPrototypeOf(got.records[0])).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(got.records[0], '__proto__')?.value).toBe('p');
    expect(got.records[0]!['a"b']).toBe(1);
    expect(got.records[0]!['x"]; throw new Error(1); //']).toBe(2);
  });

  it('reports a file that is not Arrow as an input error', async () => {
    const file = join(dir, 'junk.arrow');
    writeFileSync(file, 'this is not arrow at all, just some text to fill the header');
    const r = new ArrowReader(file, 'trade');
    const readIt = async (): Promise<void> => {
      await r.open();
      await r.nextChunk();
    };
    await expect(readIt()).rejects.toMatchObject({ code: 'E_INPUT', file });
    await r.close();
  });
});
