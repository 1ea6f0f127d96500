import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cmdGenDay, genDay, GEN_DAY_DEFAULTS } from '../../../src/cli/gen-day.js';
import { validateEvent, type StreamName } from '../../../src/connectors/events.js';
import { loadDay } from '../../../src/connectors/replay/index.js';
import { UsageError } from '../../../src/core/errors.js';
import { cleanup, readDay, SAMPLE_DAY, tempDir } from './helpers.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const SAMPLE_OPTIONS = JSON.parse(readFileSync(join(SAMPLE_DAY, 'generator.json'), 'utf8')).options as {
  date: string;
  seed: number;
  instruments: number;
  traders: number;
  hours: number;
  format: 'jsonl';
  incidents: 'all';
};

const files = (dir: string): Map<string, Buffer> => new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));

afterAll(cleanup);

describe('gen-day', () => {
  let regenerated: string;
  beforeAll(async () => {
    regenerated = tempDir();
    await genDay({ ...SAMPLE_OPTIONS, out: regenerated });
  });

  it('fixtures/sample-day is what the generator makes today with its recorded options (the defaults)', () => {
    expect(SAMPLE_OPTIONS).toMatchObject({
      instruments: GEN_DAY_DEFAULTS.instruments,
      traders: GEN_DAY_DEFAULTS.traders,
      hours: GEN_DAY_DEFAULTS.hours,
      format: GEN_DAY_DEFAULTS.format,
      incidents: GEN_DAY_DEFAULTS.incidents,
    });
    const a = files(SAMPLE_DAY);
    const b = files(regenerated);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, bytes] of a) expect(b.get(name)!.equals(bytes), name).toBe(true);
    const total = [...a.values()].reduce((s, x) => s + x.length, 0);
    expect(total).toBeLessThan(10 * 1024 * 1024);
  });

  it('is deterministic: the same seed gives byte-identical files, another seed other events', async () => {
    const small = { date: '2024-01-09', instruments: 25, traders: 30, hours: 1 };
    const [a, b, c] = [tempDir(), tempDir(), tempDir()];
    await genDay({ ...small, seed: 99, out: a });
    await genDay({ ...small, seed: 99, out: b });
    await genDay({ ...small, seed: 100, out: c });
    const fa = files(a);
    const fb = files(b);
    for (const [name, bytes] of fa) expect(fb.get(name)!.equals(bytes), name).toBe(true);
    const fc = files(c);
    for (const name of ['quotes.jsonl', 'trades.jsonl', 'orders.jsonl', 'history.csv']) expect(fc.get(name)!.equals(fa.get(name)!), name).toBe(false);
  });

  it('every event of the sample day passes validateEvent, and loadDay reads the day', async () => {
    const d = await readDay(SAMPLE_DAY);
    expect(d.dead).toEqual([]);
    for (const [stream, file] of [['quote', 'quotes.jsonl'], ['trade', 'trades.jsonl'], ['order', 'orders.jsonl']] as const) {
      const lines = readFileSync(join(SAMPLE_DAY, file), 'utf8').trimEnd().split('\n');
      const bad = lines.filter((l) => !validateEvent(stream as StreamName, JSON.parse(l)).ok);
      expect(bad.slice(0, 3), file).toEqual([]);
    }
    expect(d.records.length).toBe(d.quotes.length + d.trades.length + d.orders.length);
    expect(d.quotes.length).toBeGreaterThan(30_000);
    expect(d.trades.length).toBeGreaterThan(5_000);
    expect(d.orders.length).toBeGreaterThan(5_000);
    expect(d.orders.some((o) => o.action === 'REPLACE') && d.orders.some((o) => o.action === 'CANCEL')).toBe(true);
    expect(d.orders.some((o) => o.clientOrder === true)).toBe(true);
    const day = await loadDay(SAMPLE_DAY);
    expect(day.meta).toEqual({ date: '2024-03-15', timezone: 'America/New_York', open: '09:30', close: '10:30' });
    expect(day.reference.instruments.size).toBe(28);
    expect(day.reference.traders.size).toBe(40);
    expect([...day.reference.instruments.values()].filter((x) => x.isIndex).map((x) => x.instrument)).toEqual(['IDX', 'MIDX']);
    const owners = [...day.reference.traders.values()].map((t) => t.beneficialOwner);
    expect(owners.length - new Set(owners).size).toBeGreaterThanOrEqual(2);
  });

  it('writes Arrow and gzip JSONL that replay to exactly the JSONL records', async () => {
    const arrow = tempDir();
    const gz = tempDir();
    await genDay({ ...SAMPLE_OPTIONS, format: 'arrow', out: arrow });
    await genDay({ ...SAMPLE_OPTIONS, format: 'jsonl.gz', out: gz });
    expect(readdirSync(arrow).filter((f) => f.endsWith('.arrow')).sort()).toEqual(['orders.arrow', 'quotes.arrow', 'trades.arrow']);
    expect(readdirSync(gz).filter((f) => f.endsWith('.jsonl.gz')).sort()).toEqual(['orders.jsonl.gz', 'quotes.jsonl.gz', 'trades.jsonl.gz']);
    const base = await readDay(SAMPLE_DAY);
    for (const dir of [arrow, gz]) {
      const d = await readDay(dir);
      expect(d.dead).toEqual([]);
      expect(d.records.length).toBe(base.records.length);
      // Arrow has a null clientOrder where JSONL leaves the field out: toEqual treats both alike.
      expect(d.records).toEqual(base.records);
    }
  });

  it('replaces its own event files when the format changes, so loadDay sees one file per stream', async () => {
    const dir = tempDir();
    const small = { date: '2024-01-09', seed: 3, instruments: 6, traders: 8, hours: 0.25, incidents: 'none' as const };
    await genDay({ ...small, out: dir, format: 'arrow' });
    await genDay({ ...small, out: dir, format: 'jsonl' });
    const day = await loadDay(dir);
    expect(day.files.trade!.endsWith('trades.jsonl')).toBe(true);
    expect(readdirSync(dir).some((f) => f.endsWith('.arrow'))).toBe(false);
  });

  it('--incidents none: no labels, every entity calm, no scripted trader', async () => {
    const dir = tempDir();
    const r = await genDay({ date: '2024-01-09', seed: 3, instruments: 10, traders: 12, hours: 0.5, incidents: 'none', out: dir });
    expect(JSON.parse(readFileSync(join(dir, 'incidents.json'), 'utf8'))).toEqual([]);
    expect(r.calm.instruments.length).toBe(10);
    expect(r.calm.traders.length).toBe(12);
    const d = await readDay(dir);
    expect(d.dead).toEqual([]);
    expect(d.trades.length).toBeGreaterThan(100);
    expect(d.day.meta.close).toBe('10:00');
  });
});

