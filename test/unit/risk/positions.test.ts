import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bookMemory } from '../../../src/risk/mark-kernel.js';
import { applyFill, IM, IM_HOLDERS, IM_IDS_AT, IM_LAST_QUOTE, IM_MARK, IM_SOURCE, IM_TIS_AT, MarkSource, PositionBook, type Position } from '../../../src/risk/positions.js';
import { generateDay, near, processingOrder, refState, type Ev } from './desk-reference.js';

const PREV: Record<string, number> = { A: 100, B: 50, C: 20 };
const prevClose = (i: string): number => PREV[i] ?? Number.NaN;

function apply(book: PositionBook, e: Ev): void {
  if (e.type === 'quote') book.applyQuote(e.ts, e.instrument, e.bid, e.ask);
  else book.applyTrade(e.ts, e.traderId, e.instrument, e.side, e.qty, e.price);
}

/** Random event sequences over 3 instruments and 3 traders, integer quantities, 2-decimal prices. */
const eventsArb = fc
  .array(
    fc.oneof(
      fc.record({
        type: fc.constant('quote' as const),
        instrument: fc.constantFrom('A', 'B', 'C'),
        mid: fc.integer({ min: 500, max: 20_000 }),
        half: fc.integer({ min: 1, max: 20 }),
      }),
      fc.record({
        type: fc.constant('trade' as const),
        traderId: fc.constantFrom('T1', 'T2', 'T3'),
        instrument: fc.constantFrom('A', 'B', 'C'),
        side: fc.constantFrom('BUY' as const, 'SELL' as const),
        qty: fc.integer({ min: 1, max: 3000 }),
        price: fc.integer({ min: 500, max: 20_000 }),
      }),
    ),
    { minLength: 1, maxLength: 120 },
  )
  .map((xs) =>
    xs.map((x, k): Ev =>
      x.type === 'quote'
        ? { type: 'quote', ts: 1000 + k, instrument: x.instrument, bid: (x.mid - x.half) / 100, ask: (x.mid + x.half) / 100, bidSize: 1, askSize: 1 }
        : { type: 'trade', ts: 1000 + k, tradeId: `t${k}`, traderId: x.traderId, instrument: x.instrument, side: x.side, qty: x.qty, price: x.price / 100 },
    ),
  );

describe('applyFill (weighted average cost, CONTRACTS.md 4)', () => {
  it('increases, reduces and crosses zero as the contract says', () => {
    const p = { qty: 0, avgPrice: 0, realizedPnl: 0 };
    expect(applyFill(p, 100, 10)).toBe(0);
    expect(applyFill(p, 300, 12)).toBe(0);
    expect(p).toEqual({ qty: 400, avgPrice: 11.5, realizedPnl: 0 });
    expect(applyFill(p, -100, 13)).toBe(150); // closes 100 at +1.5
    expect(p).toEqual({ qty: 300, avgPrice: 11.5, realizedPnl: 150 });
    expect(applyFill(p, -500, 11)).toBe(-150); // closes 300 at -0.5, opens short 200 at 11
    expect(p).toEqual({ qty: -200, avgPrice: 11, realizedPnl: 0 });
    expect(applyFill(p, -200, 12)).toBe(0);
    expect(p.avgPrice).toBe(11.5);
    expect(applyFill(p, 400, 10)).toBe(600); // short covered 1.5 below average
    expect(p).toEqual({ qty: 0, avgPrice: 0, realizedPnl: 600 });
  });

  it('treats a remainder within rounding of zero as flat', () => {
    const p = { qty: 0, avgPrice: 0, realizedPnl: 0 };
    applyFill(p, 0.1, 10);
    applyFill(p, 0.2, 10);
    applyFill(p, -0.3, 11);
    expect(p.qty).toBe(0);
    expect(p.avgPrice).toBe(0);
  });
});

