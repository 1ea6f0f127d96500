import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import { parseCsv } from '../../../src/connectors/replay/csv.js';
import { loadDay } from '../../../src/connectors/replay/day.js';
import { cleanupTempDirs, DEMO, makeDay } from './helpers.js';

afterAll(cleanupTempDirs);

async function loadError(dir: string): Promise<InputError> {
  try {
    await loadDay(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).exitCode).toBe(2);
    return e as InputError;
  }
  throw new Error('loadDay did not fail');
}

const EVENTS = { 'trades.jsonl': '', 'quotes.jsonl': '' };

describe('parseCsv', () => {
  it('handles quotes, escaped quotes, commas and newlines in quotes, CRLF, BOM and blank lines', () => {
    const t = parseCsv('\ufeffa,b,c\r\n1,"x, y","say ""hi"""\r\n\r\n2, plain ,"multi\nline"\n', 'f.csv');
    expect(t.header).toEqual(['a', 'b', 'c']);
    expect(t.rows).toEqual([
      { line: 2, cells: ['1', 'x, y', 'say "hi"'] },
      { line: 4, cells: ['2', 'plain', 'multi\nline'] },
    ]);
  });

  it('names the line of a row with the wrong number of cells or an unterminated quote', () => {
    expect(() => parseCsv('a,b\n1,2\n3\n', 'f.csv')).toThrow(expect.objectContaining({ file: 'f.csv', line: 3 }));
    expect(() => parseCsv('a,b\n1,2\n"3,4\n', 'f.csv')).toThrow(expect.objectContaining({ line: 3 }));
    expect(() => parseCsv('', 'f.csv')).toThrow(InputError);
  });
});

