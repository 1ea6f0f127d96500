/**
 * The desk-risk shortcuts against the plain code paths they replace: each shortcut must give the
 * same bits (book state, VaR, alerts, snapshot rows), not just close values, since the replay
 * reference compares snapshot files byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { snapshotRowObjects } from '../../../src/core/snapshot-rows.js';
import { DeskRisk, type DeskRiskOptions } from '../../../src/risk/desk.js';
import type { LimitBreach } from '../../../src/risk/limits.js';
import { PF, PF_ABS, PositionBook, TF, TF_EXT, TF_EXT_END, TF_LARGEST, TF_LARGEST_ABS, TF_RUNNER_UP } from '../../../src/risk/positions.js';
import { generateDay, processingOrder, type Ev } from './desk-reference.js';

interface Run {
  desk: DeskRisk;
  breaches: LimitBreach[];
  snapshots: Array<{ table: string; at: number; rows: Array<Record<string, unknown>> }>;
}

function newRun(reference: ReturnType<typeof generateDay>['reference'], opts: DeskRiskOptions = { snapshotIntervalMs: 10_000 }): Run {
  const run: Run = { desk: undefined as unknown as DeskRisk, breaches: [], snapshots: [] };
  run.desk = new DeskRisk(reference, opts, {
    breach: (b) => run.breaches.push(b),
    snapshot: (table, at, rows) => run.snapshots.push({ table, at, rows: snapshotRowObjects(rows).slice() }),
    warn: () => undefined,
  });
  return run;
}

function feed(desk: DeskRisk, e: Ev): void {
  if (e.type === 'quote') desk.quote(e);
  else desk.trade(e);
}

/** Bit-level equality of two values (NaN equal to NaN, 0 different from -0). */
function sameBits(a: unknown, b: unknown): boolean {
  return Object.is(a, b);
}

/** The generated day, with T2 and T4 given no concentration limit (their largest position is then not tracked per quote). */
function dayWith(untracked: boolean): ReturnType<typeof generateDay> {
  const day = generateDay(7, { events: 30_000 });
  if (!untracked) return day;
  const traders = new Map([...day.reference.traders].map(([id, t]) => [id, id === 'T2' || id === 'T4' ? { ...t, maxConcentration: Number.POSITIVE_INFINITY } : t]));
  return { ...day, reference: { ...day.reference, traders } };
}

