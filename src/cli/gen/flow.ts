import { BUY, SELL, type EventBook } from './book.js';
import { inWindows, modelMid, quoteIndexAt, volMultiplier, type Overlay, type QuoteSeries, type Session } from './market.js';
import { Rng } from './prng.js';
import type { GenInstrument, GenTrader, Universe } from './universe.js';

/**
 * Caps the normal flow keeps every calm trader under, as fractions of its limits; the limits in
 * traders.csv are set from them (universe.ts assignCalmLimits), so calm traders stay silent.
 *
 * @example
 * Math.abs(position) <= FLOW_CAPS.position * trader.limits.maxPosition
 */
export const FLOW_CAPS = {
  position: 0.4,
  instrumentNotional: 0.08,
  grossNotional: 0.3,
  /**
   * In the last 10 minutes (MARKING_THE_CLOSE flags 20% of the volume, counting a trader's trades
   * as trader or counterparty) each calm trade is at most this notional and goes to the eligible
   * trader with the least participation so far, its contra to the least-participating calm trader
   * of all: participation spreads over many traders.
   */
  closingMaxNotional: 60_000,
  /** No calm trader trades both sides of an instrument within this (WASH_TRADE looks 60 s back). */
  washGapMs: 61_000,
  /** Client orders of calm client-flow traders stay below FRONT_RUNNING's 10,000 shares. */
  clientMaxQty: 9_500,
  /** Calm orders are never cancelled sooner than this (SPOOFING needs < 2 s, LAYERING < 5 s). */
  minCancelMs: 6_000,
};

/**
 * What the normal flow needs: the roster, the session, quotes and overlays per instrument.
 *
 * @example
 * generateNormalFlow({ u, s, latent, quotes, overlays, seed, book });
 */
export interface FlowInput {
  u: Universe;
  s: Session;
  latent: Float64Array[];
  quotes: QuoteSeries[];
  overlays: Map<number, Overlay>;
  seed: number;
  book: EventBook;
}

/**
 * Summary the incident scripts use: each instrument's calm volume traded in the last 10 minutes.
 *
 * @example
 * flow.closingVolume[toys.idx]
 */
export interface FlowResult {
  closingVolume: Float64Array;
}

/**
 * Trade size: notional lognormal around $40k (clipped to $12k-$160k), in whole lots.
 *
 * @example
 * tradeQty(rng, acme, 92.4) // e.g. 400
 */
export function tradeQty(rng: Rng, x: GenInstrument, mid: number): number {
  const notional = Math.min(160_000, Math.max(12_000, rng.lognormal(40_000, 0.6)));
  return Math.max(x.lot, Math.round(notional / mid / x.lot) * x.lot);
}

const STYLE_WEIGHT: Record<string, number> = { MM: 3, MOM: 1.5, MR: 1.5, CF: 1.2 };

/**
 * Generates the calm traders' activity: a tape of trade arrivals per instrument (Poisson, with
 * the U-shaped intraday intensity and the overlays' rates and pauses), each assigned to a calm
 * trader who trades the instrument, in global time order so that positions and gross exposure
 * are known at every step. Styles decide the side (market makers lean against inventory,
 * momentum follows the 5-minute move, mean reversion fades it, client flow is two-sided) and
 * whether the fill is aggressive (at the far touch) or passive (at the near touch). Each fill
 * is preceded by its order (NEW, sometimes a REPLACE, sometimes two partial fills); besides,
 * every calm trader rests orders away from the touch and cancels them 6-45 s later.
 *
 * Guards keep every calm trader silent for every rule of CONTRACTS.md section 4: see
 * {@link FLOW_CAPS}; a counterparty never shares the trader's beneficial owner.
 *
 * @example
 * const { closingVolume } = generateNormalFlow(input);
 */
