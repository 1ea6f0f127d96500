import { Subscription } from 'rxjs';
import { deferredMulticast, Multicast, shareLean } from '../core/multicast.js';
import { SideOutput } from '../core/context.js';
import type { Element, Stream } from '../core/element.js';
import { InternalError, RiskflowError, TopologyError, UserFunctionError } from '../core/errors.js';
import type { BuildEnv, SourceDecl } from '../core/runner.js';
import { parseDuration } from '../core/time.js';
import { describeTopology } from './describe.js';
import { compileExpression, compileTemplate } from './expressions.js';
import { makeKeyFunction } from './keys.js';
import { checkParameterTree, resolveParameters, resolveParamRefs, type Locator, type Params } from './params.js';
import { getStepType, inputsOf, type InputStream, type StepBuildEnv, type StepSpec, type TopologySpec } from './schema.js';
import './steps/index.js';
import { isUdfDefinition, UdfRegistry } from './udfs.js';
import { TopologyValidationError, validateSpec } from './validate.js';
import { isPlainObject } from './util.js';

export type { BuildEnv, SourceDecl } from '../core/runner.js';

/** A source of a compiled topology, with its watermark settings in ms. */
export interface TopologySource extends SourceDecl {
  stream: InputStream;
}

/**
 * A validated, compiled topology: what the runner builds and `describe` prints. `spec` is the
 * topology as written; `resolved` has `${params.x}` references substituted.
 */
export interface LoadedTopology {
  name: string;
  file: string;
  spec: TopologySpec;
  resolved: TopologySpec;
  /** The parameters in effect (defaults with `--set` overrides). */
  params: Params;
  /** Parameters set by `--set`: dotted path -> the default it replaced. */
  overrides: ReadonlyMap<string, unknown>;
  sources: TopologySource[];
  /** Step ids in topological order. */
  order: string[];
  /** Non-fatal findings ("file:line: step 'x': ..."): e.g. a step whose output is never used. */
  warnings: string[];
  udfs: UdfRegistry;
  describe(): string;
  /**
   * Wires the dataflow on the runner's inputs and subscribes every terminal step (alerts, sinks);
   * the inputs are connected last, so data pushed afterwards (or a finite `from([...])` input)
   * flows through a complete graph. An input that is a {@link Multicast} is subscribed to directly:
   * push to it only after build() returns (as the runner does). Returns the subscription
   * (unsubscribe to tear down).
   */
  build(env: BuildEnv): Subscription;
}

/** Options of {@link compileTopology}. */
export interface CompileOptions {
  file?: string | undefined;
  set?: readonly string[] | undefined;
  udfs?: UdfRegistry | undefined;
  locate?: Locator | undefined;
}

const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;

/**
 * Validates and compiles a topology given as an object (what a YAML file or a `defineTopology`
 * module holds): resolves parameters and `--set` overrides, substitutes `${params.x}`, validates
 * every step, and returns a {@link LoadedTopology}. Throws a {@link TopologyValidationError}
 * listing every problem.
 *
 * @example
 * const t = compileTopology(defineTopology({ name: 'x', sources: {...}, steps: [...] }), { set: ['limit=5'] });
 * t.build({ ctx, inputs: { trades: trades$ }, reference, onAlert, onOutput, onLate });
 */
export function compileTopology(spec: unknown, opts: CompileOptions = {}): LoadedTopology {
  const file = opts.file ?? '<inline>';
  const locate = opts.locate;
  const errors: TopologyError[] = [];
  const raw = isPlainObject(spec) ? spec : {};

  errors.push(...checkParameterTree(raw.parameters, file, locate));
  const defaults = isPlainObject(raw.parameters) ? raw.parameters : {};
  const resolvedParams = resolveParameters(defaults, opts.set ?? [], { file, locate });
  errors.push(...resolvedParams.errors);
  const params = resolvedParams.params;

  const stepIdAt = (path: Array<string | number>): string | undefined => {
    if (path[0] !== 'steps' || typeof path[1] !== 'number' || !Array.isArray(raw.steps)) return undefined;
    const s = raw.steps[path[1]] as Record<string, unknown> | undefined;
    return typeof s?.id === 'string' ? s.id : undefined;
  };
  const onRefError = (path: Array<string | number>, message: string): void => {
    errors.push(new TopologyError(message, { file, line: locate?.(path), step: stepIdAt(path), field: path.slice(2).join('.') || undefined }));
  };
  const resolved: Record<string, unknown> = { ...raw };
  if (raw.sources !== undefined) resolved.sources = resolveParamRefs(raw.sources, params, ['sources'], onRefError);
  if (raw.steps !== undefined) resolved.steps = resolveParamRefs(raw.steps, params, ['steps'], onRefError);
  const toValidate = isPlainObject(spec) ? resolved : spec;

  let udfs = opts.udfs ?? new UdfRegistry();
  if (raw.udfs !== undefined) {
    if (!Array.isArray(raw.udfs) || !raw.udfs.every(isUdfDefinition)) {
      errors.push(new TopologyError("'udfs' must be a list of defineAggregate/defineScalar/defineProcess/defineMap values", { file, field: 'udfs' }));
    } else {
      try {
        udfs = udfs.merged(UdfRegistry.of(raw.udfs, `${file} (inline)`));
      } catch (e) {
        errors.push(new TopologyError((e as Error).message, { file, field: 'udfs' }));
      }
    }
  }

  const v = validateSpec(toValidate, { file, locate, params, udfs });
  errors.push(...v.errors);
  if (errors.length) {
    errors.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    throw new TopologyValidationError(errors);
  }

  const rspec = resolved as unknown as TopologySpec;
  const sources: TopologySource[] = Object.entries(rspec.sources).map(([name, s]) => ({
    name,
    stream: s.stream,
    outOfOrdernessMs: s.outOfOrderness === undefined ? 0 : parseDuration(s.outOfOrderness),
    idleTimeoutMs: s.idleTimeout === undefined ? DEFAULT_IDLE_TIMEOUT_MS : parseDuration(s.idleTimeout),
  }));
  const stepsById = new Map(rspec.steps.map((s, i) => [s.id, { step: s, index: i }]));
  const topology: LoadedTopology = {
    name: rspec.name,
    file,
    spec: spec as TopologySpec,
    resolved: rspec,
    params,
    overrides: resolvedParams.overridden,
    sources,
    order: v.order,
    warnings: v.warnings,
    udfs,
    describe: () => describeTopology(topology),
    build: (env) => buildTopology(topology, env, v.consumers, stepsById, locate),
  };
  return topology;
}

