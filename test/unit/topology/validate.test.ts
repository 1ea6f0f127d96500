import { describe, expect, it } from 'vitest';
import { TopologyError } from '../../../src/core/errors.js';
import { parseTopology, TopologyValidationError, UdfRegistry, defineScalar } from '../../../src/topology/index.js';

/** Lines are 1-based; every case starts with this header (lines 1-8). */
const HEAD = `name: checks
parameters:
  drop: { pct: 0.05, window: 60s }
  limit: 1000
  enabled: true
sources:
  trades: { stream: trade }
steps:
`;

async function problems(steps: string, opts: { set?: string[]; head?: string } = {}): Promise<TopologyError[]> {
  try {
    await parseTopology((opts.head ?? HEAD) + steps, { file: 'checks.yaml', set: opts.set });
  } catch (e) {
    expect(e).toBeInstanceOf(TopologyValidationError);
    return (e as TopologyValidationError).errors;
  }
  throw new Error('expected the topology to be invalid');
}

async function one(steps: string, opts: { set?: string[]; head?: string } = {}): Promise<TopologyError> {
  const errs = await problems(steps, opts);
  expect(errs.map((e) => e.describe())).toEqual([errs[0]!.describe()]);
  return errs[0]!;
}

const SINK = '  - { id: out, type: sink, input: a }\n';

