/**
 * A fast path for the JSON lines of recorded days: flat objects (`{"type":"quote","ts":...}`) of
 * strings, numbers, booleans and nulls, written in ASCII without whitespace. It gives exactly what
 * `JSON.parse` gives for the lines it accepts, and declines (returns undefined) every other line,
 * which the caller then hands to `JSON.parse`: so it can only be faster, never different.
 *
 * Why it is faster: `JSON.parse` of a short line pays for a generic parser, a string per value and
 * per-key transitions. Here a line whose keys come in an order seen before (every line of a
 * recorded file) checks its keys in place against that layout and builds the object with one
 * generated object literal (one hidden class for the whole file); short string values (ids,
 * sides, codes) are shared from a small table instead of a copy per line; numbers are read in
 * place. The line is read as bytes of the file's buffer: indexing a Uint8Array costs about a
 * third of `charCodeAt` on the decoded text (101 against 293 ns to scan a quote line here); the
 * text is used only to cut the string values that are not shared.
 *
 * Numbers: a value with at most 15 significant digits and no exponent is m / 10^f with m < 2^53
 * and f <= 15, both exact doubles, so one IEEE division gives the correctly rounded value of the
 * decimal, as `JSON.parse` does (Clinger's fast path). Anything else (exponents, longer digit
 * strings) is declined.
 */

/**
 * Does `bytes` (viewed also as `view`) have `codes` (whose little-endian 4-byte words are `words`)
 * at `p`, before `end`? Four bytes per comparison, then the last up to three one by one.
 */
function matches(bytes: Uint8Array, view: DataView, p: number, end: number, codes: Uint8Array, words: Int32Array): boolean {
  const n = codes.length;
  if (p + n > end) return false;
  const w = n >> 2;
  for (let j = 0; j < w; j++) if (view.getInt32(p + 4 * j, true) !== words[j]) return false;
  for (let i = w * 4; i < n; i++) if (bytes[p + i] !== codes[i]) return false;
  return true;
}

/** Does `bytes` have the ASCII `word` at `p`, before `end`? */
function hasWord(bytes: Uint8Array, p: number, end: number, word: string): boolean {
  if (p + word.length > end) return false;
  for (let i = 0; i < word.length; i++) if (bytes[p + i] !== word.charCodeAt(i)) return false;
  return true;
}

/** Exact powers of ten (all exactly representable as doubles up to 1e22). */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

const MAX_KEYS = 32;
const MAX_LAYOUTS = 16;
const INTERN_BITS = 12;
const INTERN_MAX_LEN = 24;

type Build = (v: unknown[]) => Record<string, unknown>;

interface Layout {
  /** `"key":` of each field, in order. */
  heads: string[];
  /** The bytes of each head (compared in place), and as little-endian 4-byte words. */
  codes: Uint8Array[];
  words: Int32Array[];
  /** Per field: short string values looked up in the shared table (off for ids unique per line). */
  intern: boolean[];
  tries: Int32Array;
  hits: Int32Array;
  build: Build;
}

/** Short string values of a field are shared while at least half of the first lookups hit. */
const INTERN_PROBE = 256;

/**
 * Parses flat JSON objects by the fast path, or declines. A line is given as bytes (ASCII; any
 * other byte is declined) together with the same line as text, `text.charCodeAt(i - shift) ===
 * bytes[i]`: the reader decodes a run of ASCII lines once and passes both.
 *
 * @example
 * const p = new FlatJsonParser();
 * const line = '{"ts":1,"instrument":"ACME"}';
 * p.parse(Buffer.from(line, 'latin1'), 0, line.length, line, 0) // { ts: 1, instrument: 'ACME' }
 * p.parseText('{"a": [1]}')                                     // undefined: use JSON.parse
 */
export class FlatJsonParser {
  private readonly layouts: Layout[] = [];
  private last: Layout | undefined;
  private readonly values: unknown[] = new Array<unknown>(MAX_KEYS);
  private readonly keys: string[] = [];
  private readonly interned: Array<string | undefined> = new Array<string | undefined>(1 << INTERN_BITS);
  /** The bytes of each shared value, INTERN_MAX_LEN per table slot (compared in place). */
  private readonly internedBytes = new Uint8Array((1 << INTERN_BITS) * INTERN_MAX_LEN);
  /** The last buffer parsed, and a DataView of it (for the 4-byte key comparisons). */
  private viewed: Uint8Array | undefined;
  private view: DataView = new DataView(new ArrayBuffer(0));
  /** Lines parsed by the fast path and lines declined (for tests and diagnostics). */
  parsed = 0;
  declined = 0;

  /**
   * The object of bytes[start..end), or undefined when the line is not for the fast path. `text`
   * holds the same characters at offsets shifted by `shift` (see the class doc).
   */
  parse(bytes: Uint8Array, start: number, end: number, text: string, shift: number): Record<string, unknown> | undefined {
    const r = this.tryParse(bytes, start, end, text, shift);
    if (r === undefined) this.declined++;
    else this.parsed++;
    return r;
  }

