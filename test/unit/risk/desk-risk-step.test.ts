import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { Subject } from 'rxjs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Alert } from '../../../src/core/alerts.js';
import { JobContext } from '../../../src/core/context.js';
import { END_OF_TIME, Watermark, type Element } from '../../../src/core/element.js';
import type { ReferenceData } from '../../../src/core/reference.js';
import { Runner, type BatchSource, type SourceBatch } from '../../../src/core/runner.js';
import { ManualClock } from '../../../src/core/time.js';
import { WatermarkTracker } from '../../../src/core/watermarks.js';
import { replayDay } from '../../../src/cli/replay.js';
import { loadDay } from '../../../src/connectors/replay/index.js';
import { DeskRisk } from '../../../src/risk/desk.js';
import type { LimitBreach } from '../../../src/risk/limits.js';
import { snapshotRowObjects } from '../../../src/core/snapshot-rows.js';
import { compileTopology, loadTopology, TopologyValidationError, type LoadedTopology } from '../../../src/topology/index.js';
import '../../../src/topology/steps/desk-risk.js';
import {
  generateDay,
  near,
  processingOrder,
  prng,
  refEsLinear,
  refPnlVector,
  refQuantile7,
  refScenarios,
  refState,
  refVarLower,
  type Ev,
  type RefState,
} from './desk-reference.js';

// The generated history misses a close of B and has none for D: the step warns on every build.
const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
afterAll(() => warnings.mockRestore());

const TOPOLOGY = fileURLToPath(new URL('../../../topologies/desk-risk.yaml', import.meta.url));
const DEMO_DAY = fileURLToPath(new URL('../../../fixtures/demo-day', import.meta.url));
const SNAP_MS = 10_000;

interface Snap {
  table: string;
  time: number;
  rows: Array<Record<string, any>>;
}
interface DeskRun {
  alerts: Alert[];
  snapshots: Snap[];
  late: unknown[];
  errors: unknown[];
}

/**
 * Runs a compiled desk-risk topology over events given in ARRIVAL order, the way the runner does
 * (a bounded-out-of-orderness watermark per source after each record, END_OF_TIME at the end).
 * With `cutAt`, the job is checkpointed before that arrival (v8-serialized), and a fresh graph
 * restored from it takes over.
 */
function runDesk(t: LoadedTopology, arrivals: readonly Ev[], reference: ReferenceData, opts: { cutAt?: number[] } = {}): DeskRun {
  const res: DeskRun = { alerts: [], snapshots: [], late: [], errors: [] };
  const clock = new ManualClock(42);
  const trackers = new Map<string, { tr: WatermarkTracker; last: number }>();
  for (const s of t.sources) {
    const tr = new WatermarkTracker({ outOfOrdernessMs: s.outOfOrdernessMs, idleTimeoutMs: s.idleTimeoutMs });
    tr.addPartition('0');
    trackers.set(s.name, { tr, last: Number.NEGATIVE_INFINITY });
  }
  const build = (ctx: JobContext): Record<string, Subject<Element<unknown>>> => {
    const inputs: Record<string, Subject<Element<unknown>>> = {};
    for (const s of t.sources) inputs[s.name] = new Subject();
    t.build({
      ctx,
      inputs,
      reference,
      onAlert: (a) => res.alerts.push(a),
      onOutput: () => undefined,
      onLate: (_s, r) => res.late.push(r),
      onError: (e) => res.errors.push(e),
      snapshotIntervalMs: SNAP_MS,
      onSnapshot: (table, time, rows) => res.snapshots.push({ table, time, rows: snapshotRowObjects(rows) as Array<Record<string, any>> }),
    });
    return inputs;
  };
  let ctx = new JobContext({ clock });
  let inputs = build(ctx);
  const source = (e: Ev): string => (t.sources.find((s) => s.stream === e.type) ?? t.sources[0]!).name;
  arrivals.forEach((e, k) => {
    if (opts.cutAt?.includes(k)) {
      const state = deserialize(serialize(ctx.snapshot())) as Map<string, unknown>;
      ctx = new JobContext({ restore: state, clock });
      inputs = build(ctx);
      expect(ctx.unclaimed()).toEqual([]);
    }
    const src = source(e);
    trackers.get(src)!.tr.observe('0', e.ts);
    inputs[src]!.next(e);
    for (const [name, x] of trackers) {
      x.tr.advanceClock(e.ts);
      const wm = x.tr.current();
      if (wm > x.last) {
        x.last = wm;
        inputs[name]!.next(new Watermark(wm));
      }
    }
  });
  for (const s of t.sources) inputs[s.name]!.next(END_OF_TIME);
  for (const s of t.sources) inputs[s.name]!.complete();
  return res;
}

