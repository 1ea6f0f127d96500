import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../core/errors.js';
import type { DayMeta, History, Incident, Instrument, ReferenceData, Trader } from '../../core/reference.js';
import { toEventTime } from '../../core/time.js';
import type { StreamName } from '../events.js';
import { columnIndex, parseCsv, type CsvRow, type CsvTable } from './csv.js';

/**
 * A recorded day (CONTRACTS.md section 2) ready to replay: its metadata, the reference data every
 * topology shares, and the event file of each stream (`undefined` when the day has none: only
 * orders are optional).
 *
 * @example
 * const day = await loadDay('fixtures/demo-day');
 * day.files.trade // 'fixtures/demo-day/trades.jsonl'
 */
export interface RecordedDay {
  dir: string;
  meta: DayMeta;
  reference: ReferenceData;
  files: Record<StreamName, string | undefined>;
}

/** File name endings accepted for a stream's events, in the order they are looked for. */
const EVENT_FILE_SUFFIXES = ['.jsonl', '.jsonl.gz', '.arrow'] as const;

/**
 * Which event file a recorded day has for a stream: `<stream>s.jsonl`, `<stream>s.jsonl.gz` or
 * `<stream>s.arrow`, as a path under `dir`; `undefined` when there is none. Two candidates for the
 * same stream are an {@link InputError}: silently preferring one would replay the wrong data.
 *
 * @example
 * findEventFile('day', ['trades.jsonl.gz', 'quotes.arrow'], 'trade') // 'day/trades.jsonl.gz'
 */
export function findEventFile(dir: string, names: readonly string[], stream: StreamName): string | undefined {
  const found = EVENT_FILE_SUFFIXES.map((s) => `${stream}s${s}`).filter((n) => names.includes(n));
  if (found.length > 1) {
    throw new InputError(`more than one ${stream} file: ${found.join(', ')}; keep only one`, { file: dir });
  }
  return found[0] === undefined ? undefined : join(dir, found[0]);
}

/**
 * Loads a recorded day directory (CONTRACTS.md section 2): `day.json`, `instruments.csv`,
 * `traders.csv`, `history.csv` and optional `incidents.json`, and finds the event files. Any
 * problem that makes the day unusable (a missing file, a bad header, a row with a bad value, a
 * missing trades or quotes file) is an {@link InputError} (exit status 2) naming the file, line and
 * field. Bad *event* records are not checked here: they go to the dead letters during replay.
 *
 * Empty limit cells in `traders.csv` mean "no limit" (Infinity); an empty `beneficialOwner` means
 * the trader is its own owner; an empty `isIndex` is false.
 *
 * @example
 * const day = await loadDay('fixtures/demo-day');
 * day.reference.instruments.get('ACME')?.prevClose
 */
export async function loadDay(dir: string): Promise<RecordedDay> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new InputError('not a directory', { file: dir });
    names = await readdir(dir);
  } catch (cause) {
    if (cause instanceof InputError) throw cause;
    throw new InputError(`cannot read the recorded day directory: ${(cause as Error).message}`, { file: dir, cause });
  }
  const files: Record<StreamName, string | undefined> = {
    trade: findEventFile(dir, names, 'trade'),
    quote: findEventFile(dir, names, 'quote'),
    order: findEventFile(dir, names, 'order'),
  };
  for (const s of ['trade', 'quote'] as const) {
    if (files[s] === undefined) {
      throw new InputError(`missing ${s} events: expected ${s}s.jsonl, ${s}s.jsonl.gz or ${s}s.arrow`, {
        file: join(dir, `${s}s.jsonl`),
      });
    }
  }
  const meta = parseDayMeta(await readText(join(dir, 'day.json')), join(dir, 'day.json'));
  const instruments = parseInstruments(parseCsv(await readText(join(dir, 'instruments.csv')), join(dir, 'instruments.csv')));
  const traders = parseTraders(parseCsv(await readText(join(dir, 'traders.csv')), join(dir, 'traders.csv')));
  const history = parseHistory(parseCsv(await readText(join(dir, 'history.csv')), join(dir, 'history.csv')));
  const incidentsFile = join(dir, 'incidents.json');
  const incidents = names.includes('incidents.json') ? parseIncidents(await readText(incidentsFile), incidentsFile) : [];
  return { dir, meta, files, reference: { instruments, traders, history, day: meta, incidents } };
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? 'missing file' : `cannot read: ${(cause as Error).message}`, { file, cause });
  }
}