export function generateNormalFlow(f: FlowInput): FlowResult {
  const { u, s, quotes, overlays, book } = f;
  const nI = u.instruments.length;
  const nT = u.traders.length;
  const calm = u.traders.filter((t) => t.role === undefined);
  const closingVolume = new Float64Array(nI);
  if (calm.length === 0) return { closingVolume };
  const closingStart = s.close - 600_000;

  // ---- arrivals
  const arrT: number[] = [];
  const arrI: number[] = [];
  const arrQ: number[] = [];
  for (const x of u.instruments) {
    const q = quotes[x.idx]!;
    if (q.n === 0) continue;
    const rng = new Rng(f.seed, `tape:${x.id}`);
    const ov = overlays.get(x.idx);
    let t = q.ts[0]! + 1 + rng.exp(x.tradeGapS * 1000);
    while (t < s.close) {
      const ti = Math.round(t);
      if (ti < s.close && !inWindows(ov?.noTrades, ti)) {
        const qty = tradeQty(rng, x, modelMid(s, f.latent[x.idx]!, ov, ti));
        arrT.push(ti);
        arrI.push(x.idx);
        arrQ.push(qty);
      }
      const mult = volMultiplier(s, t) * (ov?.tradeRate ? ov.tradeRate(t) : 1);
      t += rng.exp((x.tradeGapS * 1000) / mult);
    }
  }
  const order = sortArrivals(arrT, arrI);

  // ---- who trades what
  const eligible: number[][] = u.instruments.map(() => []);
  const cumWeight: number[][] = u.instruments.map(() => []);
  for (const t of calm) {
    for (const i of t.universe) {
      const w = STYLE_WEIGHT[t.style] ?? 1;
      const cw = cumWeight[i]!;
      eligible[i]!.push(t.idx);
      cw.push((cw[cw.length - 1] ?? 0) + w);
    }
  }

  const pos = new Float64Array(nT * nI);
  const lastBuy = new Float64Array(nT * nI).fill(-Infinity);
  const lastSell = new Float64Array(nT * nI).fill(-Infinity);
  const closeVol = new Float64Array(nT * nI);
  const cursor = new Int32Array(nI).fill(-1);
  const markAt = (i: number, t: number): number => {
    const q = quotes[i]!;
    let c = cursor[i]!;
    while (c + 1 < q.n && q.ts[c + 1]! <= t) c++;
    cursor[i] = c;
    return c < 0 ? u.instruments[i]!.prevClose : (q.bid[c]! + q.ask[c]!) / 2;
  };
  const gross = (tr: GenTrader, t: number, except: number): number => {
    let g = 0;
    const row = tr.idx * nI;
    for (const m of tr.universe) if (m !== except && pos[row + m] !== 0) g += Math.abs(pos[row + m]! * markAt(m, t));
    return g;
  };

  const rng = new Rng(f.seed, 'assign');
  for (let k = 0; k < order.length; k++) {
    const a = order[k]!;
    const t = arrT[a]!;
    const i = arrI[a]!;
    const x = u.instruments[i]!;
    const elig = eligible[i]!;
    if (elig.length === 0) continue;
    const cw = cumWeight[i]!;
    const mid = markAt(i, t);
    const qi = cursor[i]!;
    if (qi < 0) continue;
    const q = quotes[i]!;
    const bid = q.bid[qi]!;
    const ask = q.ask[qi]!;
    const ov = overlays.get(i);
    let chosen = -1;
    let side = BUY;
    let qty = arrQ[a]!;
    const closing = t >= closingStart;
    if (closing) qty = Math.max(x.lot, Math.min(qty, Math.floor(FLOW_CAPS.closingMaxNotional / mid / x.lot) * x.lot));
    const candidates = closing ? byClosingLoad(elig, i) : undefined;
    for (let attempt = 0; attempt < (closing ? candidates!.length : 6) && chosen < 0; attempt++) {
      let p = 0;
      if (candidates) p = candidates[attempt]!;
      else {
        const r = rng.next() * cw[cw.length - 1]!;
        while (cw[p]! <= r) p++;
      }
      const tr = u.traders[elig[p]!]!;
      let qtyT = qty;
      if (tr.style === 'CF' && qtyT > FLOW_CAPS.clientMaxQty) qtyT = Math.floor(FLOW_CAPS.clientMaxQty / x.lot) * x.lot;
      if (qtyT <= 0) continue;
      const cell = tr.idx * nI + i;
      const forced = ov?.buyProb?.(t);
      let pBuy: number;
      if (forced !== undefined) pBuy = forced;
      else if (tr.style === 'MM') {
        const cap = Math.min(FLOW_CAPS.position * tr.limits.maxPosition, (FLOW_CAPS.instrumentNotional * tr.limits.maxNotional) / mid);
        pBuy = 0.5 - 0.45 * Math.max(-1, Math.min(1, pos[cell]! / cap));
      } else if (tr.style === 'MOM' || tr.style === 'MR') {
        const r5 = Math.log(modelMid(s, f.latent[i]!, ov, t) / modelMid(s, f.latent[i]!, ov, t - 300_000));
        const up = r5 > 1e-4 ? 0.7 : r5 < -1e-4 ? 0.3 : 0.5;
        pBuy = tr.style === 'MOM' ? up : 1 - up;
      } else pBuy = 0.5;
      const want = rng.next() < pBuy ? BUY : SELL;
      for (const sd of [want, 1 - want]) {
        if (allowed(tr, i, sd, qtyT, t, mid)) {
          chosen = tr.idx;
          side = sd;
          qty = qtyT;
          break;
        }
      }
    }
    if (chosen < 0) continue;
    const tr = u.traders[chosen]!;
    const aggressive = tr.style === 'MOM' || tr.style === 'CF' || (tr.style === 'MR' && rng.next() < 0.5);
    let price = aggressive ? (side === BUY ? ask : bid) : side === BUY ? bid : ask;
    const tpu = x.ticksPerUnit;
    const spreadTicks = Math.round((ask - bid) * tpu);
    if (aggressive && spreadTicks >= 2 && rng.next() < 0.1) {
      const midT = (bid + ask) * tpu * 0.5;
      price = (side === BUY ? Math.floor(midT) : Math.ceil(midT)) / tpu;
    }
    const cp = closing ? closingCounterparty(tr, i) : counterparty(tr, i, rng);
    const client = tr.style === 'CF';
    const venue = rng.int(0, 4);
    if (aggressive) {
      const o = book.newOrder(t - Math.min(rng.int(15, 400), Math.max(1, t - s.open)), tr.idx, i, side, qty, price, client);
      if (qty >= 2 * x.lot && rng.next() < 0.12) {
        const first = Math.max(x.lot, Math.round((qty * 0.6) / x.lot) * x.lot);
        book.fill(t, o, first, price, cp, venue);
        // A second print at the same instant (another resting order at the touch).
        book.fill(t, o, qty - first, price, counterparty(tr, i, rng), venue);
      } else book.fill(t, o, qty, price, cp, venue);
    } else {
      let lead = rng.int(1000, 25_000);
      // Near the open an order cannot have rested long: keep it after the open.
      if (t - lead <= s.open) lead = Math.max(1, Math.floor((t - s.open) * rng.uniform(0.2, 0.8)));
      const tNew = t - lead;
      if (t - tNew > 400 && rng.next() < 0.15) {
        const worse = side === BUY ? price - 1 / tpu : price + 1 / tpu;
        const o = book.newOrder(tNew, tr.idx, i, side, qty, Math.round(Math.max(1 / tpu, worse) * tpu) / tpu, client);
        book.replace(t - rng.int(100, Math.min(t - tNew - 100, 5000)), o, qty, price);
        book.fill(t, o, qty, price, cp, venue);
      } else {
        const o = book.newOrder(tNew, tr.idx, i, side, qty, price, client);
        book.fill(t, o, qty, price, cp, venue);
      }
    }
    const cell = tr.idx * nI + i;
    pos[cell]! += side === BUY ? qty : -qty;
    if (side === BUY) lastBuy[cell] = t;
    else lastSell[cell] = t;
    if (closing) {
      closeVol[cell]! += qty;
      if (cp >= 0) closeVol[cp * nI + i]! += qty;
      closingVolume[i]! += qty;
    }
  }

  restingOrders(f, calm, touchAt(f));
  return { closingVolume };

  function allowed(tr: GenTrader, i: number, side: number, qty: number, t: number, mid: number): boolean {
    const cell = tr.idx * nI + i;
    if (side === BUY ? t - lastSell[cell]! <= FLOW_CAPS.washGapMs : t - lastBuy[cell]! <= FLOW_CAPS.washGapMs) return false;
    const p0 = pos[cell]!;
    const p1 = p0 + (side === BUY ? qty : -qty);
    if (Math.abs(p1) <= Math.abs(p0)) return true;
    const L = tr.limits;
    if (Math.abs(p1) > FLOW_CAPS.position * L.maxPosition) return false;
    if (Math.abs(p1 * mid) > FLOW_CAPS.instrumentNotional * L.maxNotional) return false;
    return gross(tr, t, i) + Math.abs(p1 * mid) <= FLOW_CAPS.grossNotional * L.maxNotional;
  }

  /** Positions in `elig` ordered by the trader's volume in the closing window, least first (ties by id). */
  function byClosingLoad(elig: number[], i: number): number[] {
    const idx = elig.map((_, p) => p);
    return idx.sort((p, q) => closeVol[elig[p]! * nI + i]! - closeVol[elig[q]! * nI + i]! || p - q);
  }

  function closingCounterparty(tr: GenTrader, i: number): number {
    let best = -1;
    let load = Infinity;
    for (const c of calm) {
      if (c.idx === tr.idx || c.owner === tr.owner) continue;
      const v = closeVol[c.idx * nI + i]!;
      if (v < load) {
        load = v;
        best = c.idx;
      }
    }
    return best;
  }

  function counterparty(tr: GenTrader, i: number, r: Rng): number {
    const elig = eligible[i]!;
    for (let k = 0; k < 8; k++) {
      const c = u.traders[r.pick(elig)]!;
      if (c.idx !== tr.idx && c.owner !== tr.owner) return c.idx;
    }
    for (let k = 0; k < calm.length; k++) {
      const c = calm[(k + r.int(0, calm.length - 1)) % calm.length]!;
      if (c.idx !== tr.idx && c.owner !== tr.owner) return c.idx;
    }
    return -1;
  }
}