describe.each([
  ['every trader with a concentration limit', false],
  ['two traders without a concentration limit', true],
])('the fused mark loop (DeskRisk.onMarkMove), %s', { timeout: 60_000 }, (_, untracked) => {
  const day = dayWith(untracked);
  const events = processingOrder(day.events);
  const prevClose = (i: string): number => day.reference.instruments.get(i)?.prevClose ?? Number.NaN;
  const LARGEST_SLOTS = [TF_LARGEST_ABS, TF_LARGEST, TF_RUNNER_UP];

  it('leaves the book bit-identical to PositionBook own per-holder loop, after every event', () => {
    const run = newRun(day.reference);
    const plain = new PositionBook(prevClose);
    let resums = 0;
    for (const e of events) {
      feed(run.desk, e);
      if (e.type === 'quote') plain.applyQuote(e.ts, e.instrument, e.bid, e.ask);
      else plain.applyTrade(e.ts, e.traderId, e.instrument, e.side, e.qty, e.price);
      const a = run.desk.book;
      if (a.traders.length !== plain.traders.length) throw new Error(`trader count at ts ${e.ts}`);
      for (let i = 0; i < plain.traders.length; i++) {
        // The book's own slots of the trader record (the desk's are TF_EXT to TF_EXT_END - 1).
        const tracked = a.largestTracked[i] !== 0;
        if (tracked !== (!untracked || (plain.traders[i]!.id !== 'T2' && plain.traders[i]!.id !== 'T4'))) throw new Error(`tracking of trader ${i}`);
        for (let s = 0; s < TF; s = s === TF_EXT - 1 ? TF_EXT_END : s + 1) {
          if (!tracked && LARGEST_SLOTS.includes(s)) continue;
          if (!sameBits(a.tf[i * TF + s], plain.tf[i * TF + s])) throw new Error(`trader ${i} slot ${s} at ts ${e.ts}: ${a.tf[i * TF + s]} != ${plain.tf[i * TF + s]}`);
        }
        // Untracked: the largest position and concentration come from a scan, with the same values.
        if (!sameBits(a.concentrationOf(i), plain.concentrationOf(i))) throw new Error(`concentration of trader ${i} at ts ${e.ts}`);
        const big = a.largestIdOf(i);
        if (!sameBits(big < 0 ? 0 : a.pf[big * PF + PF_ABS], plain.tf[i * TF + TF_LARGEST_ABS])) throw new Error(`largest of trader ${i} at ts ${e.ts}`);
        for (const p of plain.traders[i]!.positions) {
          for (let s = 0; s < 6; s++) {
            if (!sameBits(a.pf[p.id * PF + s], plain.pf[p.id * PF + s])) throw new Error(`position ${p.id} slot ${s} at ts ${e.ts}`);
          }
          if (!sameBits(a.realizedPnl[p.id], plain.realizedPnl[p.id])) throw new Error(`realized P&L of position ${p.id} at ts ${e.ts}`);
        }
      }
    }
    // The run went through the rare branches of the loop: periodic re-sums and rescans of the largest position.
    for (const t of plain.traders) resums += Math.floor(t.touches / 1024);
    expect(resums).toBeGreaterThan(10);
  });

  it('gives the same alerts, snapshot rows and VaR work as the per-holder callbacks (onRevalueById)', () => {
    const fused = newRun(day.reference);
    const plain = newRun(day.reference);
    // Without onMarkMove the book runs its own loop and calls onRevalueById per holder.
    (plain.desk as unknown as { onMarkMove: undefined }).onMarkMove = undefined;
    for (const e of events) {
      feed(fused.desk, e);
      feed(plain.desk, e);
    }
    fused.desk.finish();
    plain.desk.finish();
    expect(fused.breaches.length).toBeGreaterThan(5);
    expect(new Set(fused.breaches.map((b) => b.type)).size).toBeGreaterThanOrEqual(5);
    expect(fused.breaches).toEqual(plain.breaches);
    for (let k = 0; k < fused.breaches.length; k++) expect(sameBits(fused.breaches[k]!.value, plain.breaches[k]!.value)).toBe(true);
    expect(fused.snapshots.length).toBe(plain.snapshots.length);
    for (let k = 0; k < fused.snapshots.length; k++) {
      const x = fused.snapshots[k]!;
      const y = plain.snapshots[k]!;
      expect([x.table, x.at, x.rows.length]).toEqual([y.table, y.at, y.rows.length]);
      x.rows.forEach((r, j) => {
        for (const [key, v] of Object.entries(r)) if (!sameBits(v, y.rows[j]![key])) throw new Error(`${x.table} at ${x.at} row ${j} ${key}: ${String(v)} != ${String(y.rows[j]![key])}`);
      });
    }
    expect(fused.desk.stats).toEqual(plain.desk.stats);
  });
});

/** Breaches and snapshot rows of two runs, bit for bit. */
function expectSameOutput(x: Run, y: Run): void {
  expect(x.breaches).toEqual(y.breaches);
  for (let k = 0; k < x.breaches.length; k++) {
    if (!sameBits(x.breaches[k]!.value, y.breaches[k]!.value) || !sameBits(x.breaches[k]!.details.es, y.breaches[k]!.details.es)) throw new Error(`breach ${k}`);
  }
  expect(x.snapshots.length).toBe(y.snapshots.length);
  for (let k = 0; k < x.snapshots.length; k++) {
    const a = x.snapshots[k]!;
    const b = y.snapshots[k]!;
    expect([a.table, a.at, a.rows.length]).toEqual([b.table, b.at, b.rows.length]);
    a.rows.forEach((r, j) => {
      for (const [key, v] of Object.entries(r)) if (!sameBits(v, b.rows[j]![key])) throw new Error(`${a.table} at ${a.at} row ${j} ${key}: ${String(v)} != ${String(b.rows[j]![key])}`);
    });
  }
}

