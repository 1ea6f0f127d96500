import { Rng } from './prng.js';
import type { GenInstrument, Universe } from './universe.js';

/**
 * Seconds of a full regular session: daily vols are spread over it whatever `--hours` says.
 *
 * @example
 * const perSecond = dailyVol / Math.sqrt(SESSION_SECONDS);
 */
export const SESSION_SECONDS = 6.5 * 3600;

/**
 * The generated session: epoch-ms bounds, the wall-clock strings for day.json and the quote
 * heartbeat. Every instrument re-quotes within the first 900 ms after each heartbeat
 * (`open + k * beatMs`), so that 1-second correlation bars of different instruments see the same
 * factor moves in the same bar; without that, asynchronous quotes (the Epps effect) would make
 * intraday correlations collapse and every pair would look "broken" against its history.
 *
 * @example
 * const s: Session = { date: '2024-03-15', timezone: 'America/New_York', open, close, openClock: '09:30', closeClock: '10:30', beatMs: 2000, nBeats: 1800 };
 */
export interface Session {
  date: string;
  timezone: string;
  open: number;
  close: number;
  openClock: string;
  closeClock: string;
  beatMs: number;
  nBeats: number;
}

/**
 * How an incident bends one instrument's market: functions of event time (epoch ms). Absent
 * members mean "normal". Used by the quote model (price, spread, depth, quoting cadence) and the
 * normal flow (trade rate, direction, pauses).
 *
 * @example
 * const o: Overlay = { price: (t) => (t < crash ? 1 : 0.92), noTrades: [{ from: a, to: b }] };
 */
export interface Overlay {
  /** Multiplicative factor on the latent mid. */
  price?: (t: number) => number;
  /** Quoted spread in bps, replacing the normal one, where defined. */
  spreadBps?: (t: number) => number | undefined;
  /** Stress: spreads are multiplied and sizes divided by it (1 = normal). */
  stress?: (t: number) => number;
  /** Notional per side at the touch, replacing the normal range, where defined. */
  depthPerSide?: (t: number) => number | undefined;
  /** Extra shares shown at the ask while a (spoof) order rests there. */
  askBump?: Array<{ from: number; to: number; qty: number }>;
  /** Faster quoting (every `everyMs`, jittered) while something happens. */
  fastQuotes?: Array<{ from: number; to: number; everyMs: number }>;
  /** Quote exactly at these instants (always emitted). */
  extraQuotes?: number[];
  /** No normal-flow trades in these intervals. */
  noTrades?: Array<{ from: number; to: number }>;
  /**
   * From `from` on, only `keep` of the latent path's further moves show: the instrument is driven
   * by the incident (so that a scripted move is not blurred by market noise).
   */
  damp?: { from: number; keep: number };
  /** Multiplier of the normal trade arrival rate. */
  tradeRate?: (t: number) => number;
  /** Probability that a normal-flow trade is a buy, replacing the style's decision, where defined. */
  buyProb?: (t: number) => number | undefined;
}

/**
 * Daily closes of the history (history.csv) on the factor model, rounded to each instrument's
 * tick, ending exactly at prevClose; `returns[i]` holds the last `scenarios` daily returns as the
 * VaR definition computes them from those closes (CONTRACTS.md 4, Historical-simulation VaR).
 *
 * @example
 * const h = makeHistory(universe, businessDaysBefore('2024-03-15', 300), 7);
 * h.closes[0]![h.dates.length - 1] === universe.instruments[0]!.prevClose // true
 */
export interface HistoryData {
  dates: string[];
  closes: Float64Array[];
  returns: Float64Array[];
}

/** Daily vols of the common factors. */
const FACTOR_VOL: Record<string, number> = { market: 0.01, sector: 0.007, midcap: 0.007, 'pair-CHIP-LOGI': 0.006 };

function factorNames(u: Universe): string[] {
  const names = new Set<string>(['market']);
  for (const s of u.sectors) names.add(`sector:${s}`);
  for (const x of u.instruments) for (const e of x.extra) names.add(e.factor);
  return [...names];
}

function factorVol(name: string): number {
  return name.startsWith('sector:') ? FACTOR_VOL['sector']! : (FACTOR_VOL[name] ?? 0.006);
}

/**
 * Loadings of every instrument on the named factors, as a dense matrix (instrument-major), so
 * the history and the intraday paths share one factor structure (and so one correlation matrix).
 */
