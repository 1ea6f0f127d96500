/**
 * Desk risk in one state machine: positions and P&L (positions.ts), each trader's VaR/ES
 * (var.ts), the limit checks (limits.ts) and the `positions` / `trader_risk` snapshot tables
 * (CONTRACTS.md 5). Pure code: the desk-risk step feeds it quotes and trades in event-time order
 * and turns what it reports into alerts and snapshot rows.
 *
 * When a trader's VaR sees mark moves (the re-mark policy). CONTRACTS.md 4 values VaR at current
 * positions and current marks, and marks move on every quote. The semantics kept here are exact:
 * VAR_LIMIT is evaluated after every event that touches the trader (its trades, and quotes of
 * instruments it holds), exactly like the other limits, as if L were recomputed at that instant.
 * The work is lazy:
 * - a trader's L (or w' Sigma w) holds each position at `riskNotional`, the notional it had when
 *   last folded in; a trade folds the traded position at once (O(S));
 * - a mark move only adds |notional - riskNotional| * b_i to the trader's drift bound U, where
 *   b_i = max_s |r_i[s]| * sqrt(h) (historical) or z_c sqrt(Sigma_ii h) (parametric). VaR, ES and
 *   both quantile conventions are 1-Lipschitz in the sup-norm of L (order statistics and their
 *   weighted means), and parametric VaR is Lipschitz in w with those constants, so the true VaR
 *   is within U of the stored one;
 * - if stored VaR +- U cannot cross the VAR_LIMIT threshold (armed) or the re-arm level
 *   (disarmed), the limit decision is the same as with the true VaR and nothing is folded; else
 *   every moved position is folded (O(S) each), the VaR recomputed and checked;
 * - at each snapshot time every moved position is folded, so `var_99`/`es_99` are exact as of T;
 * - a trade folds its position at once (so L, and the bits of every later VaR, do not depend on
 *   what follows), but the VaR is recomputed only if the decision could depend on it: by the
 *   same Lipschitz bound, a fold that moves a notional by d moves the VaR by at most |d| b_i, so
 *   while the stored VaR plus those bounds (and U) stays inside the room the recomputation waits
 *   (see DeskRisk.deferVar) for a snapshot or for a quote or trade that needs it.
 * So alerts equal those of a full recomputation after every event (up to rounding) while a trader
 * far from its limit costs O(1) per quote; one hovering at the limit pays O(S) per moved position.
 * Everything is a function of the records alone: there are no processing-time or event-time timers.
 */
import { grown } from '../core/typed-arrays.js';
import type { ReferenceData, Trader } from '../core/reference.js';
import { SnapshotColumns, type SnapshotRows } from '../core/snapshot-rows.js';
import { DEFAULT_LIMIT_POLICY, LimitChecker, TraderLimitState, type LimitBreach, type LimitPolicy, type LimitType, type VarFigures } from './limits.js';
import * as layout from './positions.js';
import { PositionBook, trackLargestAt, type InstrumentMark, type Position, type PositionBookSnapshot, type PositionListener, type TraderBook } from './positions.js';
import { bookMemory, markKernel, type MarkKernel } from './mark-kernel.js';
import { addScaled, buildScenarios, HistoricalVar, ParametricModel, QuadForm, ScenarioFold, type QuantileMethod, type ScenarioSet } from './var.js';

/*
 * The book's record layout (positions.ts) as this module's own constants. V8 embeds a module's
 * own `const` numbers in optimized code, but reads an imported binding from its module cell at
 * every use (a load, a hole check, a Smi check and an overflow-checked add before each typed-array
 * index): in the per-holder loop of onMarkMove that was most of its instructions.
 */
const PF = layout.PF;
const PF_ABS = layout.PF_ABS;
const PF_AVG = layout.PF_AVG;
const PF_NOTIONAL = layout.PF_NOTIONAL;
const PF_QTY = layout.PF_QTY;
const PF_RISK_DRIFT = layout.PF_RISK_DRIFT;
const PF_RISK_NOTIONAL = layout.PF_RISK_NOTIONAL;
const PF_UNREALIZED = layout.PF_UNREALIZED;
const IM = layout.IM;
const IM_MARK = layout.IM_MARK;
const IM_HOLDERS = layout.IM_HOLDERS;
const IM_IDS_AT = layout.IM_IDS_AT;
const IM_TIS_AT = layout.IM_TIS_AT;
/** The desk's slot in an instrument's record of the book: InstRisk.bound (read there on the per-quote and per-trade paths). */
const IM_BOUND = layout.IM_EXT;
const RESUM_EVERY = layout.RESUM_EVERY;
const TF = layout.TF;
const TF_EXT = layout.TF_EXT;
const TF_GROSS = layout.TF_GROSS;
const TF_NET = layout.TF_NET;
const TF_PEAK = layout.TF_PEAK;
const TF_REALIZED = layout.TF_REALIZED;
const TF_TOUCHES = layout.TF_TOUCHES;
const TF_UNREALIZED = layout.TF_UNREALIZED;

/**
 * How a trader's VaR is computed: historical simulation (CONTRACTS.md 4, the default) or
 * parametric with an EWMA covariance.
 *
 * @example
 * const m: VarMethod = 'parametric';
 */
export type VarMethod = 'historical' | 'parametric';

/**
 * VaR settings (CONTRACTS.md 4 defaults).
 *
 * @example
 * const v: VarOptions = { ...DEFAULT_VAR_OPTIONS, scenarios: 500, quantile: 'linear' };
 */
export interface VarOptions {
  method: VarMethod;
  confidence: number;
  /** S, the number of daily scenarios (the last S+1 closes). */
  scenarios: number;
  horizonDays: number;
  quantile: QuantileMethod;
  /** EWMA decay of the parametric method. */
  lambda: number;
}

/**
 * CONTRACTS.md 4 defaults: historical, 99%, 250 scenarios, 1 day, `lower` quantile, lambda 0.94.
 *
 * @example new DeskRisk(reference, { var: { ...DEFAULT_VAR_OPTIONS, scenarios: 500 } }, sink)
 */
export const DEFAULT_VAR_OPTIONS: Readonly<VarOptions> = {
  method: 'historical',
  confidence: 0.99,
  scenarios: 250,
  horizonDays: 1,
  quantile: 'lower',
  lambda: 0.94,
};

/**
 * Options of {@link DeskRisk}.
 *
 * @example { var: { ...DEFAULT_VAR_OPTIONS }, limits: { ...DEFAULT_LIMIT_POLICY }, snapshotIntervalMs: 60_000 }
 */
export interface DeskRiskOptions {
  var?: Partial<VarOptions>;
  limits?: Partial<LimitPolicy>;
  /** Event time between snapshot tables (epoch-aligned; 0: only the one at the end). */
  snapshotIntervalMs?: number;
  /**
   * Keep the book in WebAssembly memory and re-value a quote's holders with the WebAssembly
   * kernel (mark-kernel.ts), when the runtime has WebAssembly (default true). false: plain typed
   * arrays and the JavaScript loop; the results are the same.
   */
  wasm?: boolean;
}

/**
 * Where a DeskRisk reports. Breaches of one event come sorted by trader, then type.
 *
 * @example
 * const sink: DeskRiskSink = { breach: (b) => alerts.push(b), snapshot: (t, at, rows) => tables.push({ t, at, rows }), warn: console.warn };
 */
export interface DeskRiskSink {
  breach(b: LimitBreach): void;
  snapshot(table: 'positions' | 'trader_risk', snapshotTime: number, rows: SnapshotRows): void;
  warn(message: string): void;
}

/**
 * A quote as desk risk reads it (CONTRACTS.md 1; other fields are ignored).
 *
 * @example
 * desk.quote({ ts: 1_710_509_400_470, instrument: 'BYTE', bid: 88.16, ask: 88.21 });
 */
export interface QuoteIn {
  ts: number;
  instrument: string;
  bid: number;
  ask: number;
}

