import { fileURLToPath } from 'node:url';
import { Subject } from 'rxjs';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/core/alerts.js';
import { JobContext } from '../../../src/core/context.js';
import { END_OF_TIME, Watermark, type Element } from '../../../src/core/element.js';
import { emptyReference, type ReferenceData, type Trader } from '../../../src/core/reference.js';
import { ManualClock } from '../../../src/core/time.js';
import { replayDay } from '../../../src/cli/replay.js';
import { loadTopology, parseTopology, TopologyValidationError, type LoadedTopology } from '../../../src/topology/index.js';
import '../../../src/topology/steps/surveillance.js';
import {
  FrontRunningDetector,
  LayeringDetector,
  MarkingTheCloseDetector,
  SpoofingDetector,
  WashTradeDetector,
  runDetector,
  type AlertDraft,
  type SurvOrder,
  type SurvTrade,
} from '../../../src/surveillance/index.js';
import { newOrderId, order, pick, processingOrder, resetIds, rng, stable, trade } from './helpers.js';

const TOPOLOGY = fileURLToPath(new URL('../../../topologies/surveillance.yaml', import.meta.url));
const DEMO_DAY = fileURLToPath(new URL('../../../fixtures/demo-day', import.meta.url));
const START = Date.parse('2024-03-15T15:40:00-04:00');
const CLOSE = Date.parse('2024-03-15T16:00:00-04:00');
const BOUND = 1000; // the topology's outOfOrderness

beforeEach(resetIds);

function reference(): ReferenceData {
  const ref = emptyReference();
  const tr = (traderId: string, desk: string, beneficialOwner: string): Trader => ({
    traderId, desk, beneficialOwner, maxPosition: 1e6, maxNotional: 1e9, maxLoss: 1e7, varLimit: 1e7, maxConcentration: 1,
  });
  for (let i = 1; i <= 8; i++) {
    const id = `TR0${i}`;
    ref.traders.set(id, tr(id, i <= 4 ? 'D1' : 'D2', id === 'TR04' || id === 'TR08' ? 'OWN-SHARED' : `OWN-${id}`));
  }
  ref.day = { date: '2024-03-15', timezone: 'America/New_York', open: '09:30', close: '16:00' };
  return ref;
}

/** Twenty-one minutes across the close with every pattern now and then. */
function randomSession(seed: number): { trades: SurvTrade[]; orders: SurvOrder[] } {
  const r = rng(seed);
  const traders = ['TR01', 'TR02', 'TR03', 'TR04', 'TR05', 'TR06', 'TR07', 'TR08'];
  const trades: SurvTrade[] = [];
  const orders: SurvOrder[] = [];
  let ts = START;
  while (ts < CLOSE + 60_000) {
    ts += Math.floor(r() * 1500);
    const who = pick(r, traders);
    const x = r();
    if (x < 0.45) {
      const side = r() < 0.5 ? 'BUY' : 'SELL';
      trades.push(trade(ts, who, side, pick(r, [100, 102, 200, 1000]), pick(r, [50, 50.02, 50.3, 51]), { instrument: pick(r, ['ACME', 'BETA']), cp: pick(r, traders) }));
    } else if (x < 0.85) {
      const o = order(ts, newOrderId(), who, 'NEW', r() < 0.5 ? 'BUY' : 'SELL', pick(r, [100, 100, 200, 300, 5000, 20_000]), pick(r, [49.9, 50, 50.1, 50.2]), {
        instrument: pick(r, ['ACME', 'BETA']),
        clientOrder: r() < 0.3,
      });
      orders.push(o);
      if (r() < 0.8) orders.push({ ...o, action: 'CANCEL', ts: ts + pick(r, [200, 1500, 2500, 4000, 9000]) });
    } else {
      // A ladder on one side.
      const side = r() < 0.5 ? 'BUY' : 'SELL';
      const instrument = pick(r, ['ACME', 'BETA']);
      for (let k = 0; k < 3; k++) {
        const o = order(ts + k * 200, newOrderId(), who, 'NEW', side, 100, 50 + k * 0.1, { instrument });
        orders.push(o, { ...o, action: 'CANCEL', ts: ts + 3000 });
      }
    }
  }
  // A planted close: TR03 lifts ACME in the last minutes, up to the closing print.
  for (const [k, px] of [51, 51.5, 52].entries()) trades.push(trade(CLOSE - 120_000 + k * 60_000, 'TR03', 'BUY', 5000, px, { cp: pick(r, traders) }));
  const byTs = (a: { ts: number }, b: { ts: number }) => a.ts - b.ts;
  return { trades: trades.sort(byTs), orders: orders.sort(byTs) };
}