/** A DeskRisk that recomputes the VaR after every trade's fold, as before the deferral. */
function eager(run: Run): Run {
  (run.desk as unknown as { deferVar: () => boolean }).deferVar = () => false;
  return run;
}

describe('deferred VaR recomputation after a trade (DeskRisk.deferVar)', { timeout: 60_000 }, () => {
  // VaR limits scaled so that VAR_LIMIT fires, re-arms and fires again during the day.
  const scaled = (varScale: number, noLimit: string[] = []): ReturnType<typeof generateDay> => {
    const day = generateDay(11, { events: 20_000 });
    const traders = new Map(
      [...day.reference.traders].map(([id, t]) => [id, { ...t, varLimit: noLimit.includes(id) ? Number.POSITIVE_INFINITY : t.varLimit * varScale }]),
    );
    return { ...day, reference: { ...day.reference, traders } };
  };

  it.each([
    ['limits as generated', 1, []],
    ['limits at half', 0.5, []],
    ['limits at a fifth, T3 without one', 0.2, ['T3']],
  ] as Array<[string, number, string[]]>)('gives the alerts and snapshot rows of the eager path (%s)', (_, varScale, noLimit) => {
    const day = scaled(varScale, noLimit);
    const events = processingOrder(day.events);
    const lazy = newRun(day.reference);
    const ref = eager(newRun(day.reference));
    for (const e of events) {
      feed(lazy.desk, e);
      feed(ref.desk, e);
    }
    lazy.desk.finish();
    ref.desk.finish();
    const varAlerts = lazy.breaches.filter((b) => b.type === 'VAR_LIMIT').length;
    expect(varAlerts).toBeGreaterThan(varScale < 1 ? 3 : 0);
    expectSameOutput(lazy, ref);
    expect(lazy.desk.stats.folds).toBe(ref.desk.stats.folds);
    // The deferral did happen: fewer VaR evaluations for the same folds.
    expect(lazy.desk.stats.varEvaluations).toBeLessThan(ref.desk.stats.varEvaluations * 0.8);
  });

  it('a trade that takes the VaR over the limit alerts at once, with the exact VaR', () => {
    const day = generateDay(1, { events: 1 });
    const T0 = 1_710_509_400_000;
    const lim = { ...day.reference.traders.get('T1')!, maxNotional: Infinity, maxLoss: Infinity, maxConcentration: Infinity, maxPosition: Infinity };
    const mk = (varLimit: number): Run => newRun({ ...day.reference, traders: new Map([['T1', { ...lim, varLimit }]]) }, { snapshotIntervalMs: 0 });
    const probe = mk(Number.POSITIVE_INFINITY);
    probe.desk.quote({ ts: T0, instrument: 'A', bid: 100, ask: 100 });
    const varAt: number[] = [];
    for (let k = 1; k <= 40; k++) {
      probe.desk.trade({ ts: T0 + k, traderId: 'T1', instrument: 'A', side: 'BUY', qty: 100, price: 100 });
      varAt.push(probe.desk.varOf('T1')!.var);
    }
    // Limit between the VaR after trade 30 and after trade 31: the first 30 trades can defer, the 31st cannot.
    const limit = (varAt[29]! + varAt[30]!) / 2;
    const run = mk(limit);
    run.desk.quote({ ts: T0, instrument: 'A', bid: 100, ask: 100 });
    for (let k = 1; k <= 40; k++) run.desk.trade({ ts: T0 + k, traderId: 'T1', instrument: 'A', side: 'BUY', qty: 100, price: 100 });
    expect(run.breaches.map((b) => [b.type, b.eventTime])).toEqual([['VAR_LIMIT', T0 + 31]]);
    expect(sameBits(run.breaches[0]!.value, varAt[30])).toBe(true);
    expect(run.desk.stats.varEvaluations).toBeLessThan(40);
  });

  it('a checkpoint taken with stale VaRs restores to the same continuation', () => {
    const day = scaled(0.5);
    const events = processingOrder(day.events);
    const whole = newRun(day.reference);
    for (const e of events) feed(whole.desk, e);
    whole.desk.finish();
    const first = newRun(day.reference);
    const cut = Math.floor(events.length * 0.6);
    for (const e of events.slice(0, cut)) feed(first.desk, e);
    const cp = structuredClone(first.desk.snapshot());
    expect(cp.risk.some((r) => r.stale !== undefined)).toBe(true);
    const second = newRun(day.reference);
    second.desk.restore(cp);
    for (const e of events.slice(cut)) feed(second.desk, e);
    second.desk.finish();
    expectSameOutput({ ...first, breaches: [...first.breaches, ...second.breaches], snapshots: [...first.snapshots, ...second.snapshots] }, whole);
  });
});