function loadingMatrix(u: Universe, names: string[]): Float64Array {
  const m = new Float64Array(u.instruments.length * names.length);
  const col = new Map(names.map((n, j) => [n, j]));
  for (const x of u.instruments) {
    const row = x.idx * names.length;
    m[row + col.get('market')!] = x.beta * factorVol('market');
    const s = col.get(`sector:${x.sector}`);
    if (s !== undefined) m[row + s] = x.sectorLoad * factorVol('sector');
    for (const e of x.extra) m[row + col.get(e.factor)!] = e.load * factorVol(e.factor);
  }
  return m;
}

/**
 * Rounds a price to an instrument's tick. Integer ticks divided by ticks per unit give the double
 * nearest the decimal, so prices print as `101.23`, never `101.22999999`.
 *
 * @example
 * onTick(acme, 92.4049) // 92.4
 */
export function onTick(x: GenInstrument, price: number): number {
  return Math.max(1, Math.round(price * x.ticksPerUnit)) / x.ticksPerUnit;
}

/**
 * Generates the history (see {@link HistoryData}) and sets each instrument's prevClose to its
 * last close.
 *
 * @example
 * const h = makeHistory(universe, businessDaysBefore('2024-03-15', 300), 7);
 */
export function makeHistory(u: Universe, dates: string[], seed: number, scenarios = 250): HistoryData {
  const rng = new Rng(seed, 'history');
  const names = factorNames(u);
  const load = loadingMatrix(u, names);
  const nf = names.length;
  const nI = u.instruments.length;
  const D = dates.length;
  const logLevel = u.instruments.map(() => new Float64Array(D));
  // Draw every factor and idiosyncratic series first and standardise each to mean 0, variance 1:
  // a 300-day sample would otherwise carry its own realised market variance into every
  // historical correlation, and the intraday correlations (same loadings) would disagree with
  // history by more than the correlation-break rule tolerates.
  const n = D - 1;
  const series = (): Float64Array => {
    const z = new Float64Array(n);
    let m = 0;
    for (let d = 0; d < n; d++) m += (z[d] = rng.normal());
    m /= n;
    let v = 0;
    for (let d = 0; d < n; d++) v += (z[d]! - m) ** 2;
    const sd = Math.sqrt(v / (n - 1));
    for (let d = 0; d < n; d++) z[d] = (z[d]! - m) / sd;
    return z;
  };
  const fz = names.map(series);
  const ez = u.instruments.map(series);
  // Stress days scale every component alike: fat tails for VaR, correlations unchanged.
  const scale = new Float64Array(n);
  for (let d = 0; d < n; d++) scale[d] = rng.chance(0.03) ? 2.5 : 1;
  for (let d = 1; d < D; d++) {
    const k = d - 1;
    for (let i = 0; i < nI; i++) {
      const x = u.instruments[i]!;
      let r = x.idioVol * ez[i]![k]!;
      const row = i * nf;
      for (let j = 0; j < nf; j++) r += load[row + j]! * fz[j]![k]!;
      logLevel[i]![d] = logLevel[i]![d - 1]! + r * scale[k]!;
    }
  }
  const closes: Float64Array[] = [];
  const returns: Float64Array[] = [];
  for (let i = 0; i < nI; i++) {
    const x = u.instruments[i]!;
    const lv = logLevel[i]!;
    const shift = Math.log(x.price) - lv[D - 1]!;
    const c = new Float64Array(D);
    for (let d = 0; d < D; d++) c[d] = onTick(x, Math.exp(lv[d]! + shift));
    x.prevClose = c[D - 1]!;
    closes.push(c);
    const S = Math.min(scenarios, D - 1);
    const r = new Float64Array(S);
    for (let s = 0; s < S; s++) r[s] = c[D - S + s]! / c[D - S + s - 1]! - 1;
    returns.push(r);
  }
  return { dates, closes, returns };
}

/**
 * Intraday volatility multiplier: the U shape of equity markets (busy open, quieter middle,
 * busier close), as a function of the time since the open and until the close.
 *
 * @example
 * volMultiplier(session, session.open) // ~1.7: the open is busy
 */
export function volMultiplier(s: Session, t: number): number {
  return 0.8 + 0.9 * Math.exp(-(t - s.open) / 1_500_000) + 0.5 * Math.exp(-(s.close - t) / 1_200_000);
}

