import type { FunctionNode, MathNode } from 'mathjs';
import { TopologyError } from '../../core/errors.js';
import type { Timestamped } from '../../core/element.js';
import { parseDuration } from '../../core/time.js';
import { mapRecords } from '../../operators/map-records.js';
import { windowAggregate, type WindowResult } from '../../operators/window-aggregate.js';
import type { AggregateFunction } from '../../windows/aggregate.js';
import * as agg from '../../windows/aggregates.js';
import { sliding, session, tumbling, type WindowAssigner } from '../../windows/assigners.js';
import { compileNode, parseExpressionSource, type CompiledExpression, type ExpressionOptions } from '../expressions.js';
import type { StepTypeDefinition, WindowSpec, WindowStep } from '../schema.js';
import { guardAggregate, type UdfRegistry } from '../udfs.js';
import { didYouMean, formatDuration, isPlainObject, parseSignedDuration } from '../util.js';
import { FIELD_NAME, keyText } from './util.js';

type Rec = Timestamped & Record<string, unknown>;
type Extract = (r: Rec) => number;
type AnyAgg = AggregateFunction<Rec, any, unknown>;

/**
 * Built-in aggregate functions of window steps (over src/windows/aggregates.ts): arity and
 * constructor from extractors.
 *
 * @example BUILTIN_AGGREGATES.vwap.make((r) => r.price, (r) => r.qty)
 */
export const BUILTIN_AGGREGATES: Readonly<Record<string, { arity: number; make: (...f: Extract[]) => AnyAgg }>> = {
  count: { arity: 0, make: () => agg.count() },
  sum: { arity: 1, make: (f) => agg.sum(f!) },
  min: { arity: 1, make: (f) => agg.min(f!) },
  max: { arity: 1, make: (f) => agg.max(f!) },
  avg: { arity: 1, make: (f) => agg.avg(f!) },
  first: { arity: 1, make: (f) => agg.first(f!) },
  last: { arity: 1, make: (f) => agg.last(f!) },
  variance: { arity: 1, make: (f) => agg.variance(f!) },
  stddev: { arity: 1, make: (f) => agg.stddev(f!) },
  vwap: { arity: 2, make: (p, q) => agg.vwap(p!, q!) },
};

/** Output fields a window step always writes; aggregates may not take these names. */
const RESERVED = ['windowStart', 'windowEnd', 'ts', 'firing', 'key'];

/**
 * Compiles one aggregate call (`max(mid)`, `vwap(price, qty)`, `ewma(mid, 30s)`) into an
 * AggregateFunction over records. Arguments are expressions; an aggregate UDF receives constant
 * arguments as values and the others as extractors. Throws a TopologyError naming `where`.
 *
 * @example compileAggregateCall('vwap(price, qty)', udfs, { params }, 'volume').fn
 */
export function compileAggregateCall(src: string, udfs: UdfRegistry, opts: ExpressionOptions, step: string): { fn: AnyAgg; name: string } {
  const fail = (msg: string): never => {
    throw new TopologyError(`aggregate "${src}": ${msg}`, { ...opts.where });
  };
  if (typeof src !== 'string' || src.trim() === '') fail('must be an aggregate call such as max(mid) or count()');
  let node = parseExpressionSource(src, opts.where) as MathNode & Record<string, any>;
  while (node.type === 'ParenthesisNode') node = node.content;
  if (node.type !== 'FunctionNode' || node.fn.type !== 'SymbolNode') {
    fail('must be a single aggregate call such as max(mid), count() or vwap(price, qty); compute on the results in a derive step');
  }
  const call = node as unknown as FunctionNode & { fn: { name: string } };
  const name = call.fn.name;
  const args = call.args.map((a): CompiledExpression => compileNode(a, a.toString(), opts));
  const builtin = BUILTIN_AGGREGATES[name];
  if (builtin) {
    if (args.length !== builtin.arity) {
      fail(`${name}() takes ${builtin.arity} argument${builtin.arity === 1 ? '' : 's'}, got ${args.length}`);
    }
    return { fn: builtin.make(...(args as unknown as Extract[])), name };
  }
  const udf = udfs.aggregates.get(name);
  if (!udf) {
    const known = [...Object.keys(BUILTIN_AGGREGATES), ...udfs.names('aggregate')];
    return fail(`unknown aggregate function '${name}'${didYouMean(name, known)} (aggregates: ${known.join(', ')})`);
  }
  const values = args.map((a) => (a.isConstant ? a({}) : a));
  let fn: AnyAgg;
  try {
    fn = udf.factory(...values) as AnyAgg;
  } catch (e) {
    return fail(`aggregate udf '${name}' rejected its arguments: ${(e as Error).message}`);
  }
  if (!fn || typeof fn.add !== 'function' || typeof fn.createAccumulator !== 'function' || typeof fn.getResult !== 'function' || typeof fn.merge !== 'function') {
    fail(`aggregate udf '${name}' must return { createAccumulator, add, getResult, merge }`);
  }
  return { fn: guardAggregate(fn, name, step), name };
}