describe('queued trade folds (TraderRisk.pending)', { timeout: 60_000 }, () => {
  /** The largest fold queue of any trader right now. */
  const maxPending = (desk: DeskRisk): number => Math.max(0, ...desk.book.traders.map((t) => (t.ext as { pending: number }).pending));

  it.each([
    ['snapshots every 10 s', 10_000],
    ['one snapshot at the end (queues reach their cap)', 0],
  ])('give the L, VaR, alerts and snapshot rows of folds applied at once (%s)', (_, snapshotIntervalMs) => {
    const day = generateDay(13, { events: 12_000 });
    const events = processingOrder(day.events);
    const queued = newRun(day.reference, { snapshotIntervalMs });
    // The reference applies every queued fold right after each event (a checkpoint applies
    // them), which is what folding at once does to L.
    const atOnce = newRun(day.reference, { snapshotIntervalMs });
    let most = 0;
    for (const e of events) {
      feed(queued.desk, e);
      most = Math.max(most, maxPending(queued.desk));
      feed(atOnce.desk, e);
      atOnce.desk.snapshot();
      expect(maxPending(atOnce.desk)).toBe(0);
    }
    // The queues were used, and with no snapshot in between they filled up.
    expect(most).toBeGreaterThan(1);
    if (snapshotIntervalMs === 0) expect(most).toBe(32);
    const a = queued.desk.snapshot();
    const b = atOnce.desk.snapshot();
    a.risk.forEach((r, i) => {
      const L = r.L!;
      const M = b.risk[i]!.L!;
      for (let s = 0; s < L.length; s++) if (!sameBits(L[s], M[s])) throw new Error(`trader ${i} L[${s}]: ${L[s]} != ${M[s]}`);
    });
    queued.desk.finish();
    atOnce.desk.finish();
    expect(queued.snapshots.length).toBeGreaterThan(0);
    expectSameOutput(queued, atOnce);
    expect(queued.desk.stats.folds).toBe(atOnce.desk.stats.folds);
  });
});

describe("deferVar's and foldAll's flat copy of each book (TraderRisk.pos)", () => {
  it('holds every known position of the book in order, with its riskNotional and instrument bound, after every event', () => {
    const day = generateDay(5, { events: 6_000 });
    const run = newRun(day.reference);
    let checked = 0;
    for (const e of processingOrder(day.events)) {
      feed(run.desk, e);
      for (const t of run.desk.book.traders) {
        const tr = t.ext as { known: number; pos: Float64Array };
        expect(tr.known).toBeLessThanOrEqual(t.positions.length);
        for (let j = 0; j < tr.known; j++) {
          const p = t.positions[j]!;
          const x = p.inst.ext as { bound: number; r: Float64Array | undefined; ri: number };
          const [id, ri, rn, bound] = tr.pos.subarray(4 * j, 4 * j + 4);
          if (id !== p.id || !sameBits(bound, x.bound) || ri !== x.ri) throw new Error(`${t.id} position ${j}`);
          if (!sameBits(rn, p.riskNotional)) throw new Error(`${t.id} position ${j}: riskNotional copy ${rn} != ${p.riskNotional}`);
          if ((x.r === undefined) !== (x.ri < 0)) throw new Error(`${p.inst.name} returns id`);
          checked++;
        }
      }
    }
    // Trades brought every book up to date (deferVar runs after most trades).
    for (const t of run.desk.book.traders) expect((t.ext as { known: number }).known).toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(1000);
  });
});