/**
 * Latent log-mid of every instrument at every heartbeat, on the same factor model as the history
 * (per-beat vol = daily vol * sqrt(beat / 6.5 h) * U-shape), starting from prevClose plus an
 * overnight gap; `shocks` adds incident increments (correlation incidents) per beat.
 *
 * @example
 * const lat = makeLatent(universe, session, 7, new Map());
 * Math.exp(lat[0]![0]!) // IDX's mid at the open, before overlays
 */
export function makeLatent(u: Universe, s: Session, seed: number, shocks: Map<number, Float64Array>): Float64Array[] {
  const rng = new Rng(seed, 'intraday');
  const names = factorNames(u);
  const load = loadingMatrix(u, names);
  const nf = names.length;
  const nI = u.instruments.length;
  const out = u.instruments.map(() => new Float64Array(s.nBeats));
  const gapScale = 0.35;
  const f = new Float64Array(nf);
  for (let j = 0; j < nf; j++) f[j] = rng.normal() * gapScale;
  for (let i = 0; i < nI; i++) {
    const x = u.instruments[i]!;
    let r = x.idioVol * gapScale * rng.normal();
    for (let j = 0; j < nf; j++) r += load[i * nf + j]! * f[j]!;
    out[i]![0] = Math.log(x.prevClose) + r + (shocks.get(i)?.[0] ?? 0);
  }
  const perBeat = Math.sqrt(s.beatMs / 1000 / SESSION_SECONDS);
  const shockArrays: Array<Float64Array | undefined> = u.instruments.map((x) => shocks.get(x.idx));
  for (let k = 1; k < s.nBeats; k++) {
    const scale = perBeat * volMultiplier(s, s.open + k * s.beatMs);
    for (let j = 0; j < nf; j++) f[j] = rng.normal();
    for (let i = 0; i < nI; i++) {
      const x = u.instruments[i]!;
      let r = x.idioVol * rng.normal();
      const row = i * nf;
      for (let j = 0; j < nf; j++) r += load[row + j]! * f[j]!;
      const arr = out[i]!;
      arr[k] = arr[k - 1]! + r * scale + (shockArrays[i]?.[k] ?? 0);
    }
  }
  return out;
}

/**
 * One instrument's quotes in time order (columns). Prices are exact decimals on the tick.
 *
 * @example
 * const q = quotes[acme.idx]!; (q.bid[0]! + q.ask[0]!) / 2 // first mid
 */
export interface QuoteSeries {
  ts: Float64Array;
  bid: Float64Array;
  ask: Float64Array;
  bidSize: Float64Array;
  askSize: Float64Array;
  n: number;
}

function beatOf(s: Session, t: number): number {
  const k = Math.floor((t - s.open) / s.beatMs);
  return k < 0 ? 0 : k >= s.nBeats ? s.nBeats - 1 : k;
}

/**
 * The mid an instrument's quotes would show at `t` before tick rounding: the latent path at the
 * last heartbeat times the overlay factor.
 *
 * @example
 * modelMid(session, latent[i]!, overlay, t)
 */
export function modelMid(s: Session, latent: Float64Array, overlay: Overlay | undefined, t: number): number {
  let l = latent[beatOf(s, t)]!;
  const damp = overlay?.damp;
  if (damp && t >= damp.from) {
    const l0 = latent[beatOf(s, damp.from)]!;
    l = l0 + damp.keep * (l - l0);
  }
  const m = Math.exp(l);
  return overlay?.price ? m * overlay.price(t) : m;
}

/**
 * True when t falls in one of the half-open windows [from, to).
 *
 * @example
 * inWindows(overlay.noTrades, t) // no normal trade now
 */
export function inWindows(ws: Array<{ from: number; to: number }> | undefined, t: number): boolean {
  if (!ws) return false;
  for (const w of ws) if (t >= w.from && t < w.to) return true;
  return false;
}

/**
 * Generates one instrument's quotes: one candidate per heartbeat (emitted when the touch changed,
 * or 30% of the time to refresh sizes), plus the incident's fast and exact quote instants (always
 * emitted). Spreads come from the instrument's bps, in whole ticks, at most 20 bps in normal
 * times (so LIQUIDITY_SPREAD stays quiet whatever median a detector starts from); sizes put
 * 0.75-3 M of notional on each side (so depth at touch stays above 1 M); bid < ask always.
 *
 * @example
 * const q = makeQuotes(acme, session, latent[acme.idx]!, overlays.get(acme.idx), new Rng(7, 'quotes:ACME'));
 */