function assignerOf(w: WindowSpec): WindowAssigner {
  switch (w.type) {
    case 'tumbling':
      return tumbling(w.size, w.offset === undefined ? undefined : parseSignedDuration(w.offset, 'window.offset'));
    case 'sliding':
      return sliding(w.size, w.slide, w.offset === undefined ? undefined : parseSignedDuration(w.offset, 'window.offset'));
    case 'session':
      return session(w.gap);
  }
}

const WINDOW_FIELDS: Record<string, string[]> = {
  tumbling: ['type', 'size', 'offset'],
  sliding: ['type', 'size', 'slide', 'offset'],
  session: ['type', 'gap'],
};

/** Describes a window spec: "sliding 1m every 5s". */
export function windowText(w: WindowSpec): string {
  const d = (x: string | number) => formatDuration(parseDuration(x));
  switch (w.type) {
    case 'tumbling':
      return `tumbling ${d(w.size)}${w.offset !== undefined ? ` offset ${String(w.offset)}` : ''}`;
    case 'sliding':
      return `sliding ${d(w.size)} every ${d(w.slide)}${w.offset !== undefined ? ` offset ${String(w.offset)}` : ''}`;
    case 'session':
      return `session gap ${d(w.gap)}`;
  }
}

/**
 * `window`: keyed event-time windows with named aggregates. Output records are flat: the key fields
 * (or `key` for an expression key), windowStart, windowEnd, ts (= windowEnd - 1), firing
 * (early | final | late) and one field per aggregate.
 */
