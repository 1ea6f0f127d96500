import { createRequire } from 'node:module';
import type { MathNode } from 'mathjs';
import { TopologyError, RiskflowError, UserFunctionError, type ErrorLocation } from '../core/errors.js';
import { formatEventTime } from '../core/time.js';
import { emptyReference, type ReferenceData } from '../core/reference.js';
import { didYouMean } from './util.js';

interface MathJs {
  parse(src: string): MathNode;
  round(x: number, n: number): number;
}
let math: MathJs | undefined;

/**
 * mathjs, loaded on the first expression. Its import builds every mathjs function, which takes
 * about 0.3 s (the number build used here; 0.6 s for the full one) at the start of every command, and a job whose
 * topologies have no expression (the standard ones) never needs it.
 */
function mathjs(): MathJs {
  return (math ??= createRequire(import.meta.url)('mathjs/number') as MathJs);
}

/**
 * A compiled expression: a plain function of the record (and, for templates and alert fields, a
 * second object of named locals such as `value` and `threshold`). The properties describe what
 * the expression reads, so callers can tell a constant argument (`params.x`, literals) from a
 * per-record one.
 */
export interface CompiledExpression {
  (record: any, locals?: any): unknown;
  /** The source text as written. */
  readonly source: string;
  /** Record fields the expression reads (top-level identifiers). */
  readonly fields: readonly string[];
  /** True when the value does not depend on the record: it was folded at compile time. */
  readonly isConstant: boolean;
  /** The generated JavaScript, for debugging and `describe`. */
  readonly code: string;
}

/** Options of {@link compileExpression}. */
export interface ExpressionOptions {
  /** The resolved parameters; `params.a.b` is folded into a constant. */
  params?: Record<string, unknown> | undefined;
  /** Scalar functions callable by name besides the built-ins (scalar UDFs). */
  scalars?: ReadonlyMap<string, (...args: any[]) => unknown> | undefined;
  /** Reference data reachable as `ref.instruments[instrument].tier`, `ref.traders[traderId].desk`. */
  ref?: ReferenceData | undefined;
  /** Where the expression is written: named by every error it raises (at compile or at run time). */
  where?: ErrorLocation | undefined;
  /** Identifiers read from the second argument instead of the record (e.g. `value` in alert messages). */
  locals?: readonly string[] | undefined;
}

/**
 * The built-in scalar functions of expressions and their arity [min, max]; scalar UDFs add to them.
 *
 * @example Object.keys(BUILTIN_FUNCTIONS); // ['abs', 'min', 'max', 'sqrt', ...]
 */
export const BUILTIN_FUNCTIONS: Readonly<Record<string, readonly [number, number]>> = {
  abs: [1, 1],
  min: [1, Infinity],
  max: [1, Infinity],
  sqrt: [1, 1],
  log: [1, 2],
  log10: [1, 1],
  exp: [1, 1],
  pow: [2, 2],
  round: [1, 2],
  floor: [1, 1],
  ceil: [1, 1],
  sign: [1, 1],
  isNaN: [1, 1],
  coalesce: [1, Infinity],
};

// mathjs's default tolerances (config.relTol / config.absTol): `==` and the comparisons treat
// numbers this close as equal, so `0.1 + 0.2 == 0.3` holds as it does in mathjs.
const REL_TOL = 1e-12;
const ABS_TOL = 1e-15;

