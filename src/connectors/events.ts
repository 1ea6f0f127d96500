import { toEventTime } from '../core/time.js';

/** The three input streams of CONTRACTS.md section 1, by the value of their `type` field. */
export type StreamName = 'trade' | 'quote' | 'order';

/**
 * Every stream name, in the default merge order (quotes first, so a trade at the same instant as
 * a quote is marked against that quote).
 *
 * @example
 * for (const s of STREAM_NAMES) console.log(`${s}s.jsonl`);
 */
export const STREAM_NAMES: readonly StreamName[] = ['quote', 'trade', 'order'];

/**
 * A trade (CONTRACTS.md section 1): `side` is the side of `traderId`. Unknown extra fields are
 * kept, hence the index signature.
 *
 * @example
 * const t: TradeEvent = { type: 'trade', ts: 1710513000000, tradeId: 'T1', instrument: 'ACME',
 *   traderId: 'TR01', side: 'BUY', qty: 100, price: 101.25 };
 */
export interface TradeEvent {
  type: 'trade';
  ts: number;
  tradeId: string;
  instrument: string;
  traderId: string;
  side: 'BUY' | 'SELL';
  qty: number;
  price: number;
  counterpartyTraderId?: string;
  orderId?: string;
  account?: string;
  venue?: string;
  [extra: string]: unknown;
}

/**
 * A top-of-book quote (CONTRACTS.md section 1); the mark price is its mid.
 *
 * @example
 * const q: QuoteEvent = { type: 'quote', ts: 1710513000000, instrument: 'ACME', bid: 101.2,
 *   ask: 101.22, bidSize: 5000, askSize: 4000 };
 */
export interface QuoteEvent {
  type: 'quote';
  ts: number;
  instrument: string;
  bid: number;
  ask: number;
  bidSize: number;
  askSize: number;
  last?: number;
  volume?: number;
  [extra: string]: unknown;
}

/**
 * An order event (CONTRACTS.md section 1); fills are trades carrying its `orderId`.
 *
 * @example
 * const o: OrderEvent = { type: 'order', ts: 1710513000000, orderId: 'O1', traderId: 'TR01',
 *   instrument: 'ACME', side: 'SELL', qty: 500, price: 101.3, action: 'NEW' };
 */
export interface OrderEvent {
  type: 'order';
  ts: number;
  orderId: string;
  traderId: string;
  instrument: string;
  side: 'BUY' | 'SELL';
  qty: number;
  price: number;
  action: 'NEW' | 'CANCEL' | 'REPLACE';
  clientOrder?: boolean;
  account?: string;
  [extra: string]: unknown;
}

/**
 * Any valid input event; `type` tells which.
 *
 * @example
 * if (e.type === 'trade') positions.apply(e);
 */
export type InputEvent = TradeEvent | QuoteEvent | OrderEvent;

/**
 * A record that could not be used (CONTRACTS.md section 1: "bad input never stops the engine"):
 * where it came from (`source` is a file path or `topic/partition`, with `line` for files and
 * `offset` for Kafka), why (`reason`, and the offending `field` when there is one) and the raw
 * payload, so that it can be fixed and replayed. Written to `dead-letters.jsonl` and the
 * `riskflow-dead-letters` topic.
 *
 * @example
 * const d: DeadLetter = { source: 'day/trades.jsonl', line: 12, reason: 'missing field', field: 'price',
 *   raw: '{"type":"trade",...}', stream: 'trade' };
 */
export interface DeadLetter {
  source: string;
  line?: number;
  offset?: string;
  reason: string;
  field?: string;
  raw: string;
  stream?: string;
}

/**
 * Outcome of {@link validateEvent}: the (normalised, same) object, or why it was rejected.
 *
 * @example
 * const r = validateEvent('quote', q); if (!r.ok) console.log(r.field, r.reason);
 */
export type ValidationResult =
  | { ok: true; record: Record<string, unknown> }
  | { ok: false; reason: string; field?: string };