  /** {@link parse} of a whole string (encoded as Latin-1: a character above 255 is declined). */
  parseText(line: string): Record<string, unknown> | undefined {
    const bytes = Buffer.from(line, 'latin1');
    // Latin-1 encoding keeps only the low byte of a character above 255: never a match for it.
    for (let i = 0; i < line.length; i++) {
      if (line.charCodeAt(i) > 127) {
        this.declined++;
        return undefined;
      }
    }
    return this.parse(bytes, 0, bytes.length, line, 0);
  }

  private tryParse(bytes: Uint8Array, start: number, end: number, text: string, shift: number): Record<string, unknown> | undefined {
    if (end - start < 2 || bytes[start] !== 123 /* { */ || bytes[end - 1] !== 125 /* } */) return undefined;
    if (bytes !== this.viewed) {
      this.viewed = bytes;
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    const view = this.view;
    let p = start + 1;
    if (p === end - 1) return undefined; // {}: rare, JSON.parse
    let layout = this.last;
    const values = this.values;
    const keys = this.keys;
    let k = 0;
    for (;;) {
      if (k === MAX_KEYS) return undefined;
      // The key: the expected one of the layout followed (or of a known layout with the same keys
      // so far: optional fields), checked in place; else read, and a new layout is made at the end.
      if (layout !== undefined && (k >= layout.heads.length || !matches(bytes, view, p, end, layout.codes[k]!, layout.words[k]!))) {
        const next = this.sibling(layout, k, bytes, p, end);
        if (next === undefined) for (let j = 0; j < k; j++) keys[j] = layout.heads[j]!.slice(1, -2);
        layout = next;
      }
      if (layout !== undefined) {
        p += layout.codes[k]!.length;
      } else {
        if (bytes[p] !== 34 /* " */) return undefined;
        const q = this.stringEnd(bytes, p + 1, end);
        if (q < 0 || bytes[q + 1] !== 58 /* : */) return undefined;
        keys[k] = text.slice(p + 1 - shift, q - shift);
        p = q + 2;
      }
      if (p >= end) return undefined;
      // The value.
      const c = bytes[p]!;
      if (c === 34 /* " */) {
        const q = this.stringEnd(bytes, p + 1, end);
        if (q < 0) return undefined;
        if (layout === undefined) values[k] = this.intern(bytes, p + 1, q, text, shift);
        else if (layout.intern[k]) {
          const v = this.intern(bytes, p + 1, q, text, shift);
          values[k] = v;
          if (layout.tries[k]! < INTERN_PROBE) {
            if (this.hit) layout.hits[k] = layout.hits[k]! + 1;
            layout.tries[k] = layout.tries[k]! + 1;
            if (layout.tries[k] === INTERN_PROBE && layout.hits[k]! * 2 < INTERN_PROBE) layout.intern[k] = false;
          }
        } else values[k] = text.slice(p + 1 - shift, q - shift);
        p = q + 1;
      } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
        // -?(0|[1-9][0-9]*)(\.[0-9]+)?, at most 15 digits. It stops at the line's closing brace
        // at the latest (bytes[end - 1], checked above).
        let i = p;
        const neg = c === 45;
        if (neg) i++;
        // The digits go into small-integer chunks of up to 8 (`acc`, `n` digits), each added to
        // the double `m` when full: integer steps are cheaper than a double multiply-add per
        // digit, and every partial value is below the final one, so exact for up to 15 digits.
        let m = 0;
        let acc = 0;
        let n = 0;
        let digits = 0;
        let d = bytes[i]!;
        if (d === 48) {
          d = bytes[++i]!;
          if (d >= 48 && d <= 57) return undefined; // a leading zero: not JSON
        } else if (d >= 49 && d <= 57) {
          while (d >= 48 && d <= 57) {
            acc = acc * 10 + (d - 48);
            if (++n === 8) {
              m = m * 1e8 + acc;
              acc = 0;
              n = 0;
            }
            digits++;
            d = bytes[++i]!;
          }
        } else {
          return undefined;
        }
        let f = 0;
        if (d === 46 /* . */) {
          d = bytes[++i]!;
          if (!(d >= 48 && d <= 57)) return undefined;
          while (d >= 48 && d <= 57) {
            acc = acc * 10 + (d - 48);
            if (m !== 0 || acc !== 0) digits++;
            if (++n === 8) {
              m = m * 1e8 + acc;
              acc = 0;
              n = 0;
            }
            f++;
            d = bytes[++i]!;
          }
        }
        // An exponent, or too many digits for the exact path: JSON.parse.
        if (digits > 15 || f > 15 || d === 101 || d === 69) return undefined;
        m = m * POW10[n]! + acc;
        const v = f === 0 ? m : m / POW10[f]!;
        values[k] = neg ? -v : v;
        p = i;
      } else if (c === 116 /* t */ && hasWord(bytes, p, end, 'true')) {
        values[k] = true;
        p += 4;
      } else if (c === 102 /* f */ && hasWord(bytes, p, end, 'false')) {
        values[k] = false;
        p += 5;
      } else if (c === 110 /* n */ && hasWord(bytes, p, end, 'null')) {
        values[k] = null;
        p += 4;
      } else {
        return undefined; // nested object or array, whitespace, or not JSON
      }
      k++;
      // Every value ends before the closing brace at end - 1, so p < end here.
      const sep = bytes[p];
      if (sep === 44 /* , */) {
        p++;
        continue;
      }
      if (sep !== 125 /* } */ || p !== end - 1) return undefined;
      break;
    }
    if (layout !== undefined && layout.heads.length !== k) {
      // Fewer keys than the layout followed: a known layout of exactly these keys, else a new one.
      const shorter = this.sibling(layout, k, bytes, -1, end);
      if (shorter === undefined) for (let j = 0; j < k; j++) keys[j] = layout.heads[j]!.slice(1, -2);
      layout = shorter;
    }
    if (layout === undefined) {
      layout = this.layoutOf(keys, k);
      if (layout === undefined) return undefined;
    }
    this.last = layout;
    return layout.build(values);
  }

