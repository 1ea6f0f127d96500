import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Subject } from 'rxjs';
import { parse as parseYaml } from 'yaml';
import { packageRoot } from '../../src/cli/paths.js';
import { JobContext } from '../../src/core/context.js';
import { END_OF_TIME, Watermark, type Element } from '../../src/core/element.js';
import { emptyReference, type ReferenceData } from '../../src/core/reference.js';
import { ManualClock } from '../../src/core/time.js';
import { compileTopology } from '../../src/topology/compile.js';
import '../../src/topology/steps/surveillance.js';
import {
  FrontRunningDetector,
  LayeringDetector,
  MarkingTheCloseDetector,
  Sequencer,
  SpoofingDetector,
  WashTradeDetector,
  type Detector,
  type SurvOrder,
  type SurvTrade,
} from '../../src/surveillance/index.js';
import { printTable, rate, time, type BenchRow } from './harness.js';

/**
 * Issue 3's surveillance benchmark: events/s of each surveillance detector on its own (records fed
 * in event-time order through a Sequencer, watermarks every 1,000 records, as a source batch
 * would), then of topologies/surveillance.yaml (all five steps, compiled, on RxJS) on the same
 * synthetic trades and orders: 500 traders on 10 desks, 200 instruments, 40% trades / 60% orders
 * (NEW, REPLACE, CANCEL, client orders), starting 15 minutes before the close so that the
 * marking-the-close interval is in the data. Size with BENCH_SURVEILLANCE_EVENTS (default 1,000,000).
 */
const TRADERS = 500;
const INSTRUMENTS = 200;
const WM_EVERY = 1000;
const CLOSE = Date.parse('2024-03-15T16:00:00-04:00');

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a * 1664525 + 1013904223) >>> 0;
    return a / 4294967296;
  };
}

interface Data {
  trades: SurvTrade[];
  orders: SurvOrder[];
  /** Merged arrival order: 0 = trade, 1 = order, with the index into its array. */
  kinds: Uint8Array;
  idx: Uint32Array;
  reference: ReferenceData;
}

