/**
 * Step types of the market-risk library (CONTRACTS.md section 4: FLASH_CRASH,
 * ULTRAFAST_EXTREME_EVENT, LULD, MARKET_WIDE_HALT, liquidity, correlation matrix) and the `market`
 * and `correlations` snapshot tables (section 5). The calculators live in src/risk. A
 * `marketEvents` step puts quotes and trades in event-time order once; every rule step reads it,
 * drives its calculator and turns what it reports into alerts and snapshot rows. Ordering once
 * rather than in each rule step matters: it is most of an operator's per-record cost.
 */
import { Observable, Subscriber } from 'rxjs';
import { makeAlert, type Alert } from '../../core/alerts.js';
import { Watermark, type Element, type Stream } from '../../core/element.js';
import { TopologyError } from '../../core/errors.js';
import { parseDuration } from '../../core/time.js';
import { elementOperator } from '../../operators/internals.js';
import { EventTimeBuffer, type EventTimeBufferSnapshot } from '../../operators/join-internals.js';
import { union } from '../../operators/union.js';
import { CORRELATION_DEFAULTS, CorrelationMatrix, CorrelationWindow, type CorrelationParams, type CorrelationRow } from '../../risk/correlation.js';
import { FLASH_CRASH_DEFAULTS, FlashCrashDetector, type FlashCrashParams } from '../../risk/flash-crash.js';
import { LIQUIDITY_DEFAULTS, LiquidityMonitor, type LiquidityParams } from '../../risk/liquidity.js';
import { LULD_DEFAULTS, LuldMonitor, type LuldParams } from '../../risk/luld.js';
import { MARKET_WIDE_HALT_DEFAULTS, MarketWideHaltMonitor, type MarketWideHaltParams } from '../../risk/market-wide-halt.js';
import { instrumentId, MarketStateTracker, type AlertSink, type MarketAlert, type MarketQuote, type MarketTrade } from '../../risk/market.js';
import { ULTRAFAST_DEFAULTS, UltrafastDetector, type UltrafastParams } from '../../risk/ultrafast.js';
import { getStepType, registerStepType, type Duration, type StepBase, type StepBuildEnv, type StepTypeDefinition, type ValidateContext } from '../schema.js';
import { formatDuration } from '../util.js';

// ------------------------------------------------------------------------------ step specs

/** A number field: a number, or `"${params.x}"` resolving to one. */
type Num = number | string;

/**
 * `marketEvents`: quotes and trades merged in event-time order, the input of the rule steps below.
 *
 * @example { id: 'market', type: 'marketEvents', quotes: 'quotes', trades: 'trades' }
 */
export interface MarketEventsStep extends StepBase {
  type: 'marketEvents';
  quotes: string;
  trades: string;
}

/**
 * `flashCrash`: FLASH_CRASH on the mark of each instrument (src/risk/flash-crash.ts).
 *
 * @example { id: 'flash-crash', type: 'flashCrash', input: 'market', window: '60s', movePct: 0.05, rearmPct: 0.02 }
 */
export interface FlashCrashStep extends StepBase {
  type: 'flashCrash';
  /** A marketEvents step. */
  input: string;
  /** Trailing window of the max/min (default 60s). */
  window?: Duration;
  /** Move that alerts, a fraction (default 0.05). */
  movePct?: Num;
  /** Re-arm once the move is back within this (default 0.02). */
  rearmPct?: Num;
}

/**
 * `ultrafastExtremeEvent`: ULTRAFAST_EXTREME_EVENT on each instrument's trades (src/risk/ultrafast.ts).
 *
 * @example { id: 'ultrafast', type: 'ultrafastExtremeEvent', input: 'market', minTrades: 10, maxDuration: '1500ms', minMovePct: 0.008 }
 */
export interface UltrafastStep extends StepBase {
  type: 'ultrafastExtremeEvent';
  /** A marketEvents step. */
  input: string;
  /** Consecutive strictly monotone trades (default 10). */
  minTrades?: Num;
  /** First-to-last strictly under this (default 1500ms). */
  maxDuration?: Duration;
  /** Total move, a fraction (default 0.008). */
  minMovePct?: Num;
}

/**
 * LULD band and timing fields (LuldParams in src/risk/luld.ts), shared by `luld` and the `luld`
 * mapping of `marketState`.
 *
 * @example { referenceWindow: '5m', tier1Pct: 0.05, tier2Pct: 0.1, midPct: 0.2, lowPct: 0.75, lowCap: 0.15, highPrice: 3, lowPrice: 0.75, pauseAfter: '15s', pauseDuration: '5m' }
 */
export interface LuldFields {
  /** Reference price window (default 5m). */
  referenceWindow?: Duration;
  tier1Pct?: Num;
  tier2Pct?: Num;
  midPct?: Num;
  lowPct?: Num;
  lowCap?: Num;
  highPrice?: Num;
  lowPrice?: Num;
  /** Limit state to pause (default 15s). */
  pauseAfter?: Duration;
  /** Pause length (default 5m). */
  pauseDuration?: Duration;
}

/**
 * `luld`: LULD_LIMIT_STATE and LULD_PAUSE (src/risk/luld.ts).
 *
 * @example { id: 'luld', type: 'luld', input: 'market', referenceWindow: '5m', pauseAfter: '15s' }
 */
export interface LuldStep extends StepBase, LuldFields {
  type: 'luld';
  /** A marketEvents step. */
  input: string;
}

/**
 * `marketWideHalt`: MARKET_WIDE_HALT on index instruments (src/risk/market-wide-halt.ts).
 *
 * @example { id: 'market-wide-halt', type: 'marketWideHalt', input: 'market', levels: [0.07, 0.13, 0.2] }
 */
export interface MarketWideHaltStep extends StepBase {
  type: 'marketWideHalt';
  /** A marketEvents step. */
  input: string;
  /** Falls below prevClose of levels 1..n, ascending (default [0.07, 0.13, 0.20]). */
  levels?: Num[] | string;
}

/**
 * `liquidity`: LIQUIDITY_SPREAD and LIQUIDITY_DEPTH (src/risk/liquidity.ts).
 *
 * @example { id: 'liquidity', type: 'liquidity', input: 'market', window: '30s', spreadFloorBps: 25, spreadMultiple: 4, baseline: '30m', minBaselineWindows: 10, minDepth: 1_000_000 }
 */
