import type { CompiledExpression } from './expressions.js';
import type { KeyFunction, KeySpec } from './schema.js';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Separates the parts of a multi-field key (the ASCII unit separator: never in instrument or
 * trader ids), so `keyBy: [traderId, instrument]` gives one string key per pair.
 *
 * @example `T1${KEY_SEPARATOR}ACME`.split(KEY_SEPARATOR); // ['T1', 'ACME']
 */
export const KEY_SEPARATOR = '\u001f';

function str(v: unknown): string {
  return typeof v === 'string' ? v : v == null ? '' : String(v);
}

/**
 * True when a key spec is a field name or a list of them rather than an expression.
 *
 * @example isFieldKey('instrument') && !isFieldKey('upper(instrument)')
 */
export function isFieldKey(spec: KeySpec): boolean {
  return Array.isArray(spec) || IDENT.test(spec);
}

/**
 * The key function of a `keyBy`/`key` spec: a field (its value as a string; missing = ''), a list
 * of fields (values joined with U+001F) or an expression (its value as a string). No spec means
 * one global key ''. `toFields` turns a key back into the output fields of a window.
 *
 * @example
 * makeKeyFunction(['traderId', 'instrument'], compile)({ traderId: 'T1', instrument: 'ACME' }); // 'T1\u001fACME'
 */
export function makeKeyFunction(spec: KeySpec | undefined, compile: (src: string) => CompiledExpression): KeyFunction {
  if (spec === undefined) {
    return Object.assign(() => '', { fields: [] as string[], toFields: () => ({}) });
  }
  if (Array.isArray(spec) && spec.length === 1) spec = spec[0]!;
  if (typeof spec === 'string' && IDENT.test(spec)) {
    const f = spec;
    return Object.assign((r: Record<string, unknown>) => str(r[f]), {
      fields: [f],
      toFields: (k: string) => ({ [f]: k }),
    });
  }
  if (Array.isArray(spec)) {
    const fs = spec;
    const n = fs.length;
    const fn = (r: Record<string, unknown>): string => {
      let k = str(r[fs[0]!]);
      for (let i = 1; i < n; i++) k += KEY_SEPARATOR + str(r[fs[i]!]);
      return k;
    };
    return Object.assign(fn, {
      fields: fs,
      toFields: (k: string) => {
        const parts = k.split(KEY_SEPARATOR);
        const o: Record<string, string> = {};
        for (let i = 0; i < n; i++) o[fs[i]!] = parts[i] ?? '';
        return o;
      },
    });
  }
  const e = compile(spec);
  return Object.assign((r: unknown) => str(e(r)), { fields: undefined, toFields: (k: string) => ({ key: k }) });
}