describe('loadDay', () => {
  it('loads the demo day: meta, reference data, incidents and files', async () => {
    const day = await loadDay(DEMO);
    expect(day.meta).toEqual({ date: '2024-03-15', timezone: 'America/New_York', open: '09:30', close: '16:00' });
    expect(day.reference.day).toEqual(day.meta);
    expect(day.files).toEqual({
      trade: join(DEMO, 'trades.jsonl'),
      quote: join(DEMO, 'quotes.jsonl'),
      order: join(DEMO, 'orders.jsonl'),
    });
    const { instruments, traders, history, incidents } = day.reference;
    expect(instruments.size).toBe(8);
    expect(instruments.get('IDX')).toMatchObject({ isIndex: true, tier: 1, sector: 'Index', currency: 'USD' });
    expect(instruments.get('ACME')).toMatchObject({ prevClose: 142.5, isIndex: false });
    expect(new Set([...instruments.values()].filter((i) => !i.isIndex).map((i) => i.sector)).size).toBe(3);
    expect(traders.size).toBe(12);
    expect(traders.get('TR04')!.beneficialOwner).toBe(traders.get('TR09')!.beneficialOwner);
    expect(new Set([...traders.values()].map((t) => t.desk)).size).toBe(3);
    expect(history!.dates.length).toBe(300);
    expect(history!.dates[299]).toBe('2024-03-14');
    for (const [name, ins] of instruments) {
      const closes = history!.closes.get(name)!;
      expect(closes.length).toBe(300);
      expect(closes[299]).toBeCloseTo(ins.prevClose, 2);
      expect(closes.every((c) => Number.isFinite(c) && c > 0)).toBe(true);
    }
    expect(incidents.map((i) => i.type)).toEqual(['FLASH_CRASH', 'OFF_MARKET_TRADE', 'VOLUME_BURST']);
    expect(incidents[0]).toMatchObject({ instrument: 'ACME', start: Date.parse('2024-03-15T14:05:00Z') });
    expect(incidents[1]).toMatchObject({ traderId: 'TR07', start: Date.parse('2024-03-15T14:12:00.250Z') });
  });

  it('treats orders and incidents as optional', async () => {
    const day = await loadDay(makeDay(EVENTS));
    expect(day.files.order).toBeUndefined();
    expect(day.reference.incidents).toEqual([]);
  });

  it('finds gzip and Arrow event files', async () => {
    const day = await loadDay(makeDay({ 'trades.jsonl.gz': '', 'quotes.arrow': '', 'orders.jsonl': '' }));
    expect(day.files.trade!.endsWith('trades.jsonl.gz')).toBe(true);
    expect(day.files.quote!.endsWith('quotes.arrow')).toBe(true);
  });

  it('fails on a missing directory, trades or quotes file, or two files for one stream', async () => {
    expect((await loadError('/nonexistent/day')).file).toBe('/nonexistent/day');
    expect((await loadError(makeDay({ 'quotes.jsonl': '' }))).message).toMatch(/missing trade events/);
    expect((await loadError(makeDay({ 'trades.jsonl': '' }))).message).toMatch(/missing quote events/);
    expect((await loadError(makeDay({ ...EVENTS, 'trades.arrow': '' }))).message).toMatch(/more than one trade file/);
  });

  it('fails on a missing reference file, naming it', async () => {
    const dir = makeDay(EVENTS, { reference: false });
    const e = await loadError(dir);
    expect(e.file).toBe(join(dir, 'day.json'));
    expect(e.message).toMatch(/missing file/);
  });

  it('names the field and line of a bad day.json', async () => {
    const dir = makeDay(EVENTS);
    writeFileSync(join(dir, 'day.json'), '{\n  "date": "2024-03-15",\n  "timezone": "Mars/Olympus",\n  "open": "09:30",\n  "close": "16:00"\n}\n');
    const e = await loadError(dir);
    expect(e).toMatchObject({ file: join(dir, 'day.json'), line: 3, field: 'timezone' });
    writeFileSync(join(dir, 'day.json'), '{"date":"2024-03-15","timezone":"UTC","open":"9h30","close":"16:00"}');
    expect(await loadError(dir)).toMatchObject({ field: 'open' });
    writeFileSync(join(dir, 'day.json'), '{"date":"2024-02-30","timezone":"UTC","open":"09:30","close":"16:00"}');
    expect(await loadError(dir)).toMatchObject({ field: 'date' });
    writeFileSync(join(dir, 'day.json'), '{\n"date": "2024-03-15",\n oops }');
    expect((await loadError(dir)).message).toMatch(/invalid JSON/);
  });

  it('names file, line and column of a bad instruments.csv header or value', async () => {
    const dir = makeDay(EVENTS);
    const file = join(dir, 'instruments.csv');
    const good = readFileSync(join(DEMO, 'instruments.csv'), 'utf8');
    writeFileSync(file, good.replace('prevClose', 'prev_close'));
    expect(await loadError(dir)).toMatchObject({ file, line: 1, field: 'prevClose' });
    writeFileSync(file, good.replace('BYTE,Technology,USD,1,88.20', 'BYTE,Technology,USD,1,-88.20'));
    expect(await loadError(dir)).toMatchObject({ file, line: 3, field: 'prevClose' });
    writeFileSync(file, good.replace('CHIP,Technology,USD,2', 'CHIP,Technology,USD,two'));
    expect(await loadError(dir)).toMatchObject({ file, line: 4, field: 'tier' });
    writeFileSync(file, good.replace('60000000,true', '60000000,maybe'));
    expect(await loadError(dir)).toMatchObject({ file, line: 9, field: 'isIndex' });
    writeFileSync(file, good + 'ACME,Technology,USD,1,1,1,false\n');
    expect(await loadError(dir)).toMatchObject({ file, line: 10, field: 'instrument' });
  });

  it('names file, line and column of a bad traders.csv value; empty limits mean no limit', async () => {
    const dir = makeDay(EVENTS);
    const file = join(dir, 'traders.csv');
    const good = readFileSync(join(DEMO, 'traders.csv'), 'utf8');
    const lines = good.trimEnd().split('\n');
    lines[5] = lines[5]!.replace(/,[0-9.]+$/, ',1.5');
    writeFileSync(file, lines.join('\n') + '\n');
    expect(await loadError(dir)).toMatchObject({ file, line: 6, field: 'maxConcentration' });
    writeFileSync(file, 'traderId,desk,beneficialOwner,maxPosition,maxNotional,maxLoss,varLimit,maxConcentration\nX1,D,,,,,,\n');
    const day = await loadDay(dir);
    expect(day.reference.traders.get('X1')).toMatchObject({ beneficialOwner: 'X1', maxPosition: Infinity, maxConcentration: Infinity });
    writeFileSync(file, 'traderId,desk,beneficialOwner,maxPosition,maxNotional,maxLoss,varLimit\nX1,D,,,,,\n');
    expect(await loadError(dir)).toMatchObject({ file, line: 1, field: 'maxConcentration' });
  });

  it('names file, line and column of a bad history.csv row', async () => {
    const dir = makeDay(EVENTS);
    const file = join(dir, 'history.csv');
    writeFileSync(file, 'date,instrument,close\n2024-03-13,ACME,140\n2024-03-14,ACME,abc\n');
    expect(await loadError(dir)).toMatchObject({ file, line: 3, field: 'close' });
    writeFileSync(file, 'date,instrument,close\n2024-03-13,ACME,140\n03/14/2024,ACME,141\n');
    expect(await loadError(dir)).toMatchObject({ file, line: 3, field: 'date' });
    writeFileSync(file, 'date,instrument,close\n2024-03-13,ACME,140\n2024-03-13,ACME,141\n');
    expect(await loadError(dir)).toMatchObject({ file, line: 3, field: 'date' });
    // Real calendar dates only (leap years as the Gregorian calendar has them).
    for (const bad of ['2023-02-29', '2024-02-30', '2024-04-31', '2024-13-01', '2024-00-10', '2024-01-00', '2100-02-29', '2024-1-015']) {
      writeFileSync(file, `date,instrument,close\n2024-03-13,ACME,140\n${bad},ACME,141\n`);
      expect(await loadError(dir)).toMatchObject({ file, line: 3, field: 'date' });
    }
    writeFileSync(file, 'date,instrument,close\n2024-02-29,ACME,1\n2000-02-29,ACME,2\n2024-12-31,ACME,3\n2024-01-31,ACME,4\n');
    expect((await loadDay(dir)).reference.history!.dates).toEqual(['2000-02-29', '2024-01-31', '2024-02-29', '2024-12-31']);
    // A repeated (date, instrument) is named at its second row, also when the date is not the last one seen.
    writeFileSync(file, 'date,instrument,close\n2024-03-13,ACME,140\n2024-03-14,ACME,141\n2024-03-14,BOLT,41\n2024-03-13,ACME,142\n');
    expect(await loadError(dir)).toMatchObject({ file, line: 5, field: 'date' });
    writeFileSync(file, 'date,instrument,close\n2024-03-14,ACME,141\n2024-03-13,ACME,140\n2024-03-13,BOLT,40\n');
    const h = (await loadDay(dir)).reference.history!;
    expect(h.dates).toEqual(['2024-03-13', '2024-03-14']);
    expect([...h.closes.get('ACME')!]).toEqual([140, 141]);
    expect(Number.isNaN(h.closes.get('BOLT')![1]!)).toBe(true);
  });

  it('parses incidents with ISO or ms times and names the bad one', async () => {
    const dir = makeDay({
      ...EVENTS,
      'incidents.json': JSON.stringify([{ type: 'X', start: 1000, end: '1970-01-01T00:00:02Z', note: 'n' }]),
    });
    expect((await loadDay(dir)).reference.incidents).toEqual([{ type: 'X', start: 1000, end: 2000, note: 'n' }]);
    writeFileSync(
      join(dir, 'incidents.json'),
      '[\n {"type": "A", "start": 1, "end": 2},\n {"type": "B", "start": "noon", "end": 2}\n]\n',
    );
    expect(await loadError(dir)).toMatchObject({ line: 3, field: '[1].start' });
  });
});
