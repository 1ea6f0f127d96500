import { Rng } from './prng.js';

/**
 * The incident role an instrument or trader plays in a generated day (`undefined`: calm). Roles
 * are fixed by name so that the same tickers and trader ids carry the same incidents whatever the
 * seed; the seed changes prices, paths and flow.
 *
 * @example
 * universe.instruments.find((i) => i.role === 'FLASH_CRASH')?.id // 'ACME'
 */
export type InstrumentRole =
  | 'FLASH_CRASH'
  | 'ULTRAFAST'
  | 'LULD_STATE'
  | 'LULD_PAUSE'
  | 'HALT_INDEX'
  | 'CORR_HIGH'
  | 'CORR_BREAK'
  | 'LIQ_SPREAD'
  | 'LIQ_DEPTH'
  | 'WASH_OWNER'
  | 'WASH_SELF'
  | 'SPOOF'
  | 'LAYER'
  | 'MARKING'
  | 'FRONT';

/**
 * The role of a scripted trader: the incident it commits or takes part in (see InstrumentRole).
 *
 * @example
 * universe.traderByRole.get('SPOOF')?.id
 */
export type TraderRole =
  | 'POSITION'
  | 'NOTIONAL'
  | 'LOSS'
  | 'CONCENTRATION'
  | 'DRAWDOWN'
  | 'VAR'
  | 'WASH_OWNER_A'
  | 'WASH_OWNER_B'
  | 'WASH_SELF'
  | 'SPOOF'
  | 'LAYER'
  | 'MARKING'
  | 'FRONT_RUNNER'
  | 'FRONT_CLIENT'
  | 'ULTRA_SELLER';

/**
 * Every trader role, in the order scripted traders are spread over the id range.
 *
 * @example
 * TRADER_ROLES.length // 15 scripted traders with --incidents all
 */
export const TRADER_ROLES: readonly TraderRole[] = [
  'POSITION',
  'NOTIONAL',
  'LOSS',
  'CONCENTRATION',
  'DRAWDOWN',
  'VAR',
  'WASH_OWNER_A',
  'WASH_OWNER_B',
  'WASH_SELF',
  'SPOOF',
  'LAYER',
  'MARKING',
  'FRONT_RUNNER',
  'FRONT_CLIENT',
  'ULTRA_SELLER',
];

/**
 * One instrument of a generated day: its reference data (instruments.csv) and the parameters of
 * the market model that drive its prices, quotes and trades. Vols are daily (one 6.5 h session).
 *
 * @example
 * const acme: GenInstrument = universe.byInstrument.get('ACME')!;
 * acme.ticksPerUnit // 100: quoted in cents
 */
export interface GenInstrument {
  idx: number;
  id: string;
  sector: string;
  tier: 1 | 2;
  isIndex: boolean;
  /** Target level of the previous close; history.csv ends exactly at `prevClose` (this, on tick). */
  price: number;
  prevClose: number;
  adv: number;
  /** 100 for cent ticks, 10000 below $1 (sub-penny quoting is allowed there). */
  ticksPerUnit: number;
  lot: number;
  beta: number;
  sectorLoad: number;
  /** Extra common factors (e.g. a mid-cap factor, or the factor a correlated pair shares). */
  extra: Array<{ factor: string; load: number }>;
  idioVol: number;
  spreadBps: number;
  /** Notional at the touch per side, drawn uniformly from this range for each quote. */
  depthPerSide: [number, number];
  /** Mean seconds between trades at normal (mid-session) activity. */
  tradeGapS: number;
  role: InstrumentRole | undefined;
}

/**
 * Trading style of a calm trader; `SCRIPTED` traders act only in their incident's script.
 *
 * @example
 * traders.filter((t) => t.style === 'MM') // the market makers
 */
export type Style = 'MM' | 'MOM' | 'MR' | 'CF' | 'SCRIPTED';

/**
 * Limits of traders.csv; `Infinity` is written as an empty cell ("no limit").
 *
 * @example
 * const l: Limits = { maxPosition: 20_000, maxNotional: 5e6, maxLoss: 2e5, varLimit: Infinity, maxConcentration: Infinity };
 */
export interface Limits {
  maxPosition: number;
  maxNotional: number;
  maxLoss: number;
  varLimit: number;
  maxConcentration: number;
}

/**
 * One trader of a generated day (traders.csv plus the generator's behaviour parameters).
 *
 * @example
 * universe.traders.filter((t) => t.role === undefined).map((t) => t.id) // the calm traders
 */