function lineAt(text: string, pos: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** Line of the `nth` (0-based) occurrence of `"key"` in JSON text, to point at a bad value. */
function lineOfKey(text: string, key: string, nth = 0): number | undefined {
  let pos = -1;
  for (let k = 0; k <= nth; k++) {
    pos = text.indexOf(`"${key}"`, pos + 1);
    if (pos < 0) return undefined;
  }
  return lineAt(text, pos);
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    const m = /position (\d+)/.exec((cause as Error).message);
    const lc = /line (\d+)/.exec((cause as Error).message);
    const line = m ? lineAt(text, Number(m[1])) : lc ? Number(lc[1]) : undefined;
    throw new InputError(`invalid JSON: ${(cause as Error).message}`, { file, line, cause });
  }
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** A real calendar date written YYYY-MM-DD (proleptic Gregorian, as `Date` reads it). */
function isIsoDate(s: string): boolean {
  if (s.length !== 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return false;
  for (let i = 0; i < 10; i++) if (i !== 4 && i !== 7 && !isDigit(s.charCodeAt(i))) return false;
  const d = (i: number): number => s.charCodeAt(i) - 48;
  const year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3);
  const month = d(5) * 10 + d(6);
  const day = d(8) * 10 + d(9);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

function parseClockTime(s: unknown): number {
  if (typeof s !== 'string' || !/^\d{2}:\d{2}$/.test(s)) return NaN;
  const h = Number(s.slice(0, 2));
  const m = Number(s.slice(3));
  return h < 24 && m < 60 ? h * 60 + m : NaN;
}

function parseDayMeta(text: string, file: string): DayMeta {
  const o = parseJson(text, file);
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    throw new InputError('expected a JSON object {"date","timezone","open","close"}', { file, line: 1 });
  }
  const r = o as Record<string, unknown>;
  const bad = (field: string, message: string): InputError =>
    new InputError(message, { file, line: lineOfKey(text, field), field });
  const { date, timezone, open, close } = r;
  if (typeof date !== 'string' || !isIsoDate(date)) throw bad('date', `'date' must be YYYY-MM-DD, got ${JSON.stringify(date)}`);
  if (typeof timezone !== 'string' || timezone.length === 0) {
    throw bad('timezone', `'timezone' must be an IANA time zone such as America/New_York, got ${JSON.stringify(timezone)}`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw bad('timezone', `unknown time zone '${timezone}'`);
  }
  const openMin = parseClockTime(open);
  if (Number.isNaN(openMin)) throw bad('open', `'open' must be HH:MM, got ${JSON.stringify(open)}`);
  const closeMin = parseClockTime(close);
  if (Number.isNaN(closeMin)) throw bad('close', `'close' must be HH:MM, got ${JSON.stringify(close)}`);
  if (closeMin <= openMin) throw bad('close', `'close' (${String(close)}) must be after 'open' (${String(open)})`);
  return { date, timezone, open: open as string, close: close as string };
}

/** Reads typed cells of one CSV row, raising an InputError that names file, line and column. */
class RowReader {
  constructor(
    private readonly table: CsvTable,
    private readonly cols: Record<string, number>,
  ) {}
  row!: CsvRow;

  private fail(field: string, message: string): never {
    throw new InputError(message, { file: this.table.file, line: this.row.line, field });
  }

  /** Cell index of a field. */
  index(field: string): number {
    return this.cols[field]!;
  }

  text(field: string, opts: { optional?: boolean } = {}): string {
    const v = this.row.cells[this.cols[field]!] ?? '';
    if (v.length === 0 && !opts.optional) this.fail(field, `empty '${field}'`);
    return v;
  }

  number(field: string, opts: { min?: number; max?: number; positive?: boolean; integer?: boolean; emptyAs?: number } = {}): number {
    const v = this.text(field, { optional: opts.emptyAs !== undefined });
    if (v.length === 0) return opts.emptyAs!;
    const x = Number(v);
    if (!Number.isFinite(x)) this.fail(field, `'${field}' must be a number, got '${v}'`);
    if (opts.integer && !Number.isInteger(x)) this.fail(field, `'${field}' must be an integer, got '${v}'`);
    if (opts.positive && !(x > 0)) this.fail(field, `'${field}' must be > 0, got ${v}`);
    if (opts.min !== undefined && x < opts.min) this.fail(field, `'${field}' must be >= ${opts.min}, got ${v}`);
    if (opts.max !== undefined && x > opts.max) this.fail(field, `'${field}' must be <= ${opts.max}, got ${v}`);
    return x;
  }

  bool(field: string): boolean {
    const v = this.text(field, { optional: true }).toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes' || v === 'y') return true;
    if (v === 'false' || v === '0' || v === 'no' || v === 'n' || v === '') return false;
    return this.fail(field, `'${field}' must be true or false, got '${v}'`);
  }

  date(field: string): string {
    const v = this.text(field);
    if (!isIsoDate(v)) this.fail(field, `'${field}' must be a date YYYY-MM-DD, got '${v}'`);
    return v;
  }

  duplicate(field: string, what: string): never {
    return this.fail(field, `duplicate ${what}`);
  }
}

const INSTRUMENT_COLUMNS = ['instrument', 'sector', 'currency', 'tier', 'prevClose', 'adv', 'isIndex'] as const;

function parseInstruments(t: CsvTable): Map<string, Instrument> {
  const rr = new RowReader(t, columnIndex(t, INSTRUMENT_COLUMNS));
  const out = new Map<string, Instrument>();
  for (const row of t.rows) {
    rr.row = row;
    const instrument = rr.text('instrument');
    if (out.has(instrument)) rr.duplicate('instrument', `instrument '${instrument}'`);
    out.set(instrument, {
      instrument,
      sector: rr.text('sector'),
      currency: rr.text('currency'),
      tier: rr.number('tier', { integer: true, min: 1 }),
      prevClose: rr.number('prevClose', { positive: true }),
      adv: rr.number('adv', { min: 0 }),
      isIndex: rr.bool('isIndex'),
    });
  }
  return out;
}

const TRADER_COLUMNS = [
  'traderId',
  'desk',
  'beneficialOwner',
  'maxPosition',
  'maxNotional',
  'maxLoss',
  'varLimit',
  'maxConcentration',
] as const;

function parseTraders(t: CsvTable): Map<string, Trader> {
  const rr = new RowReader(t, columnIndex(t, TRADER_COLUMNS));
  const out = new Map<string, Trader>();
  const limit = { min: 0, emptyAs: Number.POSITIVE_INFINITY };
  for (const row of t.rows) {
    rr.row = row;
    const traderId = rr.text('traderId');
    if (out.has(traderId)) rr.duplicate('traderId', `trader '${traderId}'`);
    const owner = rr.text('beneficialOwner', { optional: true });
    out.set(traderId, {
      traderId,
      desk: rr.text('desk'),
      beneficialOwner: owner.length > 0 ? owner : traderId,
      maxPosition: rr.number('maxPosition', limit),
      maxNotional: rr.number('maxNotional', limit),
      maxLoss: rr.number('maxLoss', limit),
      varLimit: rr.number('varLimit', limit),
      maxConcentration: rr.number('maxConcentration', { min: 0, max: 1, emptyAs: Number.POSITIVE_INFINITY }),
    });
  }
  return out;
}

function parseHistory(t: CsvTable): History {
  const rr = new RowReader(t, columnIndex(t, ['date', 'instrument', 'close']));
  const n = t.rows.length;
  // Dates repeat once per instrument: each distinct one is checked once, and numbered.
  const dateNo = new Map<string, number>();
  const dateList: string[] = [];
  const rowDate = new Int32Array(n);
  const rowInstrument: string[] = new Array<string>(n);
  const rowClose = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const row = t.rows[k]!;
    rr.row = row;
    const v = row.cells[rr.index('date')] ?? '';
    let no = dateNo.get(v);
    if (no === undefined) {
      rr.date('date');
      no = dateList.length;
      dateNo.set(v, no);
      dateList.push(v);
    }
    const instrument = rr.text('instrument');
    const close = rr.number('close', { positive: true });
    rowDate[k] = no;
    rowInstrument[k] = instrument;
    rowClose[k] = close;
  }
  const dates = dateList.slice().sort();
  const sortedIdx = new Int32Array(dateList.length);
  const byDate = new Map(dates.map((d, i) => [d, i]));
  for (let i = 0; i < dateList.length; i++) sortedIdx[i] = byDate.get(dateList[i]!)!;
  const closes = new Map<string, Float64Array>();
  const seen = new Map<string, Uint8Array>();
  for (let k = 0; k < n; k++) {
    const instrument = rowInstrument[k]!;
    let arr = closes.get(instrument);
    let had = seen.get(instrument);
    if (!arr || !had) {
      arr = new Float64Array(dates.length).fill(Number.NaN);
      had = new Uint8Array(dates.length);
      closes.set(instrument, arr);
      seen.set(instrument, had);
    }
    const di = sortedIdx[rowDate[k]!]!;
    if (had[di]) {
      rr.row = t.rows[k]!;
      rr.duplicate('date', `close for ${instrument} on ${dateList[rowDate[k]!]!}`);
    }
    had[di] = 1;
    arr[di] = rowClose[k]!;
  }
  return { dates, closes };
}

function parseIncidents(text: string, file: string): Incident[] {
  const arr = parseJson(text, file);
  if (!Array.isArray(arr)) throw new InputError('expected a JSON array of incidents', { file, line: 1 });
  const occurrences = new Map<string, number>();
  const out: Incident[] = [];
  arr.forEach((v: unknown, i) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new InputError(`incident ${i} must be an object`, { file, field: `[${i}]` });
    }
    const o = v as Record<string, unknown>;
    // Line of this incident's key: count how many earlier incidents carry the same key.
    const lineOf = (k: string): number | undefined => lineOfKey(text, k, occurrences.get(k) ?? 0);
    const bad = (k: string, message: string): InputError =>
      new InputError(message, { file, line: k in o ? lineOf(k) : undefined, field: `[${i}].${k}` });
    if (typeof o['type'] !== 'string' || o['type'].length === 0) throw bad('type', `'type' must be a non-empty string`);
    const inc: Incident = { type: o['type'], start: NaN, end: NaN };
    for (const k of ['start', 'end'] as const) {
      const ms = toEventTime(o[k]);
      if (Number.isNaN(ms)) {
        throw bad(k, `'${k}' must be epoch ms or an ISO-8601 time with an offset, got ${JSON.stringify(o[k])}`);
      }
      inc[k] = ms;
    }
    if (inc.end < inc.start) throw bad('end', `'end' is before 'start'`);
    for (const k of ['instrument', 'traderId', 'note'] as const) {
      const x = o[k];
      if (x === undefined || x === null) continue;
      if (typeof x !== 'string') throw bad(k, `'${k}' must be a string`);
      inc[k] = x;
    }
    for (const k of Object.keys(o)) occurrences.set(k, (occurrences.get(k) ?? 0) + 1);
    out.push(inc);
  });
  return out;
}