interface Feed {
  trades: SurvTrade[];
  orders: SurvOrder[];
  /** Arrival order: records shuffled within the bound (equal ts keep input order). */
  shuffleSeed?: number;
  /** Take a checkpoint after this many records and continue in a fresh job restored from it. */
  restoreAfter?: number[];
  late?: Array<{ kind: 'trade' | 'order'; rec: SurvTrade | SurvOrder; after: number }>;
}

/**
 * Runs the topology the way the runner does (a bounded-out-of-orderness watermark per source after
 * each record, END_OF_TIME at the end), optionally in a shuffled arrival order and across
 * checkpoint/restore into a new job.
 */
function runTopology(t: LoadedTopology, f: Feed, ref = reference()): { alerts: Alert[]; late: Record<string, unknown[]> } {
  const evs = processingOrder(f.trades, f.orders);
  let arrival = evs;
  if (f.shuffleSeed !== undefined) {
    const r = rng(f.shuffleSeed);
    const keyed = evs.map((e, i) => ({ e, at: e.rec.ts + r() * BOUND, i })).sort((a, b) => a.at - b.at || a.i - b.i);
    const slots = new Map<number, typeof evs>();
    for (const e of evs) (slots.get(e.rec.ts) ?? slots.set(e.rec.ts, []).get(e.rec.ts)!).push(e);
    arrival = keyed.map((k) => slots.get(k.e.rec.ts)!.shift()!);
  }
  const alerts: Alert[] = [];
  const late: Record<string, unknown[]> = {};
  let ctx = new JobContext({ clock: new ManualClock(42) });
  const start = (c: JobContext) => {
    const subjects = { trades: new Subject<Element<unknown>>(), orders: new Subject<Element<unknown>>() };
    const sub = t.build({
      ctx: c,
      inputs: subjects,
      reference: ref,
      onAlert: (a) => alerts.push(a),
      onOutput: () => undefined,
      onLate: (s, rec) => (late[s] ??= []).push(rec),
      onError: (e) => {
        throw e;
      },
    });
    return { subjects, sub };
  };
  let g = start(ctx);
  const max = { trades: Number.NEGATIVE_INFINITY, orders: Number.NEGATIVE_INFINITY };
  const wm = { trades: Number.NEGATIVE_INFINITY, orders: Number.NEGATIVE_INFINITY };
  const push = (src: 'trades' | 'orders', rec: { ts: number }) => {
    g.subjects[src].next(rec);
    max[src] = Math.max(max[src], rec.ts);
    for (const s of ['trades', 'orders'] as const) {
      const w = max[s] - BOUND - 1;
      if (w > wm[s]) {
        wm[s] = w;
        g.subjects[s].next(new Watermark(w));
      }
    }
  };
  arrival.forEach((e, i) => {
    push(e.kind === 'trade' ? 'trades' : 'orders', e.rec);
    for (const l of f.late ?? []) if (l.after === i) g.subjects[l.kind === 'trade' ? 'trades' : 'orders'].next(l.rec);
    if (f.restoreAfter?.includes(i)) {
      const snap = structuredClone(ctx.snapshot());
      g.sub.unsubscribe();
      ctx = new JobContext({ clock: new ManualClock(42), restore: snap });
      g = start(ctx);
      expect(ctx.unclaimed()).toEqual([]);
    }
  });
  for (const s of ['trades', 'orders'] as const) g.subjects[s].next(END_OF_TIME);
  for (const s of ['trades', 'orders'] as const) g.subjects[s].complete();
  return { alerts, late };
}

