import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlatJsonParser, TextPiece } from '../../../src/connectors/replay/flat-json.js';

/** Same keys in the same order, and every value the same (numbers by Object.is: -0 is not 0). */
function expectSame(got: Record<string, unknown>, want: unknown): void {
  expect(want).not.toBeNull();
  expect(typeof want).toBe('object');
  const w = want as Record<string, unknown>;
  expect(Object.keys(got)).toEqual(Object.keys(w));
  for (const k of Object.keys(w)) {
    if (typeof w[k] === 'number') expect(Object.is(got[k], w[k]), `${k}: ${String(got[k])} vs ${String(w[k])}`).toBe(true);
    else expect(got[k]).toEqual(w[k]);
  }
  expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
}

/**
 * Parses `line` inside other bytes, as the reader does: a buffer holding many lines, whose text
 * piece starts before the line, once given the line's end and once the end of the buffer (the
 * parser then finds the line's end itself): both must agree, and `at` must be the line's end. A
 * line with a character outside ASCII goes through parseText (the reader never gives the fast
 * path such bytes; it declines them).
 */
function parseIn(p: FlatJsonParser, line: string, crlf = false): Record<string, unknown> | undefined {
  if (!/^[\x00-\x7f]*$/.test(line)) return p.parseText(line);
  const bytes = Buffer.from(`0123456xx\n${line}${crlf ? '\r\n' : '\n'}{"after":1}`, 'latin1');
  const piece = new TextPiece(bytes, 7, bytes.length);
  const end = 10 + line.length;
  const exact = p.parse(bytes, 10, end, piece);
  if (exact !== undefined) expect(p.at).toBe(end);
  const found = p.parse(bytes, 10, bytes.length, piece);
  if (found !== undefined) expect(p.at).toBe(end);
  expect(found === undefined).toBe(exact === undefined);
  if (found !== undefined) expect(found).toEqual(exact);
  return found;
}

