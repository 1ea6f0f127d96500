/**
 * The WebAssembly mark-move kernel (mark-kernel.ts) and the book kept in WebAssembly memory
 * against the plain JavaScript loop over plain typed arrays (DeskRiskOptions.wasm = false): the
 * same bits everywhere (book records after every event, alerts, snapshot rows, VaR work), over a
 * day large enough for the memory to grow many times while holders, positions and traders are
 * added.
 */
import { describe, expect, it } from 'vitest';
import type { ReferenceData, Trader } from '../../../src/core/reference.js';
import { snapshotRowObjects } from '../../../src/core/snapshot-rows.js';
import { DeskRisk } from '../../../src/risk/desk.js';
import type { LimitBreach } from '../../../src/risk/limits.js';
import { PF, TF } from '../../../src/risk/positions.js';
import { prng, type Ev } from './desk-reference.js';

interface Run {
  desk: DeskRisk;
  breaches: LimitBreach[];
  snapshots: Array<{ table: string; at: number; rows: Array<Record<string, unknown>> }>;
}

function newRun(reference: ReferenceData, wasm: boolean): Run {
  const run: Run = { desk: undefined as unknown as DeskRisk, breaches: [], snapshots: [] };
  run.desk = new DeskRisk(reference, { snapshotIntervalMs: 20_000, wasm }, {
    breach: (b) => run.breaches.push(b),
    snapshot: (table, at, rows) => run.snapshots.push({ table, at, rows: snapshotRowObjects(rows).slice() }),
    warn: () => undefined,
  });
  return run;
}

/**
 * A day of `traders` traders over `instruments` instruments (the last one without history):
 * every third trader without a concentration limit (the kernel's own case), limits tight enough
 * that every limit type fires and VaR is re-checked on quotes, one trader quoting into a frozen
 * mark (a trade's re-mark before any quote).
 */
function bigDay(seed: number, traders: number, instruments: number, events: number): { reference: ReferenceData; events: Ev[] } {
  const rnd = prng(seed);
  const names = Array.from({ length: instruments }, (_, i) => `I${String(i).padStart(3, '0')}`);
  const prevClose = new Map(names.map((n) => [n, 20 + Math.floor(rnd() * 200)]));
  const dates = Array.from({ length: 260 }, (_, d) => new Date(Date.UTC(2023, 0, 1) + d * 86_400_000).toISOString().slice(0, 10));
  const closes = new Map<string, Float64Array>();
  for (const n of names.slice(0, -1)) {
    const c = new Float64Array(dates.length);
    let p = prevClose.get(n)!;
    for (let d = dates.length - 1; d >= 0; d--) {
      c[d] = p;
      p = p / (1 + (rnd() - 0.5) * 0.05);
    }
    closes.set(n, c);
  }
  const tr = new Map<string, Trader>();
  for (let k = 0; k < traders; k++) {
    const id = `T${String(k).padStart(3, '0')}`;
    tr.set(id, {
      traderId: id,
      desk: 'D',
      beneficialOwner: id,
      maxPosition: 3000 + 100 * (k % 7),
      maxNotional: 200_000 + 20_000 * (k % 5),
      maxLoss: 1500 + 300 * (k % 4),
      varLimit: k % 5 === 4 ? Number.NaN : 3000 + 800 * (k % 6),
      maxConcentration: k % 3 === 0 ? Number.POSITIVE_INFINITY : 0.5 + 0.05 * (k % 4),
    });
  }
  const reference: ReferenceData = {
    instruments: new Map(names.map((n) => [n, { instrument: n, sector: 'S', currency: 'USD', tier: 1, prevClose: prevClose.get(n)!, adv: 1e6, isIndex: false }])),
    traders: tr,
    history: { dates, closes },
    day: undefined,
    incidents: [],
  };
  const mid = new Map(prevClose);
  const ids = [...tr.keys()];
  const out: Ev[] = [];
  let ts = 1_710_509_400_000;
  let tradeNo = 0;
  while (out.length < events) {
    ts += 1 + Math.floor(rnd() * 40);
    // Instruments are picked with a skew, so a few have many holders.
    const i = names[Math.floor(rnd() * rnd() * names.length)]!;
    if (rnd() < 0.8) {
      const jump = rnd() < 0.005 ? (rnd() - 0.6) * 0.15 : 0;
      mid.set(i, Math.max(1, mid.get(i)! * (1 + (rnd() - 0.5) * 0.004 + jump)));
      const m = Math.round(mid.get(i)! * 100) / 100;
      out.push({ type: 'quote', ts, instrument: i, bid: m - 0.01, ask: m + 0.01, bidSize: 100, askSize: 100 });
    } else {
      const traderId = ids[Math.floor(rnd() * ids.length)]!;
      const qty = 100 * (1 + Math.floor(rnd() * 10));
      const price = Math.round(mid.get(i)! * (1 + (rnd() - 0.5) * 0.002) * 100) / 100;
      out.push({ type: 'trade', ts, tradeId: `X${++tradeNo}`, traderId, instrument: i, side: rnd() < 0.55 ? 'BUY' : 'SELL', qty, price });
    }
  }
  return { reference, events: out };
}

function feed(desk: DeskRisk, e: Ev): void {
  if (e.type === 'quote') desk.quote(e);
  else desk.trade(e);
}

