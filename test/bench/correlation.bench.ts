import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { packageRoot } from '../../src/cli/paths.js';
import { Subject } from 'rxjs';
import { JobContext } from '../../src/core/context.js';
import { END_OF_TIME, Watermark, type Element } from '../../src/core/element.js';
import { emptyReference, type ReferenceData } from '../../src/core/reference.js';
import { ManualClock } from '../../src/core/time.js';
import { CORRELATION_DEFAULTS, CorrelationMatrix } from '../../src/risk/correlation.js';
import { FLASH_CRASH_DEFAULTS, FlashCrashDetector } from '../../src/risk/flash-crash.js';
import { LIQUIDITY_DEFAULTS, LiquidityMonitor } from '../../src/risk/liquidity.js';
import { LULD_DEFAULTS, LuldMonitor } from '../../src/risk/luld.js';
import { MARKET_WIDE_HALT_DEFAULTS, MarketWideHaltMonitor } from '../../src/risk/market-wide-halt.js';
import { MarketStateTracker, type MarketQuote, type MarketTrade } from '../../src/risk/market.js';
import { ULTRAFAST_DEFAULTS, UltrafastDetector } from '../../src/risk/ultrafast.js';
import '../../src/topology/steps/market-risk.js';
import { compileTopology, type LoadedTopology } from '../../src/topology/index.js';
import { printTable, type BenchRow } from './harness.js';

/**
 * Issue 3's market-risk benchmark: events/s of the market-risk steps on a synthetic session of
 * 200 instruments (quotes, one trade in ten), fed as the runner feeds a topology (two sources,
 * bounded-out-of-orderness watermarks every 100 ms of event time), beside the calculators driven
 * by hand in event order (no engine). Size with BENCH_MARKET_EVENTS (default 1,000,000).
 */
const INSTRUMENTS = 200;
/** Event time between events: 10 ms = 100 events/s, so 2.3M events make a 6.5-hour session. */
const EVENT_GAP_MS = 10;
const T0 = Date.parse('2024-03-15T13:30:00Z');

type Rec = (MarketQuote & { type: 'quote' }) | (MarketTrade & { type: 'trade' });

function referenceData(): ReferenceData {
  const ref = emptyReference();
  for (let i = 0; i < INSTRUMENTS; i++) {
    const name = `I${String(i).padStart(3, '0')}`;
    ref.instruments.set(name, { instrument: name, sector: 'S', currency: 'USD', tier: 1 + (i % 2), prevClose: 20 + i, adv: 1e6, isIndex: i === 0 });
  }
  return ref;
}

/** A one-factor synthetic session: each event quotes (or, one in ten, trades) a random instrument. */
function session(n: number): Rec[] {
  let seed = 1234567;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const names = Array.from({ length: INSTRUMENTS }, (_, i) => `I${String(i).padStart(3, '0')}`);
  const level = names.map((_, i) => 20 + i);
  const out: Rec[] = new Array(n);
  let factor = 0;
  for (let k = 0; k < n; k++) {
    const ts = T0 + k * EVENT_GAP_MS;
    factor = rnd() * 1e-4;
    const i = Math.floor(((rnd() + 1) / 2) * INSTRUMENTS) % INSTRUMENTS;
    const mid = (level[i] = level[i]! * (1 + factor * 10 + rnd() * 3e-4));
    const half = mid * 2e-4;
    if (k % 10 === 9) out[k] = { type: 'trade', ts, instrument: names[i]!, price: Math.round(mid * 100) / 100, qty: 100 };
    else out[k] = { type: 'quote', ts, instrument: names[i]!, bid: mid - half, ask: mid + half, bidSize: 50_000, askSize: 50_000 };
  }
  return out;
}

/**
 * Best of `runs` (after a warm-up) in CPU time of this process rather than wall time: on a shared
 * box the wall clock measures the neighbours too. Single-threaded work, so on an idle machine the
 * two agree (GC helper threads make CPU time slightly pessimistic).
 */
function best(fn: () => void, runs = 2): number {
  fn();
  let b = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    b = Math.min(b, (c.user + c.system) / 1000);
  }
  return b;
}

/** topologies/market-risk.yaml, compiled synchronously (the bench functions are synchronous). */
function loadTopologySync(): LoadedTopology {
  const file = join(packageRoot(), 'topologies', 'market-risk.yaml');
  return compileTopology(parse(readFileSync(file, 'utf8')), { file });
}

/** Pushes the records through a compiled topology the way the runner does, synchronously. */
function drive(t: LoadedTopology, recs: Rec[], ref: ReferenceData): number {
  const ctx = new JobContext({ clock: new ManualClock(0) });
  const quotes = new Subject<Element<unknown>>();
  const trades = new Subject<Element<unknown>>();
  const inputs: Record<string, Subject<Element<unknown>>> = {};
  for (const s of t.sources) inputs[s.name] = s.stream === 'quote' ? quotes : trades;
  let alerts = 0;
  t.build({
    ctx,
    inputs,
    reference: ref,
    onAlert: () => alerts++,
    onOutput: () => undefined,
    onLate: () => undefined,
    onSnapshot: () => undefined,
  });
  const hasTrades = t.sources.some((s) => s.stream === 'trade');
  // Watermark = newest ts - 1 s - 1 ms, sent every 100 ms of event time (the runner's defaults here).
  let lastWm = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < recs.length; k++) {
    const r = recs[k]!;
    if (r.type === 'quote') quotes.next(r);
    else if (hasTrades) trades.next(r);
    const wm = r.ts - 1001;
    if (wm - lastWm >= 100) {
      lastWm = wm;
      const w = new Watermark(wm);
      quotes.next(w);
      trades.next(w);
    }
  }
  quotes.next(END_OF_TIME);
  trades.next(END_OF_TIME);
  quotes.complete();
  trades.complete();
  return alerts;
}

