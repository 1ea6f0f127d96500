import type { Alert, Severity } from '../core/alerts.js';
import type { JobContext, SideOutput } from '../core/context.js';
import type { Stream } from '../core/element.js';
import type { ReferenceData } from '../core/reference.js';
import type { SnapshotRows } from '../core/snapshot-rows.js';
import { TopologyError, type ErrorLocation } from '../core/errors.js';
import type { CompiledExpression, CompiledTemplate } from './expressions.js';
import type { Params } from './params.js';
import type { UdfDefinition, UdfRegistry } from './udfs.js';

/** A duration: `"1500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m30s"`, a number of ms, or `"${params.x}"`. */
export type Duration = string | number;
/** A mathjs expression (see expressions.ts); a bare number or boolean is a constant. */
export type Expr = string | number | boolean;
/** A key: a field name, a list of field names, or an expression (anything that is not a bare name). */
export type KeySpec = string | string[];
/** The input streams of CONTRACTS.md section 1. */
export type InputStream = 'trade' | 'quote' | 'order';

/** A source: which input stream, and its watermark strategy. */
export interface SourceSpec {
  stream: InputStream;
  /** How late a record may arrive behind the newest one and still be on time (default 0). */
  outOfOrderness?: Duration;
  /** Event time without records after which the source no longer holds the watermark back (default 5m). */
  idleTimeout?: Duration;
}

/** What every step has. */
export interface StepBase {
  /** Unique in the topology; letters, digits, '-' and '_'. Operator state is checkpointed as `<topology>/<id>`. */
  id: string;
  type: string;
  description?: string;
}

export interface FilterStep extends StepBase {
  type: 'filter';
  input: string;
  where: Expr;
}
export interface DeriveStep extends StepBase {
  type: 'derive';
  input: string;
  /** New or replaced fields, computed in order (a later field may use an earlier one). */
  fields: Record<string, Expr>;
}
export interface MapStep extends StepBase {
  type: 'map';
  input: string;
  udf: string;
  params?: Record<string, unknown>;
}
export interface AsofJoinStep extends StepBase {
  type: 'asofJoin';
  left: string;
  right: string;
  leftKey: KeySpec;
  rightKey: KeySpec;
  /** Field of the output that holds the right record (undefined when there is none). */
  as: string;
  maxLag?: Duration;
}
export interface IntervalJoinStep extends StepBase {
  type: 'intervalJoin';
  left: string;
  right: string;
  leftKey: KeySpec;
  rightKey: KeySpec;
  /** [lower, upper] bounds of `right.ts - left.ts`, e.g. ["-5s", "5s"]. */
  between: [Duration, Duration];
  as: string;
}
export interface UnionStep extends StepBase {
  type: 'union';
  inputs: string[];
}
export interface EnrichStep extends StepBase {
  type: 'enrich';
  input: string;
  from: 'instruments' | 'traders';
  key: KeySpec;
  as: string;
}
export type WindowSpec =
  | { type: 'tumbling'; size: Duration; offset?: Duration }
  | { type: 'sliding'; size: Duration; slide: Duration; offset?: Duration }
  | { type: 'session'; gap: Duration };
export interface WindowStep extends StepBase {
  type: 'window';
  input: string;
  keyBy?: KeySpec;
  window: WindowSpec;
  allowedLateness?: Duration;
  trigger?: { earlyEvery?: Duration; earlyEveryCount?: number };
  /** Output field -> aggregate call: `max(mid)`, `count()`, `vwap(price, qty)`, an aggregate UDF. */
  aggregate: Record<string, string>;
}
export interface ProcessStep extends StepBase {
  type: 'process';
  input: string;
  keyBy?: KeySpec;
  udf: string;
  params?: Record<string, unknown>;
}
export interface AlertSpec {
  /** Upper-case alert type, e.g. PRICE_DROP. */
  type: string;
  /** info | warning | critical, or an expression giving one. */
  severity: Severity | string;
  /** One of the alert topics of CONTRACTS.md section 3. */
  topic: string;
  /** Entity field -> expression (values become strings). */
  entity: Record<string, Expr>;
  value: Expr;
  threshold: Expr;
  /** Template: `{expr}` and `{expr:pct|bps|fixed2|int|time}`; `value` and `threshold` are the alert's. */
  message: string;
  details?: Record<string, Expr>;
}
export interface AlertStep extends StepBase {
  type: 'alert';
  input: string;
  /** Condition; default: every record alerts. */
  when?: Expr;
  /** At most one alert per entity in this much event time (repeats are suppressed). */
  throttle?: Duration;
  alert: AlertSpec;
}
export interface SinkStep extends StepBase {
  type: 'sink';
  input: string;
  /** Name of the output stream the runner writes (default: the step id). */
  name?: string;
}

