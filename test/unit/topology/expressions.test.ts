import { evaluate } from 'mathjs';
import { describe, expect, it } from 'vitest';
import { TopologyError, UserFunctionError } from '../../../src/core/errors.js';
import { emptyReference } from '../../../src/core/reference.js';
import { compileExpression, compileTemplate, formatValue } from '../../../src/topology/index.js';

const scope = {
  qty: 100,
  price: 101.5,
  bid: 99.5,
  ask: 100.5,
  side: 'BUY',
  n: 7,
  neg: -5.5,
  zero: 0,
  flag: true,
  q: { mid: 100, nested: { x: 3 } },
};

const AGREE = [
  'qty * price',
  '(bid + ask) / 2',
  '(ask - bid) / ((bid + ask) / 2) * 1e4',
  'ask - bid - 1',
  '2 ^ 10',
  '-2 ^ 2',
  '2 ^ 3 ^ 2',
  '2 ^ -1',
  'n % 3',
  'neg % 2',
  '-7 % 3',
  '7 % -3',
  'n % zero',
  'n / zero',
  '-n / zero',
  '+n',
  '-neg',
  '1e4 * 3',
  'qty > 50',
  'qty >= 100',
  'price < 101.5',
  'price <= 101.5',
  '0.1 + 0.2 == 0.3',
  '0.1 + 0.2 != 0.3',
  '0.1 + 0.2 <= 0.3',
  '0.1 + 0.2 > 0.3',
  'qty > 50 and price < 100',
  'qty > 50 or price < 100',
  'not flag',
  'not (qty > 50)',
  'flag xor qty > 50',
  'qty > 50 and (price > 100 or n == 8)',
  'qty > 50 ? "big" : "small"',
  'qty > 500 ? 1 : qty > 50 ? 2 : 3',
  'q.mid * 2',
  'q["mid"] + 1',
  'q.nested.x',
  'abs(neg)',
  'min(qty, price, n)',
  'max(qty, price)',
  'sqrt(16)',
  'log(100)',
  'log(8, 2)',
  'log10(1000)',
  'exp(1)',
  'pow(2, 8)',
  'round(2.5)',
  'round(-2.5)',
  'round(1.005, 2)',
  'round(price / 3, 3)',
  'floor(-2.5)',
  'floor(2.9999999999999996)',
  'ceil(2.1)',
  'ceil(-2.1)',
  'sign(neg)',
  'isNaN(0 / 0)',
  'isNaN(n)',
  'pi * 2',
  'true + 1',
  'null ?? 5',
  'qty ?? 5',
];

