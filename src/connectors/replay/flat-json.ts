/**
 * A fast path for the JSON lines of recorded days: flat objects (`{"type":"quote","ts":...}`) of
 * strings, numbers, booleans and nulls, written without whitespace. It gives exactly what
 * `JSON.parse` gives for the lines it accepts, and declines (returns undefined) every other line,
 * which the caller then hands to `JSON.parse`: so it can only be faster, never different.
 *
 * Why it is faster: `JSON.parse` of a short line pays for a generic parser, a string per value and
 * per-key transitions. Here a line whose keys come in an order seen before (every line of a
 * recorded file) checks its keys in place against that layout and builds the object with one
 * generated object literal (one hidden class for the whole file); short string values (ids,
 * sides, codes) are shared from a small table instead of a copy per line; numbers are read in
 * place.
 *
 * Numbers: a value with at most 15 significant digits and no exponent is m / 10^f with m < 2^53
 * and f <= 15, both exact doubles, so one IEEE division gives the correctly rounded value of the
 * decimal, as `JSON.parse` does (Clinger's fast path). Anything else (exponents, longer digit
 * strings) is declined.
 */

/** Does `text` have the chars `codes` at `p`? */
function matches(text: string, p: number, codes: Uint16Array): boolean {
  for (let i = 0; i < codes.length; i++) if (text.charCodeAt(p + i) !== codes[i]) return false;
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
  /** The char codes of each head (compared in place: cheaper than a startsWith call). */
  codes: Uint16Array[];
  /** Per field: short string values looked up in the shared table (off for ids unique per line). */
  intern: boolean[];
  tries: Int32Array;
  hits: Int32Array;
  build: Build;
}

/** Short string values of a field are shared while at least half of the first lookups hit. */
const INTERN_PROBE = 256;

/**
 * Parses flat JSON objects by the fast path, or declines.
 *
 * @example
 * const p = new FlatJsonParser();
 * p.parse('{"ts":1,"instrument":"ACME"}', 0, 28) // { ts: 1, instrument: 'ACME' }
 * p.parse('{"a": [1]}', 0, 10)                    // undefined: use JSON.parse
 */
export class FlatJsonParser {
  private readonly layouts: Layout[] = [];
  private last: Layout | undefined;
  private readonly values: unknown[] = new Array<unknown>(MAX_KEYS);
  private readonly keys: string[] = [];
  private readonly interned: Array<string | undefined> = new Array<string | undefined>(1 << INTERN_BITS);
  /** Lines parsed by the fast path and lines declined (for tests and diagnostics). */
  parsed = 0;
  declined = 0;

  /** The object of text[start..end), or undefined when the line is not for the fast path. */
  parse(text: string, start: number, end: number): Record<string, unknown> | undefined {
    const r = this.tryParse(text, start, end);
    if (r === undefined) this.declined++;
    else this.parsed++;
    return r;
  }