export function makeQuotes(x: GenInstrument, s: Session, latent: Float64Array, overlay: Overlay | undefined, rng: Rng): QuoteSeries {
  const cand: number[] = [];
  const forced = new Set<number>();
  for (let k = 0; k < s.nBeats; k++) {
    const t = s.open + k * s.beatMs + rng.int(5, 900);
    if (t < s.close) cand.push(t);
  }
  for (const w of overlay?.fastQuotes ?? []) {
    for (let t = w.from; t < w.to && t < s.close; t += Math.max(20, Math.round(w.everyMs * rng.uniform(0.7, 1.3)))) {
      cand.push(Math.round(t));
      forced.add(Math.round(t));
    }
  }
  for (const t of overlay?.extraQuotes ?? []) {
    cand.push(t);
    forced.add(t);
  }
  for (const b of overlay?.askBump ?? []) {
    for (const t of [b.from, b.to]) {
      cand.push(t);
      forced.add(t);
    }
  }
  cand.sort((a, b) => a - b);
  const n = cand.length;
  const q: QuoteSeries = {
    ts: new Float64Array(n),
    bid: new Float64Array(n),
    ask: new Float64Array(n),
    bidSize: new Float64Array(n),
    askSize: new Float64Array(n),
    n: 0,
  };
  const tpu = x.ticksPerUnit;
  let lastBid = -1;
  let lastAsk = -1;
  let lastT = -1;
  for (let c = 0; c < n; c++) {
    const t = cand[c]!;
    if (t === lastT) continue;
    const mid = modelMid(s, latent, overlay, t);
    const stress = overlay?.stress ? overlay.stress(t) : 1;
    const override = overlay?.spreadBps?.(t);
    // Bid rounded down and ask up from the exact half-spread: the mid moves in half ticks and the
    // spread flickers by a tick, as in real books. A fixed width in whole ticks would move the mid
    // in whole ticks only, and that rounding noise swamps cheap stocks' 1 s returns (their
    // intraday correlations would then fall far below history: false correlation breaks).
    const bps = override !== undefined ? override * rng.uniform(0.9, 1.1) : x.spreadBps * stress;
    const half = Math.max(1, (bps * mid * tpu) / 1e4) / 2;
    const bidT = Math.max(1, Math.floor(mid * tpu - half));
    let askT = Math.ceil(mid * tpu + half);
    if (override === undefined && stress === 1) askT = Math.min(askT, bidT + Math.max(1, Math.floor((20 * mid * tpu) / 1e4)));
    const depth = overlay?.depthPerSide?.(t);
    const sideSize = (): number => {
      const notional = (depth !== undefined ? depth * rng.uniform(0.8, 1.2) : rng.uniform(x.depthPerSide[0], x.depthPerSide[1])) / stress;
      return Math.max(x.lot, Math.ceil(notional / mid / x.lot) * x.lot);
    };
    const bidSize = sideSize();
    let askSize = sideSize();
    for (const b of overlay?.askBump ?? []) if (t >= b.from && t < b.to) askSize += b.qty;
    const changed = bidT !== lastBid || askT !== lastAsk;
    const refresh = rng.next() < 0.2;
    if (!(q.n === 0 || changed || refresh || forced.has(t))) continue;
    const j = q.n++;
    q.ts[j] = t;
    q.bid[j] = bidT / tpu;
    q.ask[j] = askT / tpu;
    q.bidSize[j] = bidSize;
    q.askSize[j] = askSize;
    lastBid = bidT;
    lastAsk = askT;
    lastT = t;
  }
  return q;
}

/**
 * Index of the latest quote with ts <= t (-1 if none), by binary search.
 *
 * @example
 * const j = quoteIndexAt(q, t); if (j >= 0) mid = (q.bid[j]! + q.ask[j]!) / 2;
 */
export function quoteIndexAt(q: QuoteSeries, t: number): number {
  let lo = 0;
  let hi = q.n - 1;
  let ans = -1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (q.ts[m]! <= t) {
      ans = m;
      lo = m + 1;
    } else hi = m - 1;
  }
  return ans;
}

