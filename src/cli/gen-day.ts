/**
 * `riskflow gen-day --date <YYYY-MM-DD> --seed <n> --out <dir> [--instruments <n>] [--traders <n>]
 *                   [--hours <h>] [--format jsonl|jsonl.gz|arrow] [--incidents all|none] [--quiet]`
 * writes a synthetic recorded day (CONTRACTS.md section 2) with labelled incidents of every alert
 * type of section 3, for replays, backtests, tests, demos and the benchmark. Defaults: 28
 * instruments, 40 traders, `--hours 1` (the session is 09:30 New York time plus `hours`, and
 * day.json's close is its end, like an early-close day, so end-of-session rules see a close),
 * JSONL, all incidents: ~8.4 MB. The same options give byte-identical files.
 *
 * Model. Instruments load on a market factor, a sector factor (six sectors), a few extra
 * factors (a mid-cap factor for the second index, a shared driver for one pair) and an
 * idiosyncratic term (larger for cheaper stocks); the same loadings generate 300 business days
 * of closes (history.csv; each series standardised, fat tails from stress days that scale every
 * component) and the intraday path, so historical and intraday correlations agree. Intraday vol
 * is the daily vol spread over a 6.5 h session with a U shape. Every instrument re-quotes within
 * 900 ms after each 2 s heartbeat (see market.ts: synchronous quoting keeps 1 s correlation bars
 * honest), in whole ticks (cents; 0.0001 below $1), spreads by tier and price, 0.75-3 M of
 * notional per side. Calm traders (market makers, momentum, mean reversion, client flow) take a
 * Poisson tape of trades under guards that keep them inside their limits and clear of every
 * rule (flow.ts FLOW_CAPS); each fill follows its order (NEW, sometimes a REPLACE, sometimes two
 * prints), and resting orders away from the touch are cancelled 6-45 s after entry. A trade
 * record is the fill of `traderId`'s order; `counterpartyTraderId` names the contra side, whose
 * own fill is not a separate record (positions are those of `traderId`; surveillance may count
 * the contra's participation, which the guards allow for).
 *
 * Incidents (`--incidents all`), each on dedicated instruments and traders, at minutes after the
 * open of a 60-minute session (longer sessions stretch the layout by (minutes - 10) / 50;
 * MARKING_THE_CLOSE always takes the last 10 minutes). `start` = when the incident's activity
 * begins; `end` = when the contract's condition is complete plus a grace (1 minute; correlation:
 * window end + 10 s; liquidity: last window end + 1 minute; marking: close + 1 minute):
 *   +5   CONCENTRATION_LIMIT      trader's first trade: a block worth 40% of maxNotional (100% of its book; limit 0.5)
 *   +6   LULD_LIMIT_STATE         CURE slides 4.5% in 200 s without trades, dips 1% through the 5% band for ~6 s
 *   +10  MARKET_WIDE_HALT         index MIDX opens -3%, slides to -9% by +25 (level 1 at -7% around +21)
 *   +12  ULTRAFAST_EXTREME_EVENT  DRLL: 12 strictly falling trades in 770 ms, ~-1.25%
 *   +14  WASH_TRADE               LOAN: a trade between two traders of one beneficial owner
 *   +15  FLASH_CRASH              ACME -8% in 40 s, recovery over 5 minutes
 *   +15  LOSS_LIMIT               a trader long ACME into the crash loses ~1.5x maxLoss
 *   +18  POSITION_LIMIT           60% of maxPosition plus a block: 110%
 *   +20  LULD_PAUSE               SHOP slides, dips to -6.5%, ~48 s below the band
 *   +24  NOTIONAL_LIMIT           gross from ~80% to 110% of maxNotional
 *   +26  LIQUIDITY_SPREAD         GEAR ~70 bps wide for two 30 s windows
 *   +28  LIQUIDITY_DEPTH          FUEL ~$0.4M at the touch for two 30 s windows
 *   +28  DRAWDOWN                 a trader short MIDX gives back ~1.6x maxLoss of profit as it recovers (to +43)
 *   +30  CORRELATION_HIGH         CHIP|LOGI at ~0.97 in one 5-minute window (history ~0.8)
 *   +33  SPOOFING                 GENE: >= 15x-median offer cancelled after 0.8 s, buy fill 2 s after it
 *   +35  CORRELATION_BREAK        BANK|TRST at ~-0.6 in one 5-minute window (history ~0.55)
 *   +36  WASH_TRADE               RAIL: one trader buys and sells the same quantity 8-30 s apart at one price
 *   +38  VAR_LIMIT                historical VaR from ~35% to ~170% of varLimit
 *   +41  LAYERING                 WELD: 4 sell orders at 4 levels in 450 ms, buy fill, all cancelled within 3 s
 *   +44.5 FRONT_RUNNING           SNAK: buy 30 s before a same-desk 25,000-share client order, sell 4 min after
 *   -10  MARKING_THE_CLOSE        TOYS: one trader ~47% of the last 10 minutes' volume, price +2.4%
 * Pair incidents carry `instrument: "A|B"` (kept by loadDay) plus `instrumentA`/`instrumentB`;
 * `counterpartyTraderId` and `related` name further involved entities, `sideEffects` the alert
 * types they may raise (a crash also breaches LULD and liquidity on its instrument). calm.json
 * lists every instrument and trader involved in no incident: any alert on them is a false alarm
 * (detection.ts evaluateDetection). generator.json records the options, to regenerate the day.
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../core/errors.js';
import { formatEventTime } from '../core/time.js';
import { parse } from './args.js';
import { EventBook } from './gen/book.js';
import { zonedTimeToEpoch } from '../core/time.js';
import { businessDaysBefore, clockOf } from './gen/calendar.js';
import { generateNormalFlow } from './gen/flow.js';
import { planIncidents, type IncidentLabel, type IncidentPlan } from './gen/incidents.js';
import { makeHistory, makeLatent, makeQuotes, type Session } from './gen/market.js';
import { Rng } from './gen/prng.js';
import { assignCalmLimits, buildUniverse, MIN_INSTRUMENTS_WITH_INCIDENTS, MIN_TRADERS_WITH_INCIDENTS, type Universe } from './gen/universe.js';
import { buildTables, csv, writeEvents, type EventFormat } from './gen/writers.js';

/**
 * Options of {@link genDay}; defaults make a small day (28 instruments, 40 traders, one hour,
 * plain JSONL, every incident: ~8 MB) suited to tests and demos.
 *
 * @example
 * const o: GenDayOptions = { date: '2024-03-15', seed: 7, out: 'days/d1', instruments: 200, traders: 500, hours: 6.5, format: 'arrow' };
 */