export interface LiquidityStep extends StepBase {
  type: 'liquidity';
  /** A marketEvents step. */
  input: string;
  window?: Duration;
  spreadFloorBps?: Num;
  spreadMultiple?: Num;
  baseline?: Duration;
  minBaselineWindows?: Num;
  minDepth?: Num;
}

/**
 * `correlation`: the correlation matrix, CORRELATION_HIGH/BREAK and the `correlations` table
 * (src/risk/correlation.ts).
 *
 * @example { id: 'correlation', type: 'correlation', input: 'market', window: '5m', step: '1s', minObs: 30, highAbs: 0.9, breakAbs: 0.5 }
 */
export interface CorrelationStep extends StepBase {
  type: 'correlation';
  /** A marketEvents step. */
  input: string;
  window?: Duration;
  step?: Duration;
  minObs?: Num;
  highAbs?: Num;
  breakAbs?: Num;
}

/**
 * `marketState`: the `market` snapshot table (src/risk/market.ts).
 *
 * @example { id: 'market-state', type: 'marketState', input: 'market', returnWindow: '60s', luld: { referenceWindow: '5m' } }
 */
export interface MarketStateStep extends StepBase {
  type: 'marketState';
  /** A marketEvents step. */
  input: string;
  /** Look-back of ret_60s (default 60s). */
  returnWindow?: Duration;
  /** LULD settings for the luld_* columns (give the same as the luld step); without it they are null. */
  luld?: LuldFields;
}

declare module '../schema.js' {
  interface StepTypes {
    marketEvents: MarketEventsStep;
    flashCrash: FlashCrashStep;
    ultrafastExtremeEvent: UltrafastStep;
    luld: LuldStep;
    marketWideHalt: MarketWideHaltStep;
    liquidity: LiquidityStep;
    correlation: CorrelationStep;
    marketState: MarketStateStep;
  }
}

// ------------------------------------------------------------------------------ numeric fields

type Kind = 'duration' | 'fraction' | 'number' | 'count';

/** A numeric step field: its name, kind (how it is validated and shown) and default. */
interface NumField<P> {
  field: string;
  key: keyof P & string;
  kind: Kind;
  def: number;
}

function validateFields(v: ValidateContext, prefix: string, fields: ReadonlyArray<NumField<any>>): Record<string, number> {
  const got: Record<string, number> = {};
  for (const f of fields) {
    const name = prefix + f.field;
    let x: number | undefined;
    if (f.kind === 'duration') x = v.duration(name, { positive: true });
    else if (f.kind === 'count') x = v.number(name, { min: 1, integer: true });
    else {
      x = v.number(name, { min: 0 });
      if (x !== undefined && f.kind === 'fraction' && !(x < 1)) {
        v.error(name, `'${name}' is a fraction (0.05 = 5%), got ${x}`);
        x = undefined;
      }
    }
    got[f.key] = x ?? f.def;
  }
  return got;
}

function readFields<P>(src: Record<string, unknown> | undefined, fields: ReadonlyArray<NumField<P>>): P {
  const out: Record<string, number> = {};
  for (const f of fields) {
    const raw = src?.[f.field];
    out[f.key] = raw === undefined || raw === null ? f.def : f.kind === 'duration' ? parseDuration(raw as string | number, f.field) : Number(raw);
  }
  return out as P;
}

function describeFields(src: Record<string, unknown> | undefined, fields: ReadonlyArray<NumField<any>>): string {
  const vals = readFields<Record<string, number>>(src, fields);
  return fields
    .map((f) => {
      const x = vals[f.key]!;
      return `${f.field} ${f.kind === 'duration' ? formatDuration(x) : f.kind === 'fraction' ? `${+(x * 100).toFixed(4)}%` : String(x)}`;
    })
    .join(', ');
}

const FLASH_FIELDS: ReadonlyArray<NumField<FlashCrashParams>> = [
  { field: 'window', key: 'windowMs', kind: 'duration', def: FLASH_CRASH_DEFAULTS.windowMs },
  { field: 'movePct', key: 'movePct', kind: 'fraction', def: FLASH_CRASH_DEFAULTS.movePct },
  { field: 'rearmPct', key: 'rearmPct', kind: 'fraction', def: FLASH_CRASH_DEFAULTS.rearmPct },
];
const ULTRAFAST_FIELDS: ReadonlyArray<NumField<UltrafastParams>> = [
  { field: 'minTrades', key: 'minTrades', kind: 'count', def: ULTRAFAST_DEFAULTS.minTrades },
  { field: 'maxDuration', key: 'maxDurationMs', kind: 'duration', def: ULTRAFAST_DEFAULTS.maxDurationMs },
  { field: 'minMovePct', key: 'minMovePct', kind: 'fraction', def: ULTRAFAST_DEFAULTS.minMovePct },
];
const LULD_FIELDS: ReadonlyArray<NumField<LuldParams>> = [
  { field: 'referenceWindow', key: 'referenceWindowMs', kind: 'duration', def: LULD_DEFAULTS.referenceWindowMs },
  { field: 'tier1Pct', key: 'tier1Pct', kind: 'fraction', def: LULD_DEFAULTS.tier1Pct },
  { field: 'tier2Pct', key: 'tier2Pct', kind: 'fraction', def: LULD_DEFAULTS.tier2Pct },
  { field: 'midPct', key: 'midPct', kind: 'fraction', def: LULD_DEFAULTS.midPct },
  { field: 'lowPct', key: 'lowPct', kind: 'fraction', def: LULD_DEFAULTS.lowPct },
  { field: 'lowCap', key: 'lowCap', kind: 'number', def: LULD_DEFAULTS.lowCap },
  { field: 'highPrice', key: 'highPrice', kind: 'number', def: LULD_DEFAULTS.highPrice },
  { field: 'lowPrice', key: 'lowPrice', kind: 'number', def: LULD_DEFAULTS.lowPrice },
  { field: 'pauseAfter', key: 'pauseAfterMs', kind: 'duration', def: LULD_DEFAULTS.pauseAfterMs },
  { field: 'pauseDuration', key: 'pauseDurationMs', kind: 'duration', def: LULD_DEFAULTS.pauseDurationMs },
];
const LIQUIDITY_FIELDS: ReadonlyArray<NumField<LiquidityParams>> = [
  { field: 'window', key: 'windowMs', kind: 'duration', def: LIQUIDITY_DEFAULTS.windowMs },
  { field: 'spreadFloorBps', key: 'spreadFloorBps', kind: 'number', def: LIQUIDITY_DEFAULTS.spreadFloorBps },
  { field: 'spreadMultiple', key: 'spreadMultiple', kind: 'number', def: LIQUIDITY_DEFAULTS.spreadMultiple },
  { field: 'baseline', key: 'baselineMs', kind: 'duration', def: LIQUIDITY_DEFAULTS.baselineMs },
  { field: 'minBaselineWindows', key: 'minBaselineWindows', kind: 'count', def: LIQUIDITY_DEFAULTS.minBaselineWindows },
  { field: 'minDepth', key: 'minDepth', kind: 'number', def: LIQUIDITY_DEFAULTS.minDepth },
];
const CORRELATION_FIELDS: ReadonlyArray<NumField<CorrelationParams>> = [
  { field: 'window', key: 'windowMs', kind: 'duration', def: CORRELATION_DEFAULTS.windowMs },
  { field: 'step', key: 'stepMs', kind: 'duration', def: CORRELATION_DEFAULTS.stepMs },
  { field: 'minObs', key: 'minObs', kind: 'count', def: CORRELATION_DEFAULTS.minObs },
  { field: 'highAbs', key: 'highAbs', kind: 'number', def: CORRELATION_DEFAULTS.highAbs },
  { field: 'breakAbs', key: 'breakAbs', kind: 'number', def: CORRELATION_DEFAULTS.breakAbs },
];
const RETURN_WINDOW_DEFAULT = 60_000;