function makeData(n: number): Data {
  const r = rng(42);
  const traders = Array.from({ length: TRADERS }, (_, i) => `TR${String(i).padStart(3, '0')}`);
  const instruments = Array.from({ length: INSTRUMENTS }, (_, i) => `I${String(i).padStart(3, '0')}`);
  const price = instruments.map(() => 10 + r() * 290);
  const reference = emptyReference();
  for (let i = 0; i < TRADERS; i++) {
    reference.traders.set(traders[i]!, {
      traderId: traders[i]!, desk: `D${i % 10}`, beneficialOwner: `OWN-${i % 7 === 0 ? 'SHARED' + (i % 3) : traders[i]}`,
      maxPosition: 1e6, maxNotional: 1e9, maxLoss: 1e7, varLimit: 1e7, maxConcentration: 1,
    });
  }
  reference.day = { date: '2024-03-15', timezone: 'America/New_York', open: '09:30', close: '16:00' };
  const trades: SurvTrade[] = [];
  const orders: SurvOrder[] = [];
  const dt = (15 * 60_000) / n; // n events over the last 15 minutes
  let ts = CLOSE - 15 * 60_000;
  let orderSeq = 0;
  let tradeSeq = 0;
  const open: SurvOrder[] = [];
  for (let k = 0; k < n; k++) {
    ts += dt * 2 * r();
    const x = r();
    if (x < 0.4) {
      const ins = Math.floor(r() * INSTRUMENTS);
      price[ins]! *= 1 + (r() - 0.5) * 0.002;
      const fill = open.length > 0 && r() < 0.5 ? open[Math.floor(r() * open.length)] : undefined;
      const t: SurvTrade = {
        ts,
        tradeId: `T${++tradeSeq}`,
        instrument: fill ? fill.instrument : instruments[ins]!,
        traderId: fill ? fill.traderId : traders[Math.floor(r() * TRADERS)]!,
        side: fill ? fill.side : r() < 0.5 ? 'BUY' : 'SELL',
        qty: fill ? fill.qty : 100 * (1 + Math.floor(r() * 20)),
        price: Math.round(price[ins]! * 100) / 100,
        counterpartyTraderId: traders[Math.floor(r() * TRADERS)]!,
      };
      if (fill) t.orderId = fill.orderId;
      trades.push(t);
    } else if (x < 0.75 || open.length === 0) {
      const ins = Math.floor(r() * INSTRUMENTS);
      const o: SurvOrder = {
        ts,
        orderId: `O${++orderSeq}`,
        traderId: traders[Math.floor(r() * TRADERS)]!,
        instrument: instruments[ins]!,
        side: r() < 0.5 ? 'BUY' : 'SELL',
        qty: r() < 0.01 ? 20_000 : 100 * (1 + Math.floor(r() * 20)),
        price: Math.round(price[ins]! * 100) / 100,
        action: 'NEW',
      };
      if (r() < 0.05) o.clientOrder = true;
      orders.push(o);
      open.push(o);
      if (open.length > 5000) open.splice(0, open.length - 5000);
    } else {
      const j = Math.floor(r() * open.length);
      const o = open[j]!;
      const replace = r() < 0.2;
      orders.push({ ...o, ts, action: replace ? 'REPLACE' : 'CANCEL', price: replace ? o.price + 0.01 : o.price });
      if (!replace) {
        open[j] = open[open.length - 1]!;
        open.pop();
      }
    }
  }
  const kinds = new Uint8Array(n);
  const idx = new Uint32Array(n);
  let i = 0;
  let j = 0;
  for (let k = 0; k < n; k++) {
    if (j >= orders.length || (i < trades.length && trades[i]!.ts <= orders[j]!.ts)) {
      kinds[k] = 0;
      idx[k] = i++;
    } else {
      kinds[k] = 1;
      idx[k] = j++;
    }
  }
  return { trades, orders, kinds, idx, reference };
}

function runDetector(d: Data, make: () => Detector): number {
  const seq = new Sequencer();
  const det = make();
  let alerts = 0;
  let last = Number.NEGATIVE_INFINITY;
  const n = d.kinds.length;
  for (let k = 0; k < n; k++) {
    if (d.kinds[k] === 0) {
      const t = d.trades[d.idx[k]!]!;
      seq.offerTrade(t);
      last = t.ts;
    } else {
      const o = d.orders[d.idx[k]!]!;
      seq.offerOrder(o);
      last = o.ts;
    }
    if (k % WM_EVERY === WM_EVERY - 1) {
      seq.release(last - 1, det);
      alerts += det.takeAlerts().length;
    }
  }
  seq.release(Number.POSITIVE_INFINITY, det);
  return alerts + det.takeAlerts().length;
}

function runTopology(d: Data): number {
  const root = packageRoot();
  const file = join(root, 'topologies', 'surveillance.yaml');
  const t = compileTopology(parseYaml(readFileSync(file, 'utf8')), { file });
  const trades$ = new Subject<Element<unknown>>();
  const orders$ = new Subject<Element<unknown>>();
  let alerts = 0;
  const sub = t.build({
    ctx: new JobContext({ clock: new ManualClock(0) }),
    inputs: { trades: trades$, orders: orders$ },
    reference: d.reference,
    onAlert: () => alerts++,
    onOutput: () => undefined,
    onLate: () => undefined,
  });
  let last = Number.NEGATIVE_INFINITY;
  const n = d.kinds.length;
  for (let k = 0; k < n; k++) {
    if (d.kinds[k] === 0) {
      const r = d.trades[d.idx[k]!]!;
      trades$.next(r);
      last = r.ts;
    } else {
      const r = d.orders[d.idx[k]!]!;
      orders$.next(r);
      last = r.ts;
    }
    if (k % WM_EVERY === WM_EVERY - 1) {
      const w = new Watermark(last - 1);
      trades$.next(w);
      orders$.next(w);
    }
  }
  trades$.next(END_OF_TIME);
  orders$.next(END_OF_TIME);
  trades$.complete();
  orders$.complete();
  sub.unsubscribe();
  return alerts;
}