export interface GenDayOptions {
  date: string;
  seed: number;
  out: string;
  instruments?: number;
  traders?: number;
  /** Session length from 09:30 in hours (a whole number of minutes); day.json's close is the end of it. */
  hours?: number;
  format?: EventFormat;
  incidents?: 'all' | 'none';
  /** Quote heartbeat in ms (default 2000). */
  beatMs?: number;
}

/**
 * What {@link genDay} wrote.
 *
 * @example
 * const r = await genDay({ date: '2024-03-15', seed: 7, out: 'day' }); r.counts.events
 */
export interface GenDayResult {
  dir: string;
  files: string[];
  counts: { quotes: number; trades: number; orders: number; events: number; historyRows: number };
  bytes: number;
  incidents: IncidentLabel[];
  calm: { instruments: string[]; traders: string[] };
  wallMs: number;
}

/**
 * Defaults of {@link genDay}: 28 instruments, 40 traders, a one-hour session (09:30-10:30), plain
 * JSONL, every incident, a 2 s quote heartbeat; about 8.4 MB and 0.7 s.
 *
 * @example
 * genDay({ date: '2024-03-15', seed: 1, out: 'day', ...GEN_DAY_DEFAULTS, hours: 6.5 });
 */
export const GEN_DAY_DEFAULTS = { instruments: 28, traders: 40, hours: 1, format: 'jsonl' as EventFormat, incidents: 'all' as const, beatMs: 2000 };
const TIMEZONE = 'America/New_York';
const OPEN_MIN = 9 * 60 + 30;
const HISTORY_DAYS = 300;
const EVENT_FILES = ['trades', 'quotes', 'orders'].flatMap((s) => [`${s}.jsonl`, `${s}.jsonl.gz`, `${s}.arrow`]);