/**
 * A trade as desk risk reads it (CONTRACTS.md 1; other fields are ignored).
 *
 * @example
 * desk.trade({ ts: 1_710_509_401_334, traderId: 'TR05', instrument: 'CRED', side: 'SELL', qty: 900, price: 19.86 });
 */
export interface TradeIn {
  ts: number;
  traderId: string;
  instrument: string;
  side: string;
  qty: number;
  price: number;
}

/**
 * Work counters of a {@link DeskRisk}, for tests and benchmarks.
 *
 * @example desk.stats.folds; // O(S) vector updates so far
 */
export interface DeskRiskStats {
  /** Position folds into a VaR vector (each O(S), or O(N) parametric). */
  folds: number;
  /** VaR recomputations (each one selection). */
  varEvaluations: number;
  /** Records that could not be applied (bad numbers, unknown side); the source normally dead-letters them first. */
  ignored: number;
}

/** Per-instrument data of the risk model, hung on InstrumentMark.ext. */
interface InstRisk {
  /** Scenario returns (historical), undefined without history. */
  r: Float64Array | undefined;
  /** Their ScenarioFold.returnsId (historical), -1 without history. */
  ri: number;
  /** Row of the covariance (parametric), -1 without history. */
  row: number;
  /** VaR change per unit of notional not yet folded in (0 without history). */
  bound: number;
}

/**
 * The desk's slots in a trader's record of the book (`book.tf[index * TF + slot]`, TF_EXT
 * onwards, before TF_EXT_END), the numbers a quote reads for every holder first (up to D_CONC),
 * next to the book's own: the VaR drift
 * bound U and VaR, the quiet box of the book-level limit checks (see {@link TraderRisk.setQuiet}),
 * whether concentration is checked, the VaR limit (NaN: none), whether VAR_LIMIT is armed, and
 * the VaR room (see {@link TraderRisk.updateVarRoom}), and the POSITION_LIMIT maxPosition (NaN:
 * none; read per trade from the record the trade already touches, not from the traders.csv row).
 */
const D_DRIFT = TF_EXT;
const D_VAR_ROOM = TF_EXT + 1;
const D_GLO = TF_EXT + 2;
const D_GHI = TF_EXT + 3;
const D_LLO = TF_EXT + 4;
const D_LHI = TF_EXT + 5;
const D_DLO = TF_EXT + 6;
const D_DHI = TF_EXT + 7;
const D_CONC = TF_EXT + 8;
const D_VAR_LIMIT = TF_EXT + 9;
const D_VAR_ARMED = TF_EXT + 10;
const D_CLO = TF_EXT + 11;
const D_CHI = TF_EXT + 12;
const D_VAR = TF_EXT + 13;
const D_MAX_POS = TF_EXT + 14;

/** Doubles per position in TraderRisk.pos, and their slots: position id, returns id, riskNotional, bound. */
const POS = 4;
const POS_ID = 0;
const POS_RI = 1;
const POS_RN = 2;
const POS_BOUND = 3;

/**
 * Whether gross exposure `g`, `loss` and drawdown `dd` of the trader whose record is at tf[d..]
 * are inside its quiet box (the D_GLO..D_DHI bounds of TraderRisk.setQuiet), where checkBook
 * neither alerts nor re-arms for them.
 */
function insideBox(tf: Float64Array, d: number, g: number, loss: number, dd: number): boolean {
  return (
    g > (tf[d + D_GLO] as number) &&
    g <= (tf[d + D_GHI] as number) &&
    loss > (tf[d + D_LLO] as number) &&
    loss <= (tf[d + D_LHI] as number) &&
    dd > (tf[d + D_DLO] as number) &&
    dd < (tf[d + D_DHI] as number)
  );
}

/**
 * insideBox of the trader's own gross exposure, loss and drawdown (its record at tf[d..]). Only
 * integers cross this call: where it is not inlined (the trade path's quietBook), passing the
 * three numbers to insideBox would box each.
 */
function insideOwnBox(tf: Float64Array, d: number): boolean {
  const pnl = (tf[d + TF_REALIZED] as number) + (tf[d + TF_UNREALIZED] as number);
  return insideBox(tf, d, tf[d + TF_GROSS] as number, -pnl, (tf[d + TF_PEAK] as number) - pnl);
}

/** The rows of the `positions` table while no position is added (DeskRisk.positionLayout). */
interface PositionLayout {
  /** Positions and traders in the book when built. */
  positions: number;
  traders: number;
  ids: Int32Array;
  instIdx: Int32Array;
  /** Per row, its trader's index in the book. */
  traderIdx: Int32Array;
  traderId: string[];
  instrument: string[];
}

/** The rows of the `trader_risk` table while no trader is added (DeskRisk.traderLayout). */
interface TraderLayout {
  /** The book's traders by id. */
  traders: TraderBook[];
  ids: string[];
  varLimit: Array<number | null>;
}

/** Per-trader VaR and limit state, hung on TraderBook.ext; its hot numbers live in the trader's record of the book. */
class TraderRisk {
  es = 0;
  folds = 0;
  /**
   * Whether `var`/`es` are those of an earlier L: a trade folded its position without recomputing
   * them because the VAR_LIMIT decision could not depend on it (see DeskRisk.onTrade). `stale`
   * then bounds |VaR(L) - var|; both are cleared by the next computation.
   */
  isStale = false;
  stale = 0;
  limits = new TraderLimitState();
  /** The trader's positions by instrument name (the `positions` table's order), while no position is added. */
  byName: Position[] = [];
  /**
   * Folds into L not applied yet (historical): how many of the trader's entries in
   * DeskRisk.pendD / pendR are queued, in fold order. A trade's fold is recorded there and applied
   * with the next pass over L (a snapshot's foldAll, a VaR computation, a checkpoint), in the same
   * order: every element of L receives the same additions as if each were applied at once (see
   * DeskRisk.fold), and L's memory is visited once for all of them.
   */
  pending = 0;
  /**
   * The trader's first `known` positions in `positions` order, POS doubles each (the loops of
   * DeskRisk.deferVar and foldAll, without a walk over Position and InstrumentMark objects): the
   * position id, its instrument's returns id (InstRisk.ri), a copy of its riskNotional (written
   * wherever Position.riskNotional is) and its instrument's bound (InstRisk.bound). One array for
   * both loops: foldAll and deferVar each reach a trader's positions through one cache line or
   * two instead of a position record each and an array per field.
   */
  pos = new Float64Array(8 * POS);
  known = 0;
  /** traders.csv varLimit when it is a finite number, else NaN (VAR_LIMIT not checked). */
  readonly varLimit: number;
  constructor(
    private readonly book: PositionBook,
    /** The trader's index (its record in PositionBook.tf). */
    readonly i: number,
    readonly lim: Trader | undefined,
    readonly L: Float64Array | undefined,
    readonly qf: QuadForm | undefined,
    /** LimitPolicy.rearmBelow. */
    private readonly rearm: number,
    /** L's byte offset in the ScenarioFold memory when it lives there (ScenarioFold.residentL), else -1. */
    readonly lAt = -1,
  ) {
    const v = lim?.varLimit;
    this.varLimit = v !== undefined && Number.isFinite(v) ? v : Number.NaN;
    book.tf[i * TF + D_VAR_LIMIT] = this.varLimit;
    // What LimitChecker.checkPosition takes from lim (undefined becomes NaN: not checked either way).
    book.tf[i * TF + D_MAX_POS] = lim === undefined ? Number.NaN : lim.maxPosition;
    this.updateVarRoom();
  }

  get var(): number {
    return this.book.tf[this.i * TF + D_VAR] as number;
  }
  set var(v: number) {
    this.book.tf[this.i * TF + D_VAR] = v;
    this.updateVarRoom();
  }