describe('topology validation', () => {
  it('unknown step type, with a suggestion', async () => {
    const e = await one(`  - { id: a, type: filtr, input: trades, where: "qty > 1" }\n${SINK}`);
    expect(e).toMatchObject({ file: 'checks.yaml', line: 9, step: 'a', field: 'type' });
    expect(e.message).toMatch(/unknown step type 'filtr' \(did you mean 'filter'\?\)/);
    expect(e.describe()).toMatch(/^checks\.yaml:9: step 'a': field 'type': unknown step type/);
  });

  it('duplicate id', async () => {
    const e = await one(`  - { id: a, type: filter, input: trades, where: "qty > 1" }\n  - { id: a, type: filter, input: trades, where: "qty > 2" }\n${SINK}`);
    expect(e).toMatchObject({ line: 10, step: 'a', field: 'id' });
    expect(e.message).toMatch(/duplicate step id 'a' \(first used by step #1, line 9\)/);
  });

  it('unknown input', async () => {
    const e = await one(`  - { id: a, type: filter, input: trade, where: "qty > 1" }\n${SINK}`);
    expect(e).toMatchObject({ line: 9, step: 'a', field: 'input' });
    expect(e.message).toMatch(/unknown input 'trade': not a source or step \(did you mean 'trades'\?\)/);
  });

  it('cycles', async () => {
    const e = await one(
      `  - { id: a, type: filter, input: c, where: "qty > 1" }\n  - { id: b, type: filter, input: a, where: "qty > 1" }\n  - { id: c, type: union, inputs: [b, trades] }\n${SINK}`,
    );
    expect(e).toMatchObject({ line: 9, step: 'a' });
    expect(e.message).toBe('cycle between steps: a -> b -> c -> a');
  });

  it('missing required field (at the line of the step)', async () => {
    const e = await one(`  - id: a\n    type: filter\n    input: trades\n${SINK}`);
    expect(e).toMatchObject({ line: 9, step: 'a', field: 'where' });
    expect(e.message).toBe("missing required field 'where'");
  });

  it('missing nested field and unknown fields', async () => {
    const errs = await problems(
      `  - id: a\n    type: window\n    input: trades\n    window: { type: sliding, size: 1m }\n    agregate: { n: count() }\n${SINK}`,
    );
    expect(errs.map((e) => [e.line, e.field, e.message])).toEqual([
      [12, 'window.slide', "missing required field 'window.slide'"],
      [9, 'aggregate', "missing required field 'aggregate'"],
      [13, 'agregate', "unknown field 'agregate' for a window step (did you mean 'aggregate'?)"],
    ].sort((x, y) => (x[0] as number) - (y[0] as number)));
  });

  it('wrong type', async () => {
    const e = await one(`  - id: a\n    type: filter\n    input: trades\n    where: [1, 2]\n${SINK}`);
    expect(e).toMatchObject({ line: 12, step: 'a', field: 'where' });
    expect(e.message).toBe("'where' must be an expression (a string), got a list");
  });

  it('bad duration', async () => {
    const e = await one(
      `  - id: a\n    type: window\n    input: trades\n    window:\n      type: tumbling\n      size: 5 parsecs\n    aggregate: { n: count() }\n${SINK}`,
    );
    expect(e).toMatchObject({ line: 14, step: 'a', field: 'window.size' });
    expect(e.message).toMatch(/bad duration: invalid duration '5 parsecs'/);
  });

  it('bad expression: the mathjs parse error with its column', async () => {
    const e = await one(`  - id: a\n    type: filter\n    input: trades\n    where: "qty * > 5"\n${SINK}`);
    expect(e).toMatchObject({ line: 12, step: 'a', field: 'where' });
    expect(e.message).toBe('cannot parse expression "qty * > 5": Value expected at column 7');
  });

  it('expression constructs outside the subset are named', async () => {
    const e = await one(`  - { id: a, type: filter, input: trades, where: "x = 5" }\n${SINK}`);
    expect(e.message).toBe('expression "x = 5": assignment (=) not supported');
  });

  it('unknown function', async () => {
    const e = await one(`  - { id: a, type: filter, input: trades, where: "abss(qty) > 5" }\n${SINK}`);
    expect(e).toMatchObject({ line: 9, step: 'a', field: 'where' });
    expect(e.message).toMatch(/^expression "abss\(qty\) > 5": unknown function 'abss' \(did you mean 'abs'\?\) \(functions: abs, min, max/);
  });

  it('unknown aggregate function', async () => {
    const e = await one(
      `  - id: a\n    type: window\n    input: trades\n    window: { type: tumbling, size: 1m }\n    aggregate:\n      n: count()\n      m: medain(price)\n${SINK}`,
    );
    expect(e).toMatchObject({ line: 15, step: 'a', field: 'aggregate.m' });
    expect(e.message).toMatch(/unknown aggregate function 'medain'/);
  });

  it('unknown topic', async () => {
    const e = await one(`  - id: a
    type: alert
    input: trades
    alert:
      type: BIG
      severity: info
      topic: market-alerts
      entity: { instrument: instrument }
      value: qty
      threshold: 0
      message: "{instrument}"
`);
    expect(e).toMatchObject({ line: 15, step: 'a', field: 'alert.topic' });
    expect(e.message).toMatch(/'alert.topic' must be one of position-risk-alerts, .*, got 'market-alerts' \(did you mean 'market-risk-alerts'\?\)/);
  });

  it('unknown udf', async () => {
    const e = await one(`  - { id: a, type: process, input: trades, keyBy: traderId, udf: positionCros, params: { limit: 5 } }\n${SINK}`);
    expect(e).toMatchObject({ line: 9, step: 'a', field: 'udf' });
    expect(e.message).toMatch(/unknown process udf 'positionCros' \(did you mean 'positionCross'\?\)/);
  });

  it('a process udf rejecting its params', async () => {
    const e = await one(`  - { id: a, type: process, input: trades, keyBy: traderId, udf: positionCross, params: { limit: -1 } }\n${SINK}`);
    expect(e).toMatchObject({ step: 'a', field: 'params' });
    expect(e.message).toMatch(/rejected its params: params.limit must be a number > 0/);
  });

  it('unknown parameter in --set (typo protection), at the line of the closest declared group', async () => {
    const e = await one(`  - { id: a, type: filter, input: trades, where: "qty > params.limit" }\n${SINK}`, { set: ['drop.pctt=0.07'] });
    expect(e).toMatchObject({ file: 'checks.yaml', line: 3, field: '--set drop.pctt' });
    expect(e.message).toMatch(/unknown parameter 'drop.pctt' \(did you mean 'drop.pct'\?\): parameters must be declared/);
    const top = await one(`  - { id: a, type: filter, input: trades, where: "qty > params.limit" }\n${SINK}`, { set: ['limt=5'] });
    expect(top.line).toBe(2);
  });

  it('wrong value type in --set', async () => {
    const errs = await problems(`  - { id: a, type: filter, input: trades, where: "qty > params.limit" }\n${SINK}`, {
      set: ['limit=lots', 'enabled=yes please', 'drop=5', 'nonsense'],
    });
    expect(errs.map((e) => [e.line, e.field])).toEqual([
      [3, '--set drop'],
      [4, '--set limit'],
      [5, '--set enabled'],
      [undefined, '--set'],
    ]);
    expect(errs[1]!.message).toBe('wrong value type for \'limit\': expected a number like its default 1000, got "lots"');
    expect(errs[0]!.message).toMatch(/is a group of parameters/);
  });

  it('unknown parameters in expressions and ${params} references', async () => {
    const errs = await problems(
      `  - id: a\n    type: window\n    input: trades\n    window: { type: tumbling, size: "\${params.drop.windw}" }\n    aggregate: { n: count() }\n  - { id: b, type: filter, input: a, where: "n > params.limitt" }\n  - { id: out, type: sink, input: b }\n`,
    );
    expect(errs.map((e) => [e.line, e.step, e.field])).toEqual([
      [12, 'a', 'window.size'],
      [14, 'b', 'where'],
    ]);
    expect(errs[0]!.message).toBe("unknown parameter '${params.drop.windw}' (did you mean 'params.drop.window'?)");
    expect(errs[1]!.message).toBe('expression "n > params.limitt": unknown parameter \'params.limitt\' (did you mean \'params.limit\'?)');
  });

  it('YAML syntax errors name the line', async () => {
    const e = await one(`  - { id: a, type: filter, input: trades, where: "qty > 1" }\n  - id: b\n   type: sink\n`);
    expect(e.line).toBe(11);
    expect(e.message).toMatch(/^YAML syntax: /);
  });

  it('duplicate YAML keys and empty documents', async () => {
    const e = await one(`  - id: a\n    type: filter\n    input: trades\n    where: "qty > 1"\n    where: "qty > 2"\n${SINK}`);
    expect(e.line).toBe(13);
    expect(e.message).toMatch(/^YAML syntax: Map keys must be unique/);
    const empty = await one('', { head: '# nothing here\n' });
    expect(empty.message).toBe('a topology must be a mapping with name, sources and steps, got null');
  });

  it('top-level problems', async () => {
    const errs = await problems('', { head: 'name: Bad_Name\nsources:\n  t: { stream: trades }\nsteps: []\nextra: 1\n' });
    expect(errs.map((e) => [e.line, e.field])).toEqual([
      [1, 'name'],
      [3, 'sources.t.stream'],
      [4, 'steps'],
      [5, 'extra'],
    ]);
  });

  it('alert and template problems', async () => {
    const errs = await problems(`  - id: a
    type: alert
    input: trades
    alert:
      type: big
      severity: fatal
      topic: market-risk-alerts
      entity: {}
      value: qty
      message: "{instrument:pcnt} {value"
`);
    expect(errs.map((e) => [e.line, e.field])).toEqual([
      [12, 'alert.threshold'],
      [13, 'alert.type'],
      [14, 'alert.severity'],
      [16, 'alert.entity'],
      [18, 'alert.message'],
    ]);
    expect(errs.find((e) => e.field === 'alert.message')!.message).toMatch(/unknown format 'pcnt' \(did you mean 'pct'\?\)/);
  });

  it('collects every problem and reports them all', async () => {
    let err: unknown;
    try {
      await parseTopology(
        HEAD + `  - { id: a, type: filtr, input: trades }\n  - { id: b, type: filter, input: nowhere, where: "qty >" }\n  - { id: c, type: sink, input: b, name: "bad name" }\n`,
        { file: 'checks.yaml', set: ['nope=1'] },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TopologyError);
    const v = err as TopologyValidationError;
    expect(v.errors.length).toBe(5);
    expect(v.exitCode).toBe(2);
    expect(v.describe().split('\n')).toEqual([
      expect.stringMatching(/^checks\.yaml:2: field '--set nope': unknown parameter 'nope'/),
      expect.stringMatching(/^checks\.yaml:9: step 'a': field 'type': unknown step type 'filtr'/),
      expect.stringMatching(/^checks\.yaml:10: step 'b': field 'input': unknown input 'nowhere'/),
      expect.stringMatching(/^checks\.yaml:10: step 'b': field 'where': cannot parse expression "qty >"/),
      expect.stringMatching(/^checks\.yaml:11: step 'c': field 'name': 'name' must be letters/),
    ]);
  });

  it('warns about outputs that are never used', async () => {
    const t = await parseTopology(
      HEAD.replace('  trades: { stream: trade }\n', '  trades: { stream: trade }\n  quotes: { stream: quote }\n') +
        `  - { id: a, type: filter, input: trades, where: "qty > 1" }\n  - { id: b, type: filter, input: trades, where: "qty > 2" }\n  - { id: out, type: sink, input: a }\n`,
      { file: 'checks.yaml' },
    );
    expect(t.warnings).toEqual([
      "checks.yaml:11: step 'b': the output of step 'b' is never used (no step reads it and it is not a sink or alert): it will not run",
      "checks.yaml:8: field 'sources.quotes': source 'quotes' is never read by any step",
    ]);
  });

  it('unknown scalar udfs are unknown functions; loaded ones are accepted', async () => {
    const steps = `  - { id: a, type: filter, input: trades, where: "spread2(price, 1) > 0" }\n${SINK}`;
    const e = await one(steps);
    expect(e.message).toMatch(/unknown function 'spread2'/);
    const udfs = UdfRegistry.of([defineScalar('spread2', (a: number, b: number) => a - b)]);
    const t = await parseTopology(HEAD + steps, { udfs });
    expect(t.order).toEqual(['a', 'out']);
  });
});