function sortArrivals(ts: number[], inst: number[]): number[] {
  const idx = ts.map((_, k) => k);
  idx.sort((a, b) => ts[a]! - ts[b]! || inst[a]! - inst[b]! || a - b);
  return idx;
}

/** Quote lookup by binary search, for the resting orders (their times are not monotonic). */
function touchAt(f: FlowInput): (i: number, t: number) => { bid: number; ask: number } | undefined {
  return (i, t) => {
    const q = f.quotes[i]!;
    const j = quoteIndexAt(q, t);
    return j < 0 ? undefined : { bid: q.bid[j]!, ask: q.ask[j]! };
  };
}

function restingOrders(f: FlowInput, calm: GenTrader[], touch: (i: number, t: number) => { bid: number; ask: number } | undefined): void {
  const { s, book, u } = f;
  for (const tr of calm) {
    const rng = new Rng(f.seed, `resting:${tr.id}`);
    let t = s.open + rng.exp(150_000);
    while (t < s.close - 60_000) {
      const ti = Math.round(t);
      const i = rng.pick(tr.universe);
      const x = u.instruments[i]!;
      const q = touch(i, ti);
      if (q) {
        const side = rng.next() < 0.5 ? BUY : SELL;
        const tpu = x.ticksPerUnit;
        const ref = side === BUY ? q.bid : q.ask;
        const awayTicks = Math.max(1, Math.round(ref * rng.uniform(0.0005, 0.003) * tpu));
        const priceT = Math.round(ref * tpu) + (side === BUY ? -awayTicks : awayTicks);
        if (priceT >= 1) {
          let qty = tradeQty(rng, x, (q.bid + q.ask) / 2);
          if (tr.style === 'CF' && qty > FLOW_CAPS.clientMaxQty) qty = Math.floor(FLOW_CAPS.clientMaxQty / x.lot) * x.lot;
          const o = book.newOrder(ti, tr.idx, i, side, qty, priceT / tpu, tr.style === 'CF');
          let last = priceT;
          if (rng.next() < 0.2) {
            last = priceT + (side === BUY ? -1 : 1);
            if (last >= 1) book.replace(ti + rng.int(2000, 5000), o, qty, last / tpu);
          }
          book.cancel(ti + rng.int(FLOW_CAPS.minCancelMs, 45_000), o);
        }
      }
      t += Math.max(2_500, rng.exp(150_000));
    }
  }
}