// Failures are rare, so they may allocate; the success path allocates nothing but the result.
function fail(reason: string, field?: string): ValidationResult {
  return field === undefined ? { ok: false, reason } : { ok: false, reason, field };
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return v.length > 40 ? `string "${v.slice(0, 40)}..."` : `string "${v}"`;
  if (typeof v === 'number') return String(v);
  return typeof v;
}

// Each checker returns an error message or undefined; the caller adds the field name.
function checkString(o: Record<string, unknown>, f: string): string | undefined {
  const v = o[f];
  if (typeof v === 'string' && v.length > 0) return undefined;
  if (v === undefined) return `missing field '${f}'`;
  return `'${f}' must be a non-empty string, got ${describeValue(v)}`;
}

function checkOptionalString(o: Record<string, unknown>, f: string): string | undefined {
  const v = o[f];
  if (v === undefined || v === null || typeof v === 'string') return undefined;
  return `'${f}' must be a string, got ${describeValue(v)}`;
}

function checkNumber(o: Record<string, unknown>, f: string, min: number, inclusive: boolean): string | undefined {
  const v = o[f];
  if (typeof v === 'number' && (inclusive ? v >= min : v > min) && v !== Infinity) return undefined;
  if (v === undefined) return `missing field '${f}'`;
  if (typeof v !== 'number' || Number.isNaN(v) || !Number.isFinite(v)) {
    return `'${f}' must be a finite number, got ${describeValue(v)}`;
  }
  return `'${f}' must be ${inclusive ? '>=' : '>'} ${min}, got ${v}`;
}

function checkOptionalNumber(o: Record<string, unknown>, f: string, min: number): string | undefined {
  const v = o[f];
  if (v === undefined || v === null) return undefined;
  return checkNumber(o, f, min, true);
}

function checkSide(o: Record<string, unknown>): string | undefined {
  const v = o['side'];
  if (v === 'BUY' || v === 'SELL') return undefined;
  if (v === undefined) return `missing field 'side'`;
  return `'side' must be BUY or SELL, got ${describeValue(v)}`;
}

/**
 * Checks one input event against CONTRACTS.md section 1 and normalises it in place: `ts` becomes
 * epoch ms (an ISO-8601 string with an offset is converted). It checks the required fields and
 * their types, `type === stream`, `qty > 0`, `price > 0` (and for quotes `bid`/`ask` > 0 and
 * `bid <= ask`), sizes >= 0, `side` BUY/SELL, `action` NEW/CANCEL/REPLACE, and rejects NaN and
 * Infinity (including the string `"NaN"`). Known optional fields are type-checked when present;
 * unknown extra fields are kept untouched. It runs once per record, so the success path does no
 * regex and allocates only the result.
 *
 * @example
 * const r = validateEvent('trade', JSON.parse(line));
 * if (r.ok) push(r.record); else deadLetter({ source: file, line: n, reason: r.reason, field: r.field, raw: line });
 */