describe('compileExpression', () => {
  it.each(AGREE)('agrees with mathjs evaluate: %s', (src) => {
    const ours = compileExpression(src)(scope);
    const theirs = evaluate(src, structuredClone(scope)) as unknown;
    expect(ours).toEqual(theirs);
  });

  it('missing fields: arithmetic is NaN, ordering comparisons are false, == null finds them', () => {
    const r = { a: 1, nul: null };
    const e = (src: string) => compileExpression(src)(r);
    expect(e('missing * 2')).toBeNaN();
    expect(e('missing + a')).toBeNaN();
    expect(e('nul + 1')).toBeNaN();
    expect(e('-missing')).toBeNaN();
    expect(e('missing > 1')).toBe(false);
    expect(e('missing < 1')).toBe(false);
    expect(e('missing >= 1')).toBe(false);
    expect(e('nul > -1')).toBe(false);
    expect(e('missing * 2 > 1')).toBe(false);
    expect(e('missing * 2 <= 1')).toBe(false);
    expect(e('missing == 1')).toBe(false);
    expect(e('missing == null')).toBe(true);
    expect(e('nul == null')).toBe(true);
    expect(e('a == null')).toBe(false);
    expect(e('missing != 5')).toBe(true);
    expect(e('missing.x')).toBeUndefined();
    expect(e('a.b.c')).toBeUndefined();
    expect(e('coalesce(missing, 5)')).toBe(5);
    expect(e('coalesce(missing * 2, nul, 7)')).toBe(7);
    expect(e('coalesce(a, 7)')).toBe(1);
    expect(e('isNaN(missing)')).toBe(true);
    expect(e('missing ?? "x"')).toBe('x');
    expect(e('missing ? 1 : 2')).toBe(2);
  });

  it('strings compare as text (mathjs would try to convert them to numbers and throw)', () => {
    expect(() => evaluate('side == "BUY"', { side: 'BUY' })).toThrow();
    expect(compileExpression('side == "BUY"')({ side: 'BUY' })).toBe(true);
    expect(compileExpression("side != 'SELL'")({ side: 'BUY' })).toBe(true);
  });

  it('strings order as text, mixed types are never ordered', () => {
    expect(compileExpression('a < b')({ a: 'ACME', b: 'BETA' })).toBe(true);
    expect(compileExpression('a < b')({ a: 'ACME', b: 5 })).toBe(false);
    expect(compileExpression('a == b')({ a: '5', b: 5 })).toBe(false);
  });

  it('folds parameters into constants', () => {
    const f = compileExpression('params.drop.pct * 2', { params: { drop: { pct: 0.05 } } });
    expect(f.isConstant).toBe(true);
    expect(f({})).toBe(0.1);
    expect(f.code).not.toContain('params');
    const g = compileExpression('last <= hi * (1 - params.drop.pct)', { params: { drop: { pct: 0.05 } } });
    expect(g.isConstant).toBe(false);
    expect(g.fields).toEqual(['last', 'hi']);
    expect(g.code).toContain('0.05');
    expect(g({ last: 95, hi: 100 })).toBe(true);
    expect(compileExpression('params.names', { params: { names: ['a', 'b'] } })({})).toEqual(['a', 'b']);
    expect(compileExpression('params["drop"].pct', { params: { drop: { pct: 1 } } })({})).toBe(1);
  });

  it('duration literals are milliseconds', () => {
    expect(compileExpression('30s')({})).toBe(30_000);
    expect(compileExpression('5m + 1500ms')({})).toBe(301_500);
    expect(compileExpression('ts - start > 2h')({ ts: 3 * 3_600_000, start: 0 })).toBe(true);
  });

  it('indexes are 1-based for lists (mathjs) and read Maps (reference data)', () => {
    expect(compileExpression('xs[1] + xs[3]')({ xs: [10, 20, 30] })).toBe(40);
    expect(compileExpression('xs[k]')({ xs: { a: 1 }, k: 'a' })).toBe(1);
    const ref = emptyReference();
    ref.instruments.set('ACME', { instrument: 'ACME', sector: 'tech', currency: 'USD', tier: 1, prevClose: 100, adv: 1, isIndex: false });
    const f = compileExpression('price / ref.instruments[instrument].prevClose - 1', { ref });
    expect(f({ price: 95, instrument: 'ACME' })).toBeCloseTo(-0.05, 12);
    expect(f({ price: 95, instrument: 'NOPE' })).toBeNaN();
  });

  it('calls scalar udfs and wraps their errors as UserFunctionError naming the step', () => {
    const scalars = new Map<string, (...a: any[]) => unknown>([
      ['bps', (a: number, b: number) => ((a - b) / b) * 1e4],
      ['boom', () => {
        throw new Error('kaboom');
      }],
    ]);
    expect(compileExpression('bps(101, 100)', { scalars })({})).toBeCloseTo(100, 9);
    const f = compileExpression('boom(x)', { scalars, where: { step: 's1', field: 'where', line: 7, file: 't.yaml' } });
    expect(f.isConstant).toBe(false);
    let err: unknown;
    try {
      f({ x: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserFunctionError);
    expect((err as UserFunctionError).describe()).toBe("t.yaml:7: step 's1': field 'where': scalar udf 'boom' threw: kaboom");
  });

  it.each([
    ['x = 5', 'assignment (=) not supported'],
    ['[1, 2]', 'array literals ([...]) not supported'],
    ['{a: 1}', 'object literals ({...}) not supported'],
    ['a < b < c', 'chained comparisons (a < b < c): write (a < b) and (b < c) not supported'],
    ['2 qty', 'implicit multiplication ("2 qty"): write the \'*\''],
    ['a & b', "operator '&' (bitAnd) not supported"],
    ['a << 1', "operator '<<' (leftShift) not supported"],
    ['5!', "operator '!' (factorial) not supported"],
    ["a'", "operator ''' (ctranspose) not supported"],
    ['1:3', 'ranges (a:b) not supported'],
    ['a; b', "multiple statements (';' or a line break) not supported"],
    ['f(x) = x', 'function definitions not supported'],
    ['q.f(1)', 'method calls (a.f(x)) not supported'],
    ['x to y', "operator 'to' (to) not supported"],
    ['abs()', 'abs() takes 1 argument, got 0'],
    ['pow(2)', 'pow() takes 2 arguments, got 1'],
    ['params', "'params' must be followed by a parameter name, e.g. params.limit"],
    ['params.nope', "unknown parameter 'params.nope'"],
    ['count()', "unknown function 'count'"],
  ])('rejects %s naming the construct', (src, message) => {
    expect(() => compileExpression(src, { params: { limit: 1 } })).toThrow(TopologyError);
    expect(() => compileExpression(src, { params: { limit: 1 } })).toThrow(message);
  });

  it('reports parse errors with the column', () => {
    expect(() => compileExpression('qty * (price')).toThrow(/cannot parse expression "qty \* \(price": Parenthesis \) expected at column 13/);
    expect(() => compileExpression('  ')).toThrow('empty expression');
  });

  it('generates straight-line code: no allocation per call', () => {
    const f = compileExpression('abs(bps) > 2 * p and (side == "BUY" or q.mid > min(a, b, 3)) ? coalesce(x, 1) : -y ^ 2', {
      scalars: new Map([['bps', () => 1]]),
    });
    // Only property reads r["..."] / K[i] / U[i] use brackets: no array or object literals, closures or `new`.
    expect(f.code.replace(/(r|K|U|x)\[[^\]]*\]/g, '')).not.toMatch(/[[\]{}]|=>|function|new /);
  });
});

