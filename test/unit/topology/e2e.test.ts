import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { emptyReference, type Instrument, type ReferenceData, type Trader } from '../../../src/core/reference.js';
import { UserFunctionError } from '../../../src/core/errors.js';
import { loadTopology, parseTopology } from '../../../src/topology/index.js';
import { runTopology } from './harness.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/market-watch.yaml', import.meta.url));
const T0 = 1_700_000_040_000; // a whole minute
const s = (sec: number) => T0 + sec * 1000;

function quote(sec: number, instrument: string, mid: number) {
  return { type: 'quote', ts: s(sec), instrument, bid: mid - 0.05, ask: mid + 0.05, bidSize: 100, askSize: 100 };
}
function trade(sec: number, n: number, traderId: string, instrument: string, side: string, qty: number, price: number) {
  return { type: 'trade', ts: s(sec), tradeId: `X${n}`, orderId: `O${n}`, traderId, instrument, side, qty, price };
}
function order(sec: number, n: number, traderId: string, instrument: string) {
  return { type: 'order', ts: s(sec), orderId: `O${n}`, traderId, instrument, side: 'BUY', qty: 1, price: 1, action: 'NEW' };
}

const inputs = {
  quotes: [
    quote(0, 'ACME', 100),
    quote(1, 'BETA', 50),
    quote(5, 'ACME', 100.2),
    quote(20, 'ACME', 99),
    quote(30, 'ACME', 94.9),
    quote(40, 'BETA', 50),
    quote(45, 'ACME', 95),
  ],
  trades: [
    trade(6, 1, 'T1', 'ACME', 'BUY', 600, 100.1),
    trade(21, 2, 'T1', 'ACME', 'BUY', 500, 99),
    trade(25, 3, 'T2', 'BETA', 'SELL', 3000, 50.6),
    trade(46, 4, 'T1', 'ACME', 'SELL', 200, 95),
    trade(50, 5, 'T1', 'ACME', 'BUY', 2000, 95.5),
  ],
  orders: [order(5.5, 1, 'T1', 'ACME'), order(24, 3, 'T2', 'BETA'), order(49, 5, 'T1', 'ACME'), order(10, 9, 'T9', 'ACME')],
};

function reference(): ReferenceData {
  const ref = emptyReference();
  const inst = (instrument: string, tier: number): Instrument => ({ instrument, sector: 'tech', currency: 'USD', tier, prevClose: 100, adv: 1e6, isIndex: false });
  ref.instruments.set('ACME', inst('ACME', 1));
  ref.instruments.set('BETA', inst('BETA', 2));
  const trader = (traderId: string, desk: string): Trader => ({
    traderId, desk, beneficialOwner: traderId, maxPosition: 1000, maxNotional: 1e7, maxLoss: 1e5, varLimit: 1e5, maxConcentration: 0.5,
  });
  ref.traders.set('T1', trader('T1', 'EQ'));
  ref.traders.set('T2', trader('T2', 'EQ'));
  return ref;
}