export interface GenTrader {
  idx: number;
  id: string;
  desk: string;
  owner: string;
  style: Style;
  role: TraderRole | undefined;
  limits: Limits;
  /** Instrument indices a calm trader trades. */
  universe: number[];
}

/**
 * Everything about who and what is in the day, before any event is generated.
 *
 * @example
 * const u = buildUniverse({ seed: 1, instruments: 28, traders: 40, incidents: true });
 */
export interface Universe {
  instruments: GenInstrument[];
  traders: GenTrader[];
  byInstrument: Map<string, GenInstrument>;
  byTrader: Map<string, GenTrader>;
  instrumentByRole: Map<InstrumentRole, GenInstrument[]>;
  traderByRole: Map<TraderRole, GenTrader>;
  sectors: string[];
}

/**
 * The stock sectors (each a factor of the market model); index ETFs have the sector `Index`.
 *
 * @example
 * SECTORS.includes('Energy') // true
 */
export const SECTORS = ['Technology', 'Financials', 'Energy', 'Health Care', 'Consumer', 'Industrials'] as const;

type Spec = [id: string, sector: string, tier: 1 | 2, price: number, role?: InstrumentRole];

// Incident instruments first, then the calm ones the scripted traders use, so that the minimum
// roster for `--incidents all` is a prefix of every larger one.
const FIXED: Spec[] = [
  ['IDX', 'Index', 1, 512.4],
  ['MIDX', 'Index', 1, 240.3, 'HALT_INDEX'],
  ['ACME', 'Technology', 1, 92.4, 'FLASH_CRASH'],
  ['DRLL', 'Energy', 1, 61.2, 'ULTRAFAST'],
  ['CURE', 'Health Care', 1, 44.1, 'LULD_STATE'],
  ['SHOP', 'Consumer', 1, 72.3, 'LULD_PAUSE'],
  ['CHIP', 'Technology', 1, 231.5, 'CORR_HIGH'],
  ['LOGI', 'Technology', 1, 185.2, 'CORR_HIGH'],
  ['BANK', 'Financials', 1, 141.7, 'CORR_BREAK'],
  ['TRST', 'Financials', 1, 158.9, 'CORR_BREAK'],
  ['GEAR', 'Industrials', 1, 110.3, 'LIQ_SPREAD'],
  ['FUEL', 'Energy', 1, 75.6, 'LIQ_DEPTH'],
  ['LOAN', 'Financials', 1, 55.4, 'WASH_OWNER'],
  ['RAIL', 'Industrials', 1, 208.8, 'WASH_SELF'],
  ['GENE', 'Health Care', 1, 48.2, 'SPOOF'],
  ['WELD', 'Industrials', 1, 64.1, 'LAYER'],
  ['TOYS', 'Consumer', 2, 38.4, 'MARKING'],
  ['SNAK', 'Consumer', 2, 32.6, 'FRONT'],
  ['DIME', 'Energy', 2, 0.905],
  ['PNNY', 'Health Care', 2, 0.452],
  ['BYTE', 'Technology', 1, 88.2],
  ['CRED', 'Financials', 2, 29.85],
  ['BOLT', 'Energy', 2, 38.15],
  ['DOSE', 'Health Care', 1, 96.5],
  ['CART', 'Consumer', 1, 124.8],
  ['TOOL', 'Industrials', 2, 52.3],
  ['DATA', 'Technology', 1, 305.1],
  ['HEAL', 'Health Care', 1, 67.4],
];

/** Calm traders per instrument, at least (fewer only when there are fewer calm traders). */
const MIN_HOLDERS = 10;

/**
 * Smallest roster that holds every incident (18 instruments) and a few calm ones beside them.
 *
 * @example
 * if (n < MIN_INSTRUMENTS_WITH_INCIDENTS) throw new UsageError('too few instruments');
 */
export const MIN_INSTRUMENTS_WITH_INCIDENTS = 25;
/**
 * 15 scripted traders plus enough calm ones to trade every instrument.
 *
 * @example
 * buildUniverse({ seed: 1, instruments: 25, traders: MIN_TRADERS_WITH_INCIDENTS, incidents: true });
 */
export const MIN_TRADERS_WITH_INCIDENTS = 30;