// The property tests take a few seconds; more on a loaded machine.
describe('FlatJsonParser', { timeout: 60_000 }, () => {
  it('parses recorded-day lines exactly as JSON.parse, by the fast path', () => {
    const p = new FlatJsonParser();
    const lines = [
      '{"type":"quote","ts":1710509400005,"instrument":"EXAF","bid":76.86,"ask":76.91,"bidSize":15500,"askSize":23000}',
      '{"type":"trade","ts":1710509400643,"tradeId":"T0000001","instrument":"DATA","traderId":"TR237","side":"SELL","qty":100,"price":306.64,"counterpartyTraderId":"TR280","orderId":"O0000008","venue":"BATS"}',
      '{"type":"order","ts":1710509400011,"orderId":"O0000001","traderId":"TR413","instrument":"FXAT","side":"SELL","qty":700,"price":131.61,"action":"NEW"}',
      '{"type":"quote","ts":1710509400009,"instrument":"FXAP","bid":254.78,"ask":254.87,"bidSize":10400,"askSize":9500}',
      '{"a":-0,"b":0.1,"c":0.3,"d":-12.5,"e":0,"f":true,"g":false,"h":null,"i":"","j":"x y","k":123456789012345}',
      '{"a":0.000000000000001,"b":999999999999999,"c":1.50,"d":"~"}',
    ];
    for (const line of lines) expectSame(parseIn(p, line)!, JSON.parse(line));
    // Lines ending with CR LF.
    for (const line of lines) expectSame(parseIn(p, line, true)!, JSON.parse(line));
    expect(p.declined).toBe(0);
    // Values repeated across lines are one shared string.
    const a = parseIn(p, lines[0]!)!;
    const b = parseIn(p, lines[0]!)!;
    expect(a).not.toBe(b);
    expect(a['instrument']).toBe(b['instrument']);
  });

  it('declines what it does not parse exactly, so JSON.parse decides', () => {
    const p = new FlatJsonParser();
    const declined = [
      '{"a": 1}', // whitespace
      '{"a":1e5}', // exponent
      '{"a":1234567890123456}', // 16 digits
      '{"a":0.1234567890123456}', // 16 fraction digits
      '{"a":"x\\"y"}', // escape
      '{"a":"x\\u0041"}',
      '{"a\\n":1}',
      '{"a":{"b":1}}', // nested
      '{"a":[1]}',
      '{"a":1,"a":2}', // repeated key
      '{"__proto__":1}',
      '{}',
      '{"a":01}', // not JSON
      '{"a":1.}',
      '{"a":-}',
      '{"a":.5}',
      '{"a":tru}',
      '{"a":1}x',
      '{"a":1} ',
      '{"a":"\t"}', // raw control character: not JSON
      '{"a":1,}',
      '{"d":"\u00e9t\u00e9"}', // not ASCII
      '{"e":"\u2028"}',
      '[1]',
      '',
      '{',
    ];
    for (const line of declined) expect(parseIn(p, line), line).toBeUndefined();
    expect(p.parsed).toBe(0);
  });

  it('never reads past the end of its line', () => {
    const p = new FlatJsonParser();
    p.parseText('{"a}":1}');
    // The layout head `"a}":` must not match across the line end into the next line.
    const text = '{"x":1,"a}\n":1}';
    const bytes = Buffer.from(text, 'latin1');
    expect(p.parse(bytes, 0, 10, new TextPiece(bytes, 0, bytes.length))).toBeUndefined();
    const tr = Buffer.from('{"a":tr}ue}', 'latin1');
    expect(p.parse(tr, 0, 8, new TextPiece(tr, 0, tr.length))).toBeUndefined();
    // Digits past the end are not read into a number (nor a brace after them taken as the line's).
    p.parseText('{"n":1}');
    const num = Buffer.from('{"n":12}34}\n', 'latin1');
    expect(p.parse(num, 0, 6, new TextPiece(num, 0, num.length))).toBeUndefined();
    expect(p.parse(num, 0, 8, new TextPiece(num, 0, num.length))).toEqual({ n: 12 });
    expect(p.at).toBe(8);
  });

  it('switches between layouts of one file (optional fields) and keeps each exact', () => {
    const p = new FlatJsonParser();
    const lines = ['{"ts":1,"a":"x","b":2}', '{"ts":2,"a":"y"}', '{"ts":3,"b":4,"a":"x"}', '{"ts":4,"a":"x","b":2,"c":null}', '{"ts":5,"a":"z","b":3}'];
    for (let r = 0; r < 3; r++) for (const line of lines) expectSame(parseIn(p, line)!, JSON.parse(line));
    expect(p.declined).toBe(0);
  });

  it('gives JSON.parse values for any flat object (property: random keys, numbers, strings)', () => {
    const key = fc.oneof(fc.constantFrom('ts', 'bid', 'ask', 'type', '1', 'constructor', 'toString', 'a b', '__proto__'), fc.string({ maxLength: 6 }));
    const num = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer(),
      fc.integer({ min: -1e6, max: 1e6 }).map((x) => x / 100),
      fc.integer({ min: 0, max: 99_999 }).map((x) => x / 1e4),
      fc.constantFrom(0, -0, 1e21, 1e-7, 0.1 + 0.2, 9007199254740993, 123456789012345.6),
    );
    const value = fc.oneof(num, num, fc.string({ maxLength: 10 }), fc.constantFrom('BUY', 'SELL', 'ACME'), fc.boolean(), fc.constant(null));
    let parsed = 0;
    let declined = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 12 }), (pairs) => {
        // A parser per case: it keeps at most 16 layouts (key orders) and declines further ones.
        const p = new FlatJsonParser();
        const o: Record<string, unknown> = {};
        for (const [k, v] of pairs) o[k] = v;
        const line = JSON.stringify(o);
        const got = parseIn(p, line);
        if (got !== undefined) expectSame(got, JSON.parse(line));
        // Also as decimal text written by hand (trailing zeros, leading "0.").
        const text = line.replace(/:(-?\d+\.\d+)([,}])/g, ':$10$2');
        const got2 = parseIn(p, text);
        if (got2 !== undefined) expectSame(got2, JSON.parse(text));
        parsed += p.parsed;
        declined += p.declined;
      }),
      { numRuns: 3000 },
    );
    // Many of those lines take the fast path (the test would be vacuous otherwise); random
    // strings with escapes and doubles with exponents are declined.
    expect(parsed).toBeGreaterThan(1000);
    expect(declined).toBeGreaterThan(100);
  });

  it('the generated parser of the layouts gives JSON.parse values, whatever the kinds and layouts that follow (property)', () => {
    // One parser for the whole run, as for a file: layouts sharing their first keys (optional
    // fields at the end and in the middle), and values of every kind in every field, so lines
    // differ from the kinds the generated code expects.
    const orders = [
      ['type', 'ts', 'orderId', 'qty', 'price', 'action'],
      ['type', 'ts', 'orderId', 'qty', 'price', 'action', 'clientOrder'],
      ['type', 'ts', 'orderId', 'qty', 'action'],
      ['type', 'ts', 'side', 'qty'],
      ['ts', 'type'],
    ];
    const num = fc.oneof(
      fc.integer({ min: -1e9, max: 1e9 }).map((x) => x / 100),
      fc.integer({ min: 0, max: 2 ** 45 }),
      fc.constantFrom(0, -0, 1710509400005, 0.1 + 0.2, 1e21, 5e-324),
    );
    const str = fc.constantFrom('BUY', 'SELL', 'NEW', 'O1', 'TR237');
    // A field keeps its kind (numbers in odd places, strings in even ones) but for one line in
    // ten, which has any kind, escapes and all.
    const other = fc.oneof(num, str, fc.constantFrom('a\\"b', 'x\\u0041', true, false, null), fc.string({ maxLength: 8 }));
    const value = (j: number) => fc.oneof({ weight: 9, arbitrary: j % 2 === 1 ? num : str }, { weight: 1, arbitrary: other });
    const line = fc.tuple(fc.nat(orders.length - 1), fc.tuple(...[0, 1, 2, 3, 4, 5, 6].map(value)), fc.nat(9)).map(([o, vs, typo]) => {
      const obj: Record<string, unknown> = {};
      orders[o]!.forEach((k, j) => (obj[k] = vs[j]));
      const text = JSON.stringify(obj);
      // Now and then a line that is not JSON or not flat.
      return typo === 0 ? text.replace(/,"/, ', "') : typo === 1 ? text.replace(/}$/, ',"n":[1]}') : text;
    });
    const p = new FlatJsonParser();
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 40 }), (lines) => {
        for (const l of lines) {
          const got = parseIn(p, l);
          if (got !== undefined) expectSame(got, JSON.parse(l));
        }
      }),
      { numRuns: 1500 },
    );
    // The general loop parsed the first line of each layout, the generated parser every other
    // line (values of other kinds included); lines with escapes, spaces or arrays: JSON.parse.
    expect(p.parsed - p.generated).toBe(orders.length);
    expect(p.generated).toBeGreaterThan(2000);
    expect(p.declined).toBeGreaterThan(300);
  });

  it('reads settled fields (a constant, shared values, unique ids) exactly, and values that break the pattern', () => {
    // Past 4096 values of a field its way of reading is settled and the parser is generated
    // again: `type` one constant, `instrument` shared values, `id` cut from the text. Lines after
    // that bring what the settled code must not mistake: other constants with the same start,
    // a longer value, an escape, another kind, new and long instruments.
    const p = new FlatJsonParser();
    const line = (i: number, over: Record<string, unknown> = {}) =>
      JSON.stringify({ type: 'quote', ts: 1710509400000 + i, instrument: `I${i % 50}`, id: `Q${i}`, side: i % 3 ? 'BUY' : 'SELL', ...over });
    const check = (l: string) => {
      const got = parseIn(p, l);
      expect(got, l).toBeDefined();
      expectSame(got!, JSON.parse(l));
    };
    for (let i = 0; i < 5000; i++) check(line(i));
    const tricky = [
      { type: 'quota' },
      { type: 'quote ' },
      { type: 'quot' },
      { type: 'quotes' },
      { type: 'QUOTE' },
      { type: '' },
      { type: 'trade' },
      { type: 'quotequotequotequotequote' },
      { instrument: 'I0' },
      { instrument: 'NEW1' },
      { instrument: 'X'.repeat(24) },
      { instrument: 'Y'.repeat(25) },
      { instrument: '' },
      { id: 'quote' },
      { side: 'quote' },
    ];
    for (let r = 0; r < 3; r++) for (const [j, over] of tricky.entries()) check(line(6000 + r * 100 + j, over));
    for (let i = 7000; i < 7100; i++) check(line(i));
    // Escapes and other kinds: JSON.parse (or the general value reader) gives them.
    for (const l of [line(8000, { type: 'quo\u0074e' }), line(8001, { type: 7 }), line(8002, { instrument: null }), line(8003, { type: 'quote' })]) {
      const got = parseIn(p, l);
      if (got !== undefined) expectSame(got, JSON.parse(l));
    }
    // More distinct short values than the table has slots: colliding codes evict each other and
    // every lookup must still compare the whole value.
    for (let r = 0; r < 2; r++) for (let i = 0; i < 6000; i++) check(line(9000 + i, { instrument: `V${(i * 7919) % 6000}` }));
    expect(p.generated).toBeGreaterThan(17000);
  });

  it('decimal numbers of up to 15 digits are the correctly rounded doubles (against JSON.parse)', () => {
    const p = new FlatJsonParser();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999_999 }), fc.integer({ min: 0, max: 15 }), fc.boolean(), (m, f, neg) => {
        const digits = String(m).padStart(f + 1, '0');
        const lit = `${neg ? '-' : ''}${f === 0 ? digits : `${digits.slice(0, digits.length - f)}.${digits.slice(digits.length - f)}`}`;
        const line = `{"x":${lit}}`;
        const got = parseIn(p, line);
        expect(got, line).toBeDefined();
        expect(Object.is(got!['x'], JSON.parse(line).x), line).toBe(true);
      }),
      { numRuns: 20000 },
    );
  });
});
