import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TopologyError } from '../../../src/core/errors.js';
import { elementOperator } from '../../../src/operators/internals.js';
import {
  compileTopology,
  defineTopology,
  getStepType,
  loadTopology,
  registerStepType,
  type StepBase,
  TopologyValidationError,
} from '../../../src/topology/index.js';
import { runTopology } from './harness.js';

const TS_FIXTURE = fileURLToPath(new URL('./fixtures/big-trades.ts', import.meta.url));
const T0 = 1_700_000_040_000;
const trade = (sec: number, traderId: string, side: string, qty: number, price: number) => ({
  type: 'trade', ts: T0 + sec * 1000, tradeId: `X${sec}`, traderId, instrument: 'ACME', side, qty, price,
});
const trades = [trade(1, 'T1', 'BUY', 10_000, 150), trade(2, 'T1', 'SELL', 20_000, 150), trade(3, 'T2', 'BUY', 10, 150), trade(61, 'T1', 'BUY', 7000, 150)];

describe('defineTopology (TypeScript topologies)', () => {
  it('loads a .ts module whose default export is defineTopology({...}), with inline udfs', async () => {
    const t = await loadTopology(TS_FIXTURE);
    expect(t.name).toBe('big-trades');
    expect(t.sources).toEqual([{ name: 'trades', stream: 'trade', outOfOrdernessMs: 1000, idleTimeoutMs: 300_000 }]);
    const res = runTopology(t, { trades });
    expect(res.errors).toEqual([]);
    expect(res.alerts.map((a) => a.message)).toEqual(['T1 traded 1500000 of ACME', 'T1 traded 3000000 of ACME', 'T1 traded 1050000 of ACME']);
    expect(res.outputs.counts!.map((r) => [r.traderId, r.windowStart - T0, r.n, r.net])).toEqual([
      ['T1', 0, 2, -10_000],
      ['T1', 60_000, 1, 7000],
    ]);
  });

  it('--set applies to TS topologies too', async () => {
    const t = await loadTopology(TS_FIXTURE, { set: ['minNotional=2e6', 'flag.window=2m'] });
    const res = runTopology(t, { trades });
    expect(res.alerts.map((a) => a.value)).toEqual([3_000_000]);
    expect(res.outputs.counts!.map((r) => r.windowEnd - r.windowStart)).toEqual([120_000]);
  });

  it('compiles an inline object; errors name the step and field but no line', () => {
    const spec = defineTopology({
      name: 'inline',
      sources: { trades: { stream: 'trade' } },
      steps: [
        { id: 'a', type: 'filter', input: 'trades', where: 'qty >' },
        { id: 'b', type: 'sink', input: 'a' },
      ],
    });
    let err: TopologyValidationError | undefined;
    try {
      compileTopology(spec, { file: 'inline.ts' });
    } catch (e) {
      err = e as TopologyValidationError;
    }
    expect(err).toBeInstanceOf(TopologyValidationError);
    expect(err!.describe()).toBe('inline.ts: step \'a\': field \'where\': cannot parse expression "qty >": Unexpected end of expression at column 6');
    expect(err!.line).toBeUndefined();
  });

  it('type-checks steps (see @ts-expect-error lines, verified by tsc)', () => {
    const bad = () =>
      defineTopology({
        name: 'typed',
        sources: { t: { stream: 'trade' } },
        steps: [
          // @ts-expect-error 'filtr' is not a step type
          { id: 'a', type: 'filtr', input: 't', where: 'x' },
          // @ts-expect-error a window needs `window` and `aggregate`
          { id: 'b', type: 'window', input: 't' },
        ],
      });
    expect(() => compileTopology(bad())).toThrow(TopologyError);
  });
});

interface ScaleStep extends StepBase {
  type: 'scale';
  input: string;
  field: string;
  factor: number;
}

describe('registerStepType', () => {
  it('plugs a library step type in without touching the compiler', () => {
    if (!getStepType('scale')) {
      registerStepType<ScaleStep>('scale', {
        fields: ['field', 'factor'],
        validate(_step, v) {
          v.string('field', { required: true });
          v.number('factor', { required: true, min: 0 });
        },
        build(step, [input], env) {
          expect(env.operatorId).toBe('scaled/s');
          return input!.pipe(
            elementOperator<Record<string, number>, Record<string, number>>(() => ({
              onRecord: (r, emit) => emit({ ...r, [step.field]: r[step.field]! * step.factor }),
            })),
          );
        },
        describe: (step) => [`${step.field} x ${step.factor}`],
      });
    }
    expect(() => registerStepType('scale', getStepType('scale')!)).toThrow("step type 'scale' is already registered");
    const spec = {
      name: 'scaled',
      sources: { trades: { stream: 'trade' } },
      steps: [
        { id: 's', type: 'scale', input: 'trades', field: 'qty', factor: 2 },
        { id: 'out', type: 'sink', input: 's' },
      ],
    };
    const t = compileTopology(spec);
    const res = runTopology(t, { trades: [trade(1, 'T1', 'BUY', 5, 1)] });
    expect(res.outputs.out!.map((r) => r.qty)).toEqual([10]);
    expect(t.describe()).toContain('qty x 2');

    const bad = { ...spec, steps: [{ id: 's', type: 'scale', input: 'trades', field: 'qty', factr: 2 }, spec.steps[1]] };
    expect(() => compileTopology(bad)).toThrow(TopologyValidationError);
    try {
      compileTopology(bad);
    } catch (e) {
      expect((e as TopologyValidationError).errors.map((x) => x.message)).toEqual([
        "unknown field 'factr' for a scale step (did you mean 'factor'?)",
        "missing required field 'factor'",
      ]);
    }
  });
});