function validateLuld(v: ValidateContext, prefix: string): void {
  const p = validateFields(v, prefix, LULD_FIELDS);
  if (p.lowPrice! > p.highPrice!) v.error(`${prefix}lowPrice`, `'${prefix}lowPrice' (${p.lowPrice}) must not be above '${prefix}highPrice' (${p.highPrice})`);
}

function readLevels(raw: unknown): number[] {
  return Array.isArray(raw) ? raw.map((x) => Number(x)) : MARKET_WIDE_HALT_DEFAULTS.levels.slice();
}

// ------------------------------------------------------------------------------ event-time order

/**
 * The watermarks of a `marketEvents` step. Records before one came in event-time order, so the
 * rule steps apply them as they come; a rule step that sees a plain finite watermark was wired to
 * something else and says so (its results would depend on arrival order).
 *
 * @example new MarketWatermark(1_710_511_200_000) instanceof Watermark; // true
 */
export class MarketWatermark extends Watermark {}

type MarketRecord = (MarketQuote | MarketTrade) & { type?: string };

/**
 * The ordering operator of `marketEvents`: records of both inputs are held until the (minimum)
 * watermark passes them, then released in (ts, quote before trade, arrival) order followed by a
 * {@link MarketWatermark}; a record at or behind the watermark already passed goes to `late`.
 */
function orderMarketEvents(env: StepBuildEnv, quotes: Stream<MarketRecord>, trades: Stream<MarketRecord>): Stream<MarketRecord> {
  const late = env.late<unknown>();
  return union(quotes, trades, { id: `${env.operatorId}/inputs`, ctx: env.ctx }).pipe(
    elementOperator<MarketRecord, MarketRecord>(
      () => {
        let qb = new EventTimeBuffer<MarketRecord>();
        let tb = new EventTimeBuffer<MarketRecord>();
        // The released records of both inputs (written by releaseInto, no callback per record),
        // nq and nt of them: the arrays keep their capacity from one watermark to the next
        // (emptying a JS array frees its backing store).
        const qa: MarketRecord[] = [];
        const ta: MarketRecord[] = [];
        let wm = Number.NEGATIVE_INFINITY;
        return {
          onRecord(r) {
            if (!(r.ts > wm)) late.emit(r);
            // CONTRACTS.md section 1: every event carries its stream in `type`.
            else if (r.type === 'trade') tb.push(r.ts, r);
            else qb.push(r.ts, r);
          },
          onWatermark(w, emit) {
            if (!(w.ts > wm)) return;
            wm = w.ts;
            const nq = qb.releaseInto(wm, qa, 0);
            const nt = tb.releaseInto(wm, ta, 0);
            let i = 0;
            let j = 0;
            // Ties: a quote before a trade (stream order quote < trade < order).
            while (i < nq || j < nt) {
              if (j >= nt || (i < nq && qa[i]!.ts <= ta[j]!.ts)) emit(qa[i++]!);
              else emit(ta[j++]!);
            }
            emit(wm === Number.POSITIVE_INFINITY ? w : new MarketWatermark(wm));
          },
          checkpoint: {
            snapshot: () => ({ q: qb.snapshot(), t: tb.snapshot(), wm }),
            restore: (st) => {
              const x = st as { q: EventTimeBufferSnapshot<MarketRecord>; t: EventTimeBufferSnapshot<MarketRecord>; wm: number };
              qb = new EventTimeBuffer<MarketRecord>();
              qb.restore(x.q);
              tb = new EventTimeBuffer<MarketRecord>();
              tb.restore(x.t);
              wm = x.wm;
            },
          },
        };
      },
      { id: env.operatorId, ctx: env.ctx },
    ),
  );
}

/** How the rule tape calls a driver's calculator directly (see {@link recordLoop}). */
const RuleKind = {
  Generic: 0,
  FlashCrash: 1,
  Ultrafast: 2,
  Luld: 3,
  MarketWideHalt: 4,
  Liquidity: 5,
  Correlation: 6,
  MarketState: 7,
} as const;
type RuleKind = (typeof RuleKind)[keyof typeof RuleKind];

/**
 * What a rule step drives: a calculator (or several) fed in event-time order, with the snapshot
 * tables it writes as of a time. `kind` and `calc` name the calculator behind the callbacks, so
 * that the rule tape can call it directly (one call site per calculator class, rather than one
 * call site shared by seven kinds of closures); the callbacks serve every other call.
 */