export function validateEvent(stream: StreamName, obj: unknown): ValidationResult {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return fail(`a ${stream} event must be a JSON object, got ${Array.isArray(obj) ? 'array' : describeValue(obj)}`);
  }
  const o = obj as Record<string, unknown>;
  const type = o['type'];
  if (type !== stream) {
    return type === undefined
      ? fail(`missing field 'type'`, 'type')
      : fail(`'type' must be "${stream}", got ${describeValue(type)}`, 'type');
  }
  const rawTs = o['ts'];
  if (typeof rawTs !== 'number' || !Number.isFinite(rawTs)) {
    if (rawTs === undefined) return fail(`missing field 'ts'`, 'ts');
    const ms = toEventTime(rawTs);
    if (Number.isNaN(ms)) {
      return fail(`'ts' must be epoch ms or an ISO-8601 string with an offset, got ${describeValue(rawTs)}`, 'ts');
    }
    o['ts'] = ms;
  }
  let err: string | undefined;
  switch (stream) {
    case 'trade':
      if ((err = checkString(o, 'tradeId'))) return fail(err, 'tradeId');
      if ((err = checkString(o, 'instrument'))) return fail(err, 'instrument');
      if ((err = checkString(o, 'traderId'))) return fail(err, 'traderId');
      if ((err = checkSide(o))) return fail(err, 'side');
      if ((err = checkNumber(o, 'qty', 0, false))) return fail(err, 'qty');
      if ((err = checkNumber(o, 'price', 0, false))) return fail(err, 'price');
      if ((err = checkOptionalString(o, 'counterpartyTraderId'))) return fail(err, 'counterpartyTraderId');
      if ((err = checkOptionalString(o, 'orderId'))) return fail(err, 'orderId');
      if ((err = checkOptionalString(o, 'account'))) return fail(err, 'account');
      if ((err = checkOptionalString(o, 'venue'))) return fail(err, 'venue');
      break;
    case 'quote':
      if ((err = checkString(o, 'instrument'))) return fail(err, 'instrument');
      if ((err = checkNumber(o, 'bid', 0, false))) return fail(err, 'bid');
      if ((err = checkNumber(o, 'ask', 0, false))) return fail(err, 'ask');
      if ((err = checkNumber(o, 'bidSize', 0, true))) return fail(err, 'bidSize');
      if ((err = checkNumber(o, 'askSize', 0, true))) return fail(err, 'askSize');
      if ((o['bid'] as number) > (o['ask'] as number)) {
        return fail(`crossed quote: bid ${o['bid'] as number} > ask ${o['ask'] as number}`, 'bid');
      }
      if ((err = checkOptionalNumber(o, 'last', 0))) return fail(err, 'last');
      if ((err = checkOptionalNumber(o, 'volume', 0))) return fail(err, 'volume');
      break;
    case 'order': {
      if ((err = checkString(o, 'orderId'))) return fail(err, 'orderId');
      if ((err = checkString(o, 'traderId'))) return fail(err, 'traderId');
      if ((err = checkString(o, 'instrument'))) return fail(err, 'instrument');
      if ((err = checkSide(o))) return fail(err, 'side');
      if ((err = checkNumber(o, 'qty', 0, false))) return fail(err, 'qty');
      if ((err = checkNumber(o, 'price', 0, false))) return fail(err, 'price');
      const action = o['action'];
      if (action !== 'NEW' && action !== 'CANCEL' && action !== 'REPLACE') {
        return action === undefined
          ? fail(`missing field 'action'`, 'action')
          : fail(`'action' must be NEW, CANCEL or REPLACE, got ${describeValue(action)}`, 'action');
      }
      const co = o['clientOrder'];
      if (co !== undefined && co !== null && typeof co !== 'boolean') {
        return fail(`'clientOrder' must be a boolean, got ${describeValue(co)}`, 'clientOrder');
      }
      if ((err = checkOptionalString(o, 'account'))) return fail(err, 'account');
      break;
    }
    default:
      return fail(`unknown stream '${String(stream)}'`);
  }
  return { ok: true, record: o };
}

/**
 * Whether a string names one of the input streams; for parsing options and file names.
 *
 * @example
 * isStreamName('trade') // true
 */
export function isStreamName(s: unknown): s is StreamName {
  return s === 'trade' || s === 'quote' || s === 'order';
}

// ---------------------------------------------------------------------------------------------
// Fast paths. validateEvent stays the one definition of a valid event; these answer "would
// validateEvent accept this unchanged?" cheaply for the common case, and say false whenever in
// doubt, so the caller falls back to validateEvent (which then gives the reason, or normalises ts).

const isStr = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
const isOptStr = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';
const isPos = (v: unknown): boolean => typeof v === 'number' && v > 0 && v !== Infinity;
const isNonNeg = (v: unknown): boolean => typeof v === 'number' && v >= 0 && v !== Infinity;
const isOptNonNeg = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'number' && v >= 0 && v !== Infinity);

/**
 * True when {@link validateEvent} would accept `o` as it is (its `ts` already a finite number, so
 * nothing to normalise); false means "ask validateEvent", not "invalid". Reads each field once,
 * by name, with no result object: the per-record check of the readers' hot path.
 *
 * @example
 * if (!(quickValid('trade', o) || validateEvent('trade', o).ok)) deadLetter(...);
 */