/**
 * Step types by their `type`: a library that registers a step type adds its spec here by
 * declaration merging, so `defineTopology` type-checks it like a built-in:
 *
 * ```ts
 * declare module '../topology/schema.js' { interface StepTypes { positions: PositionsStep } }
 * ```
 */
export interface StepTypes {
  filter: FilterStep;
  derive: DeriveStep;
  map: MapStep;
  asofJoin: AsofJoinStep;
  intervalJoin: IntervalJoinStep;
  union: UnionStep;
  enrich: EnrichStep;
  window: WindowStep;
  process: ProcessStep;
  alert: AlertStep;
  sink: SinkStep;
}
export type StepSpec = StepTypes[keyof StepTypes];

/** A parameter tree: nested mappings of plain values. */
export interface ParameterTree {
  [name: string]: string | number | boolean | null | unknown[] | ParameterTree;
}

/** A topology, as written in YAML or passed to {@link defineTopology}. */
export interface TopologySpec {
  /** [a-z0-9-]+ */
  name: string;
  description?: string;
  parameters?: ParameterTree;
  sources: Record<string, SourceSpec>;
  steps: StepSpec[];
  /** User functions defined inline (TS/JS topologies only), besides those of the udf directories. */
  udfs?: UdfDefinition[];
}

/**
 * Types a topology written in TypeScript: the identity function, so the object is checked against
 * the same schema as YAML. Make it the module's default export and load it with `loadTopology`.
 *
 * @example
 * export default defineTopology({
 *   name: 'big-trades',
 *   sources: { trades: { stream: 'trade' } },
 *   steps: [
 *     { id: 'big', type: 'filter', input: 'trades', where: 'qty * price >= 1e6' },
 *     { id: 'out', type: 'sink', input: 'big' },
 *   ],
 * });
 */
export function defineTopology(spec: TopologySpec): TopologySpec {
  return spec;
}

/**
 * What a step type's `validate` gets: readers of the step's fields that report problems (with file,
 * line, step and field) and return undefined for a bad value, so validation goes on and every
 * problem is reported at once. Field names are dotted paths inside the step (`window.size`).
 */
export interface ValidateContext {
  readonly stepId: string;
  readonly topology: string;
  readonly params: Params;
  readonly udfs: UdfRegistry;
  /** Ids of the sources and steps (for steps that refer to others beyond their inputs). */
  readonly known: ReadonlySet<string>;
  /** File, line, step and field of a field of this step, for errors a step type raises itself. */
  where(field: string | undefined): ErrorLocation;
  error(field: string | undefined, message: string): void;
  warn(field: string | undefined, message: string): void;
  /** The raw value of a field (after `${params.x}` substitution). */
  get(field: string): unknown;
  string(field: string, opts?: { required?: boolean; pattern?: RegExp; patternText?: string; oneOf?: readonly string[] }): string | undefined;
  number(field: string, opts?: { required?: boolean; min?: number; integer?: boolean }): number | undefined;
  boolean(field: string, opts?: { required?: boolean }): boolean | undefined;
  /** A duration in ms; `signed` allows negative values ("-5s"). */
  duration(field: string, opts?: { required?: boolean; signed?: boolean; positive?: boolean }): number | undefined;
  /** A mapping field; reports a non-mapping. */
  mapping(field: string, opts?: { required?: boolean; nonEmpty?: boolean }): Record<string, unknown> | undefined;
  /** An expression field: parses and compiles it (unknown functions and parameters are errors). */
  expression(field: string, opts?: { required?: boolean; locals?: readonly string[] }): CompiledExpression | undefined;
  /** A message template field. */
  template(field: string, opts?: { required?: boolean; locals?: readonly string[] }): CompiledTemplate | undefined;
  /** A key field: a field name, a list of field names, or an expression. */
  key(field: string, opts?: { required?: boolean }): KeySpec | undefined;
  /** A udf name of the given kind that must exist. */
  udf(field: string, kind: 'aggregate' | 'scalar' | 'process' | 'map', opts?: { required?: boolean }): UdfDefinition | undefined;
  /** Reports fields of the step that the type does not know (typo protection); done automatically when the definition lists `fields`. */
  allowFields(fields: readonly string[]): void;
}

/** A compiled key: the function giving the key string, and the key's fields when it is made of fields. */
export interface KeyFunction {
  (record: any): string;
  /** Field names when the key is a field or list of fields; undefined for an expression key. */
  readonly fields: readonly string[] | undefined;
  /** The key's values back from a key string: `{instrument: 'ACME'}` or `{key: '...'}` for an expression. */
  toFields(key: string): Record<string, string>;
}