function single(step: Record<string, unknown>): LoadedTopology {
  return compileTopology({
    name: 'bench',
    sources: { quotes: { stream: 'quote', outOfOrderness: '1s' }, trades: { stream: 'trade', outOfOrderness: '1s' } },
    steps: [
      { id: 'market', type: 'marketEvents', quotes: 'quotes', trades: 'trades' },
      { id: 's', input: 'market', ...step },
    ],
  });
}

/** The calculators of the topology, driven by hand in event order (what the engine adds is the ordering). */
function byHand(recs: Rec[], ref: ReferenceData, which: 'all' | 'correlation'): number {
  let alerts = 0;
  const out = () => void alerts++;
  const cor = new CorrelationMatrix(CORRELATION_DEFAULTS, ref, out, (rows) => void (alerts += rows.length * 0));
  if (which === 'correlation') {
    for (const r of recs) {
      if (r.type !== 'quote') continue;
      cor.advance(r.ts);
      cor.onQuote(r);
    }
    cor.finish();
    return alerts;
  }
  const fc = new FlashCrashDetector(FLASH_CRASH_DEFAULTS, out);
  const uf = new UltrafastDetector(ULTRAFAST_DEFAULTS, out);
  const luld = new LuldMonitor(LULD_DEFAULTS, ref, out);
  const mwh = new MarketWideHaltMonitor(MARKET_WIDE_HALT_DEFAULTS, ref, out);
  const liq = new LiquidityMonitor(LIQUIDITY_DEFAULTS, out);
  const state = new MarketStateTracker({ returnWindowMs: 60_000 }, ref, new LuldMonitor(LULD_DEFAULTS, ref, () => undefined));
  let nextSnap = Math.ceil(recs[0]!.ts / 60_000) * 60_000;
  for (const r of recs) {
    while (nextSnap < r.ts) {
      state.settle(nextSnap);
      state.rows(nextSnap);
      nextSnap += 60_000;
    }
    luld.advance(r.ts);
    liq.advance(r.ts);
    cor.advance(r.ts);
    state.advance(r.ts);
    if (r.type === 'quote') {
      fc.onQuote(r);
      luld.onQuote(r);
      mwh.onQuote(r);
      liq.onQuote(r);
      cor.onQuote(r);
      state.onQuote(r);
    } else {
      uf.onTrade(r);
      luld.onTrade(r);
      mwh.onTrade(r);
      state.onTrade(r);
    }
  }
  liq.finish();
  cor.finish();
  return alerts;
}

/**
 * Rows: the whole market-risk topology (marketEvents + 7 rule steps) and each rule step alone behind
 * its marketEvents step, engine vs hand-written.
 *
 * @example printTable(runMarketBench(1_000_000));
 */
export function runMarketBench(n = Number(process.env.BENCH_MARKET_EVENTS ?? 1_000_000)): BenchRow[] {
  const recs = session(n);
  const ref = referenceData();
  const quotesOnly = recs.filter((r) => r.type === 'quote');
  const tradesOnly = recs.filter((r) => r.type === 'trade');
  const rows: BenchRow[] = [];
  let sink = 0;

  const topology = loadTopologySync();
  const engineAll = best(() => void (sink += drive(topology, recs, ref)), 2);
  const handAll = best(() => void (sink += byHand(recs, ref, 'all')), 2);
  rows.push({ name: `market-risk topology (marketEvents + 7 rules), ${INSTRUMENTS} instruments`, events: n, engineMs: engineAll, handMs: handAll, target: '>= 1M/s for the 3 standard topologies together' });

  // Each rule step alone behind its marketEvents step (the ordering is paid once per topology).
  const cases: Array<[string, Record<string, unknown>, Rec[]]> = [
    ['marketEvents + correlation (5m/1s grid)', { type: 'correlation' }, quotesOnly],
    ['marketEvents + flashCrash', { type: 'flashCrash' }, quotesOnly],
    ['marketEvents + liquidity', { type: 'liquidity' }, quotesOnly],
    ['marketEvents + luld', { type: 'luld' }, recs],
    ['marketEvents + marketWideHalt', { type: 'marketWideHalt' }, recs],
    ['marketEvents + marketState (market table)', { type: 'marketState', luld: {} }, recs],
    ['marketEvents + ultrafastExtremeEvent', { type: 'ultrafastExtremeEvent' }, tradesOnly],
  ];
  for (const [name, step, input] of cases) {
    const t = single(step);
    const ms = best(() => void (sink += drive(t, input, ref)), 2);
    const row: BenchRow = { name: `  ${name}`, events: input.length, engineMs: ms };
    if (name.includes('correlation')) row.handMs = best(() => void (sink += byHand(input, ref, 'correlation')), 2);
    rows.push(row);
  }
  if (sink === -1) console.log(sink);
  return rows;
}

// `node dist/test/bench/correlation.bench.js` prints the table on its own.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.env.BENCH_MARKET_EVENTS ?? 1_000_000);
  console.log(`market-risk benchmark: node ${process.version}, ${n.toLocaleString('en-US')} events (${INSTRUMENTS} instruments, ${Math.round((n * EVENT_GAP_MS) / 60_000)} min of event time), best of 2 after a warm-up, CPU time`);
  printTable(runMarketBench(n));
}
