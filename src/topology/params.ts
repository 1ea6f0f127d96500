import { parse as parseYaml } from 'yaml';
import { TopologyError } from '../core/errors.js';
import { didYouMean, isPlainObject, typeName } from './util.js';

/** A topology's parameters: a tree of plain values. */
export type Params = Record<string, unknown>;

/** Finds the source line of a path in the topology document (YAML only). */
export type Locator = (path: ReadonlyArray<string | number>) => number | undefined;

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The parameters as `[dotted path, value]` leaves, depth first in declaration order.
 *
 * @example flattenParams({ drop: { pct: 0.05 }, n: 1 }); // [['drop.pct', 0.05], ['n', 1]]
 */
export function flattenParams(params: Params, prefix = ''): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(params)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isPlainObject(v) && Object.keys(v).length > 0) out.push(...flattenParams(v, path));
    else out.push([path, v]);
  }
  return out;
}

/**
 * The value at a dotted path, or `found: false`.
 *
 * @example lookupParam({ drop: { pct: 0.05 } }, 'drop.pct'); // { found: true, value: 0.05 }
 */
export function lookupParam(params: Params, path: string): { found: boolean; value: unknown } {
  let cur: unknown = params;
  for (const p of path.split('.')) {
    if (!isPlainObject(cur) || !Object.prototype.hasOwnProperty.call(cur, p)) return { found: false, value: undefined };
    cur = cur[p];
  }
  return { found: true, value: cur };
}

function deepClone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(deepClone) as T;
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deepClone(x)])) as T;
  return v;
}

/**
 * Checks the `parameters` block's shape: nested mappings whose names are identifiers (so that
 * expressions can say `params.a.b`).
 *
 * @example checkParameterTree({ 'bad-name': 1 }, 'x.yaml', undefined).length === 1
 */
export function checkParameterTree(params: unknown, file: string | undefined, locate: Locator | undefined): TopologyError[] {
  const errors: TopologyError[] = [];
  if (params === undefined || params === null) return errors;
  if (!isPlainObject(params)) {
    return [new TopologyError(`'parameters' must be a mapping, got ${typeName(params)}`, { file, line: locate?.(['parameters']), field: 'parameters' })];
  }
  const walk = (node: Record<string, unknown>, path: string[]): void => {
    for (const [k, v] of Object.entries(node)) {
      const p = [...path, k];
      if (!PARAM_NAME.test(k)) {
        errors.push(
          new TopologyError(`parameter name '${k}' must be an identifier (letters, digits, _) so expressions can say params.${p.join('.')}`, {
            file,
            line: locate?.(['parameters', ...p]),
            field: `parameters.${p.join('.')}`,
          }),
        );
      }
      if (isPlainObject(v)) walk(v, p);
    }
  };
  walk(params, []);
  return errors;
}

/** The result of {@link resolveParameters}. */
export interface ResolvedParams {
  params: Params;
  /** Dotted paths set by `--set`, with the default each replaced. */
  overridden: Map<string, unknown>;
  errors: TopologyError[];
}

/**
 * The parameters of a run: the spec's defaults with `--set a.b=value` overrides applied. A value is
 * read as a YAML scalar (`0.07` a number, `true` a boolean); it must have the default's type, and a
 * string default takes the text as written (so `window=90s` and `window=90` both stay strings).
 * Only declared parameters can be set, which catches typos that would otherwise silently do nothing.
 *
 * @example
 * resolveParameters({ drop: { pct: 0.05 } }, ['drop.pct=0.07']).params; // { drop: { pct: 0.07 } }
 */