/** What a step type's `build` gets besides its inputs. */
export interface StepBuildEnv {
  readonly topology: string;
  readonly stepId: string;
  /** `<topology>/<step id>`: the id of the step's checkpointed operator state. */
  readonly operatorId: string;
  readonly ctx: JobContext;
  readonly reference: ReferenceData;
  readonly params: Params;
  readonly udfs: UdfRegistry;
  /** File, line, step and field of a field of this step (for run-time errors). */
  where(field: string | undefined): ErrorLocation;
  /** Compiles an expression of the step (with `ref` and scalar UDFs guarded). */
  expression(src: Expr, field: string, locals?: readonly string[]): CompiledExpression;
  template(src: string, field: string, locals?: readonly string[]): CompiledTemplate;
  key(spec: KeySpec | undefined, field: string): KeyFunction;
  /** A side output whose records go to the runner's `onLate(stepId, record)`. */
  late<T>(): SideOutput<T>;
  alert(a: Alert): void;
  output(sink: string, record: unknown): void;
  /** Event time between state snapshots (CONTRACTS.md section 5; default 60 s). */
  readonly snapshotIntervalMs: number;
  /**
   * Hands the rows of a snapshot table (snake_case columns of CONTRACTS.md section 5, without
   * `snapshot_time`) as of event time `snapshotTime` to the job's snapshot sink. A step emits its
   * rows for time T once it has applied every record with ts <= T and none after.
   */
  snapshot(table: string, snapshotTime: number, rows: SnapshotRows): void;
  /** Wraps a user function so that a throw becomes a UserFunctionError naming the step and udf. */
  guard<A extends unknown[], R>(fn: (...args: A) => R, udf: string): (...args: A) => R;
}

/** Extra lines `describe` prints under a step (its key, window, aggregate, condition...). */
export type DescribeLines = string[];

/**
 * A step type: how to validate a step of it and how to build its operator. Built-in types and
 * library types (positions, var, flashCrash...) register the same way.
 */
export interface StepTypeDefinition<S extends StepBase = any> {
  /**
   * Fields naming the step's inputs, in the order `build` receives them; each holds a step or
   * source id, or a list of them. Default `['input']`.
   */
  inputFields?: readonly string[];
  /** Fields the step may have besides id, type, description and the input fields; any other field is an error (typo protection). Omit to allow anything. */
  fields?: readonly string[];
  /** A terminal step (alert, sink): the compiler subscribes it; its output need not be used. */
  terminal?: boolean;
  /** Fields naming a sink this step writes (for duplicate-name checks). */
  sinkName?(step: S): string | undefined;
  validate(step: S, vctx: ValidateContext): void;
  build(step: S, inputs: Stream<any>[], benv: StepBuildEnv): Stream<any>;
  /** Summary lines for `describe` (after the header line with the id, type and inputs). */
  describe?(step: S): DescribeLines;
}

const registry = new Map<string, StepTypeDefinition>();

/**
 * Registers a step type so topologies can use `type: <name>`. Throws if the name is taken (pass
 * `replace: true` to override one on purpose, e.g. in a test).
 *
 * @example
 * registerStepType('positions', {
 *   inputFields: ['trades', 'quotes'],
 *   fields: ['limit'],
 *   validate(step, v) { v.number('limit', { min: 0 }); },
 *   build(step, [trades, quotes], env) { return trades.pipe(positions(quotes, { id: env.operatorId, ctx: env.ctx })); },
 * });
 */
export function registerStepType<S extends StepBase>(type: string, def: StepTypeDefinition<S>, opts: { replace?: boolean } = {}): void {
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(type)) throw new TopologyError(`step type '${type}' must be an identifier`);
  if (registry.has(type) && !opts.replace) throw new TopologyError(`step type '${type}' is already registered`);
  registry.set(type, def as StepTypeDefinition);
}

/**
 * The definition of a step type, or undefined.
 *
 * @example getStepType('window')?.terminal; // undefined (false)
 */
export function getStepType(type: string): StepTypeDefinition | undefined {
  return registry.get(type);
}

/**
 * Names of the registered step types, in registration order.
 *
 * @example stepTypeNames(); // ['filter', 'derive', ...]
 */
export function stepTypeNames(): string[] {
  return [...registry.keys()];
}

/**
 * Ids a step's input fields name, in order (a list field contributes each of its items).
 *
 * @example inputsOf({ id: 'j', type: 'asofJoin', left: 'trades', right: 'mids' }, getStepType('asofJoin')!); // ['trades', 'mids']
 */
export function inputsOf(step: Record<string, unknown>, def: StepTypeDefinition): string[] {
  const out: string[] = [];
  for (const f of def.inputFields ?? ['input']) {
    const v = step[f];
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') out.push(x);
  }
  return out;
}