/** Arrival order with each record displaced by less than `boundMs` of event time (inside the watermark bound). */
function shuffleWithin(events: readonly Ev[], boundMs: number, seed: number): Ev[] {
  const rnd = prng(seed);
  return events
    .map((e) => ({ e, key: e.ts + rnd() * boundMs }))
    .sort((a, b) => a.key - b.key)
    .map((x) => x.e);
}

const strip = (alerts: Alert[]) => alerts.map(({ emittedAt: _e, ...rest }) => rest);

async function loadDesk(set: string[] = []): Promise<LoadedTopology> {
  return loadTopology(TOPOLOGY, { set });
}

describe('topologies/desk-risk.yaml', () => {
  it('validates, takes --set overrides, and describes itself', async () => {
    const t = await loadDesk();
    expect(t.warnings).toEqual([]);
    const text = t.describe();
    expect(text).toMatch(/desk-risk\s+positions\s+<- trades trades, quotes quotes/);
    expect(text).toContain('VaR/ES 99% 1-day, historical simulation over 250 scenarios, quantile lower; VAR_LIMIT checked at current marks after every trade and held-instrument quote');
    expect(text).toContain('CONCENTRATION_LIMIT (from gross >= 25% of maxNotional), DRAWDOWN (>= 50% of maxLoss)');
    expect(text).toMatch(/var\.scenarios\s+= 250/);
    const t2 = await loadDesk(['var.scenarios=500', 'var.quantile=linear', 'limits.rearmBelow=0.8']);
    const step = t2.resolved.steps[0] as any;
    expect([step.var.scenarios, step.var.quantile, step.limits.rearmBelow]).toEqual([500, 'linear', 0.8]);
    expect(t2.describe()).toContain('* var.scenarios');
  });

  it('reports bad fields with their names', () => {
    const spec = {
      name: 'bad',
      sources: { t: { stream: 'trade' }, q: { stream: 'quote' } },
      steps: [
        { id: 'risk', type: 'positions', trades: 't', quotes: 'q', var: { confidence: 1.5, confidnce: 0.9, quantile: 'median', scenarios: 2.5 }, limits: { rearmBelow: 0, criticalAt: 0.5 }, limit: {} },
      ],
    };
    let err: unknown;
    try {
      compileTopology(spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TopologyValidationError);
    const text = (err as TopologyValidationError).describe();
    expect(text).toContain("'var.confidence' must be in (0, 1), got 1.5");
    expect(text).toContain("unknown field 'var.confidnce' (did you mean 'confidence'?)");
    expect(text).toContain("'var.quantile' must be one of lower, linear, got 'median'");
    expect(text).toContain("'var.scenarios' must be an integer, got 2.5");
    expect(text).toContain("'limits.rearmBelow' must be in (0, 1]");
    expect(text).toContain("'limits.criticalAt' must be >= 1");
    expect(text).toContain("'limit'");
  });
});

describe('the positions step on a generated day', { timeout: 60_000 }, async () => {
  const day = generateDay(2024, { events: 1500 });
  const ordered = processingOrder(day.events);
  const prevClose = (i: string): number => day.reference.instruments.get(i)!.prevClose;
  const t = await loadDesk();
  const run = runDesk(t, day.events, day.reference);

  // The reference walk: full recomputation after every event (O(n^2), fine at this size).
  const states: RefState[] = ordered.map((_, i) => refState(ordered.slice(0, i + 1), prevClose));
  const peaks: Array<Map<string, number>> = [];
  {
    const peak = new Map<string, number>();
    for (const s of states) {
      for (const [id, tr] of s.traders) peak.set(id, Math.max(peak.get(id) ?? 0, tr.pnl));
      peaks.push(new Map(peak));
    }
  }
  const lastIndexAtOrBefore = (T: number): number => {
    let i = -1;
    while (i + 1 < ordered.length && ordered[i + 1]!.ts <= T) i++;
    return i;
  };
  const sc = refScenarios(day.reference.history!, 250);
  const notionalsOf = (s: RefState, trader: string): Map<string, number> =>
    new Map([...(s.positions.get(trader) ?? new Map()).entries()].map(([i, p]) => [i, p.notional]));

  it('runs clean and raises every limit type', () => {
    expect(run.errors).toEqual([]);
    expect(run.late).toEqual([]);
    const types = new Set(run.alerts.map((a) => a.type));
    for (const ty of ['POSITION_LIMIT', 'NOTIONAL_LIMIT', 'LOSS_LIMIT', 'CONCENTRATION_LIMIT', 'DRAWDOWN', 'VAR_LIMIT']) expect(types).toContain(ty);
    for (const a of run.alerts) {
      expect(a.topic).toBe(a.type === 'VAR_LIMIT' ? 'portfolio-risk-alerts' : 'position-risk-alerts');
      expect(a.rule).toBe(`desk-risk/${a.type.toLowerCase().replace(/_/g, '-')}`);
      expect(Object.keys(a.entity)).toEqual(['traderId']);
      expect(Number.isFinite(a.value) && Number.isFinite(a.threshold)).toBe(true);
      expect(a.type === 'DRAWDOWN' ? a.value >= a.threshold : a.value > a.threshold).toBe(true);
      expect(a.message.startsWith(`${a.entity.traderId} `)).toBe(true);
    }
    expect(new Set(run.alerts.map((a) => a.alertId)).size).toBe(run.alerts.length);
  });

  it('snapshot rows at T equal the state recomputed from the records with ts <= T (positions, P&L, drawdown, VaR, ES)', () => {
    const times = [...new Set(run.snapshots.map((s) => s.time))];
    expect(times.length).toBeGreaterThan(5);
    expect(times.slice(0, -1).every((T) => T % SNAP_MS === 0)).toBe(true);
    expect(times.at(-1)).toBe(ordered.at(-1)!.ts); // the end-of-input snapshot
    for (const snap of run.snapshots) {
      const i = lastIndexAtOrBefore(snap.time);
      const s = states[i]!;
      if (snap.table === 'positions') {
        const want = [...s.positions].sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([tr, m]) => [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([inst, p]) => ({ tr, inst, p })));
        expect(snap.rows.map((r) => `${r.trader_id}/${r.instrument}`)).toEqual(want.map((w) => `${w.tr}/${w.inst}`));
        snap.rows.forEach((r, k) => {
          const { p } = want[k]!;
          const scale = Math.abs(p.notional) + Math.abs(p.realized);
          expect(r.qty).toBe(p.qty);
          expect(near(r.avg_price, p.avg)).toBe(true);
          expect(r.mark_price).toBe(p.mark);
          expect(near(r.notional, p.notional, scale)).toBe(true);
          expect(near(r.realized_pnl, p.realized, scale)).toBe(true);
          expect(near(r.unrealized_pnl, p.unrealized, scale)).toBe(true);
        });
      } else {
        expect(snap.table).toBe('trader_risk');
        expect(snap.rows.map((r) => r.trader_id)).toEqual([...s.traders.keys()].sort());
        for (const r of snap.rows) {
          const rt = s.traders.get(r.trader_id)!;
          const scale = rt.gross + Math.abs(rt.realized);
          expect(near(r.gross_exposure, rt.gross, scale)).toBe(true);
          expect(near(r.net_exposure, rt.net, scale)).toBe(true);
          expect(near(r.pnl, rt.pnl, scale)).toBe(true);
          expect(near(r.drawdown, peaks[i]!.get(r.trader_id)! - rt.pnl, scale)).toBe(true);
          expect(near(r.concentration, rt.concentration, 1)).toBe(true);
          const ref = refVarLower(refPnlVector(notionalsOf(s, r.trader_id), sc), 990);
          expect(near(r.var_99, ref.var, rt.gross * 0.1)).toBe(true);
          expect(near(r.es_99, ref.es, rt.gross * 0.1)).toBe(true);
          expect(r.var_limit).toBe(day.reference.traders.get(r.trader_id)!.varLimit);
        }
      }
    }
  });

  it('raises exactly the alerts an independent episode walk over the recomputed metrics gives', () => {
    const policy = { rearm: 0.9, crit: 1.5, minGross: 0.25, dd: 0.5 };
    const armed = new Map<string, boolean>();
    const expected: Array<{ eventTime: number; traderId: string; type: string; value: number; severity: string }> = [];
    /** One episode step: returns true when it fires. */
    const episode = (key: string, value: number, limit: number, fires: boolean): boolean => {
      const a = armed.get(key) ?? true;
      if (a) {
        if (fires) armed.set(key, false);
        return fires;
      }
      if (value <= policy.rearm * limit) armed.set(key, true);
      return false;
    };
    const push = (eventTime: number, traderId: string, type: string, value: number, limit: number) =>
      expected.push({ eventTime, traderId, type, value, severity: value >= policy.crit * limit ? 'critical' : 'warning' });
    // VAR_LIMIT like the others: checked after every event at current positions and marks.
    ordered.forEach((e, i) => {
      const s = states[i]!;
      for (const [id, rt] of s.traders) {
        const lim = day.reference.traders.get(id)!;
        const dd = peaks[i]!.get(id)! - rt.pnl;
        const ddLimit = policy.dd * lim.maxLoss;
        if (episode(`${id}/NOTIONAL`, rt.gross, lim.maxNotional, rt.gross > lim.maxNotional)) push(e.ts, id, 'NOTIONAL_LIMIT', rt.gross, lim.maxNotional);
        if (episode(`${id}/LOSS`, -rt.pnl, lim.maxLoss, -rt.pnl > lim.maxLoss)) push(e.ts, id, 'LOSS_LIMIT', -rt.pnl, lim.maxLoss);
        if (episode(`${id}/DD`, dd, ddLimit, dd >= ddLimit)) push(e.ts, id, 'DRAWDOWN', dd, ddLimit);
        const gate = rt.gross >= policy.minGross * lim.maxNotional;
        if (episode(`${id}/CONC`, rt.concentration, lim.maxConcentration, gate && rt.concentration > lim.maxConcentration)) {
          push(e.ts, id, 'CONCENTRATION_LIMIT', rt.concentration, lim.maxConcentration);
        }
        const v = refVarLower(refPnlVector(notionalsOf(s, id), sc), 990).var;
        if (episode(`${id}/VAR`, v, lim.varLimit, v > lim.varLimit)) push(e.ts, id, 'VAR_LIMIT', v, lim.varLimit);
      }
      if (e.type === 'trade') {
        const p = s.positions.get(e.traderId)!.get(e.instrument)!;
        const lim = day.reference.traders.get(e.traderId)!;
        const q = Math.abs(p.qty);
        if (episode(`${e.traderId}/${e.instrument}/POS`, q, lim.maxPosition, q > lim.maxPosition)) push(e.ts, e.traderId, 'POSITION_LIMIT', q, lim.maxPosition);
      }
    });

    const order = ['POSITION_LIMIT', 'NOTIONAL_LIMIT', 'LOSS_LIMIT', 'CONCENTRATION_LIMIT', 'DRAWDOWN', 'VAR_LIMIT'];
    const key = (a: { eventTime: number; traderId: string; type: string }) => [a.eventTime, a.traderId, order.indexOf(a.type)] as const;
    const cmp = (a: { eventTime: number; traderId: string; type: string }, b: typeof a) => {
      const [x, y] = [key(a), key(b)];
      return x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0) || x[2] - y[2];
    };
    const actual = run.alerts.map((a) => ({ eventTime: a.eventTime, traderId: a.entity.traderId!, type: a.type, value: a.value, severity: a.severity }));
    expect(actual.slice().sort(cmp)).toEqual(actual); // emitted in (event time, trader, type) order
    expected.sort(cmp);
    expect(actual.map((a) => `${a.eventTime} ${a.traderId} ${a.type} ${a.severity}`)).toEqual(expected.map((a) => `${a.eventTime} ${a.traderId} ${a.type} ${a.severity}`));
    actual.forEach((a, k) => expect(near(a.value, expected[k]!.value, 1e3)).toBe(true));
    expect(expected.filter((a) => a.type === 'VAR_LIMIT').length).toBeGreaterThan(0);
  });

  it('hands each buffered record to the desk exactly once, in event-time order, over watermarks releasing many records then few', () => {
    // The step reuses its per-watermark arrays: a later, smaller release must not replay the
    // tail of an earlier, larger one (a replayed quote is a no-op for the book, so count calls).
    const seen: Array<{ ts: number; kind: string }> = [];
    const quote = vi.spyOn(DeskRisk.prototype, 'quote');
    const trade = vi.spyOn(DeskRisk.prototype, 'trade');
    quote.mockImplementation(function (this: DeskRisk, q) {
      seen.push({ ts: q.ts, kind: 'quote' });
    });
    trade.mockImplementation(function (this: DeskRisk, tr) {
      seen.push({ ts: tr.ts, kind: 'trade' });
    });
    try {
      // Shuffled arrivals: watermarks release uneven runs of records.
      const arrivals = shuffleWithin(day.events, 900, 7);
      runDesk(t, arrivals, day.reference);
    } finally {
      quote.mockRestore();
      trade.mockRestore();
    }
    const byKind = (k: string) => day.events.filter((e) => e.type === k).length;
    expect(seen.filter((e) => e.kind === 'quote').length).toBe(byKind('quote'));
    expect(seen.filter((e) => e.kind === 'trade').length).toBe(byKind('trade'));
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.ts).toBeGreaterThanOrEqual(seen[i - 1]!.ts);
  });

  it('gives the same alerts and snapshot rows when records arrive shuffled within the watermark bound', () => {
    for (const seed of [1, 2, 3]) {
      const arrivals = shuffleWithin(day.events, 900, seed);
      expect(arrivals).not.toEqual(day.events);
      const other = runDesk(t, arrivals, day.reference);
      expect(other.late).toEqual([]);
      expect(strip(other.alerts)).toEqual(strip(run.alerts));
      expect(other.snapshots).toEqual(run.snapshots);
    }
  });

  it('snapshot -> restore -> continue equals the uninterrupted run', () => {
    const restored = runDesk(t, day.events, day.reference, { cutAt: [1, 377, 900, 1499] });
    expect(restored.errors).toEqual([]);
    expect(strip(restored.alerts)).toEqual(strip(run.alerts));
    expect(restored.snapshots).toEqual(run.snapshots);
  });

  it('gives the same output however the runner batches the input', async () => {
    const runWith = async (size: number) => {
      const alerts: Alert[] = [];
      const snapshots: Snap[] = [];
      const items = day.events;
      let i = 0;
      const source: BatchSource = {
        streamNames: ['trade', 'quote'],
        async nextBatch(): Promise<SourceBatch | null> {
          if (i >= items.length) return null;
          const part = items.slice(i, i + size);
          i += part.length;
          return { records: part, streams: Uint8Array.from(part.map((e) => (e.type === 'trade' ? 0 : 1))), length: part.length };
        },
        position: () => i,
        seek: async (p) => {
          i = p as number;
        },
      };
      await new Runner({
        source,
        topologies: [t],
        reference: day.reference,
        clock: new ManualClock(7),
        snapshotIntervalMs: SNAP_MS,
        sinks: {
          onAlert: (a) => alerts.push(a),
          onOutput: () => undefined,
          onLate: () => undefined,
          onSnapshot: (table, time, rows) => snapshots.push({ table, time, rows: snapshotRowObjects(rows) as Array<Record<string, any>> }),
          flush: async () => undefined,
        },
      }).run();
      return { alerts: strip(alerts), snapshots };
    };
    const one = await runWith(1);
    expect(one.alerts).toEqual(strip(run.alerts));
    expect(one.snapshots).toEqual(run.snapshots);
    const many = await runWith(257);
    expect(many).toEqual(one);
  });

  it("'linear' quantile and parametric VaR in the snapshots match their references", async () => {
    const lin = runDesk(await loadDesk(['var.quantile=linear']), day.events, day.reference);
    const par = runDesk(await loadDesk(['var.method=parametric', 'var.horizonDays=10']), day.events, day.reference);
    const names = ['A', 'B', 'C'];
    const lam = 0.94;
    const S = sc.S;
    const cov = (a: string, b: string): number => {
      let x = 0;
      let w = 0;
      for (let j = 0; j < S; j++) {
        const wj = (1 - lam) * lam ** j;
        x += wj * sc.r.get(a)![S - 1 - j]! * sc.r.get(b)![S - 1 - j]!;
        w += wj;
      }
      return x / w;
    };
    for (const [res, kind] of [[lin, 'linear'], [par, 'parametric']] as const) {
      const rows = res.snapshots.filter((x) => x.table === 'trader_risk');
      expect(rows.length).toBeGreaterThan(5);
      for (const snap of rows) {
        const s = states[lastIndexAtOrBefore(snap.time)]!;
        for (const r of snap.rows) {
          const n = notionalsOf(s, r.trader_id);
          const scale = s.traders.get(r.trader_id)!.gross * 0.1;
          if (kind === 'linear') {
            const L = refPnlVector(n, sc);
            expect(near(r.var_99, -refQuantile7(L, 0.01), scale)).toBe(true);
            expect(near(r.es_99, refEsLinear(L, 0.01, 20_000), scale, 1e-6)).toBe(true);
          } else {
            let q = 0;
            for (const a of names) for (const b of names) q += (n.get(a) ?? 0) * (n.get(b) ?? 0) * cov(a, b);
            expect(near(r.var_99, 2.3263478740408408 * Math.sqrt(q) * Math.sqrt(10), scale)).toBe(true);
            expect(near(r.es_99, (Math.exp(-0.5 * 2.3263478740408408 ** 2) / Math.sqrt(2 * Math.PI) / 0.01) * Math.sqrt(q) * Math.sqrt(10), scale)).toBe(true);
          }
        }
      }
    }
  });
});