export function quickValid(stream: StreamName, o: unknown): boolean {
  if (o === null || typeof o !== 'object') return false;
  const r = o as Record<string, unknown>;
  if (r['type'] !== stream) return false;
  const ts = r['ts'];
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return false;
  switch (stream) {
    case 'trade':
      return (
        isStr(r['tradeId']) &&
        isStr(r['instrument']) &&
        isStr(r['traderId']) &&
        (r['side'] === 'BUY' || r['side'] === 'SELL') &&
        isPos(r['qty']) &&
        isPos(r['price']) &&
        isOptStr(r['counterpartyTraderId']) &&
        isOptStr(r['orderId']) &&
        isOptStr(r['account']) &&
        isOptStr(r['venue'])
      );
    case 'quote':
      return (
        isStr(r['instrument']) &&
        isPos(r['bid']) &&
        isPos(r['ask']) &&
        isNonNeg(r['bidSize']) &&
        isNonNeg(r['askSize']) &&
        !((r['bid'] as number) > (r['ask'] as number)) &&
        isOptNonNeg(r['last']) &&
        isOptNonNeg(r['volume'])
      );
    case 'order': {
      const a = r['action'];
      const co = r['clientOrder'];
      return (
        isStr(r['orderId']) &&
        isStr(r['traderId']) &&
        isStr(r['instrument']) &&
        (r['side'] === 'BUY' || r['side'] === 'SELL') &&
        isPos(r['qty']) &&
        isPos(r['price']) &&
        (a === 'NEW' || a === 'CANCEL' || a === 'REPLACE') &&
        (co === undefined || co === null || typeof co === 'boolean') &&
        isOptStr(r['account'])
      );
    }
    default:
      return false;
  }
}

type ColumnRule = 'type' | 'ts' | 'str' | 'optStr' | 'side' | 'pos' | 'nonNeg' | 'optNonNeg' | 'action' | 'optBool';

// What validateEvent requires of each known field, per stream; fields not listed are free.
const COLUMN_RULES: Record<StreamName, { required: Array<[string, ColumnRule]>; optional: Array<[string, ColumnRule]> }> = {
  trade: {
    required: [['ts', 'ts'], ['tradeId', 'str'], ['instrument', 'str'], ['traderId', 'str'], ['side', 'side'], ['qty', 'pos'], ['price', 'pos']],
    optional: [['counterpartyTraderId', 'optStr'], ['orderId', 'optStr'], ['account', 'optStr'], ['venue', 'optStr']],
  },
  quote: {
    required: [['ts', 'ts'], ['instrument', 'str'], ['bid', 'pos'], ['ask', 'pos'], ['bidSize', 'nonNeg'], ['askSize', 'nonNeg']],
    optional: [['last', 'optNonNeg'], ['volume', 'optNonNeg']],
  },
  order: {
    required: [['ts', 'ts'], ['orderId', 'str'], ['traderId', 'str'], ['instrument', 'str'], ['side', 'side'], ['qty', 'pos'], ['price', 'pos'], ['action', 'action']],
    optional: [['clientOrder', 'optBool'], ['account', 'optStr']],
  },
};

