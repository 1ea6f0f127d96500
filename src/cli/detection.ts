import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../core/errors.js';
import { formatEventTime, toEventTime } from '../core/time.js';

/**
 * The alert types of CONTRACTS.md section 3, in the contract's order: the rows of the detection
 * table (other types found in the incidents or alerts are appended after them).
 *
 * @example
 * CONTRACT_ALERT_TYPES.includes('SPOOFING') // true
 */
export const CONTRACT_ALERT_TYPES = [
  'POSITION_LIMIT',
  'NOTIONAL_LIMIT',
  'LOSS_LIMIT',
  'CONCENTRATION_LIMIT',
  'DRAWDOWN',
  'VAR_LIMIT',
  'FLASH_CRASH',
  'ULTRAFAST_EXTREME_EVENT',
  'LULD_LIMIT_STATE',
  'LULD_PAUSE',
  'MARKET_WIDE_HALT',
  'CORRELATION_HIGH',
  'CORRELATION_BREAK',
  'LIQUIDITY_SPREAD',
  'LIQUIDITY_DEPTH',
  'WASH_TRADE',
  'SPOOFING',
  'LAYERING',
  'MARKING_THE_CLOSE',
  'FRONT_RUNNING',
] as const;

/**
 * A labelled incident as incidents.json holds it (CONTRACTS.md section 2) or as loadDay returns
 * it (`Incident` of src/core/reference.ts is assignable). Times are epoch ms or ISO-8601 strings.
 * A pair is `instrumentA` + `instrumentB`, or `instrument: "A|B"` (the form that survives
 * loadDay). `counterpartyTraderId` is a second trader an alert may name (a wash trade between
 * two traders of one owner); `related` lists other involved entities, whose unmatched alerts are
 * tolerated, never false alarms.
 *
 * @example
 * const i: DetectionIncident = { type: 'CORRELATION_HIGH', instrument: 'CHIP|LOGI', start: '2024-03-15T14:00:00Z', end: '2024-03-15T14:05:10Z' };
 */
export interface DetectionIncident {
  type: string;
  instrument?: string;
  instrumentA?: string;
  instrumentB?: string;
  traderId?: string;
  counterpartyTraderId?: string;
  start: number | string;
  end: number | string;
  note?: string;
  related?: { instruments?: string[]; traders?: string[] };
}

/**
 * The part of an alert (CONTRACTS.md section 3) the evaluation reads; a full `Alert` fits.
 *
 * @example
 * const a: DetectionAlert = { type: 'FLASH_CRASH', entity: { instrument: 'ACME' }, eventTime: 1710511526600 };
 */
export interface DetectionAlert {
  type: string;
  entity: Record<string, string>;
  eventTime: number;
  alertId?: string;
  message?: string;
}

/**
 * Entities that must stay silent (calm.json of a generated day).
 *
 * @example
 * const calm: CalmEntities = { instruments: ['IDX', 'BYTE'], traders: ['TR001'] };
 */
export interface CalmEntities {
  instruments: string[];
  traders: string[];
}

/**
 * One row of the detection table: incidents of the type, how many were detected, alerts of the
 * type that count as false alarms, alerts tolerated (unmatched but on an involved or unscored
 * entity), alerts that matched an incident, and the median time to detect over detected incidents
 * (first matching alert's eventTime minus the incident's start; null when none was detected).
 *
 * @example
 * { type: 'FLASH_CRASH', labelled: 1, detected: 1, falseAlerts: 0, toleratedAlerts: 0, matchedAlerts: 1, medianTimeToDetectMs: 26_800 }
 */
export interface DetectionRow {
  type: string;
  labelled: number;
  detected: number;
  falseAlerts: number;
  toleratedAlerts: number;
  matchedAlerts: number;
  medianTimeToDetectMs: number | null;
}

/**
 * An incident no alert matched.
 *
 * @example
 * { type: 'LULD_PAUSE', entity: 'SHOP', start: 1710510600000, end: 1710510828000, note: '...' }
 */
export interface MissedIncident {
  type: string;
  entity: string;
  start: number;
  end: number;
  note?: string;
}

/**
 * An alert counted as a false alarm.
 *
 * @example
 * { type: 'CORRELATION_BREAK', entity: 'IDX|BYTE', eventTime: 1710511200000, message: '...' }
 */