function near(a: number, b: number): boolean {
  if (a === b) return true;
  if (a !== a || b !== b || !Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= Math.max(REL_TOL * Math.max(Math.abs(a), Math.abs(b)), ABS_TOL);
}

function round0(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * Runtime helpers the generated code calls. None allocates; V8 inlines most of them.
 * Semantics: missing values (undefined/null) make arithmetic NaN and ordering comparisons false.
 */
const HELPERS = {
  N(x: unknown): number {
    return typeof x === 'number' ? x : x == null ? NaN : +(x as number);
  },
  get(o: unknown, k: string): unknown {
    if (o == null) return undefined;
    if (o instanceof Map) return o.get(k);
    return typeof o === 'object' || typeof o === 'function' ? (o as Record<string, unknown>)[k] : undefined;
  },
  // mathjs indexes are 1-based for arrays; string indexes are property names.
  idx(o: unknown, k: unknown): unknown {
    if (o == null) return undefined;
    if (o instanceof Map) return o.get(k);
    if (typeof k === 'number') return Array.isArray(o) ? o[k - 1] : undefined;
    return typeof o === 'object' ? (o as Record<string, unknown>)[k as string] : undefined;
  },
  eq(a: unknown, b: unknown): boolean {
    if (a == null || b == null) return a == null && b == null;
    if (typeof a === 'number' && typeof b === 'number') return near(a, b);
    return a === b;
  },
  ne(a: unknown, b: unknown): boolean {
    return !HELPERS.eq(a, b);
  },
  lt(a: unknown, b: unknown): boolean {
    if (typeof a === 'number' && typeof b === 'number') return a < b && !near(a, b);
    return typeof a === 'string' && typeof b === 'string' && a < b;
  },
  le(a: unknown, b: unknown): boolean {
    if (typeof a === 'number' && typeof b === 'number') return a <= b || near(a, b);
    return typeof a === 'string' && typeof b === 'string' && a <= b;
  },
  gt(a: unknown, b: unknown): boolean {
    return HELPERS.lt(b, a);
  },
  ge(a: unknown, b: unknown): boolean {
    return HELPERS.le(b, a);
  },
  // mathjs `mod` is the floored modulo (sign of the divisor) and mod(x, 0) = x.
  mod(x: number, y: number): number {
    if (y === 0) return x;
    return x - y * Math.floor(x / y);
  },
  round(x: number, n?: number): number {
    if (n === undefined || n === 0) {
      if (Number.isInteger(x) || !Number.isFinite(x)) return x;
    }
    // The decimal-string rounding of mathjs (round(1.005, 2) = 1.01) is what users expect from a
    // mathjs expression; only non-integers pay for it.
    if (typeof x !== 'number' || x !== x) return NaN;
    return mathjs().round(x, n ?? 0);
  },
  // mathjs's floor/ceil snap values within tolerance of an integer (floor(2.9999999999999996) = 3).
  floor(x: number): number {
    const f = Math.floor(x);
    const r = round0(x);
    if (f === r) return f;
    return near(x, r) && !near(x, f) ? r : f;
  },
  ceil(x: number): number {
    const c = Math.ceil(x);
    const r = round0(x);
    if (c === r) return c;
    return near(x, r) && !near(x, c) ? r : c;
  },
  log(x: number, b?: number): number {
    return b === undefined ? Math.log(x) : Math.log(x) / Math.log(b);
  },
  isNaN(x: unknown): boolean {
    return x === undefined || (typeof x === 'number' && x !== x);
  },
  // A missing value is undefined, null or NaN (what arithmetic on a missing field gives).
  co(a: unknown, b: unknown): unknown {
    return a == null || (typeof a === 'number' && a !== a) ? b : a;
  },
};

type Ty = 'number' | 'boolean' | 'string' | 'any';
interface Gen {
  code: string;
  ty: Ty;
  /** Depends on nothing but literals and parameters. */
  konst: boolean;
}

/** Time units of duration literals in expressions (`30s`), as parseDuration reads them. */
const DURATION_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

const UNSUPPORTED_NODE: Record<string, string> = {
  ArrayNode: 'array literals ([...])',
  ObjectNode: 'object literals ({...})',
  AssignmentNode: 'assignment (=)',
  FunctionAssignmentNode: 'function definitions',
  BlockNode: "multiple statements (';' or a line break)",
  RangeNode: 'ranges (a:b)',
  RelationalNode: 'chained comparisons (a < b < c): write (a < b) and (b < c)',
  IndexNode: 'bare indexes',
};

const BINARY: Record<string, string> = {
  add: '+',
  subtract: '-',
  multiply: '*',
  divide: '/',
};
const COMPARE: Record<string, string> = {
  smaller: 'lt',
  smallerEq: 'le',
  larger: 'gt',
  largerEq: 'ge',
  equal: 'eq',
  unequal: 'ne',
};

/**
 * Parses with mathjs, turning its error into a TopologyError that names the column.
 *
 * @example parseExpressionSource('qty *'); // throws: cannot parse expression "qty *": Unexpected end of expression at column 6
 */
export function parseExpressionSource(src: string, where?: ErrorLocation): MathNode {
  try {
    return mathjs().parse(src);
  } catch (e) {
    const err = e as Error & { char?: number };
    const msg = err.message.replace(/\s*\(char \d+\)\s*$/, '');
    const col = typeof err.char === 'number' ? ` at column ${err.char}` : '';
    throw new TopologyError(`cannot parse expression "${src}": ${msg}${col}`, { ...where });
  }
}

function literal(v: unknown, consts: unknown[]): Gen {
  if (typeof v === 'number') {
    if (v !== v) return { code: 'NaN', ty: 'number', konst: true };
    if (v === Infinity) return { code: 'Infinity', ty: 'number', konst: true };
    if (v === -Infinity) return { code: '(-Infinity)', ty: 'number', konst: true };
    return { code: v < 0 || Object.is(v, -0) ? `(${String(v)})` : String(v), ty: 'number', konst: true };
  }
  if (typeof v === 'string') return { code: JSON.stringify(v), ty: 'string', konst: true };
  if (typeof v === 'boolean') return { code: String(v), ty: 'boolean', konst: true };
  if (v === null) return { code: 'null', ty: 'any', konst: true };
  if (v === undefined) return { code: 'undefined', ty: 'any', konst: true };
  consts.push(v);
  return { code: `K[${consts.length - 1}]`, ty: 'any', konst: true };
}

class Compiler {
  readonly consts: unknown[] = [];
  readonly udfs: Array<(...a: unknown[]) => unknown> = [];
  readonly udfNames: string[] = [];
  readonly fields = new Set<string>();
  usesRef = false;

  constructor(
    readonly src: string,
    readonly opts: ExpressionOptions,
  ) {}

  fail(message: string): never {
    throw new TopologyError(`expression "${this.src}": ${message}`, { ...this.opts.where });
  }

  num(g: Gen): string {
    return g.ty === 'number' ? g.code : `N(${g.code})`;
  }

  gen(node: MathNode): Gen {
    const n = node as MathNode & Record<string, any>;
    switch (n.type) {
      case 'ConstantNode':
        return literal(n.value, this.consts);
      case 'ParenthesisNode':
        return this.gen(n.content);
      case 'SymbolNode':
        return this.symbol(n.name as string);
      case 'OperatorNode':
        return this.operator(n);
      case 'ConditionalNode': {
        const c = this.gen(n.condition);
        const t = this.gen(n.trueExpr);
        const f = this.gen(n.falseExpr);
        return { code: `(${c.code} ? ${t.code} : ${f.code})`, ty: t.ty === f.ty ? t.ty : 'any', konst: c.konst && t.konst && f.konst };
      }
      case 'AccessorNode':
        return this.accessor(n);
      case 'FunctionNode':
        return this.call(n);
      default:
        return this.fail(`${UNSUPPORTED_NODE[n.type] ?? n.type} not supported`);
    }
  }

  symbol(name: string): Gen {
    if (name === 'params') this.fail("'params' must be followed by a parameter name, e.g. params.limit");
    if (name === 'ref') {
      this.usesRef = true;
      return { code: 'REF', ty: 'any', konst: false };
    }
    if (name === 'pi') return { code: 'Math.PI', ty: 'number', konst: true };
    if (this.opts.locals?.includes(name)) return { code: `x[${JSON.stringify(name)}]`, ty: 'any', konst: false };
    this.fields.add(name);
    return { code: `r[${JSON.stringify(name)}]`, ty: 'any', konst: false };
  }

  operator(n: Record<string, any>): Gen {
    const fn = n.fn as string;
    const args = n.args as MathNode[];
    if (n.implicit) {
      // `30s`, `5m`, `1500ms`: mathjs reads a number followed by a name as implicit multiplication
      // (a physical unit); here a time unit makes a duration literal in ms, as in the YAML fields.
      const [c, u] = args as Array<MathNode & Record<string, any>>;
      if (c?.type === 'ConstantNode' && typeof c.value === 'number' && u?.type === 'SymbolNode' && DURATION_UNITS[u.name as string]) {
        return literal(c.value * DURATION_UNITS[u.name as string]!, this.consts);
      }
    }
    if (n.implicit) this.fail(`implicit multiplication ("${String(n.toString())}"): write the '*'`);
    if (n.isPercentage) this.fail("the percentage operator '%' after a number: write / 100");
    const g = args.map((a) => this.gen(a));
    const konst = g.every((x) => x.konst);
    const a = g[0]!;
    const b = g[1];
    if (BINARY[fn] && b) return { code: `(${this.num(a)} ${BINARY[fn]} ${this.num(b)})`, ty: 'number', konst };
    if (COMPARE[fn] && b) return { code: `${COMPARE[fn]}(${a.code}, ${b.code})`, ty: 'boolean', konst };
    switch (fn) {
      case 'unaryMinus':
        return { code: `(-${this.num(a)})`, ty: 'number', konst };
      case 'unaryPlus':
        return { code: this.num(a), ty: 'number', konst };
      case 'pow':
        return { code: `Math.pow(${this.num(a)}, ${this.num(b!)})`, ty: 'number', konst };
      case 'mod':
        return { code: `mod(${this.num(a)}, ${this.num(b!)})`, ty: 'number', konst };
      case 'and':
        return { code: `(!!${a.code} && !!${b!.code})`, ty: 'boolean', konst };
      case 'or':
        return { code: `(!!${a.code} || !!${b!.code})`, ty: 'boolean', konst };
      case 'xor':
        return { code: `(!${a.code} !== !${b!.code})`, ty: 'boolean', konst };
      case 'not':
        return { code: `(!${a.code})`, ty: 'boolean', konst };
      case 'nullish':
        return { code: `(${a.code} ?? ${b!.code})`, ty: a.ty === b!.ty ? a.ty : 'any', konst };
      default:
        return this.fail(`operator '${String(n.op)}' (${fn}) not supported`);
    }
  }

  /** `params.a.b` as a path of constant names, or undefined when the node is not one. */
  paramPath(n: Record<string, any>): string[] | undefined {
    if (n.type === 'SymbolNode') return n.name === 'params' ? [] : undefined;
    if (n.type !== 'AccessorNode') return undefined;
    const base = this.paramPath(n.object);
    if (!base) return undefined;
    const dims = n.index.dimensions as Array<Record<string, any>>;
    if (dims.length !== 1 || dims[0]!.type !== 'ConstantNode' || typeof dims[0]!.value !== 'string') {
      this.fail('parameters must be named with constant names (params.a.b)');
    }
    return [...base, dims[0]!.value as string];
  }

  accessor(n: Record<string, any>): Gen {
    const path = this.paramPath(n);
    if (path) return this.param(path);
    const obj = this.gen(n.object);
    const dims = n.index.dimensions as MathNode[];
    if (dims.length !== 1) this.fail('multi-dimensional indexes not supported');
    const d = dims[0] as MathNode & Record<string, any>;
    if (d.type === 'ConstantNode' && typeof d.value === 'string') {
      return { code: `get(${obj.code}, ${JSON.stringify(d.value)})`, ty: 'any', konst: false };
    }
    const k = this.gen(d);
    return { code: `idx(${obj.code}, ${k.code})`, ty: 'any', konst: false };
  }

  param(path: string[]): Gen {
    let cur: unknown = this.opts.params ?? {};
    for (let i = 0; i < path.length; i++) {
      const p = path[i]!;
      if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, p)) {
        const known = cur !== null && typeof cur === 'object' ? Object.keys(cur) : [];
        const prefix = ['params', ...path.slice(0, i)].join('.');
        this.fail(`unknown parameter 'params.${path.join('.')}'${didYouMean(p, known, (k) => `${prefix}.${k}`)}`);
      }
      cur = (cur as Record<string, unknown>)[p];
    }
    return literal(cur, this.consts);
  }

  call(n: Record<string, any>): Gen {
    if (n.fn.type !== 'SymbolNode') this.fail('method calls (a.f(x)) not supported');
    const name = n.fn.name as string;
    const args = (n.args as MathNode[]).map((a) => this.gen(a));
    const konstArgs = args.every((a) => a.konst);
    const arity = BUILTIN_FUNCTIONS[name];
    if (arity) {
      if (args.length < arity[0] || args.length > arity[1]) {
        const want = arity[0] === arity[1] ? `${arity[0]}` : arity[1] === Infinity ? `at least ${arity[0]}` : `${arity[0]} to ${arity[1]}`;
        this.fail(`${name}() takes ${want} argument${arity[1] === 1 ? '' : 's'}, got ${args.length}`);
      }
      const nums = args.map((a) => this.num(a)).join(', ');
      const konst = konstArgs;
      switch (name) {
        case 'abs':
        case 'sqrt':
        case 'log10':
        case 'exp':
        case 'sign':
        case 'pow':
        case 'min':
        case 'max':
          return { code: `Math.${name}(${nums})`, ty: 'number', konst };
        case 'round':
        case 'floor':
        case 'ceil':
        case 'log':
          return { code: `${name}(${nums})`, ty: 'number', konst };
        case 'isNaN':
          return { code: `isNaN_(${args[0]!.code})`, ty: 'boolean', konst };
        case 'coalesce': {
          let code = args[args.length - 1]!.code;
          for (let i = args.length - 2; i >= 0; i--) code = `co(${args[i]!.code}, ${code})`;
          return { code, ty: 'any', konst };
        }
      }
    }
    const udf = this.opts.scalars?.get(name);
    if (udf) {
      let i = this.udfNames.indexOf(name);
      if (i < 0) {
        this.udfNames.push(name);
        this.udfs.push(this.guard(name, udf));
        i = this.udfs.length - 1;
      }
      // A UDF may be impure (counters, clocks): never fold it.
      return { code: `U[${i}](${args.map((a) => a.code).join(', ')})`, ty: 'any', konst: false };
    }
    const known = [...Object.keys(BUILTIN_FUNCTIONS), ...(this.opts.scalars?.keys() ?? [])];
    return this.fail(`unknown function '${name}'${didYouMean(name, known)} (functions: ${known.join(', ')})`);
  }

  guard(name: string, fn: (...a: any[]) => unknown): (...a: unknown[]) => unknown {
    const where = this.opts.where;
    return (...a: unknown[]) => {
      try {
        return fn(...a);
      } catch (cause) {
        if (cause instanceof RiskflowError) throw cause;
        throw new UserFunctionError(`scalar udf '${name}' threw: ${(cause as Error)?.message ?? String(cause)}`, { ...where, cause });
      }
    };
  }
}

