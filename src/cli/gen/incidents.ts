import { BUY, SELL, type EventBook } from './book.js';
import type { FlowResult } from './flow.js';
import { quoteIndexAt, type HistoryData, type Overlay, type QuoteSeries, type Session } from './market.js';
import { Rng } from './prng.js';
import type { GenInstrument, GenTrader, InstrumentRole, TraderRole, Universe } from './universe.js';

/**
 * One labelled incident of incidents.json (CONTRACTS.md section 2, with extra fields the
 * contract allows). `start` is when the incident's activity begins; `end` is by when a detector
 * should have alerted: the moment the contract's condition is complete plus a grace period that
 * covers windows and timers (documented per type in gen-day.ts). Pair incidents name the pair
 * twice: `instrument: "A|B"` (kept by loadDay) and `instrumentA`/`instrumentB`. `related` lists
 * the other entities the incident involves (counterparties, the instrument a trader loses on);
 * `sideEffects` the alert types those entities may legitimately raise as well.
 *
 * @example
 * const l: IncidentLabel = { type: 'FLASH_CRASH', instrument: 'ACME', start, end, note: 'ACME falls 8% in 40 s' };
 */
export interface IncidentLabel {
  type: string;
  instrument?: string;
  instrumentA?: string;
  instrumentB?: string;
  traderId?: string;
  counterpartyTraderId?: string;
  start: number;
  end: number;
  note: string;
  related?: { instruments?: string[]; traders?: string[] };
  sideEffects?: string[];
}

/**
 * What an incident script sees once quotes and the normal flow exist.
 *
 * @example
 * const labels = plan.scripts.flatMap((run) => run(ctx));
 */
export interface ScriptContext {
  u: Universe;
  s: Session;
  quotes: QuoteSeries[];
  book: EventBook;
  history: HistoryData;
  flow: FlowResult;
  seed: number;
}

/**
 * The incidents of a day: overlays and correlation shocks (needed before quotes are made) and
 * scripts (run after the normal flow, they add the incident traders' orders and trades and
 * return the labels).
 *
 * @example
 * const plan = planIncidents(u, session, seed, history);
 */
export interface IncidentPlan {
  overlays: Map<number, Overlay>;
  shocks: Map<number, Float64Array>;
  scripts: Array<(c: ScriptContext) => IncidentLabel[]>;
}

const MIN = 60_000;
const SEC = 1000;
const PRICE_MOVERS = ['CORRELATION_BREAK', 'CORRELATION_HIGH'];

/** Linear interpolation through (t, value) points; constant before the first and after the last. */
function piecewise(points: Array<[number, number]>): (t: number) => number {
  return (t) => {
    if (t <= points[0]![0]) return points[0]![1];
    for (let k = 1; k < points.length; k++) {
      const [t1, v1] = points[k]!;
      if (t <= t1) {
        const [t0, v0] = points[k - 1]!;
        return t1 === t0 ? v1 : v0 + ((v1 - v0) * (t - t0)) / (t1 - t0);
      }
    }
    return points[points.length - 1]![1];
  };
}

const ease = (x: number): number => x * x * (3 - 2 * x);

interface Touch {
  bid: number;
  ask: number;
  mid: number;
}

function touch(c: ScriptContext, x: GenInstrument, t: number): Touch {
  const q = c.quotes[x.idx]!;
  const j = quoteIndexAt(q, t);
  if (j < 0) throw new Error(`gen-day: no quote for ${x.id} at ${new Date(t).toISOString()}`);
  return { bid: q.bid[j]!, ask: q.ask[j]!, mid: (q.bid[j]! + q.ask[j]!) / 2 };
}

/**
 * A calm trader as the (informational) contra side of a scripted fill: one who trades the
 * instrument, or with `spread`, the least used so far of those who do not (their only part in
 * the instrument is then this opposite side, which keeps MARKING_THE_CLOSE participation, which
 * counts contras, away from calm traders' own direction).
 */
function contra(c: ScriptContext, x: GenInstrument, self: GenTrader, rng: Rng, spread?: Map<number, number>): number {
  const pool = c.u.traders.filter((t) => t.role === undefined && t.owner !== self.owner);
  if (pool.length === 0) return -1;
  if (spread) {
    const away = pool.filter((t) => !t.universe.includes(x.idx));
    const from = away.length ? away : pool;
    let best = from[0]!;
    for (const t of from) if ((spread.get(t.idx) ?? 0) < (spread.get(best.idx) ?? 0)) best = t;
    spread.set(best.idx, (spread.get(best.idx) ?? 0) + 1);
    return best.idx;
  }
  const near = pool.filter((t) => t.universe.includes(x.idx));
  return rng.pick(near.length ? near : pool).idx;
}

/** Enters a marketable order `lead` ms before `t` and fills it at t at the touch seen at entry. */
function take(
  c: ScriptContext,
  rng: Rng,
  tr: GenTrader,
  x: GenInstrument,
  side: number,
  qty: number,
  t: number,
  o: { lead?: number; client?: boolean; price?: number; spread?: Map<number, number> } = {},
): number {
  const tNew = t - (o.lead ?? 200);
  const q = touch(c, x, tNew);
  const price = o.price ?? (side === BUY ? q.ask : q.bid);
  const id = c.book.newOrder(tNew, tr.idx, x.idx, side, qty, price, o.client ?? false);
  c.book.fill(t, id, qty, price, contra(c, x, tr, rng, o.spread), rng.int(0, 4));
  return price;
}