describe('the positions step, targeted cases', () => {
  const T0 = 1_710_509_400_000;
  const reference = generateDay(1, { events: 1 }).reference;
  const tradeAt = (ts: number, traderId: string, instrument: string, side: 'BUY' | 'SELL', qty: number, price: number): Ev => ({
    type: 'trade',
    ts,
    tradeId: `${ts}`,
    traderId,
    instrument,
    side,
    qty,
    price,
  });
  const quoteAt = (ts: number, instrument: string, mid: number): Ev => ({ type: 'quote', ts, instrument, bid: mid - 0.01, ask: mid + 0.01, bidSize: 1, askSize: 1 });

  it('applies a quote before a trade of the same instant, whatever their arrival order', async () => {
    const t = await loadDesk();
    // T1 (maxNotional 200k) long 1,500 A at 100 = 150k. At T0+5s the mid doubles and T1 sells 900 at 200:
    // quote first -> 300k breaches before the sale brings it to 120k.
    const base = [quoteAt(T0, 'A', 100), tradeAt(T0 + 1, 'T1', 'A', 'BUY', 1500, 100)];
    const q = quoteAt(T0 + 5000, 'A', 200);
    const tr = tradeAt(T0 + 5000, 'T1', 'A', 'SELL', 900, 200);
    const a = runDesk(t, [...base, q, tr], reference);
    const b = runDesk(t, [...base, tr, q], reference);
    const notional = (r: DeskRun) => r.alerts.filter((x) => x.type === 'NOTIONAL_LIMIT').map((x) => [x.eventTime, x.value]);
    expect(notional(a)).toEqual([[T0 + 5000, 300_000]]);
    expect(notional(b)).toEqual(notional(a));
    expect(strip(b.alerts)).toEqual(strip(a.alerts));
  });

  it('applies records behind the watermark at once and reports them as late', async () => {
    const t = await loadDesk();
    const events = [
      quoteAt(T0, 'A', 100),
      tradeAt(T0 + 100, 'T2', 'A', 'BUY', 100, 100),
      quoteAt(T0 + 10_000, 'A', 101),
      tradeAt(T0 + 10_000, 'T3', 'B', 'BUY', 10, 50),
      tradeAt(T0 + 200, 'T2', 'A', 'BUY', 50, 100), // both watermarks are at T0+8999 by now
    ];
    const r = runDesk(t, events, reference);
    expect(r.late).toEqual([events[4]]);
    const last = r.snapshots.filter((s) => s.table === 'positions').at(-1)!;
    expect(last.rows.filter((x) => x.trader_id === 'T2')).toEqual([
      { trader_id: 'T2', instrument: 'A', qty: 150, avg_price: 100, mark_price: 101, notional: 15_150, realized_pnl: 0, unrealized_pnl: 150 },
    ]);
  });

  it('warns once about an instrument without history and keeps it out of the VaR (no NaN)', async () => {
    warnings.mockClear();
    const t = await loadDesk();
    const r = runDesk(t, [quoteAt(T0, 'D', 80), tradeAt(T0 + 1, 'T3', 'D', 'BUY', 1000, 80), quoteAt(T0 + 2, 'D', 70), quoteAt(T0 + 3, 'D', 60)], reference);
    const msgs = warnings.mock.calls.map((c) => String(c[0]));
    expect(msgs.filter((m) => m.includes('D has no price history'))).toEqual([
      'desk-risk/desk-risk: VaR: D has no price history in history.csv; it contributes 0 to every scenario',
    ]);
    expect(warnings.mock.calls[0]![1]).toEqual({ code: 'RISKFLOW_DESK_RISK' });
    const risk = r.snapshots.filter((s) => s.table === 'trader_risk').at(-1)!.rows[0]!;
    expect([risk.var_99, risk.es_99]).toEqual([0, 0]);
    expect(risk.pnl).toBeCloseTo(-20_000, 6);
  });
});