const PRELUDE = 'const { N, get, idx, eq, ne, lt, le, gt, ge, mod, round, floor, ceil, log, co } = H; const isNaN_ = H.isNaN;';

/**
 * Compiles a mathjs expression once into a plain JavaScript function of a record. The mathjs
 * parser gives the AST; code is generated for the supported subset (literals, `+ - * / % ^`,
 * comparisons, `and or not xor`, `?:`, `??`, `a.b` / `a["b"]`, the built-in functions and scalar
 * UDFs, duration literals such as `30s` or `5m` = ms); anything else is a TopologyError naming
 * the construct. Identifiers are record fields,
 * `params.x` is folded into a constant, `ref` is the reference data (`ref.instruments[instrument]`).
 * mathjs semantics kept: `^` is power, `%` is the floored modulo, `==` and comparisons use mathjs's
 * relative tolerance (1e-12). A missing field is undefined: arithmetic on it gives NaN, ordering
 * comparisons with it are false, and `x == null` tests for it.
 *
 * @example
 * const f = compileExpression('qty * price >= params.min', { params: { min: 1e5 } });
 * f({ qty: 1000, price: 101 }); // true
 */
export function compileExpression(src: string | number | boolean, opts: ExpressionOptions = {}): CompiledExpression {
  const text = String(src);
  if (typeof src === 'string' && src.trim() === '') {
    throw new TopologyError('empty expression', { ...opts.where });
  }
  return compileNode(typeof src === 'string' ? parseExpressionSource(src, opts.where) : src, text, opts);
}

