import { TopologyError, type ErrorLocation } from '../core/errors.js';
import { parseDuration } from '../core/time.js';
import { compileExpression, compileTemplate, type CompiledExpression, type CompiledTemplate } from './expressions.js';
import type { Locator, Params } from './params.js';
import { getStepType, stepTypeNames, type KeySpec, type StepTypeDefinition, type ValidateContext } from './schema.js';
import type { UdfDefinition, UdfKind, UdfRegistry } from './udfs.js';
import { didYouMean, isPlainObject, parseSignedDuration, typeName } from './util.js';
// Built-in step types must be registered before any topology is checked.
import './steps/index.js';

export { parseSignedDuration };

export const TOPOLOGY_NAME = /^[a-z0-9-]+$/;
export const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TOP_FIELDS = ['name', 'description', 'parameters', 'sources', 'steps', 'udfs'];
const SOURCE_FIELDS = ['stream', 'outOfOrderness', 'idleTimeout'];
export const INPUT_STREAMS = ['trade', 'quote', 'order'] as const;
const BASE_STEP_FIELDS = ['id', 'type', 'description'];

/**
 * Every problem of a topology at once: a TopologyError whose `errors` lists each one (sorted by
 * line). With a single problem its file, line, step and field are that problem's; `describe()`
 * gives one "file:line: step 'x': field 'y': message" line per problem.
 *
 * @example
 * try { await loadTopology(f) } catch (e) { if (e instanceof TopologyValidationError) e.errors.forEach((x) => console.error(x.describe())) }
 */
export class TopologyValidationError extends TopologyError {
  readonly errors: TopologyError[];
  constructor(errors: TopologyError[]) {
    const first = errors[0]!;
    super(errors.length === 1 ? first.message : `${errors.length} problems in the topology:\n${errors.map((e) => `  ${e.describe()}`).join('\n')}`, {
      file: first.file,
      line: errors.length === 1 ? first.line : undefined,
      step: errors.length === 1 ? first.step : undefined,
      field: errors.length === 1 ? first.field : undefined,
    });
    this.errors = errors;
  }
  override describe(): string {
    return this.errors.length === 1 ? this.errors[0]!.describe() : this.errors.map((e) => e.describe()).join('\n');
  }
}