// One loop per rule, so that each loop's loads and checks stay monomorphic.
function columnPasses(rule: ColumnRule, col: ArrayLike<unknown>, from: number, to: number, stream: StreamName): boolean {
  if (col instanceof Float64Array) {
    // Numbers already: only the numeric rules can pass, and NaN fails every comparison below.
    switch (rule) {
      case 'ts':
        for (let j = from; j < to; j++) if (!Number.isFinite(col[j]!)) return false;
        return true;
      case 'pos':
        for (let j = from; j < to; j++) {
          const v = col[j]!;
          if (!(v > 0) || v === Infinity) return false;
        }
        return true;
      case 'nonNeg':
      case 'optNonNeg':
        for (let j = from; j < to; j++) {
          const v = col[j]!;
          if (!(v >= 0) || v === Infinity) return false;
        }
        return true;
      default:
        return false;
    }
  }
  switch (rule) {
    case 'type':
      for (let j = from; j < to; j++) if (col[j] !== stream) return false;
      return true;
    case 'ts':
      for (let j = from; j < to; j++) {
        const v = col[j];
        if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      }
      return true;
    case 'str':
      for (let j = from; j < to; j++) {
        const v = col[j];
        if (typeof v !== 'string' || v.length === 0) return false;
      }
      return true;
    case 'optStr':
      for (let j = from; j < to; j++) {
        const v = col[j];
        if (v !== undefined && v !== null && typeof v !== 'string') return false;
      }
      return true;
    case 'side':
      for (let j = from; j < to; j++) {
        const v = col[j];
        if (v !== 'BUY' && v !== 'SELL') return false;
      }
      return true;
    case 'pos':
      for (let j = from; j < to; j++) if (!isPos(col[j])) return false;
      return true;
    case 'nonNeg':
      for (let j = from; j < to; j++) if (!isNonNeg(col[j])) return false;
      return true;
    case 'optNonNeg':
      for (let j = from; j < to; j++) if (!isOptNonNeg(col[j])) return false;
      return true;
    case 'action':
      for (let j = from; j < to; j++) {
        const v = col[j];
        if (v !== 'NEW' && v !== 'CANCEL' && v !== 'REPLACE') return false;
      }
      return true;
    case 'optBool':
      for (let j = from; j < to; j++) {
        const v = col[j];
        if (v !== undefined && v !== null && typeof v !== 'boolean') return false;
      }
      return true;
  }
}

/**
 * What a reader knows of a column of a batch, for {@link columnsValid}: its values row by row;
 * or only the values it can take (a dictionary column without nulls: checking those checks every
 * row); or that every row holds a string (no nulls), and whether none of them is empty.
 *
 * @example
 * const f: ColumnFacts = { kind: 'domain', domain: ['BUY', 'SELL'] };
 */
export type ColumnFacts =
  | { kind: 'values'; values: ArrayLike<unknown> }
  | { kind: 'domain'; domain: ArrayLike<unknown> }
  | { kind: 'strings'; nonEmpty: boolean };

function factsPass(rule: ColumnRule, f: ColumnFacts, from: number, to: number, stream: StreamName): boolean {
  if (f.kind === 'values') return columnPasses(rule, f.values, from, to, stream);
  if (f.kind === 'domain') return columnPasses(rule, f.domain, 0, f.domain.length, stream);
  // Strings, no nulls: enough for the string rules, not for the rules on particular values.
  return rule === 'optStr' || (rule === 'str' && f.nonEmpty);
}

/**
 * True when every row `from..to-1` of a batch of columns (`names[c]` described by `cols[c]`, with
 * `type` = `stream` for rows of a batch without a `type` column) would pass {@link validateEvent}
 * unchanged: the whole batch then needs no per-row validation. False means "validate row by row".
 *
 * @example
 * if (!columnsValid('quote', names, facts, 0, n)) for (...) validateEvent('quote', row(j));
 */
export function columnsValid(stream: StreamName, names: readonly string[], cols: readonly ColumnFacts[], from: number, to: number): boolean {
  const rules = COLUMN_RULES[stream];
  if (rules === undefined) return false;
  const index = new Map<string, number>();
  for (let c = 0; c < names.length; c++) {
    if (index.has(names[c]!)) return false;
    index.set(names[c]!, c);
  }
  const t = index.get('type');
  if (t !== undefined && !factsPass('type', cols[t]!, from, to, stream)) return false;
  for (const [name, rule] of rules.required) {
    const c = index.get(name);
    if (c === undefined || !factsPass(rule, cols[c]!, from, to, stream)) return false;
  }
  for (const [name, rule] of rules.optional) {
    const c = index.get(name);
    if (c !== undefined && !factsPass(rule, cols[c]!, from, to, stream)) return false;
  }
  if (stream === 'quote') {
    const bid = cols[index.get('bid')!]!;
    const ask = cols[index.get('ask')!]!;
    if (bid.kind !== 'values' || ask.kind !== 'values') return false;
    const b = bid.values;
    const a = ask.values;
    for (let j = from; j < to; j++) if ((b[j] as number) > (a[j] as number)) return false;
  }
  return true;
}
