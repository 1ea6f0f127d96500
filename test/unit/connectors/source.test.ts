import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeadLetter, StreamName } from '../../../src/connectors/events.js';
import { loadDay, type RecordedDay } from '../../../src/connectors/replay/day.js';
import { DayReplaySource, type ReplayPosition } from '../../../src/connectors/replay/source.js';
import { CheckpointError } from '../../../src/core/errors.js';
import { arrowBytes, cleanupTempDirs, DEMO, gzipFile, jsonl, makeDay, MALFORMED, readJsonl, REFERENCE_FILES, tempDir } from './helpers.js';

afterAll(cleanupTempDirs);

interface Run {
  /** `stream:json` per record, in replay order. */
  out: string[];
  dead: DeadLetter[];
  batches: number;
}

async function replay(
  day: RecordedDay,
  streams: StreamName[],
  opts: { batchSize?: number; stopAfter?: number; from?: ReplayPosition } = {},
): Promise<Run & { position: ReplayPosition; source: DayReplaySource }> {
  const dead: DeadLetter[] = [];
  const src = new DayReplaySource(day, { streams, batchSize: opts.batchSize ?? 64, onDeadLetter: (d) => dead.push(d) });
  if (opts.from) await src.seek(opts.from);
  else await src.open();
  const out: string[] = [];
  let batches = 0;
  while (opts.stopAfter === undefined || batches < opts.stopAfter) {
    const b = await src.nextBatch();
    if (!b) break;
    expect(b.records.length).toBe(b.length);
    for (let i = 0; i < b.length; i++) out.push(`${streams[b.streams[i]!]}:${JSON.stringify(b.records[i])}`);
    batches++;
  }
  const position = src.position();
  await src.close();
  return { out, dead, batches, position, source: src };
}

const q = (ts: number, instrument = 'A', extra: object = {}): object => ({
  type: 'quote', ts, instrument, bid: 1, ask: 2, bidSize: 1, askSize: 1, ...extra,
});
const t = (ts: number, tradeId: string): object => ({
  type: 'trade', ts, tradeId, instrument: 'A', traderId: 'X', side: 'BUY', qty: 1, price: 1.5,
});
const o = (ts: number, orderId: string): object => ({
  type: 'order', ts, orderId, traderId: 'X', instrument: 'A', side: 'BUY', qty: 1, price: 1.5, action: 'NEW',
});