const MORE_NAMES: Array<[string, string]> = [
  ['FUND', 'Financials'], ['GASX', 'Energy'], ['SOFT', 'Technology'], ['WEAR', 'Consumer'], ['PORT', 'Industrials'],
  ['NETX', 'Technology'], ['MINT', 'Financials'], ['WATT', 'Energy'], ['LABS', 'Health Care'], ['DINE', 'Consumer'],
  ['JETS', 'Industrials'], ['CODE', 'Technology'], ['SAFE', 'Financials'], ['PIPE', 'Energy'], ['PILL', 'Health Care'],
  ['BREW', 'Consumer'], ['BLDR', 'Industrials'], ['VALT', 'Financials'], ['SUNR', 'Energy'], ['SCAN', 'Health Care'],
  ['MODA', 'Consumer'], ['HAUL', 'Industrials'], ['RIGS', 'Energy'], ['VITA', 'Health Care'],
];

const SECTOR_LETTER: Record<string, string> = {
  Technology: 'T', Financials: 'F', Energy: 'E', 'Health Care': 'H', Consumer: 'C', Industrials: 'I',
};

function syntheticName(k: number): [string, string] {
  const sector = SECTORS[k % SECTORS.length]!;
  const n = Math.floor(k / SECTORS.length);
  const a = String.fromCharCode(65 + Math.floor(n / 26) % 26);
  const b = String.fromCharCode(65 + (n % 26));
  // The second letter X keeps synthetic tickers apart from the named ones.
  return [`${SECTOR_LETTER[sector]!}X${a}${b}`, sector];
}

function makeInstrument(idx: number, spec: Spec, rng: Rng, incidents: boolean): GenInstrument {
  const [id, sector, tier, price, role] = spec;
  const isIndex = sector === 'Index';
  const sub = price < 1;
  const inst: GenInstrument = {
    idx,
    id,
    sector,
    tier,
    isIndex,
    price,
    prevClose: price,
    adv: 0,
    ticksPerUnit: sub ? 10_000 : 100,
    lot: sub ? 1000 : 100,
    beta: rng.uniform(0.75, 1.25),
    sectorLoad: 1,
    extra: [],
    idioVol: rng.uniform(0.009, 0.014),
    spreadBps: tier === 1 ? rng.uniform(2, 5) : rng.uniform(6, 11),
    depthPerSide: tier === 1 ? [900_000, 3_000_000] : [750_000, 2_000_000],
    tradeGapS: tier === 1 ? 14 : 24,
    role: incidents ? role : undefined,
  };
  // Cheaper stocks move more (as small caps do); it also keeps their moves large against the
  // cent tick, so that tick rounding does not wash out their intraday correlations.
  if (!sub && price < 80) inst.idioVol *= Math.sqrt(80 / price);
  const advNotional = tier === 1 ? rng.uniform(3e8, 1.5e9) : rng.uniform(3e7, 1.5e8);
  if (id === 'IDX') {
    Object.assign(inst, { beta: 1, sectorLoad: 0, idioVol: 0.001, spreadBps: 0.8, depthPerSide: [3e6, 1e7], tradeGapS: 9 });
  } else if (id === 'MIDX') {
    Object.assign(inst, { beta: 0.75, sectorLoad: 0, idioVol: 0.002, spreadBps: 1.2, depthPerSide: [2e6, 6e6], tradeGapS: 9 });
    inst.extra.push({ factor: 'midcap', load: 1 });
  } else if (sub) {
    Object.assign(inst, { beta: 0.5, sectorLoad: 0.5, idioVol: 0.035, spreadBps: rng.uniform(9, 13), depthPerSide: [800_000, 2_000_000], tradeGapS: 18 });
  }
  if (id === 'CHIP' || id === 'LOGI') {
    // Two names with a shared business driver: historically ~0.8 correlated, so that the
    // CORRELATION_HIGH window (~0.97) stays within 0.5 of history and only that rule fires.
    inst.extra.push({ factor: 'pair-CHIP-LOGI', load: 1 });
    inst.idioVol = 0.007;
  }
  inst.adv = Math.round((isIndex ? rng.uniform(5e9, 2e10) : sub ? rng.uniform(2e7, 6e7) : advNotional) / price / 1000) * 1000;
  return inst;
}

/**
 * Builds the roster: `instruments` instruments (index ETFs, the incident instruments, calm
 * stocks including two sub-dollar names that exercise the 20% and $0.15 LULD bands, then more
 * calm names) and `traders` traders (15 scripted incident participants when incidents are on,
 * the rest calm market makers, momentum and mean-reversion traders and client-flow desks).
 * Trader limits are placeholders here: {@link assignCalmLimits} sets them once history exists.
 *
 * @example
 * const u = buildUniverse({ seed: 7, instruments: 28, traders: 40, incidents: true });
 * u.traderByRole.get('SPOOF')?.id
 */