  /**
   * The VaR room: a drift bound U at or below it leaves the VAR_LIMIT decision closed (see
   * DeskRisk.varDecisionOpenAt), so a quote compares U with this one number and takes the exact
   * test only above it. Armed, the decision opens when var + U(1 + 1e-9) + 1e-12 |var| exceeds
   * the limit; disarmed, when var - (the same) falls to the re-arm level. The room solves that for
   * U and gives away 1e-9 (|limit| + |var|), far more than the rounding of either side, so the
   * skip is always right; a room too low only costs the exact test. No VaR limit: no decision
   * (+Infinity). Call after var, the limit or the armed state change.
   */
  updateVarRoom(): void {
    const df = this.book.tf;
    const d = this.i * TF;
    let room = this.roomOf();
    if (room !== Number.POSITIVE_INFINITY) {
      // Negative or NaN: the exact test whenever U > 0 (it is closed for U <= 0).
      if (!(room > 0)) room = 0;
      // A stale var is within `stale` of VaR(L): a quote takes the exact test (which recomputes
      // the VaR first) as soon as U + stale could pass the room (then possibly U <= 0 too).
      if (this.isStale) room -= this.stale;
    }
    df[d + D_VAR_ROOM] = room;
  }

  /**
   * The room of {@link updateVarRoom} before clamping (NaN possible), from the stored var;
   * +Infinity without a VaR limit.
   */
  roomOf(): number {
    const df = this.book.tf;
    const d = this.i * TF;
    const limit = df[d + D_VAR_LIMIT] as number;
    if (Number.isNaN(limit)) return Number.POSITIVE_INFINITY;
    const v = df[d + D_VAR] as number;
    const gap = df[d + D_VAR_ARMED] !== 0 ? limit - v : v - this.rearm * limit;
    return (gap - 1e-12 * Math.abs(v)) / (1 + 1e-9) - 1e-9 * (Math.abs(limit) + Math.abs(v));
  }
  /** Bound U on |true VaR - var| from the moves not yet folded in. */
  get drift(): number {
    return this.book.tf[this.i * TF + D_DRIFT] as number;
  }
  set drift(v: number) {
    this.book.tf[this.i * TF + D_DRIFT] = v;
  }

  /**
   * The "quiet" box of the book-level limit checks for the current episode states: while gross
   * exposure, loss, drawdown and concentration are all inside their ranges, LimitChecker.checkBook
   * would neither alert nor re-arm, so a quote can skip it. The bounds are the same products
   * checkBook compares against (so the skip decision is exact): an armed check is quiet while its
   * value has not passed the limit, a disarmed one while it stays above the re-arm level. gross
   * and loss must lie in (lo, hi], drawdown in (lo, hi), concentration in (lo, hi]. A NaN value is
   * never inside, so it takes the full check. Also mirrors the VAR_LIMIT episode state. Call after
   * anything that may change the episode states.
   */
  setQuiet(policy: LimitPolicy): void {
    const df = this.book.tf;
    const d = this.i * TF;
    const lim = this.lim;
    const st = this.limits;
    const inf = Number.POSITIVE_INFINITY;
    df[d + D_GLO] = df[d + D_LLO] = df[d + D_DLO] = df[d + D_CLO] = -inf;
    df[d + D_GHI] = df[d + D_LHI] = df[d + D_DHI] = df[d + D_CHI] = inf;
    df[d + D_CONC] = 0;
    df[d + D_VAR_ARMED] = st.var ? 1 : 0;
    this.updateVarRoom();
    if (lim === undefined) return;
    const rearm = policy.rearmBelow;
    const maxNotional = lim.maxNotional;
    if (Number.isFinite(maxNotional)) {
      if (st.notional) df[d + D_GHI] = maxNotional;
      else df[d + D_GLO] = rearm * maxNotional;
    }
    const maxLoss = lim.maxLoss;
    if (Number.isFinite(maxLoss)) {
      if (st.loss) df[d + D_LHI] = maxLoss;
      else df[d + D_LLO] = rearm * maxLoss;
      const ddLimit = policy.drawdownOfMaxLoss * maxLoss;
      if (ddLimit > 0) {
        if (st.drawdown) df[d + D_DHI] = ddLimit;
        else df[d + D_DLO] = rearm * ddLimit;
      }
    }
    const maxConc = lim.maxConcentration;
    if (Number.isFinite(maxConc)) {
      df[d + D_CONC] = 1;
      if (st.concentration) df[d + D_CHI] = maxConc;
      else df[d + D_CLO] = rearm * maxConc;
    }
  }
}

/** At most this many pending folds per trader (TraderRisk.pending): a full queue is applied to L. */
const PENDING_MAX = 32;

/** Rebuild a trader's L (or w' Sigma w) from scratch after this many folds: bounds rounding drift at O(S n / 4096) per fold. */
const REBUILD_EVERY = 4096;

const TYPE_ORDER: Record<LimitType, number> = {
  POSITION_LIMIT: 0,
  NOTIONAL_LIMIT: 1,
  LOSS_LIMIT: 2,
  CONCENTRATION_LIMIT: 3,
  DRAWDOWN: 4,
  VAR_LIMIT: 5,
};
const byTraderThenType = (a: LimitBreach, b: LimitBreach): number =>
  a.traderId < b.traderId ? -1 : a.traderId > b.traderId ? 1 : TYPE_ORDER[a.type] - TYPE_ORDER[b.type];

/**
 * Checkpoint data of a {@link DeskRisk} (structured-cloneable).
 *
 * @example const s: DeskRiskSnapshot = desk.snapshot();
 */
export interface DeskRiskSnapshot {
  book: PositionBookSnapshot;
  /** Per trader; `stale`: the bound of a var not recomputed since the last folds (absent: var is VaR(L)). */
  risk: Array<{ var: number; es: number; folds: number; drift: number; limits: boolean[]; L?: Float64Array; u?: Float64Array; q?: number; stale?: number }>;
  nextSnapshot: number;
  firstTs: number;
  lastTs: number;
  stats: DeskRiskStats;
}

/**
 * The desk-risk state machine. Feed records in event-time order with `quote`/`trade` (records
 * behind the last one processed are applied as they come: late updates), and call `finish()` at
 * end of input (or `watermark(Infinity)`).
 *
 * @example
 * const desk = new DeskRisk(day.reference, { snapshotIntervalMs: 60_000 }, sink);
 * desk.quote({ ts: 1, instrument: 'ACME', bid: 99.9, ask: 100.1 });
 * desk.trade({ ts: 2, traderId: 'TR01', instrument: 'ACME', side: 'BUY', qty: 100, price: 100 });
 * desk.finish(); // emits the end-of-input snapshot
 */
export class DeskRisk implements PositionListener {
  readonly book: PositionBook;
  readonly scenarios: ScenarioSet;
  readonly varOptions: VarOptions;
  readonly policy: LimitPolicy;
  stats: DeskRiskStats = { folds: 0, varEvaluations: 0, ignored: 0 };
  private readonly hv: HistoricalVar | undefined;
  private readonly pm: ParametricModel | undefined;
  private readonly checker: LimitChecker;
  private readonly S: number;
  private readonly snapEvery: number;
  private readonly figures: VarFigures;
  private nextSnapshot = Number.POSITIVE_INFINITY;
  private firstTs = Number.NaN;
  private lastTs = Number.NaN;
  private readonly out: LimitBreach[] = [];
  private finished = false;
  private sortedTraders: TraderBook[] | undefined;
  private layout: PositionLayout | undefined;
  private traderLay: TraderLayout | undefined;
  /**
   * The queued folds of every trader (TraderRisk.pending): trader i's are entries
   * i * PENDING_MAX ..., notional changes and returns ids (ScenarioFold.returnsId). One array for
   * all traders rather than one per trader: a trade's fold writes it without first loading a
   * per-trader array object.
   */
  private pendD = new Float64Array(16 * PENDING_MAX);
  private pendR = new Int32Array(16 * PENDING_MAX);
  /** The scenario returns (historical) and foldAll's many-position fold over them. */
  private readonly scenarioFold: ScenarioFold | undefined;
  /** The per-holder mark-move loop in WebAssembly over the book's memory (undefined: the JavaScript loop). */
  private readonly kernel: MarkKernel | undefined;