interface MarketDriver {
  kind?: RuleKind;
  calc?: unknown;
  onQuote?(q: MarketQuote): void;
  onTrade?(t: MarketTrade): void;
  advance(ts: number): void;
  settle(t: number): void;
  finish(): void;
  /** Writes the driver's snapshot tables as of `t`. */
  tables?(t: number): void;
  snapshot(): unknown;
  restore(s: unknown): void;
}

const TOPICS: Record<string, string> = {
  FLASH_CRASH: 'market-risk-alerts',
  ULTRAFAST_EXTREME_EVENT: 'market-risk-alerts',
  LULD_LIMIT_STATE: 'market-risk-alerts',
  LULD_PAUSE: 'market-risk-alerts',
  MARKET_WIDE_HALT: 'market-risk-alerts',
  CORRELATION_HIGH: 'correlation-risk-alerts',
  CORRELATION_BREAK: 'correlation-risk-alerts',
  LIQUIDITY_SPREAD: 'liquidity-risk-alerts',
  LIQUIDITY_DEPTH: 'liquidity-risk-alerts',
};

interface CoreSnapshot {
  wm: number;
  lastTs: number;
  nextSnap: number;
  ended: boolean;
  driver: unknown;
}

/** Slots of a {@link DrivenCore}'s times. */
const WM = 0;
const LAST = 1;
const NEXT = 2;

/**
 * Drives a calculator from the ordered stream of a `marketEvents` step: `advance(ts)` before each
 * record, `settle(w)` at each watermark, snapshot tables at each multiple T of the snapshot
 * interval once every record with ts <= T is applied (before any later one), and once more at the
 * end of input as of the last record's time.
 */
class DrivenCore {
  /**
   * The watermark, the last record's ts and the next snapshot instant (at WM, LAST, NEXT): in a
   * typed array, since a double stored in an object field allocates a heap number, and these
   * change at every record. Once the core's rule is on a tape, a view of the tape's
   * {@link RuleTape.times} (which the tape's loop reads directly).
   */
  t = Float64Array.of(Number.NEGATIVE_INFINITY, Number.NaN, Number.NaN);
  /** Set at the end of input, with the watermark at +Infinity (which the tape's loop reads). */
  private ended = false;

  constructor(
    readonly driver: MarketDriver,
    private readonly interval: number,
    private readonly env: StepBuildEnv,
  ) {}

  /**
   * The bookkeeping of a record at `ts` before its driver sees it (`advance(ts)`, then the record):
   * the order check, and the tables of every snapshot instant before `ts`.
   */
  begin(ts: number): void {
    const t = this.t;
    // The common case (in order, no snapshot instant passed, not the first record) in a few
    // comparisons: the tape's record loop (recordLoop) does the same on its times, and calls this
    // when they fail.
    if (ts > t[NEXT]! || !(ts >= t[LAST]!) || !(ts > t[WM]!) || this.ended) this.beginSlow(ts);
    t[LAST] = ts;
  }

  private beginSlow(ts: number): void {
    if (ts < this.t[LAST]! || !(ts > this.t[WM]!) || this.ended) this.miswired(`a record at ${ts} came out of event-time order`);
    if (ts > this.t[NEXT]!) this.tablesUpTo(ts, false);
    // A driver without tables keeps nextSnap NaN, so `ts > nextSnap` above never calls tablesUpTo.
    if (Number.isNaN(this.t[LAST]!) && this.interval > 0 && this.driver.tables) this.t[NEXT] = Math.ceil(ts / this.interval) * this.interval;
  }

  watermark(w: Watermark): void {
    if (this.ended || !(w.ts > this.t[WM]!)) return;
    if (w.ts === Number.POSITIVE_INFINITY) {
      this.end();
      return;
    }
    if (!(w instanceof MarketWatermark)) this.miswired('its input does not come in event-time order');
    this.t[WM] = w.ts;
    this.tablesUpTo(w.ts, true);
    this.driver.settle(w.ts);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.t[WM] = Number.POSITIVE_INFINITY;
    const d = this.driver;
    if (Number.isNaN(this.t[LAST]!)) return;
    // The final tables, as of the last record, also stand for a periodic instant equal to it.
    this.tablesUpTo(this.t[LAST]!, false);
    d.settle(this.t[LAST]!);
    d.finish();
    d.tables?.(this.t[LAST]!);
  }

  snapshot(): CoreSnapshot {
    return { wm: this.t[WM]!, lastTs: this.t[LAST]!, nextSnap: this.t[NEXT]!, ended: this.ended, driver: this.driver.snapshot() };
  }

  restore(s: CoreSnapshot): void {
    this.t[WM] = s.wm;
    this.t[LAST] = s.lastTs;
    this.t[NEXT] = s.nextSnap;
    this.ended = s.ended;
    this.driver.restore(s.driver);
  }

  /** Writes the tables at every snapshot instant before `t` (and at `t` when inclusive). */
  private tablesUpTo(t: number, inclusive: boolean): void {
    const d = this.driver;
    if (!d.tables) return;
    while (this.t[NEXT]! < t || (inclusive && this.t[NEXT]! === t)) {
      const at = this.t[NEXT]!;
      d.settle(at);
      d.tables(at);
      this.t[NEXT] = at + this.interval;
    }
  }

  private miswired(what: string): never {
    throw new TopologyError(`${what}: the input of this step must be a marketEvents step (which orders quotes and trades by event time)`, this.env.where('input'));
  }
}

/**
 * Rule ids of the steps that raise two alert types: the alert id hashes topology, rule, entity and
 * event time (CONTRACTS.md 3), so two types from one step at one instant (a crash window breaching
 * both spread and depth) need distinct rules to keep distinct ids.
 */
const RULE_SUFFIX: Readonly<Record<string, string>> = {
  LULD_LIMIT_STATE: 'limit-state',
  LULD_PAUSE: 'pause',
  LIQUIDITY_SPREAD: 'spread',
  LIQUIDITY_DEPTH: 'depth',
  CORRELATION_HIGH: 'high',
  CORRELATION_BREAK: 'break',
};

/**
 * Builds a rule step's operator on the ordered stream: the driver's alerts become CONTRACTS.md
 * section 3 alerts (rule = step id, or step id/suffix for two-type steps; topic by type), handed to
 * the job and passed downstream; the output carries them and the watermarks. Every rule step
 * reading the same input is driven by that input's {@link RuleTape}, in subscription order.
 */