function check(o: GenDayOptions): Required<GenDayOptions> {
  // Options given as undefined (absent flags) keep their defaults.
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const r = { ...GEN_DAY_DEFAULTS, ...given } as Required<GenDayOptions>;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(r.date) || Number.isNaN(Date.parse(`${r.date}T00:00:00Z`)) || new Date(`${r.date}T00:00:00Z`).toISOString().slice(0, 10) !== r.date) {
    throw new UsageError(`gen-day: --date must be YYYY-MM-DD, got '${r.date}'`);
  }
  if (!Number.isSafeInteger(r.seed) || r.seed < 0) throw new UsageError(`gen-day: --seed must be a non-negative integer, got ${r.seed}`);
  const all = r.incidents === 'all';
  if (r.incidents !== 'all' && r.incidents !== 'none') throw new UsageError(`gen-day: --incidents must be all or none, got '${String(r.incidents)}'`);
  if (!['jsonl', 'jsonl.gz', 'arrow'].includes(r.format)) throw new UsageError(`gen-day: --format must be jsonl, jsonl.gz or arrow, got '${String(r.format)}'`);
  const minI = all ? MIN_INSTRUMENTS_WITH_INCIDENTS : 1;
  const minT = all ? MIN_TRADERS_WITH_INCIDENTS : 2;
  if (!Number.isInteger(r.instruments) || r.instruments < minI || r.instruments > 5000) {
    throw new UsageError(`gen-day: --instruments must be an integer from ${minI} to 5000${all ? ' with --incidents all' : ''}, got ${r.instruments}`);
  }
  if (!Number.isInteger(r.traders) || r.traders < minT || r.traders > 20_000) {
    throw new UsageError(`gen-day: --traders must be an integer from ${minT} to 20000${all ? ' with --incidents all' : ''}, got ${r.traders}`);
  }
  const minutes = r.hours * 60;
  const minH = all ? 1 : 1 / 60;
  if (!Number.isFinite(r.hours) || Math.abs(minutes - Math.round(minutes)) > 1e-9 || r.hours < minH || OPEN_MIN + minutes > 24 * 60 - 1) {
    throw new UsageError(`gen-day: --hours must be a whole number of minutes, at least ${all ? '1 with --incidents all' : '1 minute'} and ending before midnight, got ${r.hours}`);
  }
  if (!Number.isInteger(r.beatMs) || r.beatMs < 100 || r.beatMs > 60_000) throw new UsageError(`gen-day: beatMs must be 100..60000, got ${r.beatMs}`);
  return r;
}

function formatPrice(decimals: number, x: number): string {
  return x.toFixed(decimals);
}

const limitCell = (x: number): string => (Number.isFinite(x) ? String(x) : '');

/**
 * Generates a recorded day into `opts.out` (created if needed; the generator's own files in it
 * are replaced, other files are left alone): day.json, instruments.csv, traders.csv,
 * history.csv, trades/quotes/orders in the chosen format, incidents.json (an empty list with
 * `--incidents none`), calm.json and generator.json (the options and counts, to regenerate it).
 * The same options give byte-identical files.
 *
 * @example
 * const r = await genDay({ date: '2024-03-15', seed: 20240315, out: 'fixtures/sample-day' });
 * console.log(`${r.counts.events} events, ${r.incidents.length} incidents`);
 */