function buildTopology(
  t: LoadedTopology,
  env: BuildEnv,
  consumers: Map<string, number>,
  stepsById: Map<string, { step: StepSpec; index: number }>,
  locate: Locator | undefined,
): Subscription {
  const sub = new Subscription();
  const streams = new Map<string, Stream<any>>();
  const connectables: Array<{ connect(): Subscription }> = [];
  for (const s of t.sources) {
    const input = env.inputs[s.name];
    if (!input) throw new InternalError(`topology '${t.name}': the runner gave no input for source '${s.name}'`);
    // A step that reads a source must not miss records because another subscribed first. The
    // runner's inputs are Multicasts it pushes to only once build() has returned: the steps read
    // them directly (one hop less per record). Any other input is multicast here and connected
    // only once the whole graph is subscribed.
    if (input instanceof Multicast) {
      streams.set(s.name, input);
      continue;
    }
    const c = deferredMulticast<Element<unknown>>(input);
    connectables.push(c);
    streams.set(s.name, c.stream);
  }
  const scalars = t.udfs.scalarFunctions();
  const onError =
    env.onError ??
    ((e: unknown) => {
      throw e;
    });
  const terminals: Array<Stream<unknown>> = [];

  for (const id of t.order) {
    const { step, index } = stepsById.get(id)!;
    const def = getStepType(step.type)!;
    const inputs = inputsOf(step as unknown as Record<string, unknown>, def).map((i) => streams.get(i)!);
    const where = (field: string | undefined) => ({
      file: t.file,
      line: locate?.(['steps', index, ...(field ? field.split('.') : [])]),
      step: id,
      field,
    });
    const benv: StepBuildEnv = {
      topology: t.name,
      stepId: id,
      operatorId: `${t.name}/${id}`,
      ctx: env.ctx,
      reference: env.reference,
      params: t.params,
      udfs: t.udfs,
      where,
      expression: (src, field, locals) => compileExpression(src, { params: t.params, scalars, ref: env.reference, where: where(field), locals }),
      template: (src, field, locals) => compileTemplate(src, { params: t.params, scalars, ref: env.reference, where: where(field), locals }),
      key: (spec, field) => makeKeyFunction(spec, (src) => compileExpression(src, { params: t.params, scalars, ref: env.reference, where: where(field) })),
      late: <T>() => {
        const side = new SideOutput<T>(`${t.name}/${id}/late`);
        sub.add(side.stream.subscribe((r) => env.onLate(id, r)));
        return side;
      },
      alert: (a) => env.onAlert(a),
      output: (name, r) => env.onOutput(name, r),
      snapshotIntervalMs: env.snapshotIntervalMs ?? 60_000,
      snapshot: (table, time, rows) => env.onSnapshot?.(table, time, rows),
      guard: <A extends unknown[], R>(fn: (...args: A) => R, udf: string) =>
        (...args: A): R => {
          try {
            return fn(...args);
          } catch (cause) {
            if (cause instanceof RiskflowError) throw cause;
            throw new UserFunctionError(`udf '${udf}' threw: ${(cause as Error)?.message ?? String(cause)}`, { ...where(undefined), cause });
          }
        },
    };
    let out = def.build(step, inputs, benv);
    const readers = (consumers.get(id) ?? 0) + (def.terminal ? 1 : 0);
    if (readers > 1) out = out.pipe(shareLean());
    streams.set(id, out);
    if (def.terminal) terminals.push(out);
  }
  for (const s of terminals) sub.add(s.subscribe({ error: onError }));
  for (const c of connectables) sub.add(c.connect());
  return sub;
}