function ruleOperator(env: StepBuildEnv, input: Stream<MarketRecord>, make: (out: AlertSink) => MarketDriver): Stream<Alert> {
  const interval = env.snapshotIntervalMs > 0 && Number.isFinite(env.snapshotIntervalMs) ? env.snapshotIntervalMs : 0;
  const clock = env.ctx.clock;
  const tape = tapeOf(input);
  return new Observable<Element<Alert>>((subscriber) => {
    const rule = new RuleLink(subscriber);
    const sink: AlertSink = (a: MarketAlert) => {
      const suffix = RULE_SUFFIX[a.type];
      const ruleId = suffix === undefined ? env.stepId : `${env.stepId}/${suffix}`;
      const alert = makeAlert({ ...a, topic: TOPICS[a.type] ?? 'market-risk-alerts', rule: ruleId, topology: env.topology }, clock.now());
      env.alert(alert);
      rule.out.next(alert);
    };
    const driver = make(sink);
    const core = new DrivenCore(driver, interval, env);
    rule.core = core;
    rule.kind = driver.calc === undefined ? RuleKind.Generic : (driver.kind ?? RuleKind.Generic);
    rule.calc = driver.calc;
    env.ctx.register(env.operatorId, { snapshot: () => core.snapshot(), restore: (s) => core.restore(s as CoreSnapshot) });
    tape.add(rule);
    return () => tape.remove(rule);
  });
}

/** A rule step's subscription: its calculator core and where its alerts and watermarks go. */
class RuleLink {
  core!: DrivenCore;
  /** The driver's kind, {@link RuleKind.Generic} when it names no calculator. */
  kind: RuleKind = RuleKind.Generic;
  /** Where its core's times start in its tape's {@link RuleTape.times}. */
  at = 0;
  /**
   * The driver's calculator (`driver.calc`), read here rather than through the driver: the drivers
   * are object literals of as many shapes as kinds, the links are of one.
   */
  calc: unknown = undefined;
  /** Set once it has failed, completed or been unsubscribed: it is skipped from then on. */
  done = false;

  constructor(readonly out: Subscriber<Element<Alert>>) {}
}

/**
 * Module-local aliases of the imports read per record by the tape: V8 reloads an imported binding
 * from its module cell (with a hole check) at every use in optimized code, a local const it folds.
 */
const WatermarkClass = Watermark;
const idOf = instrumentId;

/** The tape of every input stream that rule steps read (one per built input). */
const TAPES = new WeakMap<Stream<MarketRecord>, RuleTape>();

function tapeOf(input: Stream<MarketRecord>): RuleTape {
  let t = TAPES.get(input);
  if (t === undefined) {
    t = new RuleTape(input);
    TAPES.set(input, t);
  }
  return t;
}

/**
 * What the tape's loop does with a record for a rule of each kind, after the core's bookkeeping:
 * `c` is the rule's calculator, `l` its link.
 */
const KIND_BODY: Readonly<Record<RuleKind, (c: string, l: string) => string>> = {
  [RuleKind.Generic]: (_c, l) => `const d = ${l}.core.driver; d.advance(ts); if (trade) d.onTrade?.(r); else d.onQuote?.(r);`,
  [RuleKind.FlashCrash]: (c) => `if (!trade) ${c}.onQuote(r, id);`,
  [RuleKind.Ultrafast]: (c) => `if (trade) ${c}.onTrade(r, id);`,
  [RuleKind.Luld]: (c) => `${c}.advanceTo(r); if (trade) ${c}.onTrade(r, id); else ${c}.onQuote(r, id);`,
  [RuleKind.MarketWideHalt]: (c) => `if (trade) ${c}.onTrade(r, id); else ${c}.onQuote(r, id);`,
  [RuleKind.Liquidity]: (c) => `${c}.advanceTo(r); if (!trade) ${c}.onQuote(r, id);`,
  [RuleKind.Correlation]: (c) => `${c}.advanceTo(r); if (!trade) ${c}.onQuote(r, id);`,
  [RuleKind.MarketState]: (c) => `${c}.advanceTo(r); if (trade) ${c}.onTrade(r, id); else ${c}.onQuote(r, id);`,
};

/**
 * The tape's per-record loop over `rules`, generated for them (again whenever they change): each
 * rule's step written out in order with its link, calculator and time slots as constants, so a
 * record takes no loop over the rules, no switch on their kinds and no loads of their links'
 * fields, and every calculator call site sees one class. Per rule, as before: skipped once done;
 * the core's common case (in order, no snapshot instant passed: see DrivenCore.begin) read from
 * the tape's times without the core (an ended core has its watermark at +Infinity, so `ts > wm`
 * fails), else `core.begin(ts)` (after which the times are re-read: a rule added meanwhile would
 * have moved them); then the calculator; a throw fails that rule alone.
 */
function recordLoop(tape: RuleTape, rules: readonly RuleLink[]): (r: MarketRecord) => void {
  const body = rules.map((rule, k) => {
    const o = rule.at;
    return `if (!l${k}.done) {
  try {
    if (ts > T[${o + NEXT}] || !(ts >= T[${o + LAST}]) || !(ts > T[${o + WM}])) { l${k}.core.begin(ts); T = tape.times; } else T[${o + LAST}] = ts;
    ${KIND_BODY[rule.kind](`c${k}`, `l${k}`)}
  } catch (err) {
    tape.fail(l${k}, err);
  }
}`;
  });
  const consts = rules.map((_, k) => `const l${k} = L[${k}]; const c${k} = L[${k}].calc;`);
  const make = new Function('tape', 'L', 'idOf', `"use strict"; ${consts.join(' ')}
return function record(r) {
  const ts = r.ts;
  const trade = r.type === 'trade';
  // One lookup of the instrument per record, for every calculator.
  const id = idOf(r.instrument);
  let T = tape.times;
  ${body.join('\n  ')}
};`) as (tape: RuleTape, links: readonly RuleLink[], id: (name: string) => number) => (r: MarketRecord) => void;
  return make(tape, rules, idOf);
}

/**
 * Drives every rule step that reads one input (the `marketEvents` step) through a single
 * subscription: each record is handed to the rule steps' cores in their subscription order, which
 * is the order the input's multicast would have delivered it to them one by one. One hop per
 * record instead of one per rule step, and the cores run back to back on the same record.
 */