  private tryParse(text: string, start: number, end: number): Record<string, unknown> | undefined {
    if (end - start < 2 || text.charCodeAt(start) !== 123 /* { */ || text.charCodeAt(end - 1) !== 125 /* } */) return undefined;
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
      if (layout !== undefined && (k >= layout.heads.length || !matches(text, p, layout.codes[k]!))) {
        const next = this.sibling(layout, k, text, p);
        if (next === undefined) for (let j = 0; j < k; j++) keys[j] = layout.heads[j]!.slice(1, -2);
        layout = next;
      }
      if (layout !== undefined) {
        p += layout.codes[k]!.length;
      } else {
        if (text.charCodeAt(p) !== 34 /* " */) return undefined;
        const q = this.stringEnd(text, p + 1, end);
        if (q < 0 || text.charCodeAt(q + 1) !== 58 /* : */) return undefined;
        keys[k] = text.slice(p + 1, q);
        p = q + 2;
      }
      if (p >= end) return undefined;
      // The value.
      const c = text.charCodeAt(p);
      if (c === 34 /* " */) {
        const q = this.stringEnd(text, p + 1, end);
        if (q < 0) return undefined;
        if (layout === undefined) values[k] = this.intern(text, p + 1, q);
        else if (layout.intern[k]) {
          const v = this.intern(text, p + 1, q);
          values[k] = v;
          if (layout.tries[k]! < INTERN_PROBE) {
            if (this.hit) layout.hits[k] = layout.hits[k]! + 1;
            layout.tries[k] = layout.tries[k]! + 1;
            if (layout.tries[k] === INTERN_PROBE && layout.hits[k]! * 2 < INTERN_PROBE) layout.intern[k] = false;
          }
        } else values[k] = text.slice(p + 1, q);
        p = q + 1;
      } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
        // -?(0|[1-9][0-9]*)(\.[0-9]+)?, at most 15 digits.
        let i = p;
        const neg = c === 45;
        if (neg) i++;
        let m = 0;
        let digits = 0;
        let d = text.charCodeAt(i);
        if (d === 48) {
          i++;
          d = text.charCodeAt(i);
          if (d >= 48 && d <= 57) return undefined; // a leading zero: not JSON
        } else if (d >= 49 && d <= 57) {
          while (d >= 48 && d <= 57) {
            m = m * 10 + (d - 48);
            digits++;
            d = text.charCodeAt(++i);
          }
        } else {
          return undefined;
        }
        let f = 0;
        if (d === 46 /* . */) {
          d = text.charCodeAt(++i);
          if (!(d >= 48 && d <= 57)) return undefined;
          while (d >= 48 && d <= 57) {
            m = m * 10 + (d - 48);
            if (m !== 0) digits++;
            f++;
            d = text.charCodeAt(++i);
          }
        }
        // An exponent, or too many digits for the exact path: JSON.parse.
        if (digits > 15 || f > 15 || d === 101 || d === 69) return undefined;
        const v = f === 0 ? m : m / POW10[f]!;
        values[k] = neg ? -v : v;
        p = i;
      } else if (c === 116 /* t */ && text.startsWith('true', p)) {
        values[k] = true;
        p += 4;
      } else if (c === 102 /* f */ && text.startsWith('false', p)) {
        values[k] = false;
        p += 5;
      } else if (c === 110 /* n */ && text.startsWith('null', p)) {
        values[k] = null;
        p += 4;
      } else {
        return undefined; // nested object or array, whitespace, or not JSON
      }
      k++;
      const sep = text.charCodeAt(p);
      if (sep === 44 /* , */) {
        p++;
        continue;
      }
      if (sep !== 125 /* } */ || p !== end - 1) return undefined;
      break;
    }
    if (layout !== undefined && layout.heads.length !== k) {
      // Fewer keys than the layout followed: a known layout of exactly these keys, else a new one.
      const shorter = this.sibling(layout, k, text, -1);
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
   * A known layout with the same first k keys as `from` whose key k is at text[p..] (p >= 0), or
   * that has exactly k keys (p < 0).
   */
  private sibling(from: Layout, k: number, text: string, p: number): Layout | undefined {
    for (const l of this.layouts) {
      if (l === from || (p >= 0 ? l.heads.length <= k : l.heads.length !== k)) continue;
      let same = true;
      for (let j = 0; j < k && same; j++) same = l.heads[j] === from.heads[j];
      if (same && (p < 0 || matches(text, p, l.codes[k]!))) return l;
    }
    return undefined;
  }

  /**
   * Index of the closing quote of a string whose text starts at `p`, or -1 when it has an escape
   * or a control character (JSON.parse decides those) or does not end before `end`.
   */
  private stringEnd(text: string, p: number, end: number): number {
    for (let i = p; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c === 34) return i;
      if (c === 92 || c < 32) return -1;
    }
    return -1;
  }

  /** Whether the last `intern` found the value in the table. */
  private hit = false;

  /** text[a..b) as a string, shared with earlier equal values when short. */
  private intern(text: string, a: number, b: number): string {
    const n = b - a;
    if (n > INTERN_MAX_LEN) return text.slice(a, b);
    let h = n;
    for (let i = a; i < b; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
    h = (h ^ (h >>> 15)) & ((1 << INTERN_BITS) - 1);
    const s = this.interned[h];
    this.hit = s !== undefined && s.length === n && text.startsWith(s, a);
    if (this.hit) return s!;
    const fresh = text.slice(a, b);
    this.interned[h] = fresh;
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
    const codes = heads.map((h) => Uint16Array.from(h, (c) => c.charCodeAt(0)));
    const layout: Layout = { heads, codes, intern: names.map(() => true), tries: new Int32Array(k), hits: new Int32Array(k), build };
    this.layouts.push(layout);
    return layout;
  }
}