  constructor(
    private readonly reference: ReferenceData,
    opts: DeskRiskOptions,
    private readonly sink: DeskRiskSink,
  ) {
    const v: VarOptions = { ...DEFAULT_VAR_OPTIONS, ...stripUndefined(opts.var ?? {}) };
    this.varOptions = v;
    this.policy = { ...DEFAULT_LIMIT_POLICY, ...stripUndefined(opts.limits ?? {}) };
    this.checker = new LimitChecker(this.policy);
    this.scenarios = buildScenarios(reference.history, v.scenarios);
    this.S = this.scenarios.size;
    if (v.method === 'parametric') {
      this.pm = new ParametricModel(this.scenarios, { confidence: v.confidence, horizonDays: v.horizonDays, lambda: v.lambda });
    } else {
      this.hv = new HistoricalVar(this.S, { confidence: v.confidence, horizonDays: v.horizonDays, quantile: v.quantile });
      // One resident L per trader of traders.csv (others, if any come, keep theirs outside).
      this.scenarioFold = new ScenarioFold(this.scenarios, PENDING_MAX, reference.traders.size);
    }
    const snap = opts.snapshotIntervalMs ?? 60_000;
    if (!(snap >= 0)) throw new RangeError(`snapshotIntervalMs must be >= 0, got ${snap}`);
    this.snapEvery = snap;
    this.figures = { var: 0, es: 0, confidence: v.confidence, horizonDays: v.horizonDays, method: v.method, scenarios: this.S };
    for (const w of this.scenarios.warnings) sink.warn(`VaR: ${w}`);
    const memory = opts.wasm === false ? undefined : bookMemory();
    this.book = new PositionBook(
      (name) => reference.instruments.get(name)?.prevClose ?? Number.NaN,
      this,
      {
        instrument: (inst) => this.newInstrument(inst),
        trader: (t) => this.newTrader(t),
      },
      memory,
    );
    this.kernel =
      memory === undefined
        ? undefined
        : markKernel(memory, {
            qty: PF_QTY,
            avg: PF_AVG,
            notional: PF_NOTIONAL,
            unrealized: PF_UNREALIZED,
            abs: PF_ABS,
            riskNotional: PF_RISK_NOTIONAL,
            riskDrift: PF_RISK_DRIFT,
            gross: TF_GROSS,
            net: TF_NET,
            realized: TF_REALIZED,
            traderUnrealized: TF_UNREALIZED,
            peak: TF_PEAK,
            touches: TF_TOUCHES,
            drift: D_DRIFT,
            varRoom: D_VAR_ROOM,
            gLo: D_GLO,
            gHi: D_GHI,
            lLo: D_LLO,
            lHi: D_LHI,
            dLo: D_DLO,
            dHi: D_DHI,
            conc: D_CONC,
            mark: IM_MARK,
            bound: IM_BOUND,
            idsAt: IM_IDS_AT,
            tisAt: IM_TIS_AT,
            pf: PF,
            tf: TF,
            resumEvery: RESUM_EVERY,
          });
  }

  /** Whether quotes re-value holders in the WebAssembly kernel (see DeskRiskOptions.wasm). */
  get usesWasm(): boolean {
    return this.kernel !== undefined;
  }

  private newInstrument(inst: InstrumentMark): void {
    // Historical: the fold's copy of the returns (same values), which foldAll can stage.
    const r = this.scenarioFold !== undefined ? this.scenarioFold.returnsOf(inst.name) : this.scenarios.returns.get(inst.name);
    const row = this.pm?.index.get(inst.name) ?? -1;
    let bound = 0;
    if (this.hv && r) {
      let m = 0;
      for (let s = 0; s < this.S; s++) m = Math.max(m, Math.abs(r[s] as number));
      bound = m * Math.sqrt(this.varOptions.horizonDays);
    } else if (this.pm && row >= 0) {
      bound = Math.abs(this.pm.varFactor) * Math.sqrt(this.pm.cov[row * this.pm.n + row] as number);
    }
    const ri = this.scenarioFold !== undefined ? this.scenarioFold.returnsId(inst.name) : -1;
    inst.ext = { r, ri, row, bound } satisfies InstRisk;
    this.book.im[inst.index * IM + IM_BOUND] = bound;
    if (r === undefined) {
      this.sink.warn(`VaR: ${inst.name} has no price history in history.csv; it contributes 0 to every scenario`);
    }
  }

  private newTrader(t: TraderBook): void {
    if ((t.index + 1) * PENDING_MAX > this.pendD.length) {
      this.pendD = grown(this.pendD, (t.index + 1) * PENDING_MAX);
      this.pendR = grown(this.pendR, (t.index + 1) * PENDING_MAX);
    }
    // L in the fold memory when a slot is left (folded in place), else a plain array.
    const resident = this.hv ? this.scenarioFold!.residentL() : undefined;
    const L = resident !== undefined ? resident.L : this.hv ? new Float64Array(this.S) : undefined;
    const qf = this.pm ? new QuadForm(this.pm.n) : undefined;
    const lim = this.reference.traders.get(t.id);
    const tr = new TraderRisk(this.book, t.index, lim, L, qf, this.policy.rearmBelow, resident !== undefined ? resident.at : -1);
    tr.setQuiet(this.policy);
    // The largest position matters between snapshots only to CONCENTRATION_LIMIT: without that
    // limit onMarkMove skips tracking it (the condition of D_CONC, which the loop tests).
    this.book.setLargestTracking(t.index, lim !== undefined && Number.isFinite(lim.maxConcentration));
    t.ext = tr;
    this.sortedTraders = undefined;
    this.traderLay = undefined;
  }

  /** Applies a quote (CONTRACTS.md 4, Mark price). */
  quote(q: QuoteIn): void {
    const ts = q.ts;
    this.advance(ts);
    if (!this.book.applyQuoteRecord(q)) this.stats.ignored++;
    this.after(ts);
  }

  /** Applies a trade (CONTRACTS.md 4, Positions). */
  trade(t: TradeIn): void {
    const ts = t.ts;
    this.advance(ts);
    if (this.book.applyTradeRecord(t) === undefined) this.stats.ignored++;
    this.after(ts);
  }

  /** The combined watermark: at +Infinity (end of input) this finishes. */
  watermark(wm: number): void {
    if (wm === Number.POSITIVE_INFINITY) this.finish();
  }

  /** End of input: the snapshot tables as of the last event time processed. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (!Number.isNaN(this.lastTs)) this.emitSnapshot(this.lastTs);
  }

  /**
   * A mark move of `inst` (PositionListener.onMarkMove): per open holder, in holder order, the
   * book's re-valuation (revalueAt's operations) then onRevalueById's drift bound, quiet-box test
   * and VaR decision. The per-quote hot path (a quote re-values a dozen holders): in the
   * WebAssembly kernel (mark-kernel.ts), which hands back to {@link revalueHolders} the holders it
   * leaves to JavaScript and to {@link checkHolder} those whose limits need a check; without it,
   * revalueHolders for all.
   */
  onMarkMove(ii: number, skip: number): void {
    const book = this.book;
    const kernel = this.kernel;
    // The instrument's record (nothing below adds an instrument, which is what moves it).
    const im = book.im;
    const o = ii * IM;
    const count = im[o + IM_HOLDERS] as number;
    if (kernel === undefined) {
      this.revalueHolders(book.instruments[ii]!, book.markTs, skip, 0, count);
      return;
    }
    // The record's byte offset: the kernel reads the mark, bound and holder lists there.
    const instAt = book.imAt + o * 8;
    let k = 0;
    while (k < count) {
      // The places are read afresh (nothing below adds to the book, which is what moves them).
      const r = kernel(instAt, k, count, skip, book.pfAt, book.tfAt);
      k = r >> 1;
      if (k >= count) return;
      this.handBack(ii, skip, k, (r & 1) !== 0);
      k++;
    }
  }