describe('DayReplaySource merge', () => {
  it('merges by event time with ties broken by stream order, then file order', async () => {
    const day = await loadDay(
      makeDay({
        'quotes.jsonl': jsonl([q(10, 'A'), q(20, 'A'), q(20, 'B'), q(30, 'A')]),
        'trades.jsonl': jsonl([t(5, 'T1'), t(20, 'T2'), t(20, 'T3'), t(40, 'T4')]),
        'orders.jsonl': jsonl([o(20, 'O1'), o(25, 'O2')]),
      }),
    );
    const ids = (run: Run): string[] =>
      run.out.map((s) => {
        const r = JSON.parse(s.slice(s.indexOf(':') + 1)) as Record<string, unknown>;
        return `${String(r['ts'])}${String(r['tradeId'] ?? r['orderId'] ?? `q${String(r['instrument'])}`)}`;
      });
    const a = await replay(day, ['quote', 'trade', 'order'], { batchSize: 3 });
    expect(ids(a)).toEqual(['5T1', '10qA', '20qA', '20qB', '20T2', '20T3', '20O1', '25O2', '30qA', '40T4']);
    const b = await replay(day, ['order', 'trade', 'quote'], { batchSize: 100 });
    expect(ids(b)).toEqual(['5T1', '10qA', '20O1', '20T2', '20T3', '20qA', '20qB', '25O2', '30qA', '40T4']);
    const c = await replay(day, ['trade'], { batchSize: 100 });
    expect(ids(c)).toEqual(['5T1', '20T2', '20T3', '40T4']);
    expect(a.out[0]!.startsWith('trade:')).toBe(true);
  });

  it('passes records that are out of order within a file on as they are', async () => {
    const day = await loadDay(
      makeDay({
        'quotes.jsonl': jsonl([q(7)]),
        'trades.jsonl': jsonl([t(10, 'T1'), t(5, 'T2'), t(20, 'T3')]),
      }),
    );
    const run = await replay(day, ['quote', 'trade']);
    expect(run.out.map((s) => (JSON.parse(s.slice(s.indexOf(':') + 1)) as { ts: number }).ts)).toEqual([7, 10, 5, 20]);
  });

  it('replays the whole demo day in non-decreasing event time with progress counters', async () => {
    const day = await loadDay(DEMO);
    const dead: DeadLetter[] = [];
    const src = new DayReplaySource(day, { streams: ['quote', 'trade', 'order'], batchSize: 2048, onDeadLetter: (d) => dead.push(d) });
    expect(src.progress()).toMatchObject({ events: 0, deadLetters: 0, eventTime: -Infinity });
    await src.open();
    let last = -Infinity;
    let n = 0;
    let bytes = 0;
    for (let b = await src.nextBatch(); b; b = await src.nextBatch()) {
      for (let i = 0; i < b.length; i++) {
        const ts = (b.records[i] as { ts: number }).ts;
        expect(ts).toBeGreaterThanOrEqual(last);
        last = ts;
      }
      n += b.length;
      const p = src.progress();
      expect(p.bytesRead).toBeGreaterThanOrEqual(bytes);
      bytes = p.bytesRead;
    }
    const expected = ['quotes', 'trades', 'orders'].reduce((s, f) => s + readJsonl(join(DEMO, `${f}.jsonl`)).length, 0);
    expect(n).toBe(expected);
    expect(dead).toEqual([]);
    const p = src.progress();
    expect(p).toMatchObject({ events: expected, deadLetters: 0, eventTime: last });
    expect(p.bytesRead).toBe(p.totalBytes);
    expect(await src.nextBatch()).toBeNull();
    await src.close();
  });

  it("keeps a batch's records array intact after later batches (a new array each time)", async () => {
    const day = await loadDay(DEMO);
    const streams: StreamName[] = ['quote', 'trade', 'order'];
    const src = new DayReplaySource(day, { streams, batchSize: 100, onDeadLetter: () => {} });
    await src.open();
    const kept: object[][] = [];
    for (let b = await src.nextBatch(); b; b = await src.nextBatch()) kept.push(b.records);
    await src.close();
    expect(kept.length).toBeGreaterThan(3);
    const one = await replay(day, streams, { batchSize: 1_000_000 });
    expect(kept.flat().map((r) => JSON.stringify(r))).toEqual(one.out.map((s) => s.slice(s.indexOf(':') + 1)));
  });

  it('rejects unknown or repeated streams and bad batch sizes', async () => {
    const day = await loadDay(DEMO);
    const onDeadLetter = (): void => {};
    expect(() => new DayReplaySource(day, { streams: ['fill' as StreamName], onDeadLetter })).toThrow(/unknown stream/);
    expect(() => new DayReplaySource(day, { streams: ['trade', 'trade'], onDeadLetter })).toThrow(/twice/);
    expect(() => new DayReplaySource(day, { streams: ['trade'], batchSize: 0, onDeadLetter })).toThrow(/batchSize/);
  });
});

describe('malformed-day', () => {
  it('yields exactly the expected dead letters with line numbers, and every good record', async () => {
    const day = await loadDay(MALFORMED);
    expect(day.files.order).toBeUndefined();
    const run = await replay(day, ['quote', 'trade', 'order'], { batchSize: 16 });
    const trades = join(MALFORMED, 'trades.jsonl');
    const quotes = join(MALFORMED, 'quotes.jsonl');
    const got = run.dead
      .map((d) => ({ source: d.source, line: d.line, field: d.field, stream: d.stream }))
      .sort((a, b) => a.source.localeCompare(b.source) || a.line! - b.line!);
    expect(got).toEqual([
      { source: quotes, line: 40, field: 'bid', stream: 'quote' },
      { source: quotes, line: 120, field: 'ask', stream: 'quote' },
      { source: trades, line: 4, field: undefined, stream: 'trade' },
      { source: trades, line: 9, field: 'price', stream: 'trade' },
      { source: trades, line: 15, field: 'qty', stream: 'trade' },
      { source: trades, line: 22, field: 'side', stream: 'trade' },
    ]);
    const reasons = Object.fromEntries(run.dead.map((d) => [`${d.stream}:${d.line}`, d.reason]));
    expect(reasons['trade:4']).toMatch(/not valid JSON/);
    expect(reasons['trade:9']).toMatch(/missing field 'price'/);
    expect(reasons['trade:15']).toMatch(/'qty' must be > 0, got -5/);
    expect(reasons['trade:22']).toMatch(/BUY or SELL, got string "HOLD"/);
    expect(reasons['quote:40']).toMatch(/crossed quote/);
    expect(reasons['quote:120']).toMatch(/'ask' must be a finite number, got string "NaN"/);
    for (const d of run.dead) expect(d.raw.length).toBeGreaterThan(10);

    const records = run.out.map((s) => JSON.parse(s.slice(s.indexOf(':') + 1)) as Record<string, unknown>);
    expect(run.out.filter((s) => s.startsWith('trade:'))).toHaveLength(50);
    expect(run.out.filter((s) => s.startsWith('quote:'))).toHaveLength(200);
    // The ISO-8601 ts on line 30 is accepted and normalised to epoch ms.
    const iso = records.find((r) => r['tradeId'] === 'T000026')!;
    expect(iso['ts']).toBe(Date.parse('2024-03-15T09:30:53.805-04:00'));
    expect(records.every((r) => typeof r['ts'] === 'number')).toBe(true);
    expect(run.position.deadLetters).toBe(6);
    expect(run.position.events).toBe(250);
  });
});