/**
 * Compiles an already parsed mathjs node (e.g. an argument of an aggregate call). `source` is the
 * text shown in errors.
 *
 * @example
 * const call = parseExpressionSource('max(mid)') as FunctionNode;
 * const mid = compileNode(call.args[0], 'mid', {});
 */
export function compileNode(node: MathNode | number | boolean, source: string, opts: ExpressionOptions = {}): CompiledExpression {
  const c = new Compiler(source, opts);
  const g = typeof node === 'object' ? c.gen(node) : literal(node, c.consts);
  const ref = opts.ref ?? emptyReference();
  const factory = new Function('H', 'K', 'U', 'REF', `"use strict"; ${PRELUDE} return function expr(r, x) { return ${g.code}; };`) as (
    ...a: unknown[]
  ) => (r: unknown, x?: unknown) => unknown;
  let fn = factory(HELPERS, c.consts, c.udfs, ref);
  if (g.konst) {
    // Folding needs the value once; an error here (e.g. a UDF) surfaces at compile time.
    const value = fn({}, {});
    fn = () => value;
  }
  return Object.assign(fn, { source, fields: [...c.fields], isConstant: g.konst, code: g.code }) as CompiledExpression;
}

/**
 * Formats of `{expr:format}` in message templates: pct (x100, 1 decimal, '%'), bps (x1e4, 1
 * decimal, 'bps'), fixed2 (2 decimals), int (rounded), time (ISO-8601 UTC of epoch ms).
 *
 * @example compileTemplate('{value:pct}')({}, { value: 0.05 }); // "5%"
 */