  /**
   * Holder k of instrument `ii`, handed back by the kernel (the move at PositionBook.markTs):
   * re-valued in JavaScript (revalueHolders), or, when the kernel re-valued it (`done`: a trader
   * without concentration tracking), its limit checks on the values the kernel wrote.
   */
  private handBack(ii: number, skip: number, k: number, done: boolean): void {
    const book = this.book;
    const ts = book.markTs;
    if (!done) {
      this.revalueHolders(book.instruments[ii]!, ts, skip, k, k + 1);
      return;
    }
    const ti = book.instruments[ii]!.holderTraders[k] as number;
    const tf = book.tf;
    const c = ti * TF;
    const pnl = (tf[c + TF_REALIZED] as number) + (tf[c + TF_UNREALIZED] as number);
    this.checkHolder(ti, tf[c + TF_GROSS] as number, -pnl, (tf[c + TF_PEAK] as number) - pnl, tf[c + D_DRIFT] as number, false, ts);
  }

  /**
   * The JavaScript mark-move loop over holders from..to-1 of `inst` (see {@link onMarkMove}), in
   * one loop that reads each trader record once and keeps the fresh gross exposure and P&L in
   * registers.
   */
  private revalueHolders(inst: InstrumentMark, ts: number, skip: number, from: number, to: number): void {
    const book = this.book;
    const ids = inst.holderIds;
    const tis = inst.holderTraders;
    const mark = inst.mark;
    const bnd = book.im[inst.index * IM + IM_BOUND] as number;
    const pf = book.pf;
    const tf = book.tf;
    for (let k = from; k < to; k++) {
      const ti = tis[k] as number;
      if (ti === skip) continue;
      const id = ids[k] as number;
      const b = id * PF;
      const c = ti * TF;
      // PositionBook.revalue(): revalueAt's operations in their order, the fresh values kept in
      // locals. A holder is open (q !== 0), so revalueAt's flat case (0 whatever the mark) does
      // not arise.
      const q = pf[b + PF_QTY] as number;
      const oldN = pf[b + PF_NOTIONAL] as number;
      const oldU = pf[b + PF_UNREALIZED] as number;
      const absOld = pf[b + PF_ABS] as number;
      const n = q * mark;
      const u = q * (mark - (pf[b + PF_AVG] as number));
      const absN = Math.abs(n);
      pf[b + PF_NOTIONAL] = n;
      pf[b + PF_UNREALIZED] = u;
      pf[b + PF_ABS] = absN;
      let g = (tf[c + TF_GROSS] as number) + (absN - absOld);
      tf[c + TF_GROSS] = g;
      tf[c + TF_NET] = (tf[c + TF_NET] as number) + (n - oldN);
      let un = (tf[c + TF_UNREALIZED] as number) + (u - oldU);
      tf[c + TF_UNREALIZED] = un;
      // PositionBook.trackLargest(), for the traders whose largest position is tracked: those
      // with a concentration limit (D_CONC; see newTrader), the others' is found at snapshots.
      const conc = tf[c + D_CONC] !== 0;
      if (conc && trackLargestAt(tf, c, id, absN, absOld)) book.rescanLargest(ti);
      // PositionBook.afterTouch()
      const touches = (tf[c + TF_TOUCHES] as number) + 1;
      tf[c + TF_TOUCHES] = touches;
      if ((touches & (RESUM_EVERY - 1)) === 0) {
        book.resum(ti);
        g = tf[c + TF_GROSS] as number;
        un = tf[c + TF_UNREALIZED] as number;
      }
      const pnl = (tf[c + TF_REALIZED] as number) + un;
      let peak = tf[c + TF_PEAK] as number;
      if (pnl > peak) tf[c + TF_PEAK] = peak = pnl;
      // onRevalueById(): the drift bound (pf[b + PF_NOTIONAL] is n).
      let drift = tf[c + D_DRIFT] as number;
      if (bnd > 0) {
        const term = Math.abs(n - (pf[b + PF_RISK_NOTIONAL] as number)) * bnd;
        drift += term - (pf[b + PF_RISK_DRIFT] as number);
        tf[c + D_DRIFT] = drift;
        pf[b + PF_RISK_DRIFT] = term;
      }
      this.checkHolder(ti, g, -pnl, peak - pnl, drift, conc, ts);
    }
  }

  /**
   * A re-valued holder's limit checks (trader `ti`, whose gross exposure, loss, drawdown and VaR
   * drift bound are now those given; `conc`: concentration is checked): the book-level limits
   * unless inside the quiet box, then the VaR decision when the drift passed the room (neither
   * checkBook nor setQuiet changes the drift).
   */
  private checkHolder(ti: number, g: number, loss: number, dd: number, drift: number, conc: boolean, ts: number): void {
    const book = this.book;
    const c = ti * TF;
    if (!insideBox(book.tf, c, g, loss, dd) || (conc && !this.quietConcentration(ti))) this.checkBookOf(ti, ts);
    if (drift > (book.tf[c + D_VAR_ROOM] as number)) this.varPastRoom(ti, c, ts);
  }

  /** LimitChecker.checkBook of trader i, and the quiet box of its new state. */
  private checkBookOf(i: number, ts: number): void {
    const t = this.book.traders[i]!;
    const tr = t.ext as TraderRisk;
    this.checker.checkBook(t, tr.limits, tr.lim, ts, this.out);
    tr.setQuiet(this.policy);
  }

  /** The exact VAR_LIMIT decision of trader i (its record at c), once its drift passed the VaR room. */
  private varPastRoom(i: number, c: number, ts: number): void {
    const t = this.book.traders[i]!;
    const tr = t.ext as TraderRisk;
    if (this.varRoomOpen(tr, c)) {
      this.foldAll(t, tr);
      this.computeVar(tr);
      this.checkVar(t, tr, ts);
    }
  }

  onRevalue(pos: Position, ts: number): void {
    this.onRevalueById(pos.id, pos.trader.index, pos.inst.index, ts);
  }

  /**
   * After a mark move re-valued position `id` (of trader `i`, in instrument `ii`): the drift
   * bound, the book-level limits (skipped inside the quiet box) and the VaR decision, on the
   * position's and the trader's records in the book (the per-quote hot path).
   */
  onRevalueById(id: number, i: number, ii: number, ts: number): void {
    const book = this.book;
    const pf = book.pf;
    const df = book.tf;
    const d = i * TF;
    const b = book.im[ii * IM + IM_BOUND] as number;
    if (b > 0) {
      const pb = id * PF;
      const term = Math.abs((pf[pb + PF_NOTIONAL] as number) - (pf[pb + PF_RISK_NOTIONAL] as number)) * b;
      df[d + D_DRIFT] = (df[d + D_DRIFT] as number) + (term - (pf[pb + PF_RISK_DRIFT] as number));
      pf[pb + PF_RISK_DRIFT] = term;
    }
    // LimitChecker.checkBook, skipped while every book-level metric is inside its quiet box
    // (the same values checkBook compares, so it would do nothing).
    if (!this.quietBook(i)) this.checkBookOf(i, ts);
    // The VAR_LIMIT decision: the exact test only when the drift passed the room.
    if ((df[d + D_DRIFT] as number) > (df[d + D_VAR_ROOM] as number)) this.varPastRoom(i, d, ts);
  }

  /**
   * Whether trader i's book-level metrics (gross exposure, loss, drawdown, and concentration when
   * checked) are all inside their quiet box (see TraderRisk.setQuiet): LimitChecker.checkBook
   * would then neither alert nor re-arm, and setQuiet would write the box it already has.
   */
  private quietBook(i: number): boolean {
    const df = this.book.tf;
    const d = i * TF;
    return insideOwnBox(df, d) && (df[d + D_CONC] === 0 || this.quietConcentration(i));
  }

  /** Concentration inside its quiet box (the value TraderBook.concentration returns, as checkBook reads it). */
  private quietConcentration(i: number): boolean {
    const c = this.book.concentrationOf(i);
    const d = i * TF;
    const tf = this.book.tf;
    return c > (tf[d + D_CLO] as number) && c <= (tf[d + D_CHI] as number);
  }