class RuleTape {
  private rules: readonly RuleLink[] = [];
  private link: TapeSubscriber | undefined;
  /**
   * The times of every rule's core added so far, three per rule at its `at` (each core's `t` is a
   * view of its three): one array that {@link record} (generated by {@link recordLoop}) reads for
   * every rule, rather than a typed array per core. Slots of removed rules are not reused.
   */
  times = new Float64Array(0);
  /**
   * One record through every rule, in order: each rule's core does its bookkeeping, then its
   * calculator gets `advance(ts)` and the record, by a direct call per calculator class. The loop
   * generated for the current rules by {@link recordLoop} (a field rather than a method calling
   * it: one call per record, not two).
   */
  record: (r: MarketRecord) => void = () => undefined;

  constructor(private readonly input: Stream<MarketRecord>) {}

  add(rule: RuleLink): void {
    const old = this.times;
    const times = new Float64Array(old.length + 3);
    times.set(old);
    times.set(rule.core.t, old.length);
    rule.at = old.length;
    this.times = times;
    this.rules = [...this.rules, rule];
    for (const r of this.rules) r.core.t = times.subarray(r.at, r.at + 3);
    this.record = recordLoop(this, this.rules);
    if (this.link === undefined) {
      const link = new TapeSubscriber(this);
      this.link = link;
      this.input.subscribe(link);
    }
  }

  remove(rule: RuleLink): void {
    rule.done = true;
    this.rules = this.rules.filter((r) => r !== rule);
    this.record = recordLoop(this, this.rules);
    if (this.rules.length === 0 && this.link !== undefined) {
      const link = this.link;
      this.link = undefined;
      link.unsubscribe();
    }
  }

  watermark(w: Watermark): void {
    const rules = this.rules;
    for (let k = 0; k < rules.length; k++) {
      const rule = rules[k]!;
      if (rule.done) continue;
      try {
        rule.core.watermark(w);
        rule.out.next(w);
      } catch (err) {
        this.fail(rule, err);
      }
    }
  }

  complete(): void {
    for (const rule of this.rules) {
      if (rule.done) continue;
      rule.done = true;
      try {
        rule.core.end();
        rule.out.complete();
      } catch (err) {
        rule.out.error(err);
      }
    }
  }

  error(err: unknown): void {
    for (const rule of this.rules) {
      if (rule.done) continue;
      rule.done = true;
      rule.out.error(err);
    }
  }

  /** Marks a rule failed and errors its output (a throw of its core or calculator). */
  fail(rule: RuleLink, err: unknown): void {
    rule.done = true;
    rule.out.error(err);
  }
}

/** The tape's subscription to its input (a Subscriber, so RxJS calls it directly). */
class TapeSubscriber extends Subscriber<Element<MarketRecord>> {
  constructor(private readonly tape: RuleTape) {
    super();
  }

  override next(e: Element<MarketRecord>): void {
    if (this.isStopped) {
      super.next(e);
      return;
    }
    if (e instanceof WatermarkClass) this.tape.watermark(e);
    else this.tape.record(e);
  }

  protected override _error(err: unknown): void {
    this.tape.error(err);
    this.unsubscribe();
  }

  protected override _complete(): void {
    this.tape.complete();
    this.unsubscribe();
  }
}

// ------------------------------------------------------------------------------ step types

const INPUT = ['input'] as const;

function plain(step: object): Record<string, unknown> {
  return step as Record<string, unknown>;
}

/**
 * `marketEvents`: merges quotes and trades in event-time order (ties: a quote before a trade, then
 * arrival), releasing records as the watermark passes them, so that every rule step reading it is
 * a pure function of the records, whatever the batching and arrival order within the bound. The
 * ordering is paid once for all the rule steps. Records behind the watermark go to the late output.
 * Records keep their `type` (CONTRACTS.md section 1), which tells the rule steps quotes from trades.
 *
 * @example
 * - { id: market, type: marketEvents, quotes: quotes, trades: trades }
 */
export const marketEventsStep: StepTypeDefinition<MarketEventsStep> = {
  inputFields: ['quotes', 'trades'],
  fields: [],
  validate() {},
  build(_step, [quotes, trades], env) {
    return orderMarketEvents(env, quotes!, trades!);
  },
  describe: () => ['quotes and trades in event-time order (ties: quote first), for the market-risk rule steps'],
};

/**
 * `flashCrash`: FLASH_CRASH (CONTRACTS.md 4) per instrument on the mid of its latest quote,
 * trailing max/min over `window` with monotonic deques; one alert per episode, re-armed within
 * `rearmPct`.
 *
 * @example
 * - { id: flash-crash, type: flashCrash, input: market, window: 60s, movePct: 0.05, rearmPct: 0.02 }
 */
export const flashCrashStep: StepTypeDefinition<FlashCrashStep> = {
  inputFields: INPUT,
  fields: FLASH_FIELDS.map((f) => f.field),
  terminal: true,
  validate(_step, v) {
    const p = validateFields(v, '', FLASH_FIELDS);
    if (p.rearmPct! >= p.movePct!) v.error('rearmPct', `'rearmPct' (${p.rearmPct}) must be below 'movePct' (${p.movePct}), or an episode could never end`);
  },
  build(step, [input], env) {
    const p = readFields(plain(step), FLASH_FIELDS);
    return ruleOperator(env, input!, (out) => {
      const fc = new FlashCrashDetector(p, out);
      return { kind: RuleKind.FlashCrash, calc: fc, onQuote: (q) => fc.onQuote(q), advance: noop, settle: noop, finish: noop, snapshot: () => fc.snapshot(), restore: (s) => fc.restore(s) };
    });
  },
  describe: (step) => [
    '=> FLASH_CRASH (critical) on market-risk-alerts, entity instrument',
    `mark = mid of the latest quote; ${describeFields(plain(step), FLASH_FIELDS)}`,
  ],
};

/**
 * `ultrafastExtremeEvent`: ULTRAFAST_EXTREME_EVENT (CONTRACTS.md 4, Johnson et al. 2013) per
 * instrument on its trades; one alert per run.
 *
 * @example
 * - { id: ultrafast, type: ultrafastExtremeEvent, input: market, minTrades: 10, maxDuration: 1500ms, minMovePct: 0.008 }
 */