export async function genDay(opts: GenDayOptions): Promise<GenDayResult> {
  const started = Date.now();
  const o = check(opts);
  const sessionMin = Math.round(o.hours * 60);
  const open = zonedTimeToEpoch(o.date, clockOf(OPEN_MIN), TIMEZONE);
  const close = open + sessionMin * 60_000;
  const s: Session = {
    date: o.date,
    timezone: TIMEZONE,
    open,
    close,
    openClock: clockOf(OPEN_MIN),
    closeClock: clockOf(OPEN_MIN + sessionMin),
    beatMs: o.beatMs,
    nBeats: Math.ceil((close - open) / o.beatMs),
  };
  const u = buildUniverse({ seed: o.seed, instruments: o.instruments, traders: o.traders, incidents: o.incidents === 'all' });
  const history = makeHistory(u, businessDaysBefore(o.date, HISTORY_DAYS), o.seed);
  assignCalmLimits(
    u,
    (i) => history.returns[i]!.reduce((m, r) => Math.max(m, Math.abs(r)), 0),
    o.seed,
  );
  const plan: IncidentPlan = o.incidents === 'all' ? planIncidents(u, s, o.seed, history) : { overlays: new Map(), shocks: new Map(), scripts: [] };
  const latent = makeLatent(u, s, o.seed, plan.shocks);
  const quotes = u.instruments.map((x) => makeQuotes(x, s, latent[x.idx]!, plan.overlays.get(x.idx), new Rng(o.seed, `quotes:${x.id}`)));
  const book = new EventBook();
  const flow = generateNormalFlow({ u, s, latent, quotes, overlays: plan.overlays, seed: o.seed, book });
  const labels = plan.scripts.flatMap((run) => run({ u, s, quotes, book, history, flow, seed: o.seed }));
  labels.sort((a, b) => a.start - b.start || a.type.localeCompare(b.type));
  const calm = calmEntities(u, labels);
  const tables = buildTables(u, quotes, book);

  await mkdir(o.out, { recursive: true });
  const present = await readdir(o.out);
  for (const f of EVENT_FILES) if (present.includes(f)) await rm(join(o.out, f));
  const files = await writeEvents(o.out, o.format, tables);
  const text: Record<string, string> = {
    'day.json': `${JSON.stringify({ date: o.date, timezone: TIMEZONE, open: s.openClock, close: s.closeClock }, null, 2)}\n`,
    'instruments.csv': csv(
      ['instrument', 'sector', 'currency', 'tier', 'prevClose', 'adv', 'isIndex'],
      u.instruments.map((x) => [x.id, x.sector, 'USD', String(x.tier), formatPrice(x.ticksPerUnit > 100 ? 4 : 2, x.prevClose), String(x.adv), String(x.isIndex)]),
    ),
    'traders.csv': csv(
      ['traderId', 'desk', 'beneficialOwner', 'maxPosition', 'maxNotional', 'maxLoss', 'varLimit', 'maxConcentration'],
      u.traders.map((t) => [t.id, t.desk, t.owner, limitCell(t.limits.maxPosition), limitCell(t.limits.maxNotional), limitCell(t.limits.maxLoss), limitCell(t.limits.varLimit), limitCell(t.limits.maxConcentration)]),
    ),
    'history.csv': historyCsv(u, history.dates, history.closes),
    'incidents.json': `${JSON.stringify(labels.map(labelJson), null, 2)}\n`,
    'calm.json': `${JSON.stringify(
      {
        note: 'Instruments and traders involved in no incident (not an incident entity, counterparty or related entity): any alert on them is a false alarm.',
        instruments: calm.instruments,
        traders: calm.traders,
      },
      null,
      2,
    )}\n`,
    'generator.json': `${JSON.stringify(
      {
        generator: 'riskflow gen-day',
        options: { date: o.date, seed: o.seed, instruments: o.instruments, traders: o.traders, hours: o.hours, format: o.format, incidents: o.incidents },
        session: { open: formatEventTime(s.open), close: formatEventTime(s.close) },
        counts: { quotes: tables.quotes.n, trades: tables.trades.n, orders: tables.orders.n },
      },
      null,
      2,
    )}\n`,
  };
  for (const [name, body] of Object.entries(text)) await writeFile(join(o.out, name), body);
  const all = [...files, ...Object.keys(text)];
  let bytes = 0;
  for (const f of all) bytes += (await stat(join(o.out, f))).size;
  return {
    dir: o.out,
    files: all,
    counts: {
      quotes: tables.quotes.n,
      trades: tables.trades.n,
      orders: tables.orders.n,
      events: tables.quotes.n + tables.trades.n + tables.orders.n,
      historyRows: history.dates.length * u.instruments.length,
    },
    bytes,
    incidents: labels,
    calm,
    wallMs: Date.now() - started,
  };
}