  onTrade(pos: Position, ts: number): void {
    const t = pos.trader;
    const tr = t.ext as TraderRisk;
    this.checker.checkPositionMax(pos, this.book.tf[t.index * TF + D_MAX_POS] as number, ts, this.out);
    // The book-level checks, skipped inside the quiet box as for a quote (the VaR room that
    // setQuiet would also refresh is kept current wherever the VaR or its state changes).
    if (!this.quietBook(t.index)) this.checkBookOf(t.index, ts);
    const pb = pos.id * PF;
    const moved = Math.abs((this.book.pf[pb + PF_NOTIONAL] as number) - (this.book.pf[pb + PF_RISK_NOTIONAL] as number));
    const changed = this.fold(tr, pos);
    if (!changed && t.open !== 0) return;
    // Flat: every position was folded in at notional 0 (fold records riskNotional even without
    // history), so the exact vector is 0 and any rounding residue can go.
    if (t.open === 0) this.zero(tr);
    else if (tr.folds >= REBUILD_EVERY) this.rebuild(t, tr);
    else if (tr.L !== undefined && this.deferVar(t, tr, moved * (this.book.im[pos.inst.index * IM + IM_BOUND] as number))) return;
    this.computeVar(tr);
    // The rest of the book may still carry unfolded mark moves: same rule as for a quote.
    if (this.varDecisionOpen(tr)) {
      this.foldAll(t, tr);
      this.computeVar(tr);
    }
    this.checkVar(t, tr, ts);
  }

  /**
   * After a trade folded a position whose notional moved by `moved` (times its instrument's
   * bound: `shift` bounds the VaR change of the fold, see the header): whether the VaR
   * recomputation can wait, and if so marks var stale. It can when what follows it in onTrade
   * could not do anything: no VaR limit, or the stored var (within `stale` + `shift` of VaR(L))
   * and the drift bound U are so far inside the room that, whatever VaR(L) is, the decision is
   * closed (no foldAll) and checkVar neither alerts nor re-arms. Then L, the fold timing and
   * every decision are those of the eager path; only `var`/`es` wait for the next reader: a
   * snapshot, varOf, a quote whose U reaches the (reduced) room, or a trade that cannot wait.
   * The proof, armed (disarmed alike): U+ + E <= room, E = stale + shift, gives
   * v + E + U+(1 + 1e-9) + 1e-12 (|v| + E) < limit, so VaR(L) + u <= limit and VaR(L) <= limit.
   * E also carries the rounding of the folds (below 2^-53 of |L| each; 2^-50 of the bound
   * sum |riskNotional_i| b_i of |L| sqrt(h) is taken). Historical method only.
   */
  private deferVar(t: TraderBook, tr: TraderRisk, shift: number): boolean {
    const room = tr.roomOf();
    let e = tr.stale + shift * (1 + 2 ** -40);
    if (room !== Number.POSITIVE_INFINITY) {
      const count = t.positions.length;
      if (tr.known !== count) this.knowPositions(t, tr);
      // sum |riskNotional| * bound in positions order, from the copies.
      const pos = tr.pos;
      let lb = 0;
      for (let j = 0; j < count; j++) lb += Math.abs(pos[j * POS + POS_RN] as number) * (pos[j * POS + POS_BOUND] as number);
      e += lb * 2 ** -50;
      const drift = tr.drift;
      if (!(room > 0 && (drift > 0 ? drift : 0) + e <= room)) return false;
    }
    tr.isStale = true;
    tr.stale = e;
    tr.updateVarRoom();
    return true;
  }

  /** Appends the trader's positions opened since the last call to TraderRisk.pos. */
  private knowPositions(t: TraderBook, tr: TraderRisk): void {
    const ps = t.positions;
    if (ps.length * POS > tr.pos.length) tr.pos = grown(tr.pos, ps.length * POS);
    const pos = tr.pos;
    for (let j = tr.known; j < ps.length; j++) {
      const p = ps[j]!;
      pos[j * POS + POS_ID] = p.id;
      pos[j * POS + POS_RI] = (p.inst.ext as InstRisk).ri;
      pos[j * POS + POS_RN] = p.riskNotional;
      pos[j * POS + POS_BOUND] = this.book.im[p.inst.index * IM + IM_BOUND] as number;
    }
    tr.known = ps.length;
  }

  /**
   * The quote path's exact test after the drift passed the room: a stale var is recomputed
   * first (the room shrank by its bound), then the eager path's test as is.
   */
  private varRoomOpen(tr: TraderRisk, d: number): boolean {
    if (tr.isStale) {
      this.computeVar(tr);
      const df = this.book.tf;
      if (!((df[d + D_DRIFT] as number) > (df[d + D_VAR_ROOM] as number))) return false;
    }
    return this.varDecisionOpenAt(d);
  }

  /**
   * Whether the VAR_LIMIT decision could differ between the stored VaR and the true one (within
   * the drift bound U): armed and var + U above the limit, or disarmed and var - U at or below the
   * re-arm level. The slack absorbs rounding in U's running sum (erring towards folding).
   */
  private varDecisionOpen(tr: TraderRisk): boolean {
    return this.varDecisionOpenAt(tr.i * TF);
  }

  /** varDecisionOpen on the trader record at `d` (drift, VaR, limit, armed state). */
  private varDecisionOpenAt(d: number): boolean {
    const df = this.book.tf;
    const drift = df[d + D_DRIFT] as number;
    if (!(drift > 0)) return false;
    const limit = df[d + D_VAR_LIMIT] as number;
    if (Number.isNaN(limit)) return false;
    const v = df[d + D_VAR] as number;
    const u = drift * (1 + 1e-9) + 1e-12 * Math.abs(v);
    return df[d + D_VAR_ARMED] !== 0 ? v + u > limit : v - u <= this.policy.rearmBelow * limit;
  }

  /**
   * Folds a position's current notional into its trader's L / w' Sigma w; false when nothing
   * changed. Historical: `L += d r` is queued (TraderRisk.pending) rather than applied here; L is
   * only read after applyPending, and since L[s] receives the same additions in the same order
   * either way, its bits at every read are those of an immediate addScaled.
   */
  private fold(tr: TraderRisk, p: Position): boolean {
    // The drift term goes even when d is 0 (a trade that brought the notional back): the term is
    // then exactly 0, which is also what a restore recomputes. The position's and the trader's
    // records are read and written directly (tr.drift -= p.riskDrift, p.riskDrift = 0, ...): a
    // getter or setter that is not inlined boxes the number it passes.
    const pf = this.book.pf;
    const tf = this.book.tf;
    const b = p.id * PF;
    const c = tr.i * TF + D_DRIFT;
    tf[c] = (tf[c] as number) - (pf[b + PF_RISK_DRIFT] as number);
    pf[b + PF_RISK_DRIFT] = 0;
    const n = pf[b + PF_NOTIONAL] as number;
    const d = n - (pf[b + PF_RISK_NOTIONAL] as number);
    if (d === 0) return false;
    pf[b + PF_RISK_NOTIONAL] = n;
    // Its copy (positions not yet known get theirs from the record in knowPositions).
    if (p.slot < tr.known) tr.pos[p.slot * POS + POS_RN] = n;
    const x = p.inst.ext as InstRisk;
    if (tr.L !== undefined) {
      if (x.r === undefined) return false;
      if (tr.pending === PENDING_MAX) this.applyPending(tr);
      const q = tr.i * PENDING_MAX + tr.pending;
      this.pendD[q] = d;
      this.pendR[q] = x.ri;
      tr.pending++;
    } else {
      if (x.row < 0) return false;
      tr.qf!.add(this.pm!, x.row, d);
    }
    tr.folds++;
    this.stats.folds++;
    return true;
  }