describe('VAR_LIMIT at current marks, lazily (DeskRisk)', () => {
  const T0 = 1_710_509_400_000;
  const reference = generateDay(1, { events: 1 }).reference;
  const sc = refScenarios(reference.history!, 250);
  const make = (varLimit: number) => {
    const breaches: LimitBreach[] = [];
    const ref = { ...reference, traders: new Map([['T1', { ...reference.traders.get('T1')!, maxNotional: Infinity, maxLoss: Infinity, maxConcentration: Infinity, maxPosition: Infinity, varLimit }]]) };
    const desk = new DeskRisk(ref, { snapshotIntervalMs: 0 }, { breach: (b) => breaches.push(b), snapshot: () => undefined, warn: () => undefined });
    desk.quote({ ts: T0, instrument: 'A', bid: 100, ask: 100 });
    desk.trade({ ts: T0 + 1, traderId: 'T1', instrument: 'A', side: 'BUY', qty: 1000, price: 100 });
    return { desk, breaches };
  };
  const exactVar = (mark: number) => refVarLower(refPnlVector(new Map([['A', 1000 * mark]]), sc), 990).var;

  it('fires at the quote that takes the true VaR over the limit, with that VaR', () => {
    const limit = exactVar(100) * 1.5;
    let firstOver = 1;
    while (!(exactVar(100 + firstOver) > limit)) firstOver++;
    const { desk, breaches } = make(limit);
    expect(breaches).toEqual([]);
    for (let k = 1; k <= 100; k++) desk.quote({ ts: T0 + 1 + k, instrument: 'A', bid: 100 + k, ask: 100 + k });
    expect(breaches.map((b) => [b.type, b.eventTime])).toEqual([['VAR_LIMIT', T0 + 1 + firstOver]]);
    expect(near(breaches[0]!.value, exactVar(100 + firstOver))).toBe(true);
    expect(firstOver).toBeGreaterThan(1);
  });

  it('does no VaR work on quotes while the limit is out of reach, and is exact at snapshots', () => {
    const { desk } = make(1e12);
    const before = { ...desk.stats };
    for (let k = 1; k <= 200; k++) desk.quote({ ts: T0 + 1 + k, instrument: 'A', bid: 100 + k / 10, ask: 100 + k / 10 });
    expect([desk.stats.folds, desk.stats.varEvaluations]).toEqual([before.folds, before.varEvaluations]);
    expect(near(desk.varOf('T1')!.var, exactVar(120))).toBe(true);
    expect(desk.stats.folds).toBe(before.folds + 1);
  });
});