function historyCsv(u: Universe, dates: string[], closes: Float64Array[]): string {
  const rows: string[] = ['date,instrument,close'];
  for (let d = 0; d < dates.length; d++) {
    for (const x of u.instruments) rows.push(`${dates[d]},${x.id},${formatPrice(x.ticksPerUnit > 100 ? 4 : 2, closes[x.idx]![d]!)}`);
  }
  return rows.join('\n') + '\n';
}

function labelJson(l: IncidentLabel): Record<string, unknown> {
  const out: Record<string, unknown> = { type: l.type };
  for (const k of ['instrument', 'instrumentA', 'instrumentB', 'traderId', 'counterpartyTraderId'] as const) if (l[k] !== undefined) out[k] = l[k];
  out['start'] = formatEventTime(l.start);
  out['end'] = formatEventTime(l.end);
  out['note'] = l.note;
  if (l.related) out['related'] = l.related;
  if (l.sideEffects?.length) out['sideEffects'] = l.sideEffects;
  return out;
}

/** Entities no incident involves, in roster order. */
function calmEntities(u: Universe, labels: IncidentLabel[]): { instruments: string[]; traders: string[] } {
  const inst = new Set<string>();
  const tr = new Set<string>();
  for (const l of labels) {
    for (const x of [l.instrumentA, l.instrumentB, ...(l.related?.instruments ?? [])]) if (x) inst.add(x);
    if (l.instrument && l.instrumentA === undefined) inst.add(l.instrument);
    for (const t of [l.traderId, l.counterpartyTraderId, ...(l.related?.traders ?? [])]) if (t) tr.add(t);
  }
  // Scripted traders are never calm, even in the rare case that no label names them.
  for (const t of u.traders) if (t.role !== undefined) tr.add(t.id);
  return {
    instruments: u.instruments.filter((x) => !inst.has(x.id)).map((x) => x.id),
    traders: u.traders.filter((t) => !tr.has(t.id)).map((t) => t.id),
  };
}

function intOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`gen-day: --${name} must be a non-negative integer, got '${v}'`);
  return Number(v);
}

/**
 * The `gen-day` subcommand: parses argv (without the subcommand), generates the day and prints
 * a one-screen summary; returns the exit status (usage errors throw UsageError: exit 2).
 *
 * @example
 * // in main(): case 'gen-day': return cmdGenDay(rest);
 * await cmdGenDay(['--date', '2024-03-15', '--seed', '7', '--out', 'day']);
 */
export async function cmdGenDay(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parse('gen-day', argv, {
    date: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    instruments: { type: 'string' },
    traders: { type: 'string' },
    hours: { type: 'string' },
    format: { type: 'string' },
    incidents: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  });
  if (positionals.length) throw new UsageError(`gen-day: unexpected argument '${positionals[0]}'`);
  for (const k of ['date', 'seed', 'out'] as const) if (values[k] === undefined) throw new UsageError(`gen-day: --${k} is required`);
  const hours = values.hours === undefined ? undefined : Number(values.hours);
  if (values.hours !== undefined && !Number.isFinite(hours)) throw new UsageError(`gen-day: --hours must be a number, got '${values.hours}'`);
  const r = await genDay({
    date: values.date!,
    seed: intOption('seed', values.seed)!,
    out: values.out!,
    instruments: intOption('instruments', values.instruments),
    traders: intOption('traders', values.traders),
    hours,
    format: values.format as EventFormat | undefined,
    incidents: values.incidents as 'all' | 'none' | undefined,
  });
  if (!values.quiet) {
    const c = r.counts;
    out.write(
      `gen-day: ${r.dir}: ${c.events.toLocaleString('en-US')} events (${c.quotes.toLocaleString('en-US')} quotes, ${c.trades.toLocaleString('en-US')} trades, ` +
        `${c.orders.toLocaleString('en-US')} orders), ${c.historyRows.toLocaleString('en-US')} history rows, ${(r.bytes / 1048576).toFixed(1)} MB in ${(r.wallMs / 1000).toFixed(1)} s\n`,
    );
    out.write(`incidents: ${r.incidents.length} (${[...new Set(r.incidents.map((i) => i.type))].length} types); calm: ${r.calm.instruments.length} instruments, ${r.calm.traders.length} traders\n`);
  }
  return 0;
}