describe('DayReplaySource position/seek', () => {
  async function formats(): Promise<Record<string, RecordedDay>> {
    // The malformed day (dead letters everywhere) in every file format, plus a small slice of the demo orders.
    const orders = readJsonl(join(DEMO, 'orders.jsonl')).slice(0, 120);
    const mk = (files: Record<string, string | Uint8Array>): string => {
      const dir = tempDir();
      for (const f of REFERENCE_FILES) copyFileSync(join(MALFORMED, f), join(dir, f));
      for (const [n, c] of Object.entries(files)) writeFileSync(join(dir, n), c);
      return dir;
    };
    const tradesText = readFileSync(join(MALFORMED, 'trades.jsonl'));
    const quotesText = readFileSync(join(MALFORMED, 'quotes.jsonl'));
    const goodQuotes = readJsonl(join(MALFORMED, 'quotes.jsonl')).filter((r) => r['ask'] !== 'NaN' && (r['bid'] as number) <= (r['ask'] as number));
    return {
      plain: await loadDay(mk({ 'trades.jsonl': tradesText, 'quotes.jsonl': quotesText, 'orders.jsonl': jsonl(orders) })),
      gzip: await loadDay(
        mk({ 'trades.jsonl.gz': gzipFile(join(MALFORMED, 'trades.jsonl')), 'quotes.jsonl.gz': gzipFile(join(MALFORMED, 'quotes.jsonl')), 'orders.jsonl': jsonl(orders) }),
      ),
      arrow: await loadDay(
        mk({
          'trades.jsonl': tradesText,
          'quotes.arrow': arrowBytes(goodQuotes, { format: 'file', batchRows: 17 }),
          'orders.arrow': arrowBytes(orders, { format: 'stream', batchRows: 25 }),
        }),
      ),
    };
  }

  it('resumes exactly after any batch: records and dead letters equal an uninterrupted run', async () => {
    const days = await formats();
    const streams: StreamName[] = ['quote', 'trade', 'order'];
    for (const [name, day] of Object.entries(days)) {
      for (const batchSize of [1, 7, 64]) {
        const full = await replay(day, streams, { batchSize });
        expect(full.out.length, name).toBeGreaterThan(300);
        const splits = [0, 1, 2, 3, 5, Math.floor(full.batches / 2), full.batches - 1, full.batches];
        for (const k of [...new Set(splits)].filter((x) => x >= 0)) {
          const head = await replay(day, streams, { batchSize, stopAfter: k });
          // A checkpoint goes through v8 serialisation: the position must survive it.
          const pos = deserialize(serialize(head.position)) as ReplayPosition;
          const tail = await replay(day, streams, { batchSize: 5, from: pos });
          expect([...head.out, ...tail.out], `${name} batch ${batchSize} split ${k}`).toEqual(full.out);
          expect([...head.dead, ...tail.dead], `${name} dead letters, split ${k}`).toEqual(full.dead);
          expect(tail.position).toEqual(full.position);
        }
      }
    }
  });

  it('can be resumed twice in a row and on the full demo day', async () => {
    const day = await loadDay(DEMO);
    const streams: StreamName[] = ['quote', 'trade', 'order'];
    const full = await replay(day, streams, { batchSize: 1000 });
    const a = await replay(day, streams, { batchSize: 1000, stopAfter: 3 });
    const b = await replay(day, streams, { batchSize: 777, stopAfter: 4, from: a.position });
    const c = await replay(day, streams, { batchSize: 5000, from: b.position });
    expect([...a.out, ...b.out, ...c.out]).toEqual(full.out);
    expect(a.position.files.find((f) => f.stream === 'quote')!.byteOffset).toBeGreaterThan(0);
  });

  it('refuses a position taken on other files', async () => {
    const day = await loadDay(DEMO);
    const src = new DayReplaySource(day, { streams: ['quote', 'trade'], onDeadLetter: () => {} });
    const other = new DayReplaySource(day, { streams: ['trade', 'quote'], onDeadLetter: () => {} });
    await expect(src.seek(other.position())).rejects.toBeInstanceOf(CheckpointError);
    await expect(src.seek({ version: 2 } as unknown as ReplayPosition)).rejects.toBeInstanceOf(CheckpointError);
  });
});