  /**
   * Folds every moved position: L is then exact at the current marks. Historical: the same folds
   * as fold() position by position, applied to L in one pass (ScenarioFold.foldStaged:
   * bit-identical).
   */
  private foldAll(t: TraderBook, tr: TraderRisk): boolean {
    const L = tr.L;
    if (L === undefined) {
      let changed = false;
      for (const p of t.positions) if (p.notional !== p.riskNotional && this.fold(tr, p)) changed = true;
      tr.drift = 0;
      if (tr.folds >= REBUILD_EVERY) this.rebuild(t, tr);
      return changed;
    }
    const sf = this.scenarioFold!;
    const pf = this.book.pf;
    // The queued folds come first (they are older), in the same pass over L.
    const queued = tr.pending;
    const q0 = tr.i * PENDING_MAX;
    for (let j = 0; j < queued; j++) sf.stage(j, this.pendD[q0 + j] as number, this.pendR[q0 + j] as number);
    tr.pending = 0;
    let k = queued;
    const count = t.positions.length;
    if (tr.known !== count) this.knowPositions(t, tr);
    const pos = tr.pos;
    for (let j = 0; j < count; j++) {
      // The position's record read directly (p.notional, p.riskNotional: the same slots).
      const b = (pos[j * POS + POS_ID] as number) * PF;
      const n = pf[b + PF_NOTIONAL] as number;
      const rn = pf[b + PF_RISK_NOTIONAL] as number;
      if (n === rn) continue;
      // fold(): the drift terms go (drift is reset below), the position is folded at its notional.
      pf[b + PF_RISK_DRIFT] = 0;
      const d = n - rn;
      if (d === 0) continue;
      pf[b + PF_RISK_NOTIONAL] = n;
      pos[j * POS + POS_RN] = n;
      const r = pos[j * POS + POS_RI] as number;
      if (r < 0) continue;
      sf.stage(k, d, r);
      k++;
    }
    if (k > 0) sf.foldStaged(L, k, tr.lAt);
    const moved = k - queued;
    tr.folds += moved;
    this.stats.folds += moved;
    tr.drift = 0;
    if (tr.folds >= REBUILD_EVERY) this.rebuild(t, tr);
    return moved > 0;
  }

  /** Applies the trader's queued folds to L (see TraderRisk.pending). */
  private applyPending(tr: TraderRisk): void {
    const k = tr.pending;
    if (k === 0) return;
    const sf = this.scenarioFold!;
    const q0 = tr.i * PENDING_MAX;
    for (let j = 0; j < k; j++) sf.stage(j, this.pendD[q0 + j] as number, this.pendR[q0 + j] as number);
    tr.pending = 0;
    sf.foldStaged(tr.L!, k, tr.lAt);
  }

  private zero(tr: TraderRisk): void {
    // The queued folds are part of what the exact 0 replaces.
    tr.pending = 0;
    if (tr.L) tr.L.fill(0);
    if (tr.qf) {
      tr.qf.u.fill(0);
      tr.qf.q = 0;
    }
    tr.folds = 0;
  }

  private rebuild(t: TraderBook, tr: TraderRisk): void {
    tr.folds = 0;
    // L is recomputed from the folded notionals, the queued folds included.
    tr.pending = 0;
    if (tr.L) {
      tr.L.fill(0);
      for (const p of t.positions) {
        const r = (p.inst.ext as InstRisk).r;
        if (r !== undefined && p.riskNotional !== 0) addScaled(tr.L, p.riskNotional, r, this.S);
      }
    } else if (tr.qf) {
      const w = new Float64Array(this.pm!.n);
      for (const p of t.positions) {
        const row = (p.inst.ext as InstRisk).row;
        if (row >= 0) w[row] = (w[row] as number) + p.riskNotional;
      }
      tr.qf.rebuild(this.pm!, w);
    }
  }

  private computeVar(tr: TraderRisk): void {
    this.stats.varEvaluations++;
    tr.isStale = false;
    tr.stale = 0;
    if (this.hv && tr.L) {
      this.applyPending(tr);
      if (tr.lAt >= 0) this.hv.computeResident(tr.L, this.scenarioFold!, tr.lAt);
      else this.hv.compute(tr.L);
      tr.var = this.hv.var;
      tr.es = this.hv.es;
    } else if (this.pm && tr.qf) {
      tr.var = this.pm.var(tr.qf.q) + 0;
      tr.es = this.pm.es(tr.qf.q) + 0;
    }
  }

  private checkVar(t: TraderBook, tr: TraderRisk, ts: number): void {
    const f = this.figures;
    f.var = tr.var;
    f.es = tr.es;
    this.checker.checkVar(t, tr.limits, tr.lim, f, ts, this.out);
    this.book.tf[tr.i * TF + D_VAR_ARMED] = tr.limits.var ? 1 : 0;
    tr.updateVarRoom();
  }

  /** Snapshot times T < ts are due: their state is "every record with ts <= T applied". */
  private advance(ts: number): void {
    while (this.nextSnapshot < ts) {
      const T = this.nextSnapshot;
      this.emitSnapshot(T);
      this.nextSnapshot = T + this.snapEvery;
    }
  }

  private after(ts: number): void {
    if (Number.isNaN(this.firstTs)) {
      this.firstTs = ts;
      if (this.snapEvery > 0) this.nextSnapshot = Math.ceil(ts / this.snapEvery) * this.snapEvery;
    }
    if (!(ts <= this.lastTs)) this.lastTs = ts;
    const out = this.out;
    if (out.length === 0) return;
    if (out.length > 1) out.sort(byTraderThenType);
    for (const b of out) this.sink.breach(b);
    out.length = 0;
  }

  /**
   * Both tables as of T. Unfolded mark moves are folded first so var_99/es_99 are exact; no limit
   * is re-checked (nothing happened at T: the last event's decisions already match the true VaR).
   */
  private emitSnapshot(T: number): void {
    for (const t of this.book.traders) {
      const tr = t.ext as TraderRisk;
      if (this.foldAll(t, tr) || tr.isStale) this.computeVar(tr);
    }
    // The positions pass notes each trader's largest |notional|: the trader_risk pass then has
    // the concentration of a trader without tracking without scanning its positions again.
    const largest = new Float64Array(this.book.traders.length);
    this.sink.snapshot('positions', T, this.positionColumns(largest));
    this.sink.snapshot('trader_risk', T, this.traderColumns(largest));
  }