export interface FalseAlarm {
  type: string;
  entity: string;
  eventTime: number;
  alertId?: string;
  message?: string;
}

/**
 * Result of {@link evaluateDetection}; plain JSON, ready for summary.json.
 *
 * @example
 * const { rows, missed, falseAlarms, totals } = evaluateDetection(incidents, alerts, { calm });
 */
export interface DetectionResult {
  rows: DetectionRow[];
  missed: MissedIncident[];
  falseAlarms: FalseAlarm[];
  totals: { labelled: number; detected: number; falseAlerts: number; toleratedAlerts: number; matchedAlerts: number; alerts: number };
}

interface Norm {
  type: string;
  instrument?: string;
  pair?: [string, string];
  traders: string[];
  start: number;
  end: number;
  note?: string;
}

function normalise(i: DetectionIncident, k: number): Norm {
  const start = toEventTime(i.start);
  const end = toEventTime(i.end);
  if (Number.isNaN(start) || Number.isNaN(end)) throw new InputError(`incident ${k} (${i.type}): start/end must be epoch ms or ISO-8601 with an offset`);
  let pair: [string, string] | undefined;
  let instrument = i.instrument;
  if (i.instrumentA !== undefined && i.instrumentB !== undefined) pair = [i.instrumentA, i.instrumentB];
  else if (instrument?.includes('|')) {
    const [a, b] = instrument.split('|');
    if (a && b) pair = [a, b];
  }
  if (pair) instrument = undefined;
  const traders = [i.traderId, i.counterpartyTraderId].filter((t): t is string => typeof t === 'string' && t.length > 0);
  return { type: i.type, instrument, pair, traders, start, end, note: i.note };
}

/**
 * A readable entity: the instrument, the trader id, or `A|B` for a pair.
 *
 * @example
 * entityLabel({ instrumentA: 'CHIP', instrumentB: 'LOGI' }) // 'CHIP|LOGI'
 */
export function entityLabel(e: Record<string, string | undefined>): string {
  if (e['instrumentA'] !== undefined && e['instrumentB'] !== undefined) return `${e['instrumentA']}|${e['instrumentB']}`;
  const parts = [e['traderId'], e['instrument']].filter((x) => x !== undefined);
  return parts.length ? parts.join(' ') : JSON.stringify(e);
}

function hits(e: Record<string, string>, n: Norm): boolean {
  const a = e['instrumentA'];
  const b = e['instrumentB'];
  if (a !== undefined && b !== undefined) {
    return n.pair !== undefined && ((n.pair[0] === a && n.pair[1] === b) || (n.pair[0] === b && n.pair[1] === a));
  }
  if (e['traderId'] !== undefined && n.traders.includes(e['traderId'])) return true;
  return e['instrument'] !== undefined && e['instrument'] === n.instrument;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Scores alerts against labelled incidents.
 *
 * Matching: an alert matches an incident when the types are equal, the alert's eventTime is in
 * [start, end] (inclusive) and its entity is the incident's: the same instrument; or a traderId
 * equal to the incident's `traderId` or `counterpartyTraderId`; or, for a pair entity
 * `{instrumentA, instrumentB}`, the incident's pair in either order. An incident is detected when
 * at least one alert matches it; its time to detect is the first matching eventTime minus start.
 *
 * False alarms: an alert that matches no incident is a false alarm only if its entity is involved
 * in no incident at all (of any type) and, when `calm` is given, is calm. Involved: an incident's
 * instrument, pair members, traderId, counterpartyTraderId and `related` entities; a pair is
 * involved if either member is, and calm only if both are. So a flash crash's LULD and liquidity
 * alerts on the same instrument, or a loss on the trader who held it, are tolerated; an alert on
 * an entity neither involved nor calm (unknown to the day) is tolerated as unscored. Pass the
 * generator's calm.json whenever the incident list may have lost `related` fields (loadDay keeps
 * only type, instrument, traderId, start, end, note).
 *
 * @example
 * const r = evaluateDetection(
 *   [{ type: 'FLASH_CRASH', instrument: 'ACME', start: 1000, end: 61_000 }],
 *   [{ type: 'FLASH_CRASH', entity: { instrument: 'ACME' }, eventTime: 27_000 }],
 * );
 * r.rows.find((x) => x.type === 'FLASH_CRASH') // { labelled: 1, detected: 1, medianTimeToDetectMs: 26000, ... }
 */