describe('topologies/surveillance.yaml', () => {
  it('loads without warnings, every number a parameter that --set reaches', async () => {
    const t = await loadTopology(TOPOLOGY);
    expect(t.warnings).toEqual([]);
    expect(t.resolved.steps.map((s) => s.type)).toEqual(['washTrade', 'spoofing', 'layering', 'markingTheClose', 'frontRunning']);
    for (const step of t.spec.steps as unknown as Array<Record<string, unknown>>) {
      for (const [k, v] of Object.entries(step)) {
        if (['id', 'type', 'description', 'trades', 'orders'].includes(k)) continue;
        expect(v, `${step.id}.${k}`).toMatch(/^\$\{params\.[A-Za-z.]+\}$/);
      }
    }
    const set = await loadTopology(TOPOLOGY, { set: ['spoofing.sizeMultiple=13', 'layering.placeWithin=2s'] });
    const spoof = set.resolved.steps.find((s) => s.id === 'spoofing') as unknown as Record<string, unknown>;
    expect(spoof.sizeMultiple).toBe(13);
    expect(set.describe()).toContain('NEW order >= 13x');
    expect(set.describe()).toContain('within 2s, each cancelled within 5s');
  });

  it('reports bad step fields with the step and field', async () => {
    const bad = (steps: string) =>
      parseTopology(`name: s\nsources:\n  trades: { stream: trade }\n  orders: { stream: order }\nsteps:\n${steps}`).then(
        () => [],
        (e: TopologyValidationError) => e.errors.map((x) => x.describe()),
      );
    expect((await bad('  - { id: w, type: washTrade, trades: trades, windw: 60s }\n'))[0]).toMatch(/step 'w'.*unknown field 'windw'|windw/);
    expect(await bad('  - { id: sp, type: spoofing, trades: trades, orders: orders, cancelWithin: 2s, orderTtl: 2s }\n')).toEqual([
      expect.stringMatching(/step 'sp': field 'orderTtl': 'orderTtl' must be longer than 'cancelWithin'/),
    ]);
    expect(await bad('  - { id: m, type: markingTheClose, trades: trades, timeZone: Mars/Olympus, minShare: 2 }\n')).toEqual([
      expect.stringMatching(/field 'minShare'/),
      expect.stringMatching(/unknown time zone 'Mars\/Olympus'/),
    ]);
    expect(await bad('  - { id: l, type: layering, trades: trades, orders: orders, severity: loud }\n')).toEqual([expect.stringMatching(/'severity' must be one of info, warning, critical/)]);
  });

  it('gives the alerts of the pure detectors, as contract alerts on surveillance-alerts', async () => {
    const t = await loadTopology(TOPOLOGY);
    const ref = reference();
    const owners = new Map([...ref.traders].map(([k, v]) => [k, v.beneficialOwner]));
    const desks = new Map([...ref.traders].map(([k, v]) => [k, v.desk]));
    const types = new Set<string>();
    for (const seed of [7, 8, 9]) {
    const { trades, orders } = randomSession(seed);
    const { alerts } = runTopology(t, { trades, orders });
    const expected: Array<[string, AlertDraft[]]> = [
      ['wash-trade', runDetector(new WashTradeDetector({ windowMs: 60_000, qtyTolerance: 0.05, priceTolerance: 0.001, owners }), trades, orders)],
      ['spoofing', runDetector(new SpoofingDetector({ sizeMultiple: 10, medianWindow: 1000, minMedianOrders: 1, cancelWithinMs: 2000, fillWindowMs: 5000, orderTtlMs: 60_000 }), trades, orders)],
      ['layering', runDetector(new LayeringDetector({ minOrders: 3, minLevels: 3, placeWithinMs: 1000, cancelWithinMs: 5000, orderTtlMs: 60_000 }), trades, orders)],
      ['marking-the-close', runDetector(new MarkingTheCloseDetector({ windowMs: 600_000, minShare: 0.2, minMove: 0.01, close: '16:00', timeZone: 'America/New_York' }), trades, orders)],
      ['front-running', runDetector(new FrontRunningDetector({ minClientQty: 10_000, beforeMs: 60_000, afterMs: 600_000, desks }), trades, orders)],
    ];
    for (const [rule, drafts] of expected) {
      const mine = alerts.filter((a) => a.rule === rule);
      expect(mine.map((a) => [a.type, a.entity.traderId, a.eventTime, a.value, a.threshold, a.message, a.details]), rule).toEqual(
        drafts.map((d) => [d.type, d.traderId, d.eventTime, d.value, d.threshold, d.message, d.details]),
      );
    }
    for (const a of alerts) {
      types.add(a.type);
      expect(a).toMatchObject({ topic: 'surveillance-alerts', topology: 'surveillance', entity: { traderId: expect.any(String) } });
      expect(Object.keys(a.entity)).toEqual(['traderId']);
    }
    expect(new Set(alerts.map((a) => a.alertId)).size).toBe(alerts.length);
    }
    expect([...types].sort()).toEqual(['FRONT_RUNNING', 'LAYERING', 'MARKING_THE_CLOSE', 'SPOOFING', 'WASH_TRADE']);
  });

  it('gives identical alerts under shuffles within the bound, and across checkpoint/restore into a new job', async () => {
    const t = await loadTopology(TOPOLOGY);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
        const { trades, orders } = randomSession(seed);
        const base = runTopology(t, { trades, orders });
        expect(base.alerts.length).toBeGreaterThan(0);
        const n = trades.length + orders.length;
        const r = rng(seed);
        const cuts = [Math.floor(r() * n), Math.floor(r() * n), Math.floor(r() * n)];
        const other = runTopology(t, { trades, orders, shuffleSeed: seed, restoreAfter: cuts });
        // Each step's alerts in the same order; steps interleave by when each one's watermark moved.
        for (const rule of ['wash-trade', 'spoofing', 'layering', 'marking-the-close', 'front-running']) {
          expect(stable(other.alerts.filter((a) => a.rule === rule)), rule).toBe(stable(base.alerts.filter((a) => a.rule === rule)));
        }
        expect(other.alerts.length).toBe(base.alerts.length);
        expect(other.late).toEqual({});
        return true;
      }),
      { numRuns: 8 },
    );
  });

  it('sends records behind the watermark to the late output instead of judging them out of order', async () => {
    const t = await loadTopology(TOPOLOGY);
    const { trades, orders } = randomSession(3);
    const stale = trade(START, 'TR01', 'BUY', 100, 50, { tradeId: 'STALE' });
    const { late } = runTopology(t, { trades, orders, late: [{ kind: 'trade', rec: stale, after: 200 }] });
    expect(Object.keys(late).sort()).toEqual(['front-running', 'layering', 'marking-the-close', 'spoofing', 'wash-trade']);
    for (const recs of Object.values(late)) expect(recs).toEqual([stale]);
  });
});

