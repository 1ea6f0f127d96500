import { describe, expect, it } from 'vitest';
import { flattenParams, resolveParameters, resolveParamRefs } from '../../../src/topology/index.js';

describe('parameters', () => {
  const defaults = { drop: { pct: 0.05, window: '60s' }, enabled: true, names: ['a'], level: null, count: 3 };

  it('parses --set values as YAML scalars of the default type', () => {
    const r = resolveParameters(defaults, ['drop.pct=0.07', 'drop.window=90', 'enabled=false', 'names=[x, y]', 'level=high', 'count=1e3']);
    expect(r.errors).toEqual([]);
    expect(r.params).toEqual({ drop: { pct: 0.07, window: '90' }, enabled: false, names: ['x', 'y'], level: 'high', count: 1000 });
    expect([...r.overridden]).toEqual([
      ['drop.pct', 0.05],
      ['drop.window', '60s'],
      ['enabled', true],
      ['names', ['a']],
      ['level', null],
      ['count', 3],
    ]);
    expect(defaults.drop.pct).toBe(0.05);
  });

  it('rejects undeclared names and wrong types', () => {
    const r = resolveParameters(defaults, ['drop.pctt=1', 'count=many', 'enabled=1', 'names=x', 'count=.inf', 'drop.pct.x=1']);
    expect(r.errors.map((e) => e.message)).toEqual([
      "unknown parameter 'drop.pctt' (did you mean 'drop.pct'?): parameters must be declared under 'parameters' (declared: drop.pct, drop.window, enabled, names, level, count)",
      'wrong value type for \'count\': expected a number like its default 3, got "many"',
      'wrong value type for \'enabled\': expected a boolean like its default true, got "1"',
      'wrong value type for \'names\': expected a list like its default ["a"], got "x"',
      'wrong value type for \'count\': expected a number like its default 3, got ".inf"',
      expect.stringMatching(/^unknown parameter 'drop.pct.x'/),
    ]);
  });

  it('substitutes ${params.x} references keeping the type of a whole reference', () => {
    const errors: string[] = [];
    const out = resolveParamRefs(
      { size: '${params.drop.window}', n: '${ params.count }', text: 'every ${params.drop.window} (x${params.count})', list: ['${params.drop.pct}'], bad: '${params.nope}' },
      defaults,
      ['steps', 0],
      (path, msg) => errors.push(`${path.join('.')}: ${msg}`),
    );
    expect(out).toEqual({ size: '60s', n: 3, text: 'every 60s (x3)', list: [0.05], bad: '${params.nope}' });
    expect(errors).toEqual(["steps.0.bad: unknown parameter '${params.nope}'"]);
  });

  it('flattens to dotted leaves', () => {
    expect(flattenParams(defaults).map(([p]) => p)).toEqual(['drop.pct', 'drop.window', 'enabled', 'names', 'level', 'count']);
  });
});