describe('compileTemplate', () => {
  const locals = ['value', 'threshold'];
  it('fills holes with formats', () => {
    const t = compileTemplate('{instrument} fell {value:pct} in {secs:int}s (limit {threshold:pct}) at {ts:time}', { locals });
    expect(t({ instrument: 'ACME', secs: 37.6, ts: 0 }, { value: 0.0723, threshold: 0.05 })).toBe(
      'ACME fell 7.2% in 38s (limit 5%) at 1970-01-01T00:00:00.000Z',
    );
    expect(compileTemplate('{s:bps} {p:fixed2} {x} {y} {o}')({ s: 0.00325, p: 3, x: 0.1 + 0.2, o: { a: 1 } })).toBe('32.5bps 3.00 0.3 n/a {"a":1}');
    expect(compileTemplate('{qty > 5 ? "big" : "small"} {{braces}}')({ qty: 9 })).toBe('big {braces}');
    expect(compileTemplate('no holes')({})).toBe('no holes');
    expect(compileTemplate('{params.w} window', { params: { w: '60s' } })({})).toBe('60s window');
    expect(formatValue(Number.NaN, 'pct')).toBe('NaN');
  });

  it('rejects bad templates', () => {
    expect(() => compileTemplate('{value:pcnt}')).toThrow("unknown format 'pcnt' (did you mean 'pct'?)");
    expect(() => compileTemplate('{value')).toThrow("unclosed '{' at column 1");
    expect(() => compileTemplate('a } b')).toThrow("unmatched '}' at column 3");
    expect(() => compileTemplate('{}')).toThrow("empty '{}'");
    expect(() => compileTemplate('{nope(1)}')).toThrow("unknown function 'nope'");
  });
});