  /**
   * A known layout with the same first k keys as `from` whose key k is at bytes[p..] (p >= 0),
   * or that has exactly k keys (p < 0).
   */
  private sibling(from: Layout, k: number, bytes: Uint8Array, p: number, end: number): Layout | undefined {
    const view = this.view;
    for (const l of this.layouts) {
      if (l === from || (p >= 0 ? l.heads.length <= k : l.heads.length !== k)) continue;
      let same = true;
      for (let j = 0; j < k && same; j++) same = l.heads[j] === from.heads[j];
      if (same && (p < 0 || matches(bytes, view, p, end, l.codes[k]!, l.words[k]!))) return l;
    }
    return undefined;
  }

  /**
   * Index of the closing quote of a string whose text starts at `p`, or -1 when it has an escape,
   * a control character or a byte outside ASCII (JSON.parse decides those) or does not end
   * before `end`.
   */
  private stringEnd(bytes: Uint8Array, p: number, end: number): number {
    for (let i = p; i < end; i++) {
      const c = bytes[i]!;
      if (c === 34) return i;
      if (c === 92 || c < 32 || c > 127) return -1;
    }
    return -1;
  }

  /** Whether the last `intern` found the value in the table. */
  private hit = false;

  /** bytes[a..b) as a string, shared with earlier equal values when short. */
  private intern(bytes: Uint8Array, a: number, b: number, text: string, shift: number): string {
    const n = b - a;
    if (n > INTERN_MAX_LEN) return text.slice(a - shift, b - shift);
    let h = n;
    for (let i = a; i < b; i++) h = (Math.imul(h, 31) + bytes[i]!) | 0;
    h = (h ^ (h >>> 15)) & ((1 << INTERN_BITS) - 1);
    const s = this.interned[h];
    const pool = this.internedBytes;
    const at = h * INTERN_MAX_LEN;
    let hit = s !== undefined && s.length === n;
    for (let i = 0; hit && i < n; i++) hit = pool[at + i] === bytes[a + i];
    this.hit = hit;
    if (hit) return s!;
    const fresh = text.slice(a - shift, b - shift);
    this.interned[h] = fresh;
    pool.set(bytes.subarray(a, b), at);
    return fresh;
  }

  /** The layout of these keys (made once: a generated object literal), or undefined when they cannot have one. */
  private layoutOf(keys: string[], k: number): Layout | undefined {
    for (const l of this.layouts) {
      if (l.heads.length !== k) continue;
      let same = true;
      for (let j = 0; j < k && same; j++) same = l.heads[j] === `"${keys[j]}":`;
      if (same) return l;
    }
    if (this.layouts.length >= MAX_LAYOUTS) return undefined;
    const names = keys.slice(0, k);
    // Repeated keys (JSON.parse keeps the last value) and __proto__ (an object literal would set
    // the prototype) are left to JSON.parse.
    if (new Set(names).size !== k || names.includes('__proto__')) return undefined;
    const props = names.map((n, j) => `${JSON.stringify(n)}: v[${j}]`);
    const build = new Function('v', `return { ${props.join(', ')} };`) as Build;
    const heads = names.map((n) => `"${n}":`);
    const codes = heads.map((h) => Uint8Array.from(h, (c) => c.charCodeAt(0)));
    const words = codes.map((c) => {
      const v = new DataView(c.buffer);
      return Int32Array.from({ length: c.length >> 2 }, (_, j) => v.getInt32(4 * j, true));
    });
    const layout: Layout = { heads, codes, words, intern: names.map(() => true), tries: new Int32Array(k), hits: new Int32Array(k), build };
    this.layouts.push(layout);
    return layout;
  }
}