export function evaluateDetection(
  incidents: readonly DetectionIncident[],
  alerts: readonly DetectionAlert[],
  opts: { calm?: CalmEntities; types?: readonly string[] } = {},
): DetectionResult {
  const norm = incidents.map(normalise);
  const invI = new Set<string>();
  const invT = new Set<string>();
  incidents.forEach((raw, k) => {
    const n = norm[k]!;
    if (n.instrument) invI.add(n.instrument);
    for (const x of n.pair ?? []) invI.add(x);
    for (const t of n.traders) invT.add(t);
    for (const x of raw.related?.instruments ?? []) invI.add(x);
    for (const t of raw.related?.traders ?? []) invT.add(t);
  });
  const calmI = opts.calm ? new Set(opts.calm.instruments) : undefined;
  const calmT = opts.calm ? new Set(opts.calm.traders) : undefined;
  const involved = (e: Record<string, string>): boolean => {
    const a = e['instrumentA'];
    const b = e['instrumentB'];
    if (a !== undefined && b !== undefined) return invI.has(a) || invI.has(b);
    return (e['instrument'] !== undefined && invI.has(e['instrument'])) || (e['traderId'] !== undefined && invT.has(e['traderId']));
  };
  const isCalm = (e: Record<string, string>): boolean => {
    if (!calmI || !calmT) return true;
    const a = e['instrumentA'];
    const b = e['instrumentB'];
    if (a !== undefined && b !== undefined) return calmI.has(a) && calmI.has(b);
    if (e['traderId'] !== undefined) return calmT.has(e['traderId']) && (e['instrument'] === undefined || calmI.has(e['instrument']));
    return e['instrument'] !== undefined && calmI.has(e['instrument']);
  };

  const first = norm.map(() => Infinity);
  const types = [...(opts.types ?? CONTRACT_ALERT_TYPES)];
  const extra = new Set<string>();
  for (const n of norm) if (!types.includes(n.type)) extra.add(n.type);
  for (const a of alerts) if (!types.includes(a.type)) extra.add(a.type);
  types.push(...[...extra].sort());
  const rowOf = new Map<string, DetectionRow>(
    types.map((t) => [t, { type: t, labelled: 0, detected: 0, falseAlerts: 0, toleratedAlerts: 0, matchedAlerts: 0, medianTimeToDetectMs: null }]),
  );
  for (const n of norm) rowOf.get(n.type)!.labelled++;
  const falseAlarms: FalseAlarm[] = [];
  for (const a of alerts) {
    const row = rowOf.get(a.type)!;
    const e = a.entity ?? {};
    let matched = false;
    for (let k = 0; k < norm.length; k++) {
      const n = norm[k]!;
      if (n.type !== a.type || a.eventTime < n.start || a.eventTime > n.end || !hits(e, n)) continue;
      matched = true;
      if (a.eventTime < first[k]!) first[k] = a.eventTime;
    }
    if (matched) row.matchedAlerts++;
    else if (!involved(e) && isCalm(e)) {
      row.falseAlerts++;
      const f: FalseAlarm = { type: a.type, entity: entityLabel(e), eventTime: a.eventTime };
      if (a.alertId !== undefined) f.alertId = a.alertId;
      if (a.message !== undefined) f.message = a.message;
      falseAlarms.push(f);
    } else row.toleratedAlerts++;
  }
  const ttd = new Map<string, number[]>();
  const missed: MissedIncident[] = [];
  norm.forEach((n, k) => {
    const entity = n.pair ? `${n.pair[0]}|${n.pair[1]}` : [n.traders[0], n.instrument].filter(Boolean).join(' ');
    if (Number.isFinite(first[k]!)) {
      rowOf.get(n.type)!.detected++;
      ttd.set(n.type, [...(ttd.get(n.type) ?? []), first[k]! - n.start]);
    } else {
      const m: MissedIncident = { type: n.type, entity, start: n.start, end: n.end };
      if (n.note !== undefined) m.note = n.note;
      missed.push(m);
    }
  });
  for (const [t, xs] of ttd) rowOf.get(t)!.medianTimeToDetectMs = median(xs);
  const rows = types.map((t) => rowOf.get(t)!);
  falseAlarms.sort((p, q) => p.eventTime - q.eventTime || p.type.localeCompare(q.type));
  const sum = (f: (r: DetectionRow) => number): number => rows.reduce((s, r) => s + f(r), 0);
  return {
    rows,
    missed,
    falseAlarms,
    totals: {
      labelled: sum((r) => r.labelled),
      detected: sum((r) => r.detected),
      falseAlerts: sum((r) => r.falseAlerts),
      toleratedAlerts: sum((r) => r.toleratedAlerts),
      matchedAlerts: sum((r) => r.matchedAlerts),
      alerts: alerts.length,
    },
  };
}