function getPath(obj: unknown, field: string): unknown {
  let cur = obj;
  for (const p of field.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** Shared state of one validation run. */
interface Run {
  file: string | undefined;
  locate: Locator | undefined;
  params: Params;
  udfs: UdfRegistry;
  errors: TopologyError[];
  warnings: string[];
  topology: string;
  known: Set<string>;
}

class StepValidator implements ValidateContext {
  readonly params: Params;
  readonly udfs: UdfRegistry;
  readonly topology: string;
  readonly known: ReadonlySet<string>;
  constructor(
    private readonly run: Run,
    private readonly step: Record<string, unknown>,
    private readonly index: number,
    readonly stepId: string,
    private readonly def: StepTypeDefinition | undefined,
  ) {
    this.params = run.params;
    this.udfs = run.udfs;
    this.topology = run.topology;
    this.known = run.known;
  }

  where(field: string | undefined): ErrorLocation {
    const path: Array<string | number> = ['steps', this.index, ...(field ? field.split('.') : [])];
    return { file: this.run.file, line: this.run.locate?.(path), step: this.stepId || undefined, field };
  }

  error(field: string | undefined, message: string): void {
    this.run.errors.push(new TopologyError(message, this.where(field)));
  }

  warn(field: string | undefined, message: string): void {
    this.run.warnings.push(new TopologyError(message, this.where(field)).describe());
  }

  get(field: string): unknown {
    return getPath(this.step, field);
  }

  private present(field: string, required: boolean | undefined): unknown {
    const v = this.get(field);
    // An unresolved ${params.x} was reported where it was substituted; do not report it again.
    if (typeof v === 'string' && v.includes('${params.')) return undefined;
    if (v === undefined || v === null) {
      if (required) this.error(field, `missing required field '${field}'`);
      return undefined;
    }
    return v;
  }

  string(field: string, opts: { required?: boolean; pattern?: RegExp; patternText?: string; oneOf?: readonly string[] } = {}): string | undefined {
    const v = this.present(field, opts.required);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      this.error(field, `'${field}' must be a string, got ${typeName(v)}`);
      return undefined;
    }
    if (opts.oneOf && !opts.oneOf.includes(v)) {
      this.error(field, `'${field}' must be one of ${opts.oneOf.join(', ')}, got '${v}'${didYouMean(v, opts.oneOf)}`);
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      this.error(field, `'${field}' must be ${opts.patternText ?? `like ${String(opts.pattern)}`}, got '${v}'`);
      return undefined;
    }
    return v;
  }

  number(field: string, opts: { required?: boolean; min?: number; integer?: boolean } = {}): number | undefined {
    const v = this.present(field, opts.required);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.error(field, `'${field}' must be a number, got ${typeName(v)}`);
      return undefined;
    }
    if (opts.integer && !Number.isInteger(v)) {
      this.error(field, `'${field}' must be an integer, got ${v}`);
      return undefined;
    }
    if (opts.min !== undefined && v < opts.min) {
      this.error(field, `'${field}' must be >= ${opts.min}, got ${v}`);
      return undefined;
    }
    return v;
  }

  boolean(field: string, opts: { required?: boolean } = {}): boolean | undefined {
    const v = this.present(field, opts.required);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.error(field, `'${field}' must be true or false, got ${typeName(v)}`);
      return undefined;
    }
    return v;
  }

  duration(field: string, opts: { required?: boolean; signed?: boolean; positive?: boolean } = {}): number | undefined {
    const v = this.present(field, opts.required);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' && typeof v !== 'number') {
      this.error(field, `'${field}' must be a duration like 30s, 5m, 1500ms, got ${typeName(v)}`);
      return undefined;
    }
    let ms: number;
    try {
      ms = opts.signed ? parseSignedDuration(v, field) : parseDuration(v, field);
    } catch (e) {
      this.error(field, `bad duration: ${(e as Error).message}`);
      return undefined;
    }
    if (opts.positive && !(ms > 0)) {
      this.error(field, `'${field}' must be a positive duration, got '${v}'`);
      return undefined;
    }
    return ms;
  }

  mapping(field: string, opts: { required?: boolean; nonEmpty?: boolean } = {}): Record<string, unknown> | undefined {
    const v = this.present(field, opts.required);
    if (v === undefined) return undefined;
    if (!isPlainObject(v)) {
      this.error(field, `'${field}' must be a mapping, got ${typeName(v)}`);
      return undefined;
    }
    if (opts.nonEmpty && Object.keys(v).length === 0) {
      this.error(field, `'${field}' must not be empty`);
      return undefined;
    }
    return v;
  }

  private exprOpts(field: string, locals?: readonly string[]) {
    return { params: this.params, scalars: this.udfs.scalarFunctions(), where: this.where(field), locals };
  }

  expression(field: string, opts: { required?: boolean; locals?: readonly string[] } = {}): CompiledExpression | undefined {
    const v = this.present(field, opts.required);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      this.error(field, `'${field}' must be an expression (a string), got ${typeName(v)}`);
      return undefined;
    }
    try {
      return compileExpression(v, this.exprOpts(field, opts.locals));
    } catch (e) {
      if (e instanceof TopologyError) this.run.errors.push(e);
      else this.error(field, `bad expression: ${(e as Error).message}`);
      return undefined;
    }
  }

  template(field: string, opts: { required?: boolean; locals?: readonly string[] } = {}): CompiledTemplate | undefined {
    const v = this.present(field, opts.required);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      this.error(field, `'${field}' must be a message template (a string), got ${typeName(v)}`);
      return undefined;
    }
    try {
      return compileTemplate(v, this.exprOpts(field, opts.locals));
    } catch (e) {
      if (e instanceof TopologyError) this.run.errors.push(e);
      else this.error(field, `bad template: ${(e as Error).message}`);
      return undefined;
    }
  }

  key(field: string, opts: { required?: boolean } = {}): KeySpec | undefined {
    const v = this.present(field, opts.required);
    if (v === undefined) return undefined;
    if (Array.isArray(v)) {
      if (v.length === 0) {
        this.error(field, `'${field}' must name at least one field`);
        return undefined;
      }
      for (const f of v) {
        if (typeof f !== 'string' || !IDENT.test(f)) {
          this.error(field, `'${field}' lists fields by name; '${String(f)}' is not a field name (use a single expression for computed keys)`);
          return undefined;
        }
      }
      return v as string[];
    }
    if (typeof v !== 'string') {
      this.error(field, `'${field}' must be a field name, a list of field names or an expression, got ${typeName(v)}`);
      return undefined;
    }
    if (IDENT.test(v)) return v;
    return this.expression(field) ? v : undefined;
  }

  udf(field: string, kind: UdfKind, opts: { required?: boolean } = {}): UdfDefinition | undefined {
    const name = this.string(field, { required: opts.required ?? true });
    if (name === undefined) return undefined;
    const def = this.udfs.get(kind, name);
    if (!def) {
      const names = this.udfs.names(kind);
      this.error(
        field,
        `unknown ${kind} udf '${name}'${didYouMean(name, names)}${names.length ? ` (${kind} udfs: ${names.join(', ')})` : ` (no ${kind} udfs are loaded)`}`,
      );
    }
    return def;
  }

  allowFields(fields: readonly string[]): void {
    const allowed = [...BASE_STEP_FIELDS, ...(this.def?.inputFields ?? ['input']), ...fields];
    for (const k of Object.keys(this.step)) {
      if (!allowed.includes(k)) {
        this.error(k, `unknown field '${k}' for a ${String(this.step.type)} step${didYouMean(k, allowed)}`);
      }
    }
  }
}