export function buildUniverse(o: { seed: number; instruments: number; traders: number; incidents: boolean }): Universe {
  const rng = new Rng(o.seed, 'universe');
  const specs: Spec[] = FIXED.slice(0, o.instruments);
  for (let k = 0; specs.length < o.instruments; k++) {
    const [id, sector] = k < MORE_NAMES.length ? MORE_NAMES[k]! : syntheticName(k - MORE_NAMES.length);
    const tier: 1 | 2 = rng.chance(0.6) ? 1 : 2;
    specs.push([id, sector, tier, Math.round(Math.exp(rng.uniform(Math.log(30), Math.log(400))) * 100) / 100]);
  }
  const instruments = specs.map((s, i) => makeInstrument(i, s, new Rng(o.seed, `instrument:${s[0]}`), o.incidents));
  const byInstrument = new Map(instruments.map((x) => [x.id, x]));
  const instrumentByRole = new Map<InstrumentRole, GenInstrument[]>();
  for (const x of instruments) if (x.role) instrumentByRole.set(x.role, [...(instrumentByRole.get(x.role) ?? []), x]);

  const traders = buildTraders(o, instruments, rng);
  const byTrader = new Map(traders.map((t) => [t.id, t]));
  const traderByRole = new Map<TraderRole, GenTrader>();
  for (const t of traders) if (t.role) traderByRole.set(t.role, t);
  return { instruments, traders, byInstrument, byTrader, instrumentByRole, traderByRole, sectors: [...SECTORS] };
}

const NO_LIMITS: Limits = {
  maxPosition: Infinity,
  maxNotional: Infinity,
  maxLoss: Infinity,
  varLimit: Infinity,
  maxConcentration: Infinity,
};

const SCRIPTED_DESK: Record<TraderRole, string> = {
  POSITION: 'EQ-PROP-MACRO',
  NOTIONAL: 'EQ-PROP-MACRO',
  LOSS: 'EQ-PROP-MACRO',
  CONCENTRATION: 'EQ-PROP-MACRO',
  DRAWDOWN: 'EQ-PROP-MACRO',
  VAR: 'EQ-PROP-MACRO',
  MARKING: 'EQ-PROP-MACRO',
  WASH_OWNER_A: 'EQ-PROP-ARB',
  WASH_OWNER_B: 'EQ-PROP-ARB',
  WASH_SELF: 'EQ-PROP-ARB',
  SPOOF: 'EQ-HFT',
  LAYER: 'EQ-HFT',
  // Alone on their desk: FRONT_RUNNING compares traders of the same desk, and no calm trader
  // may share a desk with the only large client order of the day.
  FRONT_RUNNER: 'EQ-CLIENT-SMID',
  FRONT_CLIENT: 'EQ-CLIENT-SMID',
  ULTRA_SELLER: 'EQ-EXECUTION',
};

const STYLE_CYCLE: Style[] = ['MM', 'MOM', 'CF', 'MR', 'MM', 'CF', 'MOM', 'MR'];
const STYLE_DESK: Record<string, string> = { MM: 'EQ-MARKET-MAKING', MOM: 'EQ-MOMENTUM', MR: 'EQ-MEAN-REVERSION', CF: 'EQ-CLIENT' };

function buildTraders(o: { seed: number; traders: number; incidents: boolean }, instruments: GenInstrument[], rng: Rng): GenTrader[] {
  const n = o.traders;
  const width = Math.max(3, String(n).length);
  const roleAt = new Map<number, TraderRole>();
  if (o.incidents) {
    // Spread the scripted traders over the id range rather than giving them the first ids.
    TRADER_ROLES.forEach((r, k) => roleAt.set(Math.floor(((k + 0.5) * n) / TRADER_ROLES.length), r));
  }
  const traders: GenTrader[] = [];
  const styleCount: Record<string, number> = {};
  let calm = 0;
  for (let i = 0; i < n; i++) {
    const id = `TR${String(i + 1).padStart(width, '0')}`;
    const role = roleAt.get(i);
    if (role) {
      traders.push({ idx: i, id, desk: SCRIPTED_DESK[role], owner: `OWN-${id}`, style: 'SCRIPTED', role, limits: { ...NO_LIMITS }, universe: [] });
      continue;
    }
    const style = STYLE_CYCLE[calm % STYLE_CYCLE.length]!;
    const k = (styleCount[style] = (styleCount[style] ?? 0) + 1) - 1;
    const desk = `${STYLE_DESK[style]!}-${1 + Math.floor(k / 12)}`;
    traders.push({ idx: i, id, desk, owner: `OWN-${id}`, style, role: undefined, limits: { ...NO_LIMITS }, universe: [] });
    calm++;
  }
  const a = traders.find((t) => t.role === 'WASH_OWNER_A');
  const b = traders.find((t) => t.role === 'WASH_OWNER_B');
  if (a && b) a.owner = b.owner = 'OWN-BLUEFIN-CAPITAL';
  // A few calm traders share a beneficial owner too; the flow never matches them with each other.
  const calmTraders = traders.filter((t) => t.role === undefined);
  for (let blk = 0; 20 * blk + 13 < calmTraders.length; blk++) {
    const x = calmTraders[20 * blk + 2]!;
    const y = calmTraders[20 * blk + 13]!;
    x.owner = y.owner = `OWN-FAMILY-OFFICE-${blk + 1}`;
  }
  assignUniverses(calmTraders, instruments, rng);
  return traders;
}