/** The first difference between the used parts of two books' records, bit for bit, or undefined. */
function recordDiff(a: DeskRisk, b: DeskRisk): string | undefined {
  const positions = a.book.traders.reduce((n, t) => Math.max(n, ...t.positions.map((p) => p.id + 1)), 0);
  for (let k = 0; k < positions * PF; k++) if (!Object.is(a.book.pf[k], b.book.pf[k])) return `pf[${k}]: ${a.book.pf[k]} != ${b.book.pf[k]}`;
  for (let k = 0; k < a.book.traders.length * TF; k++) if (!Object.is(a.book.tf[k], b.book.tf[k])) return `tf[${k}]: ${a.book.tf[k]} != ${b.book.tf[k]}`;
  for (const inst of a.book.instruments) {
    const other = b.book.instruments[inst.index]!;
    const n = inst.holders.length;
    if (n !== other.holders.length) return `${inst.name} holders`;
    for (let k = 0; k < n; k++) {
      if (inst.holderIds[k] !== other.holderIds[k] || inst.holderTraders[k] !== other.holderTraders[k]) return `${inst.name} holder ${k}`;
      if (inst.holderIds[k] !== inst.holders[k]!.id || inst.holderTraders[k] !== inst.holders[k]!.trader.index) return `${inst.name} holder ${k} view`;
    }
  }
  return undefined;
}

describe('the WebAssembly mark-move kernel (DeskRiskOptions.wasm)', { timeout: 120_000 }, () => {
  const day = bigDay(11, 120, 40, 60_000);

  it('gives the JavaScript loop bits: book records after every event, alerts, snapshot rows, VaR work', () => {
    const w = newRun(day.reference, true);
    const js = newRun(day.reference, false);
    expect(w.desk.usesWasm).toBe(true);
    expect(js.desk.usesWasm).toBe(false);
    expect(w.desk.book.memory).toBeDefined();
    expect(js.desk.book.memory).toBeUndefined();
    let checked = 0;
    for (const [k, e] of day.events.entries()) {
      feed(w.desk, e);
      feed(js.desk, e);
      // Every event early on (while the memory grows), then every 50th.
      if (k < 5000 || k % 50 === 0) {
        const d = recordDiff(w.desk, js.desk);
        if (d !== undefined) throw new Error(`after event ${k} (${e.type} ${e.ts}): ${d}`);
        checked++;
      }
    }
    w.desk.finish();
    js.desk.finish();
    expect(recordDiff(w.desk, js.desk)).toBeUndefined();
    expect(checked).toBeGreaterThan(5000);
    // The memory grew (it starts at one 64 KiB page) while views were in use.
    expect(w.desk.book.memory!.buffer.byteLength).toBeGreaterThanOrEqual(8 * 65536);
    // Every path of the kernel's hand-back was taken: limit alerts of each type (checks after a
    // re-valuation), VaR re-checked on quotes, re-sums (1024 touches) and tracked concentration.
    expect(new Set(w.breaches.map((b) => b.type)).size).toBe(6);
    expect(w.desk.book.traders.some((t) => t.touches >= 1024 && t.concentration > 0)).toBe(true);
    expect(w.breaches).toEqual(js.breaches);
    for (let k = 0; k < w.breaches.length; k++) if (!Object.is(w.breaches[k]!.value, js.breaches[k]!.value)) throw new Error(`breach ${k} value`);
    expect(w.snapshots.length).toBe(js.snapshots.length);
    expect(w.snapshots.length).toBeGreaterThan(10);
    for (let k = 0; k < w.snapshots.length; k++) {
      const a = w.snapshots[k]!;
      const b = js.snapshots[k]!;
      expect([a.table, a.at, a.rows.length]).toEqual([b.table, b.at, b.rows.length]);
      a.rows.forEach((r, j) => {
        for (const [key, v] of Object.entries(r)) if (!Object.is(v, b.rows[j]![key])) throw new Error(`${a.table} at ${a.at} row ${j} ${key}: ${String(v)} != ${String(b.rows[j]![key])}`);
      });
    }
    expect(w.desk.stats).toEqual(js.desk.stats);
    expect(w.desk.stats.varEvaluations).toBeGreaterThan(1000);
  });

  it('restores a checkpoint into a book in memory and continues with the same bits', () => {
    const w = newRun(day.reference, true);
    const js = newRun(day.reference, false);
    const half = day.events.length / 2;
    for (const e of day.events.slice(0, half)) feed(w.desk, e);
    for (const e of day.events.slice(0, half)) feed(js.desk, e);
    const restored = newRun(day.reference, true);
    restored.desk.restore(structuredClone(w.desk.snapshot()));
    const jsRestored = newRun(day.reference, false);
    jsRestored.desk.restore(structuredClone(js.desk.snapshot()));
    for (const e of day.events.slice(half)) {
      feed(restored.desk, e);
      feed(jsRestored.desk, e);
    }
    restored.desk.finish();
    jsRestored.desk.finish();
    expect(recordDiff(restored.desk, jsRestored.desk)).toBeUndefined();
    expect(restored.breaches).toEqual(jsRestored.breaches);
    expect(restored.snapshots.map((s) => s.rows)).toEqual(jsRestored.snapshots.map((s) => s.rows));
  });
});