function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  if (Math.abs(ms) < 600_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/**
 * The detection table as aligned text for stderr: one line per type (types with neither
 * incidents nor alerts are left out), a total line, then the missed incidents and the false
 * alarms (the first `maxListed` of each, default 20).
 *
 * @example
 * process.stderr.write(formatDetectionTable(evaluateDetection(incidents, alerts, { calm })));
 */
export function formatDetectionTable(r: DetectionResult, opts: { maxListed?: number } = {}): string {
  const max = opts.maxListed ?? 20;
  const rows = r.rows.filter((x) => x.labelled > 0 || x.falseAlerts + x.toleratedAlerts + x.matchedAlerts > 0);
  const head = ['type', 'labelled', 'detected', 'false', 'tolerated', 'median TTD'];
  const body = rows.map((x) => [x.type, String(x.labelled), String(x.detected), String(x.falseAlerts), String(x.toleratedAlerts), duration(x.medianTimeToDetectMs)]);
  const t = r.totals;
  body.push(['total', String(t.labelled), String(t.detected), String(t.falseAlerts), String(t.toleratedAlerts), '']);
  const width = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (cells: string[]): string => `  ${cells.map((v, c) => (c === 0 ? v.padEnd(width[c]!) : v.padStart(width[c]!))).join('  ')}`.trimEnd();
  const out = [`detection: ${t.detected}/${t.labelled} incidents detected, ${t.falseAlerts} false alarms (${t.alerts} alerts)`, line(head), ...body.slice(0, -1).map(line), line(body[body.length - 1]!)];
  if (r.missed.length) {
    out.push(`missed (${r.missed.length}):`);
    for (const m of r.missed.slice(0, max)) out.push(`  ${m.type} ${m.entity} ${formatEventTime(m.start)} .. ${formatEventTime(m.end)}${m.note ? `  ${m.note}` : ''}`);
    if (r.missed.length > max) out.push(`  ... ${r.missed.length - max} more`);
  }
  if (r.falseAlarms.length) {
    out.push(`false alarms (${r.falseAlarms.length}):`);
    for (const f of r.falseAlarms.slice(0, max)) out.push(`  ${f.type} ${f.entity} at ${formatEventTime(f.eventTime)}${f.message ? `  ${f.message}` : ''}`);
    if (r.falseAlarms.length > max) out.push(`  ... ${r.falseAlarms.length - max} more`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Reads a day's incidents.json with every field (loadDay keeps only the contract's) and its
 * calm.json when present; `undefined` when the day has no incidents.json.
 *
 * @example
 * const d = await loadDetectionInputs('fixtures/sample-day');
 * if (d) summary.detection = evaluateDetection(d.incidents, alerts, { calm: d.calm });
 */
export async function loadDetectionInputs(dayDir: string): Promise<{ incidents: DetectionIncident[]; calm?: CalmEntities } | undefined> {
  const read = async (name: string): Promise<unknown> => {
    const file = join(dayDir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new InputError(`cannot read: ${(e as Error).message}`, { file, cause: e });
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new InputError(`invalid JSON: ${(e as Error).message}`, { file, cause: e });
    }
  };
  const incidents = await read('incidents.json');
  if (incidents === undefined) return undefined;
  if (!Array.isArray(incidents)) throw new InputError('expected a JSON array of incidents', { file: join(dayDir, 'incidents.json') });
  const calm = (await read('calm.json')) as Partial<CalmEntities> | undefined;
  const out: { incidents: DetectionIncident[]; calm?: CalmEntities } = { incidents: incidents as DetectionIncident[] };
  if (calm && Array.isArray(calm.instruments) && Array.isArray(calm.traders)) out.calm = { instruments: calm.instruments, traders: calm.traders };
  return out;
}