function assignUniverses(calm: GenTrader[], instruments: GenInstrument[], rng: Rng): void {
  const stocks = instruments.filter((x) => !x.isIndex);
  const bySector = new Map<string, GenInstrument[]>();
  for (const x of stocks) bySector.set(x.sector, [...(bySector.get(x.sector) ?? []), x]);
  const sectors = [...bySector.keys()];
  let mm = 0;
  for (const t of calm) {
    const set = new Set<number>();
    if (t.style === 'MM') {
      const pool = bySector.get(sectors[mm++ % sectors.length]!) ?? stocks;
      const k = Math.min(pool.length, rng.int(2, 4));
      while (set.size < k) set.add(rng.pick(pool).idx);
      if (mm % 3 === 0) set.add(instruments[0]!.idx);
    } else {
      const k = Math.min(instruments.length, t.style === 'CF' ? rng.int(6, 12) : rng.int(4, 8));
      while (set.size < k) set.add(rng.pick(instruments).idx);
    }
    t.universe = [...set].sort((x, y) => x - y);
  }
  // Every instrument needs enough calm traders: its tape (and the LULD reference) must not be
  // empty, and the last 10 minutes' volume must spread over many of them (MARKING_THE_CLOSE
  // flags 20%).
  if (calm.length === 0) return;
  const need = Math.min(MIN_HOLDERS, calm.length);
  for (const x of instruments) {
    let holders = calm.filter((t) => t.universe.includes(x.idx)).length;
    while (holders < need) {
      const t = [...calm].filter((c) => !c.universe.includes(x.idx)).sort((p, q) => p.universe.length - q.universe.length || p.idx - q.idx)[0]!;
      t.universe = [...t.universe, x.idx].sort((p, q) => p - q);
      holders++;
    }
  }
}

/**
 * Sets the limits of calm traders so that normal trading stays well inside them, given the
 * flow's own caps (see flow.ts: per-instrument notional <= 8% and gross <= 30% of maxNotional,
 * |position| <= 40% of maxPosition): maxLoss is 4% of maxNotional; varLimit is half of
 * maxNotional times the largest absolute scenario return of the trader's instruments, which
 * bounds historical VaR (|L[s]| <= gross * max|r|) at two thirds of the limit; no concentration
 * limit, because positions start flat and a trader's first fill is 100% of its book.
 *
 * @example
 * assignCalmLimits(universe, (i) => maxAbsReturn[i]);
 */
export function assignCalmLimits(u: Universe, maxAbsReturn: (instrumentIdx: number) => number, seed: number): void {
  const rng = new Rng(seed, 'limits');
  for (const t of u.traders) {
    if (t.role !== undefined) continue;
    const range: [number, number] = t.style === 'MM' ? [6, 12] : t.style === 'CF' ? [15, 30] : [8, 20];
    const maxNotional = Math.round(rng.uniform(range[0], range[1]) * 2) * 500_000;
    const minPrice = Math.min(...t.universe.map((i) => u.instruments[i]!.price));
    const r = Math.max(0.01, ...t.universe.map(maxAbsReturn));
    t.limits = {
      maxPosition: Math.ceil((0.25 * maxNotional) / minPrice / 1000) * 1000,
      maxNotional,
      maxLoss: Math.round((0.04 * maxNotional) / 10_000) * 10_000,
      varLimit: Math.ceil((0.5 * maxNotional * r) / 10_000) * 10_000,
      maxConcentration: Infinity,
    };
  }
}