/** Options of {@link validateSpec}. */
export interface ValidateOptions {
  file?: string | undefined;
  locate?: Locator | undefined;
  /** The resolved parameters (defaults with overrides). */
  params: Params;
  udfs: UdfRegistry;
}

/** The result of {@link validateSpec}. */
export interface ValidationResult {
  errors: TopologyError[];
  /** "file:line: step 'x': message" texts. */
  warnings: string[];
  /** Step ids in a topological order (declaration order where free). */
  order: string[];
  /** How many step inputs read each source / step id. */
  consumers: Map<string, number>;
}

/**
 * Checks a topology spec (with `${params.x}` already substituted) and reports every problem with
 * file, line, step and field: the document's shape, names, sources, each step through its type's
 * `validate`, the wiring (unknown inputs, cycles), duplicate sink names; and warnings for sources
 * and steps whose output is never used.
 *
 * @example
 * const { errors, warnings } = validateSpec(spec, { params, udfs });
 * if (errors.length) throw new TopologyValidationError(errors);
 */
export function validateSpec(spec: unknown, opts: ValidateOptions): ValidationResult {
  const { file, locate } = opts;
  const run: Run = {
    file,
    locate,
    params: opts.params,
    udfs: opts.udfs,
    errors: [],
    warnings: [],
    topology: '',
    known: new Set(),
  };
  const at = (path: Array<string | number>, field: string | undefined, message: string, step?: string): void => {
    run.errors.push(new TopologyError(message, { file, line: locate?.(path), field, step }));
  };
  const result: ValidationResult = { errors: run.errors, warnings: run.warnings, order: [], consumers: new Map() };

  if (!isPlainObject(spec)) {
    at([], undefined, `a topology must be a mapping with name, sources and steps, got ${typeName(spec)}`);
    return result;
  }
  for (const k of Object.keys(spec)) {
    if (!TOP_FIELDS.includes(k)) at([k], k, `unknown top-level field '${k}'${didYouMean(k, TOP_FIELDS)} (fields: ${TOP_FIELDS.join(', ')})`);
  }
  if (typeof spec.name !== 'string') {
    at(spec.name === undefined ? [] : ['name'], 'name', spec.name === undefined ? "missing required field 'name'" : `'name' must be a string, got ${typeName(spec.name)}`);
  } else if (!TOPOLOGY_NAME.test(spec.name)) {
    at(['name'], 'name', `'name' must be lower-case letters, digits and '-' ([a-z0-9-]+), got '${spec.name}'`);
  } else {
    run.topology = spec.name;
  }
  if (spec.description !== undefined && typeof spec.description !== 'string') {
    at(['description'], 'description', `'description' must be a string, got ${typeName(spec.description)}`);
  }

  // Sources.
  const sourceNames: string[] = [];
  if (spec.sources === undefined) at([], 'sources', "missing required field 'sources'");
  else if (!isPlainObject(spec.sources) || Object.keys(spec.sources).length === 0) {
    at(['sources'], 'sources', `'sources' must be a non-empty mapping of name -> { stream: trade|quote|order }`);
  } else {
    for (const [name, src] of Object.entries(spec.sources)) {
      const field = `sources.${name}`;
      const path = ['sources', name];
      if (!ID_PATTERN.test(name)) at(path, field, `source name '${name}' must start with a letter and use letters, digits, '-' or '_'`);
      sourceNames.push(name);
      if (!isPlainObject(src)) {
        at(path, field, `source '${name}' must be a mapping like { stream: trade }, got ${typeName(src)}`);
        continue;
      }
      for (const k of Object.keys(src)) {
        if (!SOURCE_FIELDS.includes(k)) at([...path, k], `${field}.${k}`, `unknown field '${k}' for a source${didYouMean(k, SOURCE_FIELDS)}`);
      }
      if (src.stream === undefined) at(path, `${field}.stream`, `missing required field 'stream' (one of ${INPUT_STREAMS.join(', ')})`);
      else if (typeof src.stream !== 'string' || !(INPUT_STREAMS as readonly string[]).includes(src.stream)) {
        at([...path, 'stream'], `${field}.stream`, `'stream' must be one of ${INPUT_STREAMS.join(', ')}, got ${typeName(src.stream)}${typeof src.stream === 'string' ? didYouMean(src.stream, INPUT_STREAMS) : ''}`);
      }
      for (const k of ['outOfOrderness', 'idleTimeout']) {
        if (src[k] === undefined) continue;
        try {
          const v = src[k];
          if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`expected a duration like 2s, got ${typeName(v)}`);
          parseDuration(v, k);
        } catch (e) {
          at([...path, k], `${field}.${k}`, `bad duration: ${(e as Error).message}`);
        }
      }
    }
  }

  // Steps: ids first, so that inputs can refer forward.
  if (spec.steps === undefined) {
    at([], 'steps', "missing required field 'steps'");
    return result;
  }
  if (!Array.isArray(spec.steps) || spec.steps.length === 0) {
    at(['steps'], 'steps', `'steps' must be a non-empty list of steps, got ${typeName(spec.steps)}`);
    return result;
  }
  const steps = spec.steps as unknown[];
  const ids = new Map<string, number>();
  for (const s of sourceNames) run.known.add(s);
  const valid: Array<{ index: number; id: string; step: Record<string, unknown>; def: StepTypeDefinition | undefined }> = [];
  steps.forEach((raw, index) => {
    if (!isPlainObject(raw)) {
      at(['steps', index], undefined, `step #${index + 1} must be a mapping with id and type, got ${typeName(raw)}`);
      return;
    }
    let id = '';
    if (raw.id === undefined) at(['steps', index], 'id', `step #${index + 1}: missing required field 'id'`);
    else if (typeof raw.id !== 'string' || !ID_PATTERN.test(raw.id)) {
      at(['steps', index, 'id'], 'id', `step id must start with a letter and use letters, digits, '-' or '_', got ${typeName(raw.id)}`);
    } else if (ids.has(raw.id)) {
      at(['steps', index, 'id'], 'id', `duplicate step id '${raw.id}' (first used by step #${ids.get(raw.id)! + 1}, line ${locate?.(['steps', ids.get(raw.id)!]) ?? '?'})`, raw.id);
      id = '';
    } else if (sourceNames.includes(raw.id)) {
      at(['steps', index, 'id'], 'id', `step id '${raw.id}' is already the name of a source`, raw.id);
    } else {
      id = raw.id;
      ids.set(id, index);
      run.known.add(id);
    }
    let def: StepTypeDefinition | undefined;
    if (raw.type === undefined) at(['steps', index], 'type', `missing required field 'type'`, id || undefined);
    else if (typeof raw.type !== 'string') at(['steps', index, 'type'], 'type', `'type' must be a string, got ${typeName(raw.type)}`, id || undefined);
    else {
      def = getStepType(raw.type);
      if (!def) {
        const names = stepTypeNames();
        at(['steps', index, 'type'], 'type', `unknown step type '${raw.type}'${didYouMean(raw.type, names)} (types: ${names.join(', ')})`, id || undefined);
      }
    }
    valid.push({ index, id, step: raw, def });
  });

  // Per-step checks: inputs, then the type's own validation.
  const edges = new Map<string, string[]>();
  const consumers = result.consumers;
  for (const n of run.known) consumers.set(n, 0);
  const sinkNames = new Map<string, string>();
  for (const { index, id, step, def } of valid) {
    const v = new StepValidator(run, step, index, id, def);
    if (!def) {
      if (id) edges.set(id, []);
      continue;
    }
    if (def.fields) v.allowFields(def.fields);
    const deps: string[] = [];
    for (const f of def.inputFields ?? ['input']) {
      const val = step[f];
      if (val === undefined || val === null) {
        v.error(f, `missing required field '${f}'`);
        continue;
      }
      const list = Array.isArray(val) ? val : [val];
      if (Array.isArray(val) && val.length === 0) v.error(f, `'${f}' must list at least one input`);
      list.forEach((x) => {
        if (typeof x !== 'string') {
          v.error(f, `'${f}' must name a source or step, got ${typeName(x)}`);
          return;
        }
        if (!run.known.has(x)) {
          v.error(f, `unknown input '${x}': not a source or step${didYouMean(x, run.known)} (sources: ${sourceNames.join(', ')})`);
          return;
        }
        if (x === id) {
          v.error(f, `step '${id}' reads its own output`);
          return;
        }
        deps.push(x);
        consumers.set(x, (consumers.get(x) ?? 0) + 1);
      });
    }
    if (id) edges.set(id, deps.filter((d) => ids.has(d)));
    try {
      def.validate(step, v);
    } catch (e) {
      if (e instanceof TopologyError) run.errors.push(e);
      else v.error(undefined, `validation failed: ${(e as Error).message}`);
    }
    const sink = def.sinkName?.(step);
    if (sink !== undefined) {
      if (sinkNames.has(sink)) v.error('name', `two sinks write the output '${sink}' (also step '${sinkNames.get(sink)}')`);
      else sinkNames.set(sink, id);
    }
  }

  // Topological order (Kahn, declaration order among ready steps) and cycles.
  const indeg = new Map<string, number>();
  for (const [id, deps] of edges) indeg.set(id, deps.length);
  const dependents = new Map<string, string[]>();
  for (const [id, deps] of edges) for (const d of deps) dependents.set(d, [...(dependents.get(d) ?? []), id]);
  const declared = [...edges.keys()];
  const done = new Set<string>();
  for (;;) {
    const next = declared.find((id) => !done.has(id) && indeg.get(id) === 0);
    if (next === undefined) break;
    done.add(next);
    result.order.push(next);
    for (const t of dependents.get(next) ?? []) indeg.set(t, indeg.get(t)! - 1);
  }
  const cyclic = declared.filter((id) => !done.has(id));
  if (cyclic.length) {
    const found = findCycle(cyclic[0]!, edges, new Set(cyclic));
    // Start the report at the cycle's first declared step, so it reads like the file.
    const at0 = found.reduce((best, id, i) => (ids.get(id)! < ids.get(found[best]!)! ? i : best), 0);
    const cycle = [...found.slice(at0), ...found.slice(0, at0)];
    const first = cycle[0]!;
    run.errors.push(
      new TopologyError(`cycle between steps: ${[...cycle, first].join(' -> ')}`, {
        file,
        line: locate?.(['steps', ids.get(first)!]),
        step: first,
        field: valid[ids.get(first)!]?.def?.inputFields?.[0] ?? 'input',
      }),
    );
  }

  // Warnings: outputs nobody reads.
  for (const { index, id, def } of valid) {
    if (!id || !def || def.terminal) continue;
    if ((consumers.get(id) ?? 0) === 0) {
      run.warnings.push(
        new TopologyError(`the output of step '${id}' is never used (no step reads it and it is not a sink or alert): it will not run`, {
          file,
          line: locate?.(['steps', index]),
          step: id,
        }).describe(),
      );
    }
  }
  for (const s of sourceNames) {
    if ((consumers.get(s) ?? 0) === 0) {
      run.warnings.push(new TopologyError(`source '${s}' is never read by any step`, { file, line: locate?.(['sources', s]), field: `sources.${s}` }).describe());
    }
  }
  return result;
}

function findCycle(start: string, edges: Map<string, string[]>, within: Set<string>): string[] {
  const path: string[] = [];
  const onPath = new Set<string>();
  const seen = new Set<string>();
  const dfs = (n: string): string[] | undefined => {
    path.push(n);
    onPath.add(n);
    seen.add(n);
    for (const d of edges.get(n) ?? []) {
      if (!within.has(d)) continue;
      if (onPath.has(d)) return path.slice(path.indexOf(d)).reverse();
      if (!seen.has(d)) {
        const c = dfs(d);
        if (c) return c;
      }
    }
    path.pop();
    onPath.delete(n);
    return undefined;
  };
  return dfs(start) ?? [start];
}