function lots(x: GenInstrument, notional: number, price: number): number {
  return Math.max(x.lot, Math.round(notional / price / x.lot) * x.lot);
}

/**
 * Historical-simulation VaR (CONTRACTS.md 4): -L[k] of the sorted scenario P&L, k = floor((1-c)*S);
 * used to size the VAR_LIMIT incident.
 *
 * @example
 * historicalVaR([{ inst: 0, qty: 1000, mark: 512.4 }], history.returns) // ~$12k
 */
export function historicalVaR(book: Array<{ inst: number; qty: number; mark: number }>, returns: Float64Array[], c = 0.99): number {
  const S = returns[0]?.length ?? 0;
  const L = new Float64Array(S);
  for (const p of book) {
    const r = returns[p.inst]!;
    const v = p.qty * p.mark;
    for (let s = 0; s < S; s++) L[s]! += v * r[s]!;
  }
  L.sort();
  return -L[Math.floor((1 - c) * S)]!;
}

interface WarmAction {
  t: number;
  qty: number;
  side: number;
  fill: boolean;
  cancelAfter: number;
}

/**
 * A scripted trader's ordinary activity before its incident (so that "the trader's median order
 * size" exists): an order every 35-55 s, 60% filled at the touch, the rest rested away from it
 * and cancelled 8-30 s later; never both sides of the instrument within 65 s.
 */
function warmUp(rng: Rng, from: number, to: number, size: [number, number]): WarmAction[] {
  const out: WarmAction[] = [];
  let lastFill = -Infinity;
  let lastSide = BUY;
  for (let t = from + rng.int(0, 20_000); t < to; t += rng.int(35_000, 55_000)) {
    const fill = rng.chance(0.6);
    let side = rng.chance(0.5) ? BUY : SELL;
    if (fill && side !== lastSide && t - lastFill < 65_000) side = lastSide;
    if (fill) {
      lastFill = t;
      lastSide = side;
    }
    out.push({ t, qty: 100 * rng.int(size[0], size[1]), side, fill, cancelAfter: rng.int(8_000, 30_000) });
  }
  return out;
}

function runWarmUp(c: ScriptContext, rng: Rng, tr: GenTrader, x: GenInstrument, plan: WarmAction[]): void {
  for (const a of plan) {
    if (a.fill) {
      const delay = rng.int(300, 1500);
      take(c, rng, tr, x, a.side, a.qty, a.t + delay, { lead: delay });
      continue;
    }
    const q = touch(c, x, a.t);
    const away = rng.int(2, 5) / x.ticksPerUnit;
    const price = Math.round((a.side === BUY ? q.bid - away : q.ask + away) * x.ticksPerUnit) / x.ticksPerUnit;
    const id = c.book.newOrder(a.t, tr.idx, x.idx, a.side, a.qty, price);
    c.book.cancel(a.t + a.cancelAfter, id);
  }
}

/** The upper median: never below the median under any convention for even counts. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Plans every incident of CONTRACTS.md section 3 on its dedicated instrument or trader (see the
 * schedule in gen-day.ts), each built to satisfy its section 4 definition with a margin. Times
 * follow a 60-minute layout stretched over longer sessions; MARKING_THE_CLOSE always takes the
 * last 10 minutes. Scripted traders' limits are set here.
 *
 * @example
 * const plan = planIncidents(universe, session, 42, history);
 */