export const ultrafastStep: StepTypeDefinition<UltrafastStep> = {
  inputFields: INPUT,
  fields: ULTRAFAST_FIELDS.map((f) => f.field),
  terminal: true,
  validate(_step, v) {
    validateFields(v, '', ULTRAFAST_FIELDS);
  },
  build(step, [input], env) {
    const p = readFields(plain(step), ULTRAFAST_FIELDS);
    return ruleOperator(env, input!, (out) => {
      const u = new UltrafastDetector(p, out);
      return { kind: RuleKind.Ultrafast, calc: u, onTrade: (t) => u.onTrade(t), advance: noop, settle: noop, finish: noop, snapshot: () => u.snapshot(), restore: (s) => u.restore(s) };
    });
  },
  describe: (step) => ['=> ULTRAFAST_EXTREME_EVENT (warning) on market-risk-alerts, entity instrument', describeFields(plain(step), ULTRAFAST_FIELDS)],
};

/**
 * `luld`: LULD_LIMIT_STATE and LULD_PAUSE (CONTRACTS.md 4) per instrument: reference = mean trade
 * price over `referenceWindow`, bands by tier and price (the SEC plan's table), pause after
 * `pauseAfter` in a limit state. Tiers come from the reference instruments.
 *
 * @example
 * - { id: luld, type: luld, input: market, referenceWindow: 5m, tier1Pct: 0.05, tier2Pct: 0.1, pauseAfter: 15s }
 */
export const luldStep: StepTypeDefinition<LuldStep> = {
  inputFields: INPUT,
  fields: LULD_FIELDS.map((f) => f.field),
  terminal: true,
  validate(_step, v) {
    validateLuld(v, '');
  },
  build(step, [input], env) {
    const p = readFields(plain(step), LULD_FIELDS);
    return ruleOperator(env, input!, (out) => {
      const l = new LuldMonitor(p, env.reference, out);
      return {
        kind: RuleKind.Luld,
        calc: l,
        onQuote: (q) => l.onQuote(q),
        onTrade: (t) => l.onTrade(t),
        advance: (ts) => l.advance(ts),
        settle: (t) => l.settle(t),
        finish: noop,
        snapshot: () => l.snapshot(),
        restore: (s) => l.restore(s),
      };
    });
  },
  describe: (step) => ['=> LULD_LIMIT_STATE (warning), LULD_PAUSE (critical) on market-risk-alerts, entity instrument', describeFields(plain(step), LULD_FIELDS)],
};

/**
 * `marketWideHalt`: MARKET_WIDE_HALT (CONTRACTS.md 4) on instruments with isIndex: the mark falls
 * `levels[k]` below prevClose, each level once per day.
 *
 * @example
 * - { id: mwh, type: marketWideHalt, input: market, levels: [0.07, 0.13, 0.2] }
 */
export const marketWideHaltStep: StepTypeDefinition<MarketWideHaltStep> = {
  inputFields: INPUT,
  fields: ['levels'],
  terminal: true,
  validate(_step, v) {
    const raw = v.get('levels');
    if (raw === undefined || (typeof raw === 'string' && raw.includes('${params.'))) return;
    if (!Array.isArray(raw) || raw.length === 0) {
      v.error('levels', `'levels' must be a list of falls below prevClose, e.g. [0.07, 0.13, 0.2]`);
      return;
    }
    raw.forEach((_, i) => validateFields(v, '', [{ field: `levels.${i}`, key: 'x', kind: 'fraction', def: 0 }]));
    const xs = raw.map(Number);
    if (xs.some((x, i) => i > 0 && !(x > xs[i - 1]!))) v.error('levels', `'levels' must be ascending, got [${xs.join(', ')}]`);
    if (xs.length > 30) v.error('levels', `'levels' has more than 30 levels`);
  },
  build(step, [input], env) {
    const p: MarketWideHaltParams = { levels: readLevels(step.levels) };
    return ruleOperator(env, input!, (out) => {
      const m = new MarketWideHaltMonitor(p, env.reference, out);
      return { kind: RuleKind.MarketWideHalt, calc: m, onQuote: (q) => m.onQuote(q), onTrade: (t) => m.onTrade(t), advance: noop, settle: noop, finish: noop, snapshot: () => m.snapshot(), restore: (s) => m.restore(s) };
    });
  },
  describe: (step) => [
    '=> MARKET_WIDE_HALT (critical) on market-risk-alerts, entity instrument (isIndex instruments)',
    `levels ${readLevels(step.levels).map((x, i) => `${i + 1}: ${+(x * 100).toFixed(4)}%`).join(', ')} below prevClose, each once per day`,
  ],
};

/**
 * `liquidity`: LIQUIDITY_SPREAD and LIQUIDITY_DEPTH (CONTRACTS.md 4) per instrument over tumbling
 * `window`s; the relative spread test needs `minBaselineWindows` windows in the `baseline` period.
 *
 * @example
 * - { id: liquidity, type: liquidity, input: market, window: 30s, spreadFloorBps: 25, spreadMultiple: 4, baseline: 30m, minBaselineWindows: 10, minDepth: 1000000 }
 */
export const liquidityStep: StepTypeDefinition<LiquidityStep> = {
  inputFields: INPUT,
  fields: LIQUIDITY_FIELDS.map((f) => f.field),
  terminal: true,
  validate(_step, v) {
    validateFields(v, '', LIQUIDITY_FIELDS);
  },
  build(step, [input], env) {
    const p = readFields(plain(step), LIQUIDITY_FIELDS);
    return ruleOperator(env, input!, (out) => {
      const l = new LiquidityMonitor(p, out);
      return { kind: RuleKind.Liquidity, calc: l, onQuote: (q) => l.onQuote(q), advance: (ts) => l.advance(ts), settle: (t) => l.settle(t), finish: () => l.finish(), snapshot: () => l.snapshot(), restore: (s) => l.restore(s) };
    });
  },
  describe: (step) => ['=> LIQUIDITY_SPREAD, LIQUIDITY_DEPTH (warning) on liquidity-risk-alerts, entity instrument', describeFields(plain(step), LIQUIDITY_FIELDS)],
};