/** Best wall and CPU time of `runs` runs after a warm-up: CPU time is the steadier figure on a shared box. */
function measure(fn: () => void, runs = 3): { wall: number; cpu: number } {
  fn();
  let wall = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    wall = Math.min(wall, time(fn));
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1000);
  }
  return { wall, cpu };
}

/**
 * Runs the surveillance benchmark on `n` synthetic events and returns its rows (engine = through
 * the compiled topology on RxJS, hand = the five detectors fed directly by a Sequencer); prints a
 * line per detector with its events/s and alert count.
 *
 * @example printTable(runSurveillanceBench(1_000_000));
 */
export function runSurveillanceBench(n = Number(process.env.BENCH_SURVEILLANCE_EVENTS ?? 1_000_000)): BenchRow[] {
  const d = makeData(n);
  const owners = new Map([...d.reference.traders].map(([k, v]) => [k, v.beneficialOwner]));
  const desks = new Map([...d.reference.traders].map(([k, v]) => [k, v.desk]));
  const detectors: Array<[string, () => Detector]> = [
    ['washTrade', () => new WashTradeDetector({ windowMs: 60_000, qtyTolerance: 0.05, priceTolerance: 0.001, owners })],
    ['spoofing', () => new SpoofingDetector({ sizeMultiple: 10, medianWindow: 1000, minMedianOrders: 1, cancelWithinMs: 2000, fillWindowMs: 5000, orderTtlMs: 60_000 })],
    ['layering', () => new LayeringDetector({ minOrders: 3, minLevels: 3, placeWithinMs: 1000, cancelWithinMs: 5000, orderTtlMs: 60_000 })],
    ['markingTheClose', () => new MarkingTheCloseDetector({ windowMs: 600_000, minShare: 0.2, minMove: 0.01, close: '16:00', timeZone: 'America/New_York' })],
    ['frontRunning', () => new FrontRunningDetector({ minClientQty: 10_000, beforeMs: 60_000, afterMs: 600_000, desks })],
  ];
  const rows: BenchRow[] = [];
  let handMs = 0;
  console.log(`surveillance: ${n.toLocaleString('en-US')} events (${d.trades.length.toLocaleString('en-US')} trades, ${d.orders.length.toLocaleString('en-US')} orders), ${TRADERS} traders, ${INSTRUMENTS} instruments`);
  let handCpu = 0;
  for (const [name, make] of detectors) {
    let alerts = 0;
    const m = measure(() => {
      alerts = runDetector(d, make);
    });
    handMs += m.wall;
    handCpu += m.cpu;
    console.log(`  ${name.padEnd(16)} ${rate(n, m.wall).padStart(9)} wall ${rate(n, m.cpu).padStart(9)} cpu  (${alerts} alerts)`);
    rows.push({ name: `surveillance ${name} (detector)`, events: n, engineMs: m.wall });
  }
  let alerts = 0;
  const topo = measure(() => {
    alerts = runTopology(d);
  });
  console.log(
    `  ${'topology'.padEnd(16)} ${rate(n, topo.wall).padStart(9)} wall ${rate(n, topo.cpu).padStart(9)} cpu  (${alerts} alerts; the five detectors alone: ${rate(n, handMs)} wall, ${rate(n, handCpu)} cpu)`,
  );
  rows.push({ name: 'surveillance topology (5 steps)', events: n, engineMs: topo.wall, handMs, target: '>= 1M/s with the other standard topologies' });
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) printTable(runSurveillanceBench());
