/**
 * The desk's snapshot tables: the trader_risk concentration taken from the positions pass
 * (DeskRisk.positionColumns' `largest`) against PositionBook.concentrationOf's own scan.
 */
import { describe, expect, it } from 'vitest';
import { DeskRisk } from '../../../src/risk/desk.js';
import { TF, TF_GROSS } from '../../../src/risk/positions.js';
import { generateDay, processingOrder } from './desk-reference.js';

describe("trader_risk's concentration from the positions pass (DeskRisk.traderColumns' largest)", () => {
  it('is bit for bit the scan of concentrationOf, for traders with and without a tracked largest position', () => {
    const day = generateDay(11, { events: 20_000 });
    // T1 and T3 without a concentration limit: their largest position is not tracked per quote.
    const traders = new Map([...day.reference.traders].map(([id, t]) => [id, id === 'T1' || id === 'T3' ? { ...t, maxConcentration: Number.POSITIVE_INFINITY } : t]));
    const desk = new DeskRisk({ ...day.reference, traders }, { snapshotIntervalMs: 60_000 }, { breach: () => undefined, snapshot: () => undefined, warn: () => undefined });
    let compared = 0;
    let untrackedOpen = 0;
    processingOrder(day.events).forEach((e, k) => {
      if (e.type === 'quote') desk.quote(e);
      else desk.trade(e);
      if (k % 40 !== 0) return;
      const largest = new Float64Array(desk.book.traders.length);
      desk.positionColumns(largest);
      const fused = desk.traderColumns(largest).columns;
      const plain = desk.traderColumns().columns;
      const book = desk.book;
      for (const t of book.traders) if (book.largestTracked[t.index] === 0 && (book.tf[t.index * TF + TF_GROSS] as number) > 0) untrackedOpen++;
      for (const [name, cells] of Object.entries(plain)) {
        const got = fused[name]!;
        expect(got.length, name).toBe(cells.length);
        for (let i = 0; i < cells.length; i++) if (!Object.is(got[i], cells[i])) throw new Error(`event ${k}, ${name} row ${i}: ${String(got[i])} != ${String(cells[i])}`);
      }
      compared++;
    });
    expect(compared).toBeGreaterThan(400);
    // The fused path was taken for traders with open positions.
    expect(untrackedOpen).toBeGreaterThan(100);
  });
});