describe('PositionBook', () => {
  it('marks by quote mid, else last trade, else prevClose; an older quote does not move the mark', () => {
    const book = new PositionBook(prevClose);
    const a = book.instrumentOf('A');
    expect([a.mark, a.source]).toEqual([100, MarkSource.PrevClose]);
    book.applyTrade(1, 'T1', 'A', 'BUY', 10, 101);
    expect([a.mark, a.source]).toEqual([101, MarkSource.Trade]);
    book.applyTrade(2, 'T2', 'A', 'SELL', 10, 102);
    expect(a.mark).toBe(102);
    book.applyQuote(3, 'A', 99, 101);
    expect([a.mark, a.source]).toEqual([100, MarkSource.Quote]);
    book.applyTrade(4, 'T1', 'A', 'BUY', 10, 105);
    expect(a.mark).toBe(100);
    book.applyQuote(2.5, 'A', 90, 92); // late: older than the quote at 3
    expect(a.mark).toBe(100);
    expect(book.trader('T1')!.unrealized).toBeCloseTo(20 * (100 - 103), 9);
  });

  it('ignores unusable records', () => {
    const book = new PositionBook(prevClose);
    expect(book.applyTrade(1, 'T1', 'A', 'HOLD', 10, 100)).toBeUndefined();
    expect(book.applyTrade(1, 'T1', 'A', 'BUY', 0, 100)).toBeUndefined();
    expect(book.applyTrade(1, 'T1', 'A', 'BUY', 10, Number.NaN)).toBeUndefined();
    expect(book.applyQuote(1, 'A', Number.NaN, 1)).toBe(false);
    expect(book.traders).toHaveLength(0);
  });

  it('re-values only the open positions of the quoted instrument', () => {
    const touched: string[] = [];
    const book = new PositionBook(prevClose, {
      onRevalue: (p: Position) => touched.push(`${p.trader.id}/${p.inst.name}`),
      onTrade: () => undefined,
    });
    book.applyTrade(1, 'T1', 'A', 'BUY', 10, 100);
    book.applyTrade(2, 'T2', 'A', 'BUY', 10, 100);
    book.applyTrade(3, 'T3', 'B', 'BUY', 10, 50);
    book.applyTrade(4, 'T2', 'A', 'SELL', 10, 100); // T2 flat in A: no longer a holder
    touched.length = 0;
    book.applyQuote(5, 'A', 101, 103);
    expect(touched).toEqual(['T1/A']);
    book.applyQuote(6, 'A', 101, 103); // same mid: nothing to re-value
    expect(touched).toEqual(['T1/A']);
  });

  it('matches a full recomputation after every event (random sequences, 1e-9 relative)', () => {
    fc.assert(
      fc.property(eventsArb, (events) => {
        const book = new PositionBook(prevClose);
        const peak = new Map<string, number>();
        for (let i = 0; i < events.length; i++) {
          apply(book, events[i]!);
          const ref = refState(processingOrder(events.slice(0, i + 1)), prevClose);
          for (const [id, rt] of ref.traders) {
            peak.set(id, Math.max(peak.get(id) ?? 0, rt.pnl));
            const t = book.trader(id)!;
            const scale = rt.gross + Math.abs(rt.realized);
            expect(near(t.gross, rt.gross, scale)).toBe(true);
            expect(near(t.net, rt.net, scale)).toBe(true);
            expect(near(t.realized, rt.realized, scale)).toBe(true);
            expect(near(t.unrealized, rt.unrealized, scale)).toBe(true);
            expect(near(t.pnl, rt.pnl, scale)).toBe(true);
            expect(near(t.peak, peak.get(id)!, scale)).toBe(true);
            expect(near(t.drawdown, peak.get(id)! - rt.pnl, scale)).toBe(true);
            expect(near(t.concentration, rt.concentration, 1)).toBe(true);
            for (const [inst, rp] of ref.positions.get(id)!) {
              const p = t.byInstrument[book.instrument(inst)!.index]!;
              expect(p.qty).toBe(rp.qty);
              expect(near(p.avgPrice, rp.avg)).toBe(true);
              expect(near(p.realizedPnl, rp.realized, scale)).toBe(true);
              expect(p.inst.mark).toBe(rp.mark);
              expect(near(p.notional, rp.notional, scale)).toBe(true);
              expect(near(p.unrealizedPnl, rp.unrealized, scale)).toBe(true);
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('stays exact over long runs (the periodic re-sum of the running aggregates included)', () => {
    const { events, reference } = generateDay(7, { events: 6000 });
    const pc = (i: string): number => reference.instruments.get(i)!.prevClose;
    const book = new PositionBook(pc);
    for (const e of events) apply(book, e);
    expect(Math.max(...book.traders.map((t) => t.touches))).toBeGreaterThan(2048);
    const ref = refState(processingOrder(events), pc);
    for (const [id, rt] of ref.traders) {
      const t = book.trader(id)!;
      const scale = rt.gross + Math.abs(rt.realized);
      expect(near(t.gross, rt.gross, scale)).toBe(true);
      expect(near(t.net, rt.net, scale)).toBe(true);
      expect(near(t.pnl, rt.pnl, scale)).toBe(true);
      expect(near(t.concentration, rt.concentration, 1)).toBe(true);
    }
  });

  it("keeps each trader's flat list of position ids (TraderBook.ids) in positions order as positions open", () => {
    const book = new PositionBook(() => 10);
    let ts = 0;
    for (let k = 0; k < 400; k++) {
      // 3 traders over 40 instruments: the lists grow past their first capacity several times.
      book.applyTrade(++ts, `T${k % 3}`, `I${(k * 7) % 40}`, k % 2 === 0 ? 'BUY' : 'SELL', 100 + k, 10 + (k % 5));
      for (const t of book.traders) {
        for (let j = 0; j < t.positions.length; j++) if (t.ids[j] !== t.positions[j]!.id) throw new Error(`${t.id} position ${j} after trade ${k}`);
      }
    }
    expect(Math.min(...book.traders.map((t) => t.positions.length))).toBeGreaterThan(8);
    // The scans over the ids give what a walk over the Position objects gives.
    for (const t of book.traders) {
      book.setLargestTracking(t.index, false);
      const abs = t.positions.map((p) => Math.abs(p.notional));
      const m = Math.max(...abs);
      expect(book.largestIdOf(t.index)).toBe(t.positions[abs.indexOf(m)]!.id);
      expect(book.concentrationOf(t.index)).toBe(m / t.gross);
      book.setLargestTracking(t.index, true);
      expect(t.largest!.id).toBe(t.positions[abs.indexOf(m)]!.id);
    }
  });

  it('keeps the largest position right when it shrinks (rescan) and when another overtakes it', () => {
    const book = new PositionBook(prevClose);
    book.applyTrade(1, 'T1', 'A', 'BUY', 100, 100); // 10,000
    book.applyTrade(2, 'T1', 'B', 'BUY', 150, 50); // 7,500
    book.applyTrade(3, 'T1', 'C', 'SELL', 300, 20); // -6,000
    const t = book.trader('T1')!;
    expect(t.largest!.inst.name).toBe('A');
    book.applyQuote(4, 'A', 59, 61); // A -> 6,000: B is now the largest
    expect(t.largest!.inst.name).toBe('B');
    expect(t.concentration).toBeCloseTo(7500 / 19500, 12);
    book.applyQuote(5, 'C', 39, 41); // C -> -12,000 overtakes
    expect(t.largest!.inst.name).toBe('C');
    expect(t.concentration).toBeCloseTo(12000 / 25500, 12);
  });

  it('keeps the largest position exact while the runner-up bound skips rescans (random sequences)', () => {
    fc.assert(
      fc.property(eventsArb, (events) => {
        const book = new PositionBook(prevClose);
        for (const e of events) {
          apply(book, e);
          for (const t of book.traders) {
            const abs = t.positions.map((p) => Math.abs(p.notional));
            const max = Math.max(...abs);
            // The largest holds the maximum |notional| exactly, and is the position when it is unique.
            expect(Math.abs(t.largest!.notional)).toBe(max);
            if (abs.filter((a) => a === max).length === 1) expect(t.largest).toBe(t.positions[abs.indexOf(max)]);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('snapshot -> structuredClone -> restore -> continue equals an uninterrupted run', () => {
    fc.assert(
      fc.property(eventsArb, fc.nat(), (events, cut) => {
        const k = cut % (events.length + 1);
        const live = new PositionBook(prevClose);
        for (const e of events) apply(live, e);
        const first = new PositionBook(prevClose);
        for (const e of events.slice(0, k)) apply(first, e);
        const resumed = new PositionBook(prevClose);
        resumed.restore(structuredClone(first.snapshot()));
        for (const e of events.slice(k)) apply(resumed, e);
        expect(resumed.snapshot()).toEqual(live.snapshot());
        for (const t of live.traders) {
          const r = resumed.trader(t.id)!;
          expect([r.gross, r.net, r.pnl, r.peak, r.concentration]).toEqual([t.gross, t.net, t.pnl, t.peak, t.concentration]);
        }
      }),
      { numRuns: 100 },
    );
  });
  it('keeps each instrument record (im) equal to the instrument: mark, last quote, source, holder count, holder-list places (with and without memory, restored)', () => {
    const check = (book: PositionBook): void => {
      for (const inst of book.instruments) {
        const o = inst.index * IM;
        const at = (a: Int32Array): number => (book.memory === undefined ? 0 : a.byteOffset);
        const rec = [IM_MARK, IM_LAST_QUOTE, IM_SOURCE, IM_HOLDERS, IM_IDS_AT, IM_TIS_AT].map((slot) => book.im[o + slot]);
        expect(rec).toEqual([inst.mark, inst.lastQuoteTs, inst.source, inst.holders.length, at(inst.holderIds), at(inst.holderTraders)]);
        if (book.memory !== undefined) expect(inst.holderIds.buffer).toBe(book.memory.buffer);
      }
    };
    // Many instruments and traders, so that the records and the memory grow while quoted.
    const names = Array.from({ length: 40 }, (_, i) => `I${i}`);
    const rnd = ((a) => () => (a = (a * 16807) % 2147483647) / 2147483647)(7);
    for (const memory of [undefined, bookMemory()]) {
      const book = new PositionBook(() => 10, undefined, undefined, memory);
      for (let k = 0; k < 4000; k++) {
        const inst = names[Math.floor(rnd() * names.length)]!;
        if (rnd() < 0.5) book.applyQuote(k, inst, 9 + rnd(), 11 + rnd());
        else book.applyTrade(k, `T${Math.floor(rnd() * 60)}`, inst, rnd() < 0.5 ? 'BUY' : 'SELL', 1 + Math.floor(rnd() * 3), 9 + rnd() * 2);
        if (k % 97 === 0) check(book);
      }
      check(book);
      const again = new PositionBook(() => 10, undefined, undefined, bookMemory());
      again.restore(structuredClone(book.snapshot()));
      check(again);
    }
  });

  it('resolves instrument and trader names through its name caches as through a plain Map (colliding slots included)', () => {
    // 3000 names over 1024 cache slots: many share a slot, and the random order makes them alternate.
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2999 }), fc.boolean()), { minLength: 3000, maxLength: 5000 }), (picks) => {
        const book = new PositionBook(() => 100);
        const firstSeen = { inst: new Map<string, number>(), trader: new Map<string, number>() };
        const wrong: string[] = [];
        for (const [k, isTrader] of picks) {
          // Built afresh each time (not the same string object), with digits and letters at the end.
          const name = `${isTrader ? 'TR' : ''}${(k * 7919).toString(36)}${k % 10}`;
          const seen = isTrader ? firstSeen.trader : firstSeen.inst;
          if (!seen.has(name)) seen.set(name, seen.size);
          // One expect per pick is too slow for thousands of picks: collect what differs.
          if (isTrader) {
            const t = book.traderOf(name);
            if (t.id !== name || t.index !== seen.get(name) || book.trader(name) !== t) wrong.push(name);
          } else {
            const inst = book.instrumentOf(name);
            if (inst.name !== name || inst.index !== seen.get(name) || book.instrument(name) !== inst) wrong.push(name);
          }
        }
        expect(wrong).toEqual([]);
        expect(book.instruments.length).toBe(firstSeen.inst.size);
        expect(book.traders.length).toBe(firstSeen.trader.size);
      }),
      { numRuns: 20 },
    );
  });
});