  private traders(): TraderBook[] {
    if (this.sortedTraders === undefined) {
      this.sortedTraders = this.book.traders.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    return this.sortedTraders;
  }

  /**
   * Rows of the `positions` table now (CONTRACTS.md 5), by trader then instrument; positions
   * closed during the day stay (qty 0) because they carry realized P&L.
   */
  positionRows(): Array<Record<string, unknown>> {
    return this.positionColumns().toRows();
  }

  /**
   * The `positions` table now, column by column (what the snapshot sink gets: no object per row,
   * numbers in Float64Arrays); rows in the order of {@link positionRows}. Given `largest` (zeros,
   * one per trader of the book), sets each trader's to its largest |notional| (0 without
   * positions), as {@link PositionBook.concentrationOf}'s scan finds it.
   */
  positionColumns(largest?: Float64Array): SnapshotColumns {
    const lay = this.positionLayout();
    const n = lay.ids.length;
    const ids = lay.ids;
    const instIdx = lay.instIdx;
    const traderIdx = lay.traderIdx;
    const big = largest ?? new Float64Array(this.book.traders.length);
    const qty = new Float64Array(n);
    const avgPrice = new Float64Array(n);
    const markPrice = new Float64Array(n);
    const notional = new Float64Array(n);
    const realized = new Float64Array(n);
    const unrealized = new Float64Array(n);
    const pf = this.book.pf;
    const rp = this.book.realizedPnl;
    const instruments = this.book.instruments;
    const marks = new Float64Array(instruments.length);
    for (let j = 0; j < instruments.length; j++) marks[j] = instruments[j]!.mark;
    for (let i = 0; i < n; i++) {
      // The Position getters' slots, read directly.
      const id = ids[i] as number;
      const b = id * PF;
      qty[i] = pf[b + PF_QTY] as number;
      avgPrice[i] = pf[b + PF_AVG] as number;
      markPrice[i] = marks[instIdx[i] as number] as number;
      notional[i] = (pf[b + PF_NOTIONAL] as number) + 0;
      realized[i] = (rp[id] as number) + 0;
      unrealized[i] = (pf[b + PF_UNREALIZED] as number) + 0;
      const a = pf[b + PF_ABS] as number;
      const ti = traderIdx[i] as number;
      if (a > (big[ti] as number)) big[ti] = a;
    }
    return new SnapshotColumns(n, {
      trader_id: lay.traderId,
      instrument: lay.instrument,
      qty,
      avg_price: avgPrice,
      mark_price: markPrice,
      notional,
      realized_pnl: realized,
      unrealized_pnl: unrealized,
    });
  }

  /**
   * The `positions` table's rows (trader by id, then instrument by name): position ids,
   * instrument indices and the two string columns. Rebuilt only when a position was added since
   * the last call; otherwise the same arrays, which are never written after they are built (a
   * snapshot sink may still hold the previous table's).
   */
  private positionLayout(): PositionLayout {
    let count = 0;
    for (const t of this.book.traders) count += t.positions.length;
    const old = this.layout;
    if (old !== undefined && old.positions === count && old.traders === this.book.traders.length) return old;
    const traders = this.traders();
    let n = 0;
    for (const t of traders) n += this.sortedPositions(t).length;
    const lay: PositionLayout = {
      positions: count,
      traders: this.book.traders.length,
      ids: new Int32Array(n),
      instIdx: new Int32Array(n),
      traderIdx: new Int32Array(n),
      traderId: new Array<string>(n),
      instrument: new Array<string>(n),
    };
    let i = 0;
    for (const t of traders) {
      for (const p of (t.ext as TraderRisk).byName) {
        lay.ids[i] = p.id;
        lay.instIdx[i] = p.inst.index;
        lay.traderIdx[i] = t.index;
        lay.traderId[i] = t.id;
        lay.instrument[i] = p.inst.name;
        i++;
      }
    }
    this.layout = lay;
    return lay;
  }

  /** A trader's positions by instrument name (positions are only ever added: re-sorted when there are new ones). */
  private sortedPositions(t: TraderBook): Position[] {
    const tr = t.ext as TraderRisk;
    let ps = tr.byName;
    if (ps.length !== t.positions.length) {
      ps = tr.byName = t.positions.slice().sort((a, b) => (a.inst.name < b.inst.name ? -1 : a.inst.name > b.inst.name ? 1 : 0));
    }
    return ps;
  }

  /**
   * Rows of the `trader_risk` table now (CONTRACTS.md 5). `var_99`/`es_99` are the VaR/ES at the
   * configured confidence and horizon (99%, 1 day by default) as of the last fold (exact at
   * snapshot times); `var_limit` is null when traders.csv gives none.
   */
  traderRows(): Array<Record<string, unknown>> {
    return this.traderColumns().toRows();
  }

  /**
   * The `trader_risk` table now, column by column (what the snapshot sink gets: no object per
   * row, numbers in Float64Arrays); rows in the order of {@link traderRows}, traders by id.
   * `largest`, from {@link positionColumns} of the same state, spares the concentration scan of
   * the traders whose largest position is not tracked.
   */
  traderColumns(largest?: Float64Array): SnapshotColumns {
    const lay = this.traderLayout();
    const traders = lay.traders;
    const n = traders.length;
    const gross = new Float64Array(n);
    const net = new Float64Array(n);
    const pnlCol = new Float64Array(n);
    const drawdown = new Float64Array(n);
    const concentration = new Float64Array(n);
    const var99 = new Float64Array(n);
    const es99 = new Float64Array(n);
    const book = this.book;
    for (let i = 0; i < n; i++) {
      const t = traders[i]!;
      const tr = t.ext as TraderRisk;
      if (tr.isStale) this.computeVar(tr);
      // The TraderBook getters' slots, read directly.
      const tf = book.tf;
      const c = t.index * TF;
      const pnl = (tf[c + TF_REALIZED] as number) + (tf[c + TF_UNREALIZED] as number);
      gross[i] = (tf[c + TF_GROSS] as number) + 0;
      net[i] = (tf[c + TF_NET] as number) + 0;
      pnlCol[i] = pnl + 0;
      drawdown[i] = (tf[c + TF_PEAK] as number) - pnl + 0;
      // PositionBook.concentrationOf, its scan's maximum taken from `largest`.
      const g = tf[c + TF_GROSS] as number;
      concentration[i] = largest === undefined || book.largestTracked[t.index] !== 0 ? book.concentrationOf(t.index) : g > 0 ? (largest[t.index] as number) / g : 0;
      var99[i] = tf[c + D_VAR] as number;
      es99[i] = tr.es;
    }
    return new SnapshotColumns(n, {
      trader_id: lay.ids,
      gross_exposure: gross,
      net_exposure: net,
      pnl: pnlCol,
      drawdown,
      concentration,
      var_99: var99,
      es_99: es99,
      var_limit: lay.varLimit,
    });
  }

  /**
   * The `trader_risk` table's rows (traders by id) and its two columns that change only with the
   * set of traders: ids and VaR limits (null: none). Rebuilt when a trader was added; the arrays
   * are never written after they are built (a snapshot sink may still hold the previous table's).
   */
  private traderLayout(): TraderLayout {
    let lay = this.traderLay;
    if (lay === undefined) {
      const traders = this.traders();
      lay = this.traderLay = {
        traders,
        ids: traders.map((t) => t.id),
        varLimit: traders.map((t) => {
          const vl = (t.ext as TraderRisk).lim?.varLimit;
          return vl !== undefined && Number.isFinite(vl) ? vl : null;
        }),
      };
    }
    return lay;
  }

  /** A trader's VaR and ES at the current marks (folds its moved positions first), or undefined. */
  varOf(traderId: string): { var: number; es: number } | undefined {
    const t = this.book.trader(traderId);
    if (!t) return undefined;
    const tr = t.ext as TraderRisk;
    if (this.foldAll(t, tr) || tr.isStale) this.computeVar(tr);
    return { var: tr.var, es: tr.es };
  }

  /** Checkpoint data (taken between records). */
  snapshot(): DeskRiskSnapshot {
    return {
      book: this.book.snapshot(),
      risk: this.book.traders.map((t) => {
        const tr = t.ext as TraderRisk;
        if (tr.L !== undefined) this.applyPending(tr);
        return {
          var: tr.var,
          es: tr.es,
          folds: tr.folds,
          drift: tr.drift,
          limits: tr.limits.toArray(),
          L: tr.L?.slice(),
          u: tr.qf?.u.slice(),
          q: tr.qf?.q,
          stale: tr.isStale ? tr.stale : undefined,
        };
      }),
      nextSnapshot: this.nextSnapshot,
      firstTs: this.firstTs,
      lastTs: this.lastTs,
      stats: { ...this.stats },
    };
  }

  /** Restores a snapshot into a fresh DeskRisk built with the same reference data and options. */
  restore(s: DeskRiskSnapshot): void {
    this.book.restore(s.book);
    for (const t of this.book.traders) {
      for (const p of t.positions) {
        // Same formula as onRevalue, so the restored terms are bit-identical to the live ones.
        const b = (p.inst.ext as InstRisk).bound;
        p.riskDrift = b > 0 ? Math.abs(p.notional - p.riskNotional) * b : 0;
      }
    }
    this.book.traders.forEach((t, i) => {
      const tr = t.ext as TraderRisk;
      const x = s.risk[i]!;
      tr.isStale = x.stale !== undefined;
      tr.stale = x.stale ?? 0;
      tr.var = x.var;
      tr.es = x.es;
      tr.folds = x.folds;
      tr.drift = x.drift;
      tr.limits = TraderLimitState.fromArray(x.limits);
      tr.setQuiet(this.policy);
      if (tr.L && x.L) tr.L.set(x.L);
      if (tr.qf && x.u) {
        tr.qf.u.set(x.u);
        tr.qf.q = x.q ?? 0;
      }
    });
    this.nextSnapshot = s.nextSnapshot;
    this.firstTs = s.firstTs;
    this.lastTs = s.lastTs;
    this.stats = { ...s.stats };
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