export const windowStep: StepTypeDefinition<WindowStep> = {
  fields: ['keyBy', 'window', 'allowedLateness', 'trigger', 'aggregate'],
  validate(step, v) {
    v.key('keyBy');
    const w = v.mapping('window', { required: true });
    if (w) {
      const type = v.string('window.type', { required: true, oneOf: ['tumbling', 'sliding', 'session'] });
      if (type) {
        for (const k of Object.keys(w)) {
          if (!WINDOW_FIELDS[type]!.includes(k)) v.error(`window.${k}`, `unknown field '${k}' for a ${type} window${didYouMean(k, WINDOW_FIELDS[type]!)} (fields: ${WINDOW_FIELDS[type]!.join(', ')})`);
        }
        const ok =
          type === 'session'
            ? v.duration('window.gap', { required: true, positive: true }) !== undefined
            : [
                v.duration('window.size', { required: true, positive: true }),
                type === 'sliding' ? v.duration('window.slide', { required: true, positive: true }) : 0,
                w.offset === undefined ? 0 : v.duration('window.offset', { signed: true }),
              ].every((x) => x !== undefined);
        if (ok) {
          try {
            assignerOf(w as unknown as WindowSpec);
          } catch (e) {
            v.error(`window.${(e as TopologyError).field ?? 'type'}`, (e as Error).message);
          }
        }
      }
    }
    v.duration('allowedLateness');
    const trig = v.mapping('trigger');
    if (trig) {
      for (const k of Object.keys(trig)) {
        if (k !== 'earlyEvery' && k !== 'earlyEveryCount') v.error(`trigger.${k}`, `unknown trigger '${k}'${didYouMean(k, ['earlyEvery', 'earlyEveryCount'])} (triggers: earlyEvery, earlyEveryCount)`);
      }
      v.duration('trigger.earlyEvery', { positive: true });
      v.number('trigger.earlyEveryCount', { integer: true, min: 1 });
    }
    const aggs = v.mapping('aggregate', { required: true, nonEmpty: true });
    if (aggs) {
      const keyFields = typeof step.keyBy === 'string' ? [step.keyBy] : Array.isArray(step.keyBy) ? step.keyBy : [];
      for (const [name, src] of Object.entries(aggs)) {
        const field = `aggregate.${name}`;
        if (!FIELD_NAME.test(name)) {
          v.error(field, `aggregate name '${name}' must be an identifier (it becomes an output field)`);
          continue;
        }
        if (RESERVED.includes(name) || keyFields.includes(name)) {
          v.error(field, `aggregate name '${name}' clashes with an output field of the window (${[...keyFields, ...RESERVED].join(', ')})`);
          continue;
        }
        if (typeof src !== 'string') {
          v.error(field, `'${field}' must be an aggregate call such as max(mid), got ${typeof src}`);
          continue;
        }
        // Compiled now to surface every error; build() compiles again with the job's reference data.
        try {
          compileAggregateCall(src, v.udfs, { params: v.params, scalars: v.udfs.scalarFunctions(), where: v.where(field) }, v.stepId);
        } catch (err) {
          if (err instanceof TopologyError) v.error(field, err.message);
          else throw err;
        }
      }
    }
  },
  build(step, [input], env) {
    const key = env.key(step.keyBy, 'keyBy');
    const names = Object.keys(step.aggregate);
    const parts: Record<string, AnyAgg> = {};
    for (const n of names) {
      const opts = { params: env.params, scalars: env.udfs.scalarFunctions(), ref: env.reference, where: env.where(`aggregate.${n}`) };
      parts[n] = compileAggregateCall(step.aggregate[n]!, env.udfs, opts, env.stepId).fn;
    }
    const trigger = step.trigger
      ? {
          earlyEveryMs: step.trigger.earlyEvery === undefined ? undefined : parseDuration(step.trigger.earlyEvery),
          earlyEveryCount: step.trigger.earlyEveryCount,
        }
      : undefined;
    const keyFields = key.fields;
    const single = keyFields !== undefined && keyFields.length === 1 ? keyFields[0]! : undefined;
    const keyed = step.keyBy !== undefined;
    const k = names.length;
    return input!.pipe(
      windowAggregate<Rec, unknown[], Record<string, unknown>>({
        id: env.operatorId,
        ctx: env.ctx,
        key,
        assigner: assignerOf(step.window),
        aggregate: agg.composite(parts) as unknown as AggregateFunction<Rec, unknown[], Record<string, unknown>>,
        allowedLatenessMs: step.allowedLateness === undefined ? 0 : parseDuration(step.allowedLateness),
        trigger,
        late: env.late<Rec>(),
      }),
      mapRecords((w: WindowResult<Record<string, unknown>>) => {
        const o: Record<string, unknown> = single !== undefined ? { [single]: w.key } : keyed ? key.toFields(w.key) : {};
        o.windowStart = w.windowStart;
        o.windowEnd = w.windowEnd;
        o.ts = w.ts;
        o.firing = w.firing;
        const res = w.result;
        for (let i = 0; i < k; i++) o[names[i]!] = res[names[i]!];
        return o;
      }),
    );
  },
  describe(step) {
    const lines = [`key ${keyText(step.keyBy)}, ${isPlainObject(step.window) ? windowText(step.window) : '?'}`];
    const extra: string[] = [];
    if (step.allowedLateness !== undefined) extra.push(`allowed lateness ${formatDuration(parseDuration(step.allowedLateness))}`);
    if (step.trigger?.earlyEvery !== undefined) extra.push(`early every ${formatDuration(parseDuration(step.trigger.earlyEvery))}`);
    if (step.trigger?.earlyEveryCount !== undefined) extra.push(`early every ${step.trigger.earlyEveryCount} records`);
    if (extra.length) lines.push(extra.join(', '));
    lines.push(`aggregate ${Object.entries(step.aggregate).map(([k, e]) => `${k} = ${e}`).join(', ')}`);
    return lines;
  },
};
