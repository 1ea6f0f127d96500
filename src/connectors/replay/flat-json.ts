/**
 * A fast path for the JSON lines of recorded days: flat objects (`{"type":"quote","ts":...}`) of
 * strings, numbers, booleans and nulls, written in ASCII without whitespace. It gives exactly what
 * `JSON.parse` gives for the lines it accepts, and declines (returns undefined) every other line,
 * which the caller then hands to `JSON.parse`: so it can only be faster, never different.
 *
 * Why it is faster: `JSON.parse` of a short line pays for a generic parser, a string per value and
 * per-key transitions. Here the key orders of a file (its layouts: every line of a recorded file
 * has one of a few) are learnt from its lines, and one parser is generated for them: it compares
 * the keys as constant 4-byte words, reads each value by code for the kind it had before (numbers
 * four digits at a time), and builds the object with one object literal per layout (one hidden
 * class per layout for the whole file). Short string values (ids, sides, codes) are shared from a
 * small table instead of a copy per line. Once a field's first values have settled how it is read,
 * the parser is generated again for it: a field that had one value (a file's `type`) is compared
 * in place like a key, a field of shared values is hashed while its closing quote is looked for,
 * and a field of values unique per line (order ids) is cut from the text. The line is read as
 * bytes of the file's buffer: indexing a Uint8Array costs about a third of `charCodeAt` on the decoded text (101 against 293
 * ns to scan a quote line here); the text is used only to cut the string values that are not
 * shared. A line the generated parser does not take goes through a general loop, which learns a
 * new layout or declines.
 *
 * Numbers: a value with at most 15 significant digits and no exponent is m / 10^f with m < 2^53
 * and f <= 15, both exact doubles, so one IEEE division gives the correctly rounded value of the
 * decimal, as `JSON.parse` does (Clinger's fast path). Anything else (exponents, longer digit
 * strings) is declined.
 */