describe('cmdGenDay', () => {
  const sink = (): NodeJS.WritableStream & { text: string } => {
    const s = { text: '', write(c: string) { s.text += c; return true; } };
    return s as unknown as NodeJS.WritableStream & { text: string };
  };

  it('parses the options and prints a summary', async () => {
    const dir = tempDir();
    const out = sink();
    const code = await cmdGenDay(['--date', '2024-01-09', '--seed', '4', '--out', dir, '--instruments', '8', '--traders', '10', '--hours', '0.5', '--incidents', 'none', '--format', 'jsonl.gz'], out);
    expect(code).toBe(0);
    expect(out.text).toMatch(/gen-day: .* events \(.* quotes, .* trades, .* orders\)/);
    expect(readdirSync(dir)).toContain('quotes.jsonl.gz');
    expect(JSON.parse(readFileSync(join(dir, 'generator.json'), 'utf8')).options).toMatchObject({ seed: 4, instruments: 8, traders: 10, hours: 0.5, format: 'jsonl.gz' });
  });

  it.each([
    [['--seed', '1', '--out', 'x'], /--date is required/],
    [['--date', '2024-01-09', '--out', 'x'], /--seed is required/],
    [['--date', '2024-02-30', '--seed', '1', '--out', 'x'], /--date must be YYYY-MM-DD/],
    [['--date', '2024-01-09', '--seed', '-1', '--out', 'x'], /seed/],
    [['--date', '2024-01-09', '--seed', '1.5', '--out', 'x'], /--seed must be a non-negative integer/],
    [['--date', '2024-01-09', '--seed', '1', '--out', 'x', '--format', 'csv'], /--format must be jsonl, jsonl.gz or arrow/],
    [['--date', '2024-01-09', '--seed', '1', '--out', 'x', '--instruments', '10'], /--instruments must be an integer from 25/],
    [['--date', '2024-01-09', '--seed', '1', '--out', 'x', '--traders', '12'], /--traders must be an integer from 30/],
    [['--date', '2024-01-09', '--seed', '1', '--out', 'x', '--hours', '0.5'], /--hours must be .* at least 1 with --incidents all/],
    [['--date', '2024-01-09', '--seed', '1', '--out', 'x', '--hours', '1.001'], /whole number of minutes/],
    [['--date', '2024-01-09', '--seed', '1', '--out', 'x', '--incidents', 'some'], /--incidents must be all or none/],
    [['--date', '2024-01-09', '--seed', '1', '--out', 'x', '--bogus'], /Unknown option/],
    [['--date', '2024-01-09', '--seed', '1', '--out', 'x', 'extra'], /unexpected argument/],
  ])('rejects %j with a usage error (exit 2)', async (argv, message) => {
    const err = await cmdGenDay(argv as string[], sink()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(message);
  });
});