describe('a YAML topology end to end', () => {
  it('runs every built-in step type', async () => {
    const t = await loadTopology(FIXTURE);
    expect(t.warnings).toEqual([]);
    const res = runTopology(t, inputs, { reference: reference() });
    expect(res.errors).toEqual([]);
    expect(res.late).toEqual({});

    // window (sliding 60s/10s) + alert with templates: three 60s windows see the fall from 100.2
    const drops = res.alerts.filter((a) => a.type === 'PRICE_DROP');
    expect(drops.map((a) => a.windowEnd)).toEqual([s(40), s(50), s(60)]);
    expect(drops[0]).toMatchObject({
      severity: 'warning',
      topic: 'market-risk-alerts',
      rule: 'drop-alert',
      topology: 'market-watch',
      entity: { instrument: 'ACME' },
      eventTime: s(40) - 1,
      windowStart: s(-20),
      threshold: 0.05,
      message: 'ACME fell 5.3% from its 60s high (limit 5%)',
      details: { hi: 100.2, lo: 94.9 },
      emittedAt: 42,
    });
    expect(drops[0]!.value).toBeCloseTo(1 - 94.9 / 100.2, 12);
    expect(drops[1]!.message).toBe('ACME fell 5.2% from its 60s high (limit 5%)');
    expect(drops[0]!.alertId).toMatch(/^[0-9a-f]{32}$/);

    // derive + asofJoin + scalar udf + severity expression
    const off = res.alerts.filter((a) => a.type === 'OFF_MARKET_TRADE');
    expect(off.map((a) => [a.entity.traderId, a.severity, Math.round(a.value)])).toEqual([
      ['T2', 'critical', 120],
      ['T1', 'warning', 53],
    ]);
    expect(off[0]!.message).toBe('T2 traded BETA at 50.60, 120.00 bps off mid 50.00');
    expect(off[0]!.details).toEqual({ mid: 50, spreadBps: 20 });
    expect(off[0]!.windowStart).toBeUndefined();

    // process udf with a ${params} param + alert with ref in the template
    const pos = res.alerts.filter((a) => a.type === 'POSITION_LIMIT');
    expect(pos.map((a) => [a.entity.traderId, a.value, a.eventTime])).toEqual([
      ['T1', 1100, s(21)],
      ['T2', 3000, s(25)],
      ['T1', 2900, s(50)],
    ]);
    expect(pos[0]!.message).toBe('T1 position 1100 is over 1000 (desk EQ)');

    // sink of the sliding window: flat records, early and final firings
    const bars = res.outputs['mid-swings']!;
    const finalAcme = bars.filter((b) => b.instrument === 'ACME' && b.firing === 'final');
    expect(finalAcme).toHaveLength(10);
    expect(Object.keys(finalAcme[0]!)).toEqual(['instrument', 'windowStart', 'windowEnd', 'ts', 'firing', 'hi', 'lo', 'last', 'n', 'smooth']);
    expect(finalAcme[0]).toMatchObject({ windowStart: s(-50), windowEnd: s(10), ts: s(10) - 1, hi: 100.2, lo: 100, last: 100.2, n: 2 });
    expect(bars.some((b) => b.firing === 'early')).toBe(true);

    // tumbling window keyed by two fields over the filter (results ordered by window end, then key)
    expect(res.outputs['volume-out']).toEqual([
      { traderId: 'T1', instrument: 'ACME', windowStart: s(0), windowEnd: s(60), ts: s(60) - 1, firing: 'final', notional: 191_000, vwap: 95.5, trades: 1 },
      { traderId: 'T2', instrument: 'BETA', windowStart: s(0), windowEnd: s(60), ts: s(60) - 1, firing: 'final', notional: 151_800, vwap: 50.6, trades: 1 },
    ]);

    // session window
    const bursts = res.outputs['bursts-out']!;
    expect(bursts.map((b) => [b.traderId, b.windowStart, b.windowEnd, b.n, b.firstPx, b.lastPx])).toEqual([
      ['T2', s(25), s(55), 1, 50.6, 50.6],
      ['T1', s(6), s(80), 4, 100.1, 95.5],
    ]);

    // union
    expect(res.outputs['both-sides']!.map((r) => r.tradeId).sort()).toEqual(['X1', 'X2', 'X3', 'X4', 'X5']);

    // interval join: trades with the order placed up to 5s before, output ts = max(l.ts, r.ts)
    const fills = res.outputs['fills-out']!;
    expect(fills.map((f) => [f.tradeId, f.order.orderId, f.ts])).toEqual([
      ['X1', 'O1', s(6)],
      ['X3', 'O3', s(25)],
      ['X5', 'O5', s(50)],
    ]);

    // enrich + ref in a filter
    expect(res.outputs['tier1-out']!.map((r) => [r.tradeId, r.inst.tier])).toEqual([['X5', 1]]);

    // checkpoint ids are <topology>/<step>
    const ids = [...res.ctx.snapshot().keys()];
    expect(ids).toEqual(expect.arrayContaining(['market-watch/swings', 'market-watch/marked', 'market-watch/fills', 'market-watch/crossings', 'market-watch/both']));
  });

  it('gives the same results on the runner\'s Multicast inputs (read directly) as on Subjects', async () => {
    const t = await loadTopology(FIXTURE);
    const a = runTopology(t, inputs, { reference: reference() });
    const b = runTopology(await loadTopology(FIXTURE), inputs, { reference: reference(), multicast: true });
    const strip = (r: typeof a) => ({ alerts: r.alerts.map(({ emittedAt: _e, ...x }) => x), outputs: r.outputs, late: r.late, errors: r.errors });
    expect(a.alerts.length).toBeGreaterThan(0);
    expect(strip(b)).toEqual(strip(a));
  });

  it('--set overrides change the results', async () => {
    const tight = runTopology(await loadTopology(FIXTURE, { set: ['drop.pct=0.052'] }), inputs, { reference: reference() });
    expect(tight.alerts.filter((a) => a.type === 'PRICE_DROP').map((a) => a.windowEnd)).toEqual([s(40)]);
    expect(tight.alerts.find((a) => a.type === 'PRICE_DROP')!.message).toBe('ACME fell 5.3% from its 60s high (limit 5.2%)');

    const short = runTopology(await loadTopology(FIXTURE, { set: ['drop.window=30s'] }), inputs, { reference: reference() });
    expect(short.alerts.filter((a) => a.type === 'PRICE_DROP')).toEqual([]);
    expect(short.outputs['mid-swings']!.every((b) => b.windowEnd - b.windowStart === 30_000)).toBe(true);

    const pos = runTopology(await loadTopology(FIXTURE, { set: ['maxPosition=2500'] }), inputs, { reference: reference() });
    expect(pos.alerts.filter((a) => a.type === 'POSITION_LIMIT').map((a) => a.entity.traderId)).toEqual(['T2', 'T1']);
  });

  it('is deterministic apart from emittedAt', async () => {
    const a = runTopology(await loadTopology(FIXTURE), inputs, { reference: reference() });
    const b = runTopology(await loadTopology(FIXTURE), inputs, { reference: reference() });
    expect(JSON.stringify(a.alerts)).toBe(JSON.stringify(b.alerts));
    expect(a.alerts.length).toBe(8);
  });

  it('sends records late for a window to onLate(stepId)', async () => {
    const t = await parseTopology(`
name: late
sources:
  trades: { stream: trade }
steps:
  - id: per-minute
    type: window
    input: trades
    keyBy: instrument
    window: { type: tumbling, size: 1m }
    aggregate: { n: count() }
  - { id: out, type: sink, input: per-minute }
`);
    const res = runTopology(
      t,
      { trades: [trade(10, 1, 'T1', 'ACME', 'BUY', 1, 1), trade(70, 2, 'T1', 'ACME', 'BUY', 1, 1), trade(20, 3, 'T1', 'ACME', 'BUY', 1, 1)] },
      { arrivalOrder: true },
    );
    expect(res.late['per-minute']!.map((r) => r.tradeId)).toEqual(['X3']);
    expect(res.outputs.out!.map((r) => [r.windowStart, r.n])).toEqual([
      [s(0), 1],
      [s(60), 1],
    ]);
  });

  it('turns a throwing udf into a UserFunctionError naming the step and udf', async () => {
    const t = await parseTopology(
      `
name: boom
sources: { trades: { stream: trade } }
steps:
  - { id: crossings, type: process, input: trades, keyBy: traderId, udf: positionCross, params: { limit: 10 } }
  - { id: bad, type: filter, input: crossings, where: "bps(position, 0) > 1 or explode(position)" }
  - { id: out, type: sink, input: bad }
`,
      {
        file: 'boom.yaml',
        udfs: (await import('../../../src/topology/index.js')).UdfRegistry.of([
          (await import('../../../src/topology/index.js')).defineScalar('explode', () => {
            throw new Error('kaboom');
          }),
        ]),
      },
    );
    const res = runTopology(t, { trades: [trade(1, 1, 'T1', 'ACME', 'BUY', 100, 1)] });
    expect(res.errors).toHaveLength(1);
    const e = res.errors[0] as UserFunctionError;
    expect(e).toBeInstanceOf(UserFunctionError);
    expect(e.step).toBe('bad');
    expect(e.field).toBe('where');
    expect(e.line).toBe(6);
    expect(e.message).toContain("scalar udf 'explode' threw: kaboom");
  });
});