export const TEMPLATE_FORMATS = ['pct', 'bps', 'fixed2', 'int', 'time'] as const;
export type TemplateFormat = (typeof TEMPLATE_FORMATS)[number];

function trimNumber(x: number, digits: number): string {
  return String(Number(x.toFixed(digits)));
}

/**
 * How a value shows in a message: numbers rounded to 6 decimals, objects as JSON, missing values
 * as "n/a"; with a format, as {@link TEMPLATE_FORMATS} describes.
 *
 * @example formatValue(0.0723, 'pct') === '7.2%'
 */
export function formatValue(v: unknown, format?: TemplateFormat): string {
  if (v === undefined || v === null) return 'n/a';
  if (format === undefined) {
    if (typeof v === 'number') return Number.isInteger(v) || !Number.isFinite(v) ? String(v) : trimNumber(v, 6);
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }
  const x = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(x)) return String(x);
  switch (format) {
    case 'pct':
      return `${trimNumber(x * 100, 1)}%`;
    case 'bps':
      return `${trimNumber(x * 1e4, 1)}bps`;
    case 'fixed2':
      return x.toFixed(2);
    case 'int':
      return String(round0(x));
    case 'time':
      return formatEventTime(x);
  }
}

/** A compiled message template: `(record, locals) => text`. */
export interface CompiledTemplate {
  (record: any, locals?: any): string;
  readonly source: string;
  readonly fields: readonly string[];
}