/**
 * `correlation`: the correlation matrix of CONTRACTS.md 4 over all instruments (global), the
 * `correlations` snapshot table (one row per pair per closed window, written at the first snapshot
 * instant at or after the window's end), CORRELATION_HIGH and CORRELATION_BREAK.
 *
 * @example
 * - { id: correlation, type: correlation, input: market, window: 5m, step: 1s, minObs: 30, highAbs: 0.9, breakAbs: 0.5 }
 */
export const correlationStep: StepTypeDefinition<CorrelationStep> = {
  inputFields: INPUT,
  fields: CORRELATION_FIELDS.map((f) => f.field),
  terminal: true,
  validate(_step, v) {
    const p = validateFields(v, '', CORRELATION_FIELDS);
    if (p.windowMs! % p.stepMs! !== 0) v.error('window', `'window' (${formatDuration(p.windowMs!)}) must be a multiple of 'step' (${formatDuration(p.stepMs!)})`);
    if (p.highAbs! > 1) v.error('highAbs', `'highAbs' is a correlation, at most 1, got ${p.highAbs}`);
    if (p.breakAbs! > 2) v.error('breakAbs', `'breakAbs' is a difference of correlations, at most 2, got ${p.breakAbs}`);
  },
  build(step, [input], env) {
    const p = readFields(plain(step), CORRELATION_FIELDS);
    return ruleOperator(env, input!, (out) => {
      // Closed windows not written yet (rows restored from a checkpoint come first): their rows
      // are built when the table is written.
      let restored: CorrelationRow[] = [];
      let windows: CorrelationWindow[] = [];
      const pendingRows = (): CorrelationRow[] => {
        const rows = restored.slice();
        for (const w of windows) w.rows(rows);
        return rows;
      };
      const c = new CorrelationMatrix(p, env.reference, out, undefined, (w) => void windows.push(w));
      return {
        kind: RuleKind.Correlation,
        calc: c,
        onQuote: (q) => c.onQuote(q),
        advance: (ts) => c.advance(ts),
        settle: (t) => c.settle(t),
        finish: () => c.finish(),
        tables(t) {
          if (restored.length === 0 && windows.length === 0) return;
          // Columns (no object per row) unless rows restored from a checkpoint are pending.
          const rows = restored.length === 0 ? CorrelationWindow.columns(windows) : pendingRows();
          restored = [];
          windows = [];
          if (rows.length === 0) return;
          env.snapshot('correlations', t, rows);
        },
        snapshot: () => ({ calc: c.snapshot(), pending: pendingRows() }),
        restore(s) {
          const x = s as { calc: unknown; pending: CorrelationRow[] };
          c.restore(x.calc);
          restored = x.pending.slice();
          windows = [];
        },
      };
    });
  },
  describe: (step) => [
    '=> CORRELATION_HIGH, CORRELATION_BREAK (warning) on correlation-risk-alerts, entity instrumentA, instrumentB',
    `all instruments, global; ${describeFields(plain(step), CORRELATION_FIELDS)}`,
    'snapshot table correlations: one row per pair per closed window',
  ],
};

/**
 * `marketState`: the `market` snapshot table (CONTRACTS.md section 5): mark, spread, depth,
 * ret_60s and LULD bands/state per instrument, at each snapshot instant and at the end of input.
 * It raises no alerts (its `luld` mapping only feeds the luld_* columns).
 *
 * @example
 * - { id: market-state, type: marketState, input: market, returnWindow: 60s, luld: { referenceWindow: 5m, tier1Pct: 0.05 } }
 */
export const marketStateStep: StepTypeDefinition<MarketStateStep> = {
  inputFields: INPUT,
  fields: ['returnWindow', 'luld'],
  terminal: true,
  validate(_step, v) {
    v.duration('returnWindow', { positive: true });
    const l = v.mapping('luld');
    if (l) {
      const known = LULD_FIELDS.map((f) => f.field);
      for (const k of Object.keys(l)) if (!known.includes(k)) v.error(`luld.${k}`, `unknown field 'luld.${k}' (fields: ${known.join(', ')})`);
      validateLuld(v, 'luld.');
    }
  },
  build(step, [input], env) {
    const returnWindowMs = step.returnWindow === undefined ? RETURN_WINDOW_DEFAULT : parseDuration(step.returnWindow, 'returnWindow');
    const luldP = step.luld ? readFields(plain(step.luld), LULD_FIELDS) : undefined;
    return ruleOperator(env, input!, () => {
      const luld = luldP ? new LuldMonitor(luldP, env.reference, noop) : undefined;
      const m = new MarketStateTracker({ returnWindowMs }, env.reference, luld);
      return {
        kind: RuleKind.MarketState,
        calc: m,
        onQuote: (q) => m.onQuote(q),
        onTrade: (t) => m.onTrade(t),
        advance: (ts) => m.advance(ts),
        settle: (t) => m.settle(t),
        finish: noop,
        tables: (t) => env.snapshot('market', t, m.columns(t)),
        snapshot: () => m.snapshot(),
        restore: (s) => m.restore(s),
      };
    });
  },
  describe: (step) => [
    'snapshot table market: instrument, mark_price, spread_bps, depth, ret_60s, luld_lower, luld_upper, luld_state',
    `returnWindow ${formatDuration(step.returnWindow === undefined ? RETURN_WINDOW_DEFAULT : parseDuration(step.returnWindow))}${step.luld ? `; luld ${describeFields(plain(step.luld), LULD_FIELDS)}` : '; no luld columns'}`,
  ],
};

function noop(): void {}

/**
 * The market-risk step types by `type`, registered through {@link registerStepType} when this
 * module loads.
 *
 * @example import './market-risk.js'; getStepType('flashCrash') === MARKET_RISK_STEP_TYPES.flashCrash; // true
 */
export const MARKET_RISK_STEP_TYPES: Readonly<Record<string, StepTypeDefinition>> = {
  marketEvents: marketEventsStep,
  flashCrash: flashCrashStep,
  ultrafastExtremeEvent: ultrafastStep,
  luld: luldStep,
  marketWideHalt: marketWideHaltStep,
  liquidity: liquidityStep,
  correlation: correlationStep,
  marketState: marketStateStep,
};

for (const [type, def] of Object.entries(MARKET_RISK_STEP_TYPES)) {
  if (getStepType(type) !== def) registerStepType(type, def, { replace: true });
}