/** Does `bytes` have the ASCII `word` at `p`, before `end`? */
function hasWord(bytes: Uint8Array, p: number, end: number, word: string): boolean {
  if (p + word.length > end) return false;
  for (let i = 0; i < word.length; i++) if (bytes[p + i] !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * Is bytes[p] the closing brace of a line that ends there: at `end`, or with a newline (LF or CR
 * LF) right after it?
 */
function closes(bytes: Uint8Array, p: number, end: number): boolean {
  if (p >= end || bytes[p] !== 125 /* } */) return false;
  const n = bytes[p + 1];
  return p + 1 === end || n === 10 || (n === 13 && p + 2 < end && bytes[p + 2] === 10);
}

/** Exact powers of ten (all exactly representable as doubles up to 1e22). */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

const MAX_KEYS = 32;
const MAX_LAYOUTS = 16;
const INTERN_BITS = 12;
const INTERN_MAX_LEN = 24;

/** One byte into the shared table's hash (the generated parser inlines the same expression). */
function hashStep(h: number, c: number): number {
  return (Math.imul(h, 31) + c) | 0;
}

/** Fibonacci hashing's multiplier (2^32 / golden ratio): ids differing in one character land far apart. */
const FIB = 0x9e3779b1;

/**
 * Values of at most this many bytes are shared by their code: 7 ASCII bytes of 7 bits each make
 * an integer below 2^49, exact in a double, and distinct strings have distinct codes (no byte is
 * 0: control characters are declined).
 */
const SHORT_MAX = 7;

/** One byte into a short value's code (the generated parser inlines the same expression). */
function shortCode(k: number, c: number): number {
  return k * 128 + c;
}

/**
 * V8's internalised copy of `s` (the one it keeps for property names): it compares by pointer
 * with string literals ('BUY', 'NEW') and with the Arrow reader's dictionary values, and carries
 * its hash into every Map lookup. Made once per shared value, on its first line (and for each
 * value a field's probe sees, unique ids included).
 */
function internalised(s: string): string {
  // The key goes through an object kept in dictionary mode: an object literal with the value as
  // its key made a hidden-class transition per value (about four times slower, and the
  // transitions of unique ids accumulated).
  KEYS[s] = 0;
  let k = s;
  for (const key in KEYS) k = key;
  delete KEYS[s];
  return k;
}

/** The holder of {@link internalised}: empty between calls, in dictionary mode (deleting its first keys put it there). */
const KEYS: Record<string, number> = Object.create(null) as Record<string, number>;
for (let i = 0; i < 64; i++) KEYS[`k${i}`] = i;
for (let i = 0; i < 64; i++) delete KEYS[`k${i}`];

type Build = (v: unknown[]) => Record<string, unknown>;

/**
 * The parser generated for the known layouts: the object of a line whose keys are those of one of
 * them, in order, or undefined (then the general loop decides).
 */
type Fast = (bytes: Uint8Array, view: DataView, p: number, end: number, piece: TextPiece) => Record<string, unknown> | undefined;

interface Layout {
  /** `"key":` of each field, in order. */
  heads: string[];
  /** The bytes of each head (compared by the generated parser as little-endian 4-byte words). */
  codes: Uint8Array[];
  /** Per field: short string values looked up in the shared table (off for ids unique per line). */
  intern: boolean[];
  tries: Int32Array;
  hits: Int32Array;
  /**
   * Per field: its value while every value probed so far was that one (undefined before the
   * first, and once another came: the probe has then counted some). A field that had one value
   * through its whole probe (a file's `type`) is compared as a constant by the generated parser.
   */
  only: Array<string | undefined>;
  build: Build;
  /** The kind of each value in the line that made the layout (see {@link kindOf}). */
  kinds: Kind[];
}

/** Short string values of a field are shared while at least half of the first lookups hit. */
const INTERN_PROBE = 4096;

/**
 * Parses flat JSON objects by the fast path, or declines. A line is given as bytes (ASCII; any
 * other byte is declined) with a {@link TextPiece} of them, from which the strings that are not
 * shared are cut: the reader makes one piece per run of ASCII lines.
 *
 * @example
 * const p = new FlatJsonParser();
 * const bytes = Buffer.from('{"ts":1,"instrument":"ACME"}\n{"ts":2}\n', 'latin1');
 * const piece = new TextPiece(bytes, 0, bytes.length);
 * p.parse(bytes, 0, bytes.length, piece) // { ts: 1, instrument: 'ACME' }, p.at === 28 (its end)
 * p.parseText('{"a": [1]}')              // undefined: use JSON.parse
 */
export class FlatJsonParser {
  private readonly layouts: Layout[] = [];
  /** The generated parser of the layouts (remade when one is added). */
  private fast: Fast = declineAll;
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
  /** Of the lines parsed, those the generated parser of the layouts took (the rest: the general loop). */
  generated = 0;

  /**
   * The object of the line at bytes[start..], which ends at `end` or at a newline (LF or CR LF)
   * before it, with {@link at} set just past its closing brace; or undefined when the line is
   * not for the fast path. `piece` holds the bytes as text (see the class doc).
   */
  parse(bytes: Uint8Array, start: number, end: number, piece: TextPiece): Record<string, unknown> | undefined {
    const r = this.tryParse(bytes, start, end, piece);
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
    return this.parse(bytes, 0, bytes.length, new TextPiece(bytes, 0, bytes.length));
  }

  private tryParse(bytes: Uint8Array, start: number, end: number, piece: TextPiece): Record<string, unknown> | undefined {
    if (end - start < 2 || bytes[start] !== 123 /* { */) return undefined;
    if (bytes !== this.viewed) {
      this.viewed = bytes;
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    const view = this.view;
    let p = start + 1;
    if (bytes[p] === 125) return undefined; // {}: rare, JSON.parse
    if (this.stale) {
      this.stale = false;
      this.fast = compileFast(this, this.layouts);
    }
    const r = this.fast(bytes, view, p, end, piece);
    if (r !== undefined) {
      this.generated++;
      return r;
    }
    // Not in a known layout (or declined by the generated parser, which then declines here too):
    // the keys are read, and a line that parses makes a new layout.
    const values = this.values;
    const keys = this.keys;
    let k = 0;
    for (;;) {
      if (k === MAX_KEYS) return undefined;
      if (bytes[p] !== 34 /* " */) return undefined;
      const q = this.stringEnd(bytes, p + 1, end);
      if (q < 0 || bytes[q + 1] !== 58 /* : */) return undefined;
      keys[k] = piece.slice(p + 1, q);
      p = q + 2;
      if (p >= end) return undefined;
      const v = this.value(undefined, k, bytes, p, end, piece);
      if (v === DECLINE) return undefined;
      values[k] = v;
      p = this.at;
      k++;
      const sep = bytes[p];
      if (sep === 44 /* , */) {
        p++;
        continue;
      }
      if (!closes(bytes, p, end)) return undefined;
      this.at = p + 1;
      break;
    }
    const layout = this.layoutOf(keys, k);
    return layout === undefined ? undefined : layout.build(values);
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

  /** Just past the last value read, and after a line parsed, just past its closing brace. */
  at = 0;

  /**
   * The value at bytes[p..] (field k of `layout`, when known), with {@link at} set just past it,
   * or DECLINE. Called by the general loop and by the generated parser for a value of another
   * kind than it expects.
   */
  value(layout: Layout | undefined, k: number, bytes: Uint8Array, p: number, end: number, piece: TextPiece): unknown {
    const c = bytes[p]!;
    if (c === 34 /* " */) {
      const q = this.stringEnd(bytes, p + 1, end);
      if (q < 0) return DECLINE;
      this.at = q + 1;
      return layout === undefined ? this.intern(bytes, p + 1, q, piece) : this.field(layout, k, bytes, p + 1, q, piece);
    }
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      // -?(0|[1-9][0-9]*)(\.[0-9]+)?, its digits as one integer m, at most 15 significant ones
      // (m < 1e15: every step below is exact). It stops at the first byte that is not a digit:
      // one past `end` leaves p there, and the line is declined (`closes` wants p < end).
      let i = c === 45 ? p + 1 : p;
      let m = 0;
      let f = 0;
      let d = bytes[i]!;
      if (d === 48) {
        d = bytes[++i]!;
        if (d >= 48 && d <= 57) return DECLINE; // a leading zero: not JSON
      } else if (d >= 49 && d <= 57) {
        while (d >= 48 && d <= 57) {
          m = m * 10 + (d - 48);
          d = bytes[++i]!;
        }
      } else {
        return DECLINE;
      }
      if (d === 46 /* . */) {
        d = bytes[++i]!;
        if (!(d >= 48 && d <= 57)) return DECLINE;
        while (d >= 48 && d <= 57) {
          m = m * 10 + (d - 48);
          f++;
          d = bytes[++i]!;
        }
      }
      // An exponent, or too many digits for the exact path: JSON.parse.
      if (m >= 1e15 || f > 15 || d === 101 || d === 69) return DECLINE;
      const x = f === 0 ? m : m / POW10[f]!;
      this.at = i;
      return c === 45 ? -x : x;
    }
    if (c === 116 /* t */ && hasWord(bytes, p, end, 'true')) {
      this.at = p + 4;
      return true;
    }
    if (c === 102 /* f */ && hasWord(bytes, p, end, 'false')) {
      this.at = p + 5;
      return false;
    }
    if (c === 110 /* n */ && hasWord(bytes, p, end, 'null')) {
      this.at = p + 4;
      return null;
    }
    return DECLINE; // nested object or array, whitespace, or not JSON
  }

  /**
   * String value bytes[a..b) of field k of `layout`: shared from the table while the field's
   * values repeat (judged on its first INTERN_PROBE values), else cut from the text. Called by the
   * general loop and by the layout's generated parser.
   */
  field(layout: Layout, k: number, bytes: Uint8Array, a: number, b: number, piece: TextPiece): string {
    if (!layout.intern[k]) return piece.slice(a, b);
    const v = this.intern(bytes, a, b, piece);
    if (layout.tries[k]! < INTERN_PROBE) {
      if (this.hit) layout.hits[k] = layout.hits[k]! + 1;
      if (layout.tries[k] === 0) layout.only[k] = v;
      else if (layout.only[k] !== v) layout.only[k] = undefined;
      layout.tries[k] = layout.tries[k]! + 1;
      if (layout.tries[k] === INTERN_PROBE) {
        if (layout.hits[k]! * 2 < INTERN_PROBE) layout.intern[k] = false;
        // The field's way of reading is settled: the generated parser is remade for it.
        this.stale = true;
      }
    }
    return v;
  }

  /**
   * The shared string of bytes[a..b) (see {@link intern}), given `h`, the hash of its bytes
   * ({@link hashStep} over them from 0): the generated parser computes it while it looks for the
   * closing quote, so the value's bytes are read once before the table's comparison.
   */
  shared(h: number, bytes: Uint8Array, a: number, b: number, piece: TextPiece): string {
    const n = b - a;
    if (n > INTERN_MAX_LEN) return piece.slice(a, b);
    // Fibonacci hashing: ids that differ in their last character (TXAA, TXAB) land far apart.
    h = Math.imul(h ^ n, FIB) >>> (32 - INTERN_BITS);
    // Two slots per value (h and its neighbour), so that two values of a file whose hashes
    // collide do not evict each other on every line.
    const interned = this.interned;
    const pool = this.internedBytes;
    for (let way = 0; way < 2; way++) {
      const slot = h ^ way;
      const s = interned[slot];
      if (s === undefined || s.length !== n) continue;
      const at = slot * INTERN_MAX_LEN;
      let same = true;
      for (let i = 0; same && i < n; i++) same = pool[at + i] === bytes[a + i];
      if (same) {
        this.hit = true;
        return s;
      }
    }
    this.hit = false;
    const fresh = internalised(piece.slice(a, b));
    const slot = interned[h] === undefined || interned[h ^ 1] !== undefined ? h : h ^ 1;
    interned[slot] = fresh;
    pool.set(bytes.subarray(a, b), slot * INTERN_MAX_LEN);
    return fresh;
  }

  /**
   * The shared string of bytes[a..b), a value of at most {@link SHORT_MAX} bytes whose code `k`
   * ({@link shortCode}) and hash `h` are given: the generated parser looks both table slots up
   * itself and calls this on a miss; {@link intern} calls it for every short value.
   */
  sharedShort(k: number, h: number, bytes: Uint8Array, a: number, b: number, piece: TextPiece): string {
    const slot0 = Math.imul(h ^ (b - a), FIB) >>> (32 - INTERN_BITS);
    const keys = this.shortKeys;
    if (keys[slot0] === k) {
      this.hit = true;
      return this.shortVals[slot0]!;
    }
    if (keys[slot0 ^ 1] === k) {
      this.hit = true;
      return this.shortVals[slot0 ^ 1]!;
    }
    this.hit = false;
    const fresh = internalised(piece.slice(a, b));
    const slot = keys[slot0] === -1 || keys[slot0 ^ 1] !== -1 ? slot0 : slot0 ^ 1;
    keys[slot] = k;
    this.shortVals[slot] = fresh;
    return fresh;
  }

  /**
   * The table of shared values of at most {@link SHORT_MAX} bytes: each one's code (its bytes as
   * one exact integer, see {@link shortCode}; -1 for a free slot) and its string. A lookup is one
   * comparison of numbers, inlined in the generated parser.
   */
  private readonly shortKeys = new Float64Array(1 << INTERN_BITS).fill(-1);
  private readonly shortVals: string[] = new Array<string>(1 << INTERN_BITS).fill('');

  /** The short values' table, for the generated parser's inlined lookups. */
  shortTable(): { keys: Float64Array; vals: string[] } {
    return { keys: this.shortKeys, vals: this.shortVals };
  }

  /** Set when a field's probe ends: the generated parser is remade before the next line. */
  private stale = false;

  /** Whether the last `intern` found the value in the table. */
  private hit = false;

  /** bytes[a..b) as a string, shared with earlier equal values when short. */
  private intern(bytes: Uint8Array, a: number, b: number, piece: TextPiece): string {
    let h = 0;
    let k = 0;
    for (let i = a; i < b; i++) {
      h = hashStep(h, bytes[i]!);
      k = shortCode(k, bytes[i]!);
    }
    return b - a <= SHORT_MAX ? this.sharedShort(k, h, bytes, a, b, piece) : this.shared(h, bytes, a, b, piece);
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
    const kinds = names.map((_, j) => kindOf(this.values[j]));
    const layout: Layout = {
      heads,
      codes,
      intern: names.map(() => true),
      tries: new Int32Array(k),
      hits: new Int32Array(k),
      only: names.map(() => undefined),
      build,
      kinds,
    };
    this.layouts.push(layout);
    this.fast = compileFast(this, this.layouts);
    return layout;
  }
}

/**
 * The text of bytes[from..to) (ASCII lines: one character per byte), decoded the first time a
 * string is cut from it. Most lines of a recorded file need none (their strings are shared ones,
 * see {@link FlatJsonParser}), so a reader makes one piece per run of lines and most pieces are
 * never decoded. The bytes must not change while the piece is in use.
 *
 * @example
 * const bytes = Buffer.from('{"a":"x"}\n');
 * new TextPiece(bytes, 0, bytes.length).slice(6, 7) // 'x'
 */
export class TextPiece {
  private text: string | undefined;
  /** Strings cut before the piece was decoded (each decoded alone). */
  private cuts = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly from: number,
    readonly to: number,
  ) {}

  /** bytes[a..b) as a string (from <= a <= b <= to). */
  slice(a: number, b: number): string {
    if (this.text === undefined) {
      // The first few strings are decoded alone (a piece of shared strings cuts one now and
      // then, where a new value appears); a piece that keeps cutting is decoded whole.
      const buf = Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
      if (++this.cuts <= PIECE_CUTS) return buf.toString('latin1', a, b);
      this.text = buf.toString('latin1', this.from, this.to);
    }
    return this.text.slice(a - this.from, b - this.from);
  }
}

/** Strings a {@link TextPiece} decodes one by one before it decodes the whole piece. */
const PIECE_CUTS = 8;

type Kind = 'n' | 's' | 'b' | 'z';

/** The kind of a parsed value, as the generated parser expects it: number, string, boolean, null. */
function kindOf(v: unknown): Kind {
  if (typeof v === 'number') return 'n';
  if (typeof v === 'string') return 's';
  if (typeof v === 'boolean') return 'b';
  return 'z';
}

const declineAll: Fast = () => undefined;

/** What {@link FlatJsonParser.value} returns for a value it does not parse. */
const DECLINE: unique symbol = Symbol('decline');

/** A key of the layouts' trie: the layouts that start with the keys on the path to it. */
interface KeyNode {
  head: string;
  code: Uint8Array;
  kind: Kind;
  /** The first layout through this node, and the key's index in it (for `parser.field`). */
  owner: number;
  depth: number;
  /** The layout that ends here, if any (its index). */
  ends: number;
  next: KeyNode[];
}

/** The layouts as a trie of their keys (layouts that share their first keys share those nodes). */
function keyTrie(layouts: Layout[]): KeyNode[] {
  const roots: KeyNode[] = [];
  layouts.forEach((l, li) => {
    let level = roots;
    let node: KeyNode | undefined;
    l.heads.forEach((head, j) => {
      node = level.find((n) => n.head === head);
      if (node === undefined) {
        node = { head, code: l.codes[j]!, kind: l.kinds[j]!, owner: li, depth: j, ends: -1, next: [] };
        level.push(node);
      }
      level = node.next;
    });
    node!.ends = li;
  });
  return roots;
}

/**
 * Code reading the value of `node` at p into v<depth>: inline for the node's kind, through
 * `parser.value` for any other (undefined returned when that declines).
 */
function valueCode(node: KeyNode, layouts: Layout[], consts: string[]): string[] {
  const v = `v${node.depth}`;
  const other = (lead: string) => [`${lead}{ ${v} = parser.value(layouts[${node.owner}], ${node.depth}, bytes, p, end, piece); if (${v} === DECLINE) return undefined; p = parser.at; }`];
  switch (node.kind) {
    case 'n':
      // parser.value's number, with the integer digits read four at a time where they are (a
      // 4-byte word all of ASCII digits, then its value by SWAR): the same exact integer m.
      return [
        'c = bytes[p];',
        'if (c === 45 || (c >= 48 && c <= 57)) {',
        '  i = c === 45 ? p + 1 : p;',
        '  m = 0; f = 0;',
        '  d = bytes[i];',
        '  if (d === 48) { d = bytes[++i]; if (d >= 48 && d <= 57) return undefined; }',
        '  else if (d >= 49 && d <= 57) {',
        '    while (i + 4 <= end) {',
        '      w = view.getInt32(i, true);',
        '      if ((w & 0xf0f0f0f0) !== 0x30303030 || ((w + 0x06060606) & 0xf0f0f0f0) !== 0x30303030) break;',
        '      w -= 0x30303030; w = (w * 10 + (w >>> 8)) & 0x00ff00ff; w = (w * 100 + (w >>> 16)) & 0x3fff;',
        '      m = m * 10000 + w; i += 4;',
        '    }',
        '    d = bytes[i];',
        '    while (d >= 48 && d <= 57) { m = m * 10 + (d - 48); d = bytes[++i]; }',
        '  }',
        '  else return undefined;',
        '  if (d === 46) { d = bytes[++i]; if (!(d >= 48 && d <= 57)) return undefined;',
        '    while (d >= 48 && d <= 57) { m = m * 10 + (d - 48); f++; d = bytes[++i]; } }',
        '  if (m >= 1e15 || f > 15 || d === 101 || d === 69) return undefined;',
        '  x = f === 0 ? m : m / POW10[f];',
        `  ${v} = c === 45 ? -x : x;`,
        '  p = i;',
        '}',
        ...other('else '),
      ];
    case 's': {
      // How the field's strings are read, once its probe has settled it (see FlatJsonParser.field):
      // a constant compared in place, shared by the hash computed while scanning, or cut.
      const layout = layouts[node.owner]!;
      const k = node.depth;
      const settled = layout.tries[k]! >= INTERN_PROBE;
      const scan = (hash: boolean) =>
        `  for (q = p + 1; ; q++) { if (q >= end) return undefined; c = bytes[q]; if (c === 34) break; if (c === 92 || c < 32 || c > 127) return undefined;${hash ? ' h = Math.imul(h, 31) + c | 0; k = k * 128 + c;' : ''} }`;
      // A short value is looked up here: one comparison of codes per slot (see sharedShort).
      const read = !settled
        ? [scan(false), `  ${v} = parser.field(layouts[${node.owner}], ${k}, bytes, p + 1, q, piece);`]
        : layout.intern[k]
          ? [
              '  h = 0; k = 0;',
              scan(true),
              '  n = q - p - 1;',
              `  if (n <= ${SHORT_MAX}) {`,
              `    s = Math.imul(h ^ n, ${FIB}) >>> ${32 - INTERN_BITS};`,
              `    if (SK[s] === k) ${v} = SV[s]; else if (SK[s ^ 1] === k) ${v} = SV[s ^ 1]; else ${v} = parser.sharedShort(k, h, bytes, p + 1, q, piece);`,
              `  } else ${v} = parser.shared(h, bytes, p + 1, q, piece);`,
            ]
          : [scan(false), `  ${v} = piece.slice(p + 1, q);`];
      const string = ['if (bytes[p] === 34) {', ...read, '  p = q + 1;', '}', ...other('else ')];
      const only = settled && layout.intern[k] ? layout.only[k] : undefined;
      if (only === undefined) return string;
      consts.push(only);
      const quoted = Uint8Array.from(`"${only}"`, (ch) => ch.charCodeAt(0));
      return [`if (${wordsEqual(quoted)}) { ${v} = CONSTS[${consts.length - 1}]; p += ${quoted.length}; }`, ...string.map((l, j) => (j === 0 ? `else ${l}` : l))];
    }
    default:
      // true, false and null are rare: parser.value reads them.
      return other('');
  }
}

/** A test that the bytes at p are `code`: compared as little-endian 4-byte words, then the last bytes. */
function wordsEqual(code: Uint8Array): string {
  const len = code.length;
  const cmp: string[] = [`p + ${len} <= end`];
  const words = new DataView(code.buffer, code.byteOffset, code.byteLength);
  for (let w = 0; w + 4 <= len; w += 4) cmp.push(`view.getInt32(p + ${w}, true) === ${words.getInt32(w, true)}`);
  for (let b = len & ~3; b < len; b++) cmp.push(`bytes[p + ${b}] === ${code[b]}`);
  return cmp.join(' && ');
}

/**
 * Code for the keys that may come at p (one of `nodes`), each followed by its value and what
 * comes after it. Constant string values met on the way go to `consts`.
 */
function keysCode(nodes: KeyNode[], layouts: Layout[], consts: string[]): string[] {
  const out: string[] = [];
  for (const node of nodes) {
    out.push(`if (${wordsEqual(node.code)}) {`, `p += ${node.code.length};`, ...valueCode(node, layouts, consts));
    if (node.ends >= 0) {
      const names = layouts[node.ends]!.heads.map((h) => h.slice(1, -2));
      out.push(`if (closes(bytes, p, end)) { parser.at = p + 1; return { ${names.map((n, j) => `${JSON.stringify(n)}: v${j}`).join(', ')} }; }`);
    }
    if (node.next.length > 0) out.push('if (bytes[p] !== 44) return undefined;', 'p++;', ...keysCode(node.next, layouts, consts));
    out.push('return undefined;', '}');
  }
  return out;
}

/**
 * The generated parser of the layouts (see {@link Fast}): the keys compared as constant 4-byte
 * words along the layouts' trie of keys, each value read by code for its kind, the object built
 * by one object literal per layout, with no loop over the fields and no array of values. It
 * follows the general loop step by step (the same number algorithm, the same string sharing
 * through `parser.field`), so an object it returns is the one the loop would return; anything it
 * does not expect (an unknown key, another kind of value, an escape, an exponent) returns
 * undefined and the loop decides.
 */
function compileFast(parser: FlatJsonParser, layouts: Layout[]): Fast {
  const depth = Math.max(...layouts.map((l) => l.heads.length));
  const vars = Array.from({ length: depth }, (_, j) => `v${j}`);
  const consts: string[] = [];
  const body = [
    `let c = 0, q = 0, i = 0, m = 0, f = 0, d = 0, w = 0, x = 0, h = 0, k = 0, n = 0, s = 0, ${vars.join(', ')};`,
    ...keysCode(keyTrie(layouts), layouts, consts),
    'return undefined;',
  ];
  const make = new Function(
    'parser',
    'layouts',
    'POW10',
    'DECLINE',
    'closes',
    'CONSTS',
    'SK',
    'SV',
    `return function fast(bytes, view, p, end, piece) {\n${body.join('\n')}\n};`,
  );
  const { keys, vals } = parser.shortTable();
  return make(parser, layouts.slice(), POW10, DECLINE, closes, consts, keys, vals) as Fast;
}