/**
 * Compiles a message template once: literal text with `{expr}` and `{expr:format}` holes (formats:
 * pct, bps, fixed2, int, time); `{{` and `}}` are literal braces. Each hole is an expression as in
 * {@link compileExpression}; `opts.locals` name the values taken from the second argument.
 *
 * @example
 * const t = compileTemplate('{instrument} fell {value:pct}', { locals: ['value'] });
 * t({ instrument: 'ACME' }, { value: 0.072 }); // "ACME fell 7.2%"
 */
export function compileTemplate(src: string, opts: ExpressionOptions = {}): CompiledTemplate {
  const texts: string[] = [];
  const holes: Array<{ fn: CompiledExpression; format: TemplateFormat | undefined }> = [];
  let buf = '';
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if (ch === '{' && src[i + 1] === '{') {
      buf += '{';
      i += 2;
    } else if (ch === '}' && src[i + 1] === '}') {
      buf += '}';
      i += 2;
    } else if (ch === '}') {
      throw new TopologyError(`template "${src}": unmatched '}' at column ${i + 1} (write '}}' for a literal brace)`, { ...opts.where });
    } else if (ch === '{') {
      const end = src.indexOf('}', i + 1);
      if (end < 0) throw new TopologyError(`template "${src}": unclosed '{' at column ${i + 1}`, { ...opts.where });
      let body = src.slice(i + 1, end);
      let format: TemplateFormat | undefined;
      const m = /:\s*([A-Za-z][A-Za-z0-9]*)\s*$/.exec(body);
      // `a ? b : c` also has a ':'; a format is a bare word after the last ':' of a hole without '?'.
      if (m && !body.includes('?')) {
        if (!(TEMPLATE_FORMATS as readonly string[]).includes(m[1]!)) {
          throw new TopologyError(
            `template "${src}": unknown format '${m[1]}'${didYouMean(m[1]!, TEMPLATE_FORMATS)} (formats: ${TEMPLATE_FORMATS.join(', ')})`,
            { ...opts.where },
          );
        }
        format = m[1] as TemplateFormat;
        body = body.slice(0, m.index);
      }
      if (body.trim() === '') throw new TopologyError(`template "${src}": empty '{}' at column ${i + 1}`, { ...opts.where });
      texts.push(buf);
      buf = '';
      holes.push({ fn: compileExpression(body, opts), format });
      i = end + 1;
    } else {
      buf += ch;
      i++;
    }
  }
  texts.push(buf);
  const fields = [...new Set(holes.flatMap((h) => h.fn.fields))];
  const fn = (r: unknown, x?: unknown): string => {
    let out = texts[0]!;
    for (let k = 0; k < holes.length; k++) {
      const h = holes[k]!;
      out += formatValue(h.fn(r, x), h.format) + texts[k + 1]!;
    }
    return out;
  };
  return Object.assign(fn, { source: src, fields });
}