describe('the demo day (fixtures/demo-day)', { timeout: 60_000 }, () => {
  const out: string[] = [];
  afterAll(async () => {
    for (const d of out) await rm(d, { recursive: true, force: true });
  });

  it('replays cleanly with the topology: no NaN, no alerts within the demo limits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'desk-risk-'));
    out.push(dir);
    const r = await replayDay({ dayDir: DEMO_DAY, topologies: [TOPOLOGY], outDir: dir, keepAlerts: true, progress: false });
    expect(r.summary.completed).toBe(true);
    expect(r.summary.late).toEqual({});
    // The demo traders stay far inside their limits (gross ~1M against maxNotional >= 15M).
    expect(r.alerts).toEqual([]);
  });

  it('with limits scaled down (20x, VaR 60x): plausible alerts, snapshot rows free of NaN and consistent', async () => {
    const day = await loadDay(DEMO_DAY);
    const traders = new Map(
      [...day.reference.traders].map(([id, tr]) => [
        id,
        { ...tr, maxPosition: tr.maxPosition / 20, maxNotional: tr.maxNotional / 20, maxLoss: tr.maxLoss / 20, varLimit: tr.varLimit / 60 },
      ]),
    );
    const reference = { ...day.reference, traders };
    const recs: Ev[] = [];
    const { readFile } = await import('node:fs/promises');
    for (const f of ['quotes', 'trades']) {
      for (const line of (await readFile(join(DEMO_DAY, `${f}.jsonl`), 'utf8')).split('\n')) if (line) recs.push(JSON.parse(line));
    }
    recs.sort((a, b) => a.ts - b.ts);
    const t = await loadDesk();
    const r = runDesk(t, recs, reference);
    expect(r.errors).toEqual([]);
    const byType = new Map<string, number>();
    for (const a of r.alerts) byType.set(a.type, (byType.get(a.type) ?? 0) + 1);
    for (const ty of ['NOTIONAL_LIMIT', 'VAR_LIMIT', 'POSITION_LIMIT']) expect(byType.get(ty) ?? 0).toBeGreaterThan(0);
    // One alert per episode: far fewer alerts than events, at most a handful per trader and type.
    expect(r.alerts.length).toBeLessThan(200);
    for (const a of r.alerts) {
      expect(JSON.stringify(a)).not.toMatch(/NaN|null|Infinity/);
      expect(a.message).toMatch(/^TR\d\d .*\d/);
    }
    const bad: unknown[] = [];
    for (const s of r.snapshots) {
      for (const row of s.rows) for (const [k, v] of Object.entries(row)) if (k !== 'trader_id' && k !== 'instrument' && !Number.isFinite(v)) bad.push([s.table, s.time, row]);
    }
    expect(bad).toEqual([]);
    const end = r.snapshots.filter((s) => s.time === r.snapshots.at(-1)!.time);
    const pos = end.find((s) => s.table === 'positions')!.rows;
    for (const tr of end.find((s) => s.table === 'trader_risk')!.rows) {
      const mine = pos.filter((p) => p.trader_id === tr.trader_id);
      const gross = mine.reduce((x, p) => x + Math.abs(p.notional), 0);
      expect(near(tr.gross_exposure, gross, gross)).toBe(true);
      expect(tr.var_99).toBeGreaterThan(0);
      expect(tr.es_99).toBeGreaterThanOrEqual(tr.var_99);
    }
  });
});