describe('the demo day', () => {
  it('is calm for surveillance (TR04 and TR09 share an owner but never trade together), yet not vacuously', async () => {
    const calm = await replayDay({ dayDir: DEMO_DAY, topologies: [TOPOLOGY], outDir: '/tmp/riskflow-surveillance-demo', progress: false, keepAlerts: true });
    expect(calm.summary.completed).toBe(true);
    expect(calm.summary.events.byStream).toMatchObject({ trade: 2158, order: 3704 });
    expect(calm.summary.late).toEqual({});
    expect(calm.alerts).toEqual([]);

    // The same day with loosened controls does alert: the steps see the day's trades and orders.
    const loose = await replayDay({
      dayDir: DEMO_DAY,
      topologies: [TOPOLOGY],
      outDir: '/tmp/riskflow-surveillance-demo-loose',
      progress: false,
      keepAlerts: true,
      set: ['washTrade.window=10m', 'washTrade.qtyTolerance=0.5', 'washTrade.priceTolerance=0.01', 'layering.cancelWithin=30s', 'layering.placeWithin=2m', 'layering.orderTtl=10m', 'frontRunning.minClientQty=1000'],
    });
    const types = new Set((loose.alerts ?? []).map((a) => a.type));
    expect(types.has('WASH_TRADE')).toBe(true);
    expect(types.has('FRONT_RUNNING')).toBe(true);
  }, 60_000);
});