export function resolveParameters(
  defaults: Params | undefined,
  sets: readonly string[] = [],
  where: { file?: string | undefined; locate?: Locator | undefined } = {},
): ResolvedParams {
  const params: Params = deepClone(defaults ?? {});
  const overridden = new Map<string, unknown>();
  const errors: TopologyError[] = [];
  const { file, locate } = where;
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) {
      errors.push(new TopologyError(`--set '${s}': write --set <parameter>=<value>, e.g. --set drop.pct=0.07`, { file, field: '--set' }));
      continue;
    }
    const path = s.slice(0, eq).trim();
    const text = s.slice(eq + 1);
    const parts = path.split('.');
    const field = `--set ${path}`;
    let parent: Record<string, unknown> = params;
    let ok = true;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = parent[parts[i]!];
      if (!isPlainObject(next)) {
        ok = false;
        break;
      }
      parent = next;
    }
    const leaf = parts[parts.length - 1]!;
    if (!ok || !Object.prototype.hasOwnProperty.call(parent, leaf)) {
      const known = flattenParams(params).map(([p]) => p);
      // Point at the deepest declared ancestor: that is where the name would have to be added.
      let depth = 0;
      let cur: unknown = params;
      while (depth < parts.length && isPlainObject(cur) && Object.prototype.hasOwnProperty.call(cur, parts[depth]!)) {
        cur = (cur as Record<string, unknown>)[parts[depth]!];
        depth++;
      }
      errors.push(
        new TopologyError(
          `unknown parameter '${path}'${didYouMean(path, known)}: parameters must be declared under 'parameters' (declared: ${known.join(', ') || 'none'})`,
          { file, line: locate?.(['parameters', ...parts.slice(0, depth)]), field },
        ),
      );
      continue;
    }
    const def = parent[leaf];
    const line = locate?.(['parameters', ...parts]);
    if (isPlainObject(def)) {
      errors.push(new TopologyError(`'${path}' is a group of parameters: set its members, e.g. ${path}.${Object.keys(def)[0] ?? 'x'}=...`, { file, line, field }));
      continue;
    }
    let value: unknown;
    try {
      value = parseYaml(text);
    } catch {
      value = text;
    }
    if (value === null && text.trim() !== '' && !/^(null|~)$/i.test(text.trim())) value = text;
    if (typeof def === 'string') value = text;
    else if (def !== null && def !== undefined) {
      const want = Array.isArray(def) ? 'list' : typeof def;
      const got = Array.isArray(value) ? 'list' : typeof value;
      if (want !== got || (typeof value === 'number' && !Number.isFinite(value))) {
        errors.push(new TopologyError(`wrong value type for '${path}': expected a ${want} like its default ${JSON.stringify(def)}, got "${text}"`, { file, line, field }));
        continue;
      }
    }
    parent[leaf] = value;
    overridden.set(path, def);
  }
  return { params, overridden, errors };
}

const REF = /\$\{\s*params\.([A-Za-z0-9_.]+)\s*\}/g;
const WHOLE_REF = /^\$\{\s*params\.([A-Za-z0-9_.]+)\s*\}$/;

/**
 * Replaces `${params.a.b}` references in every string of a spec subtree (durations, udf params,
 * names). A string that is exactly one reference takes the parameter's value and type; a reference
 * inside a longer string is interpolated. Unknown parameters are reported with their location.
 *
 * @example
 * resolveParamRefs({ size: '${params.w}' }, { w: '60s' }, ['steps', 0], onError); // { size: '60s' }
 */
export function resolveParamRefs(
  value: unknown,
  params: Params,
  path: Array<string | number>,
  onError: (path: Array<string | number>, message: string) => void,
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const whole = WHOLE_REF.exec(value);
    if (whole) {
      const hit = lookupParam(params, whole[1]!);
      if (!hit.found) {
        onError(path, unknownRef(whole[1]!, params));
        return value;
      }
      return deepClone(hit.value);
    }
    return value.replace(REF, (m, p: string) => {
      const hit = lookupParam(params, p);
      if (!hit.found) {
        onError(path, unknownRef(p, params));
        return m;
      }
      return typeof hit.value === 'object' ? JSON.stringify(hit.value) : String(hit.value);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveParamRefs(v, params, [...path, i], onError));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveParamRefs(v, params, [...path, k], onError);
    return out;
  }
  return value;
}

function unknownRef(p: string, params: Params): string {
  const known = flattenParams(params).map(([k]) => k);
  return `unknown parameter '\${params.${p}}'${didYouMean(p, known, (k) => `params.${k}`)}`;
}