export function planIncidents(u: Universe, s: Session, seed: number, history: HistoryData): IncidentPlan {
  const overlays = new Map<number, Overlay>();
  const shocks = new Map<number, Float64Array>();
  const scripts: IncidentPlan['scripts'] = [];
  const sessionMin = (s.close - s.open) / MIN;
  const stretch = Math.max(1, (sessionMin - 10) / 50);
  const at = (min: number): number => s.open + Math.round(min * stretch) * MIN;
  const align5 = (t: number): number => Math.ceil(t / (5 * MIN)) * 5 * MIN;
  const fmt = new Intl.DateTimeFormat('en-GB', { timeZone: s.timezone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const local = (t: number): string => {
    const ms = t % 1000;
    return fmt.format(new Date(t)) + (ms ? `.${String(ms).padStart(3, '0')}` : '');
  };
  const tz = s.timezone;
  const inst = (r: InstrumentRole, k = 0): GenInstrument => {
    const x = u.instrumentByRole.get(r)?.[k];
    if (!x) throw new Error(`gen-day: no instrument for role ${r}`);
    return x;
  };
  const trader = (r: TraderRole): GenTrader => {
    const t = u.traderByRole.get(r);
    if (!t) throw new Error(`gen-day: no trader for role ${r}`);
    return t;
  };
  const named = (id: string): GenInstrument => {
    const x = u.byInstrument.get(id);
    if (!x) throw new Error(`gen-day: instrument ${id} missing from the roster`);
    return x;
  };
  const limits = (t: GenTrader, l: Partial<GenTrader['limits']>): void => {
    t.limits = { maxPosition: 1_000_000, maxNotional: 100_000_000, maxLoss: 5_000_000, varLimit: Infinity, maxConcentration: Infinity, ...l };
  };
  const overlay = (x: GenInstrument, o: Overlay): void => {
    overlays.set(x.idx, o);
  };
  const rngFor = (label: string): Rng => new Rng(seed, `incident:${label}`);

  // ---------------------------------------------------------------- FLASH_CRASH + LOSS_LIMIT
  {
    const x = inst('FLASH_CRASH');
    const c0 = at(15);
    const fall = 40 * SEC;
    const rec = 300 * SEC;
    overlay(x, {
      price: (t) => {
        const dt = t - c0;
        if (dt <= 0) return 1;
        if (dt <= fall) return 1 - 0.08 * Math.pow(dt / fall, 1.15);
        if (dt <= fall + rec) return 0.92 + 0.075 * ease((dt - fall) / rec);
        return 0.995;
      },
      stress: (t) => {
        const dt = t - c0;
        if (dt <= 0 || dt >= fall + 120 * SEC) return 1;
        return dt <= fall ? 1 + 9 * (dt / fall) : 1 + 9 * (1 - (dt - fall) / (120 * SEC));
      },
      fastQuotes: [{ from: c0 - 2 * SEC, to: c0 + 160 * SEC, everyMs: 400 }],
      tradeRate: (t) => (t > c0 && t <= c0 + fall ? 4 : t > c0 && t <= c0 + fall + 120 * SEC ? 2 : 1),
      buyProb: (t) => (t > c0 && t <= c0 + fall ? 0.15 : t > c0 && t <= c0 + fall + rec ? 0.65 : undefined),
    });
    const tl = trader('LOSS');
    const qty = lots(x, 2_300_000, x.prevClose);
    limits(tl, { maxPosition: 100_000, maxNotional: 10_000_000, maxLoss: Math.round((0.052 * qty * x.prevClose) / 10_000) * 10_000 });
    scripts.push((c) => {
      const rng = rngFor('loss');
      const t = c0 - 5 * MIN;
      const half = Math.round(qty / 2 / x.lot) * x.lot;
      const q = touch(c, x, t - 300);
      const id = c.book.newOrder(t - 300, tl.idx, x.idx, BUY, qty, q.ask);
      c.book.fill(t, id, half, q.ask, contra(c, x, tl, rng), 1);
      c.book.fill(t + 25, id, qty - half, q.ask, contra(c, x, tl, rng), 1);
      return [
        {
          type: 'FLASH_CRASH',
          instrument: x.id,
          start: c0,
          end: c0 + fall + MIN,
          note: `${x.id} mid falls 8% in 40 s from ${local(c0)} ${tz} (5% below its 60 s high after ~27 s), then recovers to -0.5% over 5 minutes; spreads widen up to 10x and depth thins`,
          related: { traders: [tl.id] },
          sideEffects: ['LULD_LIMIT_STATE', 'LULD_PAUSE', 'LIQUIDITY_SPREAD', 'LIQUIDITY_DEPTH', 'ULTRAFAST_EXTREME_EVENT', ...PRICE_MOVERS],
        },
        {
          type: 'LOSS_LIMIT',
          traderId: tl.id,
          start: c0,
          end: c0 + fall + MIN,
          note: `${tl.id} bought ${qty} ${x.id} at ${q.ask} at ${local(t)} ${tz}; the crash costs ~8% of $${Math.round(qty * q.ask).toLocaleString('en-US')}, over its maxLoss of ${tl.limits.maxLoss.toLocaleString('en-US')} after ~25 s`,
          related: { instruments: [x.id] },
          sideEffects: ['DRAWDOWN'],
        },
      ];
    });
  }

  // ---------------------------------------------------------------- ULTRAFAST_EXTREME_EVENT
  {
    const x = inst('ULTRAFAST');
    const u0 = at(12);
    const prints = Array.from({ length: 12 }, (_, k) => u0 + 70 * k);
    const step = (k: number): number => 1 - 0.0125 * (k / 11);
    overlay(x, {
      price: (t) => {
        if (t < prints[1]! - 4) return 1;
        if (t < u0 + 1000) {
          let k = 1;
          while (k < 11 && t >= prints[k + 1]! - 4) k++;
          return step(k);
        }
        return piecewise([
          [u0 + 1000, step(11)],
          [u0 + 30 * SEC, 1],
        ])(t);
      },
      extraQuotes: prints.slice(1).map((p) => p - 4),
      fastQuotes: [{ from: u0 + 1000, to: u0 + 30 * SEC, everyMs: 500 }],
      noTrades: [{ from: u0 - 5 * SEC, to: u0 + 30 * SEC }],
    });
    const tu = trader('ULTRA_SELLER');
    limits(tu, { maxPosition: 100_000, maxNotional: 10_000_000, maxLoss: 1_000_000 });
    scripts.push((c) => {
      const rng = rngFor('ultrafast');
      const px = prints.map((t) => touch(c, x, t).bid);
      for (let k = 1; k < px.length; k++) {
        if (!(px[k]! < px[k - 1]!)) throw new Error(`gen-day: ultrafast prints of ${x.id} are not strictly falling`);
      }
      const clip = lots(x, 36_000, px[0]!);
      const id = c.book.newOrder(u0 - 30, tu.idx, x.idx, SELL, clip * 12, px[11]!);
      prints.forEach((t, k) => c.book.fill(t, id, clip, px[k]!, contra(c, x, tu, rng), 0));
      const move = (px[0]! - px[11]!) / px[0]!;
      return [
        {
          type: 'ULTRAFAST_EXTREME_EVENT',
          instrument: x.id,
          start: u0,
          end: prints[11]! + MIN,
          note: `${tu.id} sweeps the ${x.id} bid: 12 consecutive trades, each lower, in 770 ms from ${local(u0)} ${tz}, ${px[0]} -> ${px[11]} (${(move * 100).toFixed(2)}%); the quote recovers over 30 s`,
          related: { traders: [tu.id] },
          sideEffects: [...PRICE_MOVERS],
        },
      ];
    });
  }

  // ---------------------------------------------------------------- LULD_LIMIT_STATE (clears in ~6 s)
  {
    const x = inst('LULD_STATE');
    const l0 = at(6);
    overlay(x, {
      price: piecewise([
        [l0, 1],
        [l0 + 200 * SEC, 0.955],
        [l0 + 203 * SEC, 0.94],
        [l0 + 206 * SEC, 0.94],
        [l0 + 208 * SEC, 0.965],
        [l0 + 480 * SEC, 0.99],
      ]),
      fastQuotes: [{ from: l0 + 195 * SEC, to: l0 + 220 * SEC, everyMs: 300 }],
      // No trades during the slide: the LULD reference (mean trade price over 5 minutes) stays at
      // the pre-slide level, so the dip reaches the 5% band without a 5%-in-60 s crash.
      noTrades: [{ from: l0, to: l0 + 215 * SEC }],
    });
    scripts.push(() => [
      {
        type: 'LULD_LIMIT_STATE',
        instrument: x.id,
        start: l0,
        end: l0 + 203 * SEC + MIN,
        note: `${x.id} (tier 1, 5% band) slides 4.5% over 200 s from ${local(l0)} ${tz} without trading, then dips to -6% in 3 s: the offer is ~1% through the lower band for ~6 s, then bounces (no pause)`,
        sideEffects: [...PRICE_MOVERS],
      },
    ]);
  }

  // ---------------------------------------------------------------- LULD_PAUSE (state held 45 s)
  {
    const x = inst('LULD_PAUSE');
    const p0 = at(20);
    overlay(x, {
      price: piecewise([
        [p0, 1],
        [p0 + 150 * SEC, 0.955],
        [p0 + 153 * SEC, 0.935],
        [p0 + 198 * SEC, 0.935],
        // A decisive bounce: a slow exit would flicker in and out of the band.
        [p0 + 201 * SEC, 0.958],
        [p0 + 380 * SEC, 0.98],
      ]),
      fastQuotes: [{ from: p0 + 145 * SEC, to: p0 + 215 * SEC, everyMs: 300 }],
      noTrades: [{ from: p0, to: p0 + 206 * SEC }],
    });
    scripts.push(() => [
      {
        type: 'LULD_PAUSE',
        instrument: x.id,
        start: p0,
        end: p0 + 153 * SEC + 15 * SEC + MIN,
        note: `${x.id} (tier 1, 5% band) slides 4.5% over 150 s from ${local(p0)} ${tz} without trading, dips to -6.5% and stays there 45 s before bouncing: the offer sits below the lower band for ~48 s`,
        sideEffects: ['LULD_LIMIT_STATE', ...PRICE_MOVERS],
      },
    ]);
  }

  // ---------------------------------------------------------------- MARKET_WIDE_HALT + DRAWDOWN
  {
    const x = inst('HALT_INDEX');
    const d0 = at(10);
    overlay(x, {
      price: piecewise([
        [d0, 0.97],
        [d0 + 15 * MIN, 0.91],
        [d0 + 18 * MIN, 0.91],
        [d0 + 33 * MIN, 0.95],
      ]),
    });
    const td = trader('DRAWDOWN');
    const entry = 0.97 * x.prevClose;
    const qty = lots(x, 2_800_000, entry);
    const expectedDrawdown = qty * x.prevClose * (0.95 - 0.91);
    limits(td, { maxPosition: 100_000, maxNotional: 10_000_000, maxLoss: Math.round((0.6 * expectedDrawdown) / 10_000) * 10_000 });
    scripts.push((c) => {
      const rng = rngFor('drawdown');
      const t = d0 - 8 * MIN;
      const price = take(c, rng, td, x, SELL, qty, t);
      const q = c.quotes[x.idx]!;
      let cross = -1;
      for (let j = 0; j < q.n; j++) {
        if ((q.bid[j]! + q.ask[j]!) / 2 <= 0.93 * x.prevClose) {
          cross = q.ts[j]!;
          break;
        }
      }
      if (cross < 0) throw new Error(`gen-day: ${x.id} never falls 7% below prevClose`);
      return [
        {
          type: 'MARKET_WIDE_HALT',
          instrument: x.id,
          start: d0,
          end: cross + MIN,
          note: `index ${x.id} opens 3% below prevClose ${x.prevClose}, slides from ${local(d0)} ${tz} to -9% over 15 minutes (mid first 7% below prevClose at ${local(cross)}: level 1), then recovers to -5%`,
          related: { traders: [td.id] },
          sideEffects: [...PRICE_MOVERS],
        },
        {
          type: 'DRAWDOWN',
          traderId: td.id,
          start: d0 + 18 * MIN,
          end: d0 + 33 * MIN + MIN,
          note: `${td.id} sold ${qty} ${x.id} short at ${price} at ${local(t)} ${tz}; its profit peaks near $${Math.round(qty * (price - 0.91 * x.prevClose)).toLocaleString('en-US')} and then ~$${Math.round(expectedDrawdown).toLocaleString('en-US')} is given back as the index recovers from ${local(d0 + 18 * MIN)} (maxLoss ${td.limits.maxLoss.toLocaleString('en-US')}; pnl stays positive)`,
          related: { instruments: [x.id] },
        },
      ];
    });
  }

  // ---------------------------------------------------------------- CORRELATION_HIGH / _BREAK
  const corr = (role: 'CORR_HIGH' | 'CORR_BREAK', w: number, bps: number, sign: 1 | -1): void => {
    const a = inst(role, 0);
    const b = inst(role, 1);
    const rng = rngFor(role);
    const sa = new Float64Array(s.nBeats);
    const sb = new Float64Array(s.nBeats);
    for (let k = 0; k < s.nBeats; k++) {
      const h = s.open + k * s.beatMs;
      if (h < w || h >= w + 5 * MIN) continue;
      const z = rng.normal() * bps * 1e-4;
      sa[k] = z;
      sb[k] = sign * z;
    }
    shocks.set(a.idx, sa);
    shocks.set(b.idx, sb);
    const high = role === 'CORR_HIGH';
    scripts.push(() => [
      {
        type: high ? 'CORRELATION_HIGH' : 'CORRELATION_BREAK',
        instrument: `${a.id}|${b.id}`,
        instrumentA: a.id,
        instrumentB: b.id,
        start: w,
        end: w + 5 * MIN + 10 * SEC,
        note: high
          ? `${a.id} and ${b.id} (historically ~0.8 correlated) share a strong common driver in the 5-minute window from ${local(w)} ${tz}: 1 s correlation ~0.97`
          : `${a.id} and ${b.id} (historically ~0.55 correlated) move against each other in the 5-minute window from ${local(w)} ${tz}: 1 s correlation ~-0.6`,
        sideEffects: ['CORRELATION_BREAK', 'CORRELATION_HIGH'],
      },
    ]);
  };
  corr('CORR_HIGH', align5(at(30)), 5, 1);
  corr('CORR_BREAK', align5(at(35)), 3, -1);

  // ---------------------------------------------------------------- LIQUIDITY_SPREAD / _DEPTH
  {
    const x = inst('LIQ_SPREAD');
    const t0 = at(26);
    overlay(x, {
      spreadBps: (t) => (t >= t0 && t < t0 + MIN ? 70 : undefined),
      fastQuotes: [{ from: t0, to: t0 + MIN, everyMs: 1000 }],
      extraQuotes: [t0 + MIN],
    });
    scripts.push(() => [
      {
        type: 'LIQUIDITY_SPREAD',
        instrument: x.id,
        start: t0,
        end: t0 + MIN + MIN,
        note: `${x.id} quotes ~70 bps wide (normally ~${x.spreadBps.toFixed(0)} bps) for two 30 s windows from ${local(t0)} ${tz}; depth unchanged`,
      },
    ]);
  }
  {
    const x = inst('LIQ_DEPTH');
    const t0 = at(28);
    overlay(x, {
      depthPerSide: (t) => (t >= t0 && t < t0 + MIN ? 180_000 : undefined),
      fastQuotes: [{ from: t0, to: t0 + MIN, everyMs: 1000 }],
      extraQuotes: [t0 + MIN],
    });
    scripts.push(() => [
      {
        type: 'LIQUIDITY_DEPTH',
        instrument: x.id,
        start: t0,
        end: t0 + MIN + MIN,
        note: `${x.id} shows only ~$150-220k per side at the touch (depth ~$0.4M, normally > $1.5M) for two 30 s windows from ${local(t0)} ${tz}; spread unchanged`,
      },
    ]);
  }

  // ---------------------------------------------------------------- WASH_TRADE (shared owner; same trader)
  {
    const x = inst('WASH_OWNER');
    const a = trader('WASH_OWNER_A');
    const b = trader('WASH_OWNER_B');
    limits(a, { maxPosition: 100_000, maxNotional: 10_000_000, maxLoss: 1_000_000 });
    limits(b, { maxPosition: 100_000, maxNotional: 10_000_000, maxLoss: 1_000_000 });
    const w0 = at(14);
    scripts.push((c) => {
      const rng = rngFor('wash-owner');
      const q = touch(c, x, w0 - 300);
      const price = Math.round(q.mid * x.ticksPerUnit) / x.ticksPerUnit;
      const qty = lots(x, 220_000, price);
      const id = c.book.newOrder(w0 - 300, a.idx, x.idx, BUY, qty, price);
      c.book.fill(w0, id, qty, price, b.idx, rng.int(0, 4));
      return [
        {
          type: 'WASH_TRADE',
          instrument: x.id,
          traderId: a.id,
          counterpartyTraderId: b.id,
          start: w0,
          end: w0 + MIN,
          note: `${a.id} buys ${qty} ${x.id} at ${price} from ${b.id} at ${local(w0)} ${tz}; both belong to beneficial owner ${a.owner}`,
          related: { traders: [b.id] },
        },
      ];
    });
  }
  {
    const x = inst('WASH_SELF');
    const w = trader('WASH_SELF');
    limits(w, { maxPosition: 100_000, maxNotional: 10_000_000, maxLoss: 1_000_000 });
    const w0 = at(36);
    scripts.push((c) => {
      const rng = rngFor('wash-self');
      const q1 = touch(c, x, w0 - 200);
      const qty = lots(x, 600_000, q1.ask);
      // Pre-arranged: both legs near the same price. The sell waits (8-30 s) for a touch that
      // still contains the buy price; failing that it prints at the buy price anyway.
      const p1 = Math.round(q1.mid * x.ticksPerUnit) / x.ticksPerUnit;
      const id1 = c.book.newOrder(w0 - 200, w.idx, x.idx, BUY, qty, p1);
      c.book.fill(w0, id1, qty, p1, contra(c, x, w, rng), 2);
      let t2 = w0 + 8 * SEC;
      let p2 = p1;
      for (let dt = 8; dt <= 30; dt += 2) {
        const q2 = touch(c, x, w0 + dt * SEC - 200);
        const p = Math.min(q2.ask, Math.max(q2.bid, p1));
        if (Math.abs(p - p1) <= 0.0002 * p1) {
          t2 = w0 + dt * SEC;
          p2 = p;
          break;
        }
      }
      const id2 = c.book.newOrder(t2 - 200, w.idx, x.idx, SELL, qty, p2);
      c.book.fill(t2, id2, qty, p2, contra(c, x, w, rng), 2);
      return [
        {
          type: 'WASH_TRADE',
          instrument: x.id,
          traderId: w.id,
          start: w0,
          end: t2 + MIN,
          note: `${w.id} buys ${qty} ${x.id} at ${p1} at ${local(w0)} ${tz} and sells the same ${qty} at ${p2} ${(t2 - w0) / SEC} s later`,
        },
      ];
    });
  }

  // ---------------------------------------------------------------- SPOOFING
  {
    const x = inst('SPOOF');
    const ts = trader('SPOOF');
    limits(ts, { maxPosition: 100_000, maxNotional: 10_000_000, maxLoss: 1_000_000 });
    const s0 = at(33);
    const warm = warmUp(rngFor('spoof-warm'), s.open + MIN, s0 - 70 * SEC, [4, 7]);
    const sizes = warm.map((a) => a.qty);
    const spoofQty = Math.ceil(Math.max(15 * median(sizes), 10.5 * Math.max(...sizes)) / 100) * 100;
    overlay(x, { askBump: [{ from: s0 + 3, to: s0 + 803, qty: spoofQty }] });
    scripts.push((c) => {
      const rng = rngFor('spoof');
      runWarmUp(c, rng, ts, x, warm);
      const q = touch(c, x, s0);
      const id = c.book.newOrder(s0, ts.idx, x.idx, SELL, spoofQty, q.ask);
      c.book.cancel(s0 + 800, id);
      const buyPrice = take(c, rng, ts, x, BUY, 500, s0 + 2000, { lead: 800 });
      return [
        {
          type: 'SPOOFING',
          instrument: x.id,
          traderId: ts.id,
          start: s0,
          end: s0 + 7 * SEC + MIN,
          note: `${ts.id} offers ${spoofQty} ${x.id} at ${q.ask} at ${local(s0)} ${tz} (${(spoofQty / median(sizes)).toFixed(1)}x its median order of ${median(sizes)}), cancels it unfilled 0.8 s later and is filled buying 500 at ${buyPrice} 2 s after the offer`,
        },
      ];
    });
  }

  // ---------------------------------------------------------------- LAYERING
  {
    const x = inst('LAYER');
    const ty = trader('LAYER');
    limits(ty, { maxPosition: 100_000, maxNotional: 10_000_000, maxLoss: 1_000_000 });
    const y0 = at(41);
    const warm = warmUp(rngFor('layer-warm'), s.open + 90 * SEC, y0 - 70 * SEC, [8, 12]);
    scripts.push((c) => {
      const rng = rngFor('layer');
      runWarmUp(c, rng, ty, x, warm);
      const q = touch(c, x, y0);
      const ids: number[] = [];
      const prices: number[] = [];
      for (let k = 0; k < 4; k++) {
        const price = Math.round((q.ask + (k + 1) / x.ticksPerUnit) * x.ticksPerUnit) / x.ticksPerUnit;
        prices.push(price);
        ids.push(c.book.newOrder(y0 + 150 * k, ty.idx, x.idx, SELL, 100 * rng.int(9, 12), price));
      }
      const buyPrice = take(c, rng, ty, x, BUY, 800, y0 + 1500, { lead: 500 });
      ids.forEach((id, k) => c.book.cancel(y0 + 2600 + 100 * k, id));
      return [
        {
          type: 'LAYERING',
          instrument: x.id,
          traderId: ty.id,
          start: y0,
          end: y0 + 2900 + MIN,
          note: `${ty.id} layers 4 sell orders at ${prices.join(', ')} on ${x.id} within 450 ms from ${local(y0)} ${tz}, buys 800 at ${buyPrice} 1.5 s later and cancels all four 2.6-2.9 s after the first`,
        },
      ];
    });
  }

  // ---------------------------------------------------------------- FRONT_RUNNING
  {
    const x = inst('FRONT');
    const tf = trader('FRONT_RUNNER');
    const tc = trader('FRONT_CLIENT');
    limits(tf, { maxPosition: 100_000, maxNotional: 10_000_000, maxLoss: 1_000_000 });
    limits(tc, { maxPosition: 200_000, maxNotional: 20_000_000, maxLoss: 1_000_000 });
    const f0 = at(45);
    overlay(x, {
      // The client's buying lifts the price and holds it: the front-runner's round trip pays.
      price: piecewise([
        [f0, 1],
        [f0 + 20 * SEC, 1.008],
      ]),
      damp: { from: f0 - 30 * SEC, keep: 0.2 },
      fastQuotes: [{ from: f0, to: f0 + 25 * SEC, everyMs: 500 }],
    });
    scripts.push((c) => {
      const rng = rngFor('front');
      // The client desk's ordinary business: a few client orders below 10,000 shares.
      for (const m of [20, 28, 38]) take(c, rng, tc, x, rng.chance(0.5) ? BUY : SELL, 100 * rng.int(20, 60), at(m) + rng.int(0, 20_000), { client: true });
      const p1 = take(c, rng, tf, x, BUY, 3000, f0 - 30 * SEC, { lead: 400 });
      const q = touch(c, x, f0);
      const limit = Math.round(q.ask * 1.01 * x.ticksPerUnit) / x.ticksPerUnit;
      const id = c.book.newOrder(f0, tc.idx, x.idx, BUY, 25_000, limit, true);
      for (const dt of [400, 4000, 8000, 12_000, 16_000]) {
        c.book.fill(f0 + dt, id, 5000, Math.min(limit, touch(c, x, f0 + dt).ask), contra(c, x, tc, rng), 1);
      }
      const p2 = take(c, rng, tf, x, SELL, 3000, f0 + 4 * MIN, { lead: 400 });
      return [
        {
          type: 'FRONT_RUNNING',
          instrument: x.id,
          traderId: tf.id,
          start: f0 - 30 * SEC,
          end: f0 + 4 * MIN + MIN,
          note: `${tf.id} buys 3000 ${x.id} at ${p1} at ${local(f0 - 30 * SEC)} ${tz}, 30 s before ${tc.id} (same desk ${tc.desk}) enters a 25,000-share client buy order; ${tf.id} sells at ${p2} 4 minutes after it`,
          related: { traders: [tc.id] },
          sideEffects: [...PRICE_MOVERS],
        },
      ];
    });
  }

  // ---------------------------------------------------------------- MARKING_THE_CLOSE
  {
    const x = inst('MARKING');
    const tm = trader('MARKING');
    limits(tm, { maxPosition: 2_000_000, maxNotional: 100_000_000, maxLoss: 5_000_000 });
    const from = s.close - 10 * MIN;
    overlay(x, {
      price: piecewise([
        [s.close - 9.5 * MIN, 1],
        [s.close - 0.5 * MIN, 1.024],
      ]),
      damp: { from: s.close - 10 * MIN, keep: 0.1 },
    });
    scripts.push((c) => {
      const rng = rngFor('marking');
      const normal = c.flow.closingVolume[x.idx]!;
      const clip = Math.max(x.lot, Math.ceil((0.9 * normal) / 20 / x.lot) * x.lot);
      const t0 = touch(c, x, from).mid;
      const spread = new Map<number, number>();
      for (let k = 0; k < 20; k++) take(c, rng, tm, x, BUY, clip, from + 15 * SEC + k * 28 * SEC + rng.int(0, 3000), { lead: rng.int(50, 400), spread });
      const t1 = touch(c, x, s.close - 1).mid;
      const share = (20 * clip) / (20 * clip + normal);
      return [
        {
          type: 'MARKING_THE_CLOSE',
          instrument: x.id,
          traderId: tm.id,
          start: from,
          end: s.close + MIN,
          note: `${tm.id} buys 20 x ${clip} ${x.id} in the last 10 minutes (${(share * 100).toFixed(0)}% of the volume) while the mid rises ${(((t1 - t0) / t0) * 100).toFixed(1)}% into the ${local(s.close)} ${tz} close`,
          sideEffects: [...PRICE_MOVERS],
        },
      ];
    });
  }

  // ---------------------------------------------------------------- POSITION / NOTIONAL / CONCENTRATION / VAR
  {
    const tp = trader('POSITION');
    const x = named('BYTE');
    const b0 = at(18);
    limits(tp, { maxPosition: 20_000, maxNotional: 10_000_000, maxLoss: 1_000_000 });
    scripts.push((c) => {
      const rng = rngFor('position');
      for (const m of [15, 12, 9, 6, 3]) take(c, rng, tp, x, BUY, 2400, b0 - m * MIN + rng.int(0, 20_000));
      const price = take(c, rng, tp, x, BUY, 10_000, b0);
      return [
        {
          type: 'POSITION_LIMIT',
          traderId: tp.id,
          start: b0,
          end: b0 + MIN,
          note: `${tp.id} holds 12,000 ${x.id} (60% of its 20,000 maxPosition) and buys a 10,000 block at ${price} at ${local(b0)} ${tz}: 22,000`,
        },
      ];
    });
  }
  {
    const tn = trader('NOTIONAL');
    const b0 = at(24);
    const legs: Array<[string, number, number]> = [
      ['CRED', BUY, 16],
      ['BOLT', SELL, 12],
      ['DOSE', BUY, 8],
      ['CART', SELL, 4],
    ];
    limits(tn, { maxPosition: Infinity, maxNotional: 3_000_000, maxLoss: 1_000_000 });
    scripts.push((c) => {
      const rng = rngFor('notional');
      const book: Array<{ x: GenInstrument; qty: number }> = [];
      for (const [id, side, m] of legs) {
        const x = named(id);
        const t = b0 - m * MIN + rng.int(0, 20_000);
        const qty = lots(x, 600_000, touch(c, x, t).mid);
        take(c, rng, tn, x, side, qty, t);
        book.push({ x, qty: side === BUY ? qty : -qty });
      }
      const before = book.reduce((g, p) => g + Math.abs(p.qty * touch(c, p.x, b0).mid), 0);
      if (before > 0.85 * tn.limits.maxNotional) throw new Error('gen-day: NOTIONAL_LIMIT build-up too large');
      const idx = named('IDX');
      const qty = lots(idx, 1.1 * tn.limits.maxNotional - before, touch(c, idx, b0).mid);
      const price = take(c, rng, tn, idx, BUY, qty, b0);
      return [
        {
          type: 'NOTIONAL_LIMIT',
          traderId: tn.id,
          start: b0,
          end: b0 + MIN,
          note: `${tn.id} holds ~$${Math.round(before).toLocaleString('en-US')} gross in CRED, BOLT, DOSE, CART and buys ${qty} IDX at ${price} at ${local(b0)} ${tz}: ~110% of its $3,000,000 maxNotional`,
        },
      ];
    });
  }
  {
    const tcn = trader('CONCENTRATION');
    const b0 = at(5);
    limits(tcn, { maxPosition: Infinity, maxNotional: 5_000_000, maxLoss: 1_000_000, maxConcentration: 0.5 });
    scripts.push((c) => {
      const rng = rngFor('concentration');
      const x = named('CART');
      const qty = lots(x, 2_000_000, touch(c, x, b0).mid);
      const price = take(c, rng, tcn, x, BUY, qty, b0);
      for (const [id, m] of [['BOLT', 6], ['DOSE', 12]] as const) {
        const y = named(id);
        take(c, rng, tcn, y, BUY, lots(y, 300_000, touch(c, y, b0 + m * MIN).mid), b0 + m * MIN);
      }
      return [
        {
          type: 'CONCENTRATION_LIMIT',
          traderId: tcn.id,
          start: b0,
          end: b0 + MIN,
          note: `${tcn.id} opens the day with a $2,000,000 block of ${x.id} (${qty} at ${price}) at ${local(b0)} ${tz}: 100% of its book (maxConcentration 0.5, 40% of maxNotional); small BOLT and DOSE buys later keep it ~77%`,
        },
      ];
    });
  }
  {
    const tv = trader('VAR');
    const b0 = at(38);
    const varLimit = 200_000;
    limits(tv, { maxPosition: Infinity, maxNotional: 60_000_000, maxLoss: 5_000_000, varLimit });
    scripts.push((c) => {
      const rng = rngFor('var');
      const idx = named('IDX');
      const t1 = b0 - 18 * MIN;
      const m1 = touch(c, idx, t1).mid;
      const unit = historicalVaR([{ inst: idx.idx, qty: 1, mark: m1 }], history.returns);
      const q1 = lots(idx, (0.35 * varLimit * m1) / unit, m1);
      take(c, rng, tv, idx, BUY, q1, t1);
      const legs = [named('BOLT'), named('CRED')];
      const marks = legs.map((x) => touch(c, x, b0).mid);
      const mIdx = touch(c, idx, b0).mid;
      const varOf = (notional: number): number =>
        historicalVaR(
          [{ inst: idx.idx, qty: q1, mark: mIdx }, ...legs.map((x, k) => ({ inst: x.idx, qty: lots(x, notional / 2, marks[k]!), mark: marks[k]! }))],
          history.returns,
        );
      let lo = 0;
      let hi = 50_000_000;
      for (let k = 0; k < 50; k++) {
        const mid = (lo + hi) / 2;
        if (varOf(mid) < 1.7 * varLimit) lo = mid;
        else hi = mid;
      }
      const before = historicalVaR([{ inst: idx.idx, qty: q1, mark: mIdx }], history.returns);
      const after = varOf(hi);
      legs.forEach((x, k) => take(c, rng, tv, x, BUY, lots(x, hi / 2, marks[k]!), b0 + 50 * k));
      return [
        {
          type: 'VAR_LIMIT',
          traderId: tv.id,
          start: b0,
          end: b0 + MIN,
          note: `${tv.id} holds ${q1} IDX (99% historical VaR ~$${Math.round(before).toLocaleString('en-US')}) and buys ~$${Math.round(hi).toLocaleString('en-US')} of BOLT and CRED at ${local(b0)} ${tz}: VaR ~$${Math.round(after).toLocaleString('en-US')} against a varLimit of $${varLimit.toLocaleString('en-US')}`,
        },
      ];
    });
  }

  return { overlays, shocks, scripts };
}