describe("a trade's book-level checks skipped inside the quiet box (DeskRisk.quietBook)", { timeout: 60_000 }, () => {
  it('gives the alerts and snapshot rows of checking after every trade, with fewer checks', () => {
    const day = generateDay(11, { events: 30_000 });
    const events = processingOrder(day.events);
    const fast = newRun(day.reference);
    const always = newRun(day.reference);
    // Never quiet: every trade runs LimitChecker.checkBook and setQuiet, as before the skip.
    (always.desk as unknown as { quietBook: () => boolean }).quietBook = () => false;
    const counted = (run: Run): { n: number } => {
      const c = { n: 0 };
      const checker = (run.desk as unknown as { checker: { checkBook: (...a: unknown[]) => void } }).checker;
      const orig = checker.checkBook.bind(checker);
      checker.checkBook = (...a: unknown[]) => {
        c.n++;
        orig(...a);
      };
      return c;
    };
    const nFast = counted(fast);
    const nAlways = counted(always);
    for (const e of events) {
      feed(fast.desk, e);
      feed(always.desk, e);
    }
    fast.desk.finish();
    always.desk.finish();
    expect(new Set(fast.breaches.map((b) => b.type)).size).toBeGreaterThanOrEqual(4);
    expectSameOutput(fast, always);
    expect(nFast.n).toBeLessThan(nAlways.n / 2);
  });
});

describe('the positions table layout kept between snapshots (DeskRisk.positionLayout)', () => {
  it('gives the rows of a plain walk over the sorted books, reusing its string columns until a position is added', () => {
    const day = generateDay(3, { events: 6_000 });
    const run = newRun(day.reference);
    const desk = run.desk;
    let prev: { traderId: unknown; positions: number } | undefined;
    let reused = 0;
    let rebuilt = 0;
    processingOrder(day.events).forEach((e, k) => {
      feed(desk, e);
      if (k % 25 !== 0) return;
      const cols = desk.positionColumns();
      const plain: Array<Record<string, unknown>> = [];
      for (const t of [...desk.book.traders].sort((a, b) => (a.id < b.id ? -1 : 1))) {
        for (const p of [...t.positions].sort((a, b) => (a.inst.name < b.inst.name ? -1 : 1))) {
          plain.push({
            trader_id: t.id,
            instrument: p.inst.name,
            qty: p.qty,
            avg_price: p.avgPrice,
            mark_price: p.inst.mark,
            notional: p.notional + 0,
            realized_pnl: p.realizedPnl + 0,
            unrealized_pnl: p.unrealizedPnl + 0,
          });
        }
      }
      const rows = cols.toRows();
      expect(rows.length).toBe(plain.length);
      rows.forEach((r, j) => {
        for (const [key, v] of Object.entries(plain[j]!)) if (!sameBits(r[key], v)) throw new Error(`event ${k} row ${j} ${key}: ${String(r[key])} != ${String(v)}`);
      });
      const positions = desk.book.traders.reduce((s, t) => s + t.positions.length, 0);
      if (prev !== undefined) {
        if (prev.positions === positions) {
          expect(cols.columns.trader_id).toBe(prev.traderId);
          reused++;
        } else {
          expect(cols.columns.trader_id).not.toBe(prev.traderId);
          rebuilt++;
        }
      }
      prev = { traderId: cols.columns.trader_id, positions };
    });
    expect(reused).toBeGreaterThan(10);
    expect(rebuilt).toBeGreaterThan(3);
  });
});
