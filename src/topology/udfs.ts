import { readdir } from 'node:fs/promises';
import { join, resolve, relative, isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RiskflowError, TopologyError, UserFunctionError } from '../core/errors.js';
import type { AggregateFunction } from '../windows/aggregate.js';
import type { KeyedProcessFunction, ProcessContext } from '../operators/keyed-process.js';
import { packageRootDir, RUNNING_FROM_SOURCE } from './util.js';

// Symbol.for, not a module-local symbol: the same UDF module may be loaded once from src/ and
// once from dist/, and both copies must be recognised.
const UDF_TAG = Symbol.for('riskflow.udf');

/** An aggregate UDF: `factory(...args)` gets one argument per argument of the call in the topology. */
export interface AggregateUdf {
  readonly kind: 'aggregate';
  readonly name: string;
  readonly factory: (...args: any[]) => AggregateFunction<any, any, unknown>;
}
/** A scalar UDF, callable in any expression. */
export interface ScalarUdf {
  readonly kind: 'scalar';
  readonly name: string;
  readonly fn: (...args: any[]) => unknown;
}
/** A process UDF: `factory(params)` returns the keyed process function of one step. */
export interface ProcessUdf {
  readonly kind: 'process';
  readonly name: string;
  readonly factory: (params: Record<string, any>) => KeyedProcessFunction<any, any>;
}
/** A map UDF: `fn(record, params)` returns the output record, or null/undefined to drop it. */
export interface MapUdf {
  readonly kind: 'map';
  readonly name: string;
  readonly fn: (record: any, params: Record<string, any>) => unknown;
}
export type UdfDefinition = AggregateUdf | ScalarUdf | ProcessUdf | MapUdf;
export type UdfKind = UdfDefinition['kind'];

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function tag<T extends UdfDefinition>(def: T): T {
  if (!NAME.test(def.name)) throw new TopologyError(`udf name '${def.name}' must be an identifier ([A-Za-z_][A-Za-z0-9_]*)`);
  Object.defineProperty(def, UDF_TAG, { value: true });
  return Object.freeze(def);
}

/**
 * Declares an aggregate UDF for window steps (`aggregate: { e: "ewma(mid, 30s)" }`). The factory
 * receives one value per call argument: an argument that depends on the record is passed as an
 * extractor `(record) => unknown`; a constant one (a literal or a parameter) as its value. The
 * accumulator must be structured-cloneable (plain objects, arrays, numbers) so it checkpoints.
 *
 * @example
 * export const range = defineAggregate('range', (f: (r: any) => number) => ({
 *   createAccumulator: () => ({ lo: Infinity, hi: -Infinity }),
 *   add: (a, r) => ({ lo: Math.min(a.lo, f(r)), hi: Math.max(a.hi, f(r)) }),
 *   getResult: (a) => a.hi - a.lo,
 *   merge: (a, b) => ({ lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) }),
 * }));
 */
export function defineAggregate(name: string, factory: (...args: any[]) => AggregateFunction<any, any, unknown>): AggregateUdf {
  return tag({ kind: 'aggregate', name, factory });
}

/**
 * Declares a scalar function usable in every expression of every topology (`where: "bps(ask, bid) > 20"`).
 * It should be pure: the compiler calls it once per record and never folds it.
 *
 * @example export const bps = defineScalar('bps', (a: number, b: number) => ((a - b) / b) * 1e4);
 */
export function defineScalar(name: string, fn: (...args: any[]) => unknown): ScalarUdf {
  return tag({ kind: 'scalar', name, fn });
}

/**
 * Declares a keyed process function for `type: process` steps. `factory(params)` runs once per
 * build with the step's `params` (with `${params.x}` references resolved); keep per-key state in
 * `ctx.value()` / `ctx.map()` so it is checkpointed, not in closures.
 *
 * @example
 * export const echo = defineProcess('echo', () => ({ processElement: (v, _ctx, out) => out(v) }));
 */
export function defineProcess<P extends object = Record<string, any>>(name: string, factory: (params: P) => KeyedProcessFunction<any, any>): ProcessUdf {
  return tag({ kind: 'process', name, factory: factory as ProcessUdf['factory'] });
}

/**
 * Declares a record-to-record function for `type: map` steps; returning null or undefined drops
 * the record. The output must keep an event time in `ts`.
 *
 * @example export const tagged = defineMap('tagged', (r, p) => ({ ...r, desk: p.desk }));
 */
export function defineMap<P extends object = Record<string, any>>(name: string, fn: (record: any, params: P) => unknown): MapUdf {
  return tag({ kind: 'map', name, fn: fn as MapUdf['fn'] });
}

/**
 * True for a value made by one of the define* helpers (how loadUdfs recognises exports).
 *
 * @example isUdfDefinition(defineScalar('one', () => 1)) === true
 */
export function isUdfDefinition(v: unknown): v is UdfDefinition {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[UDF_TAG] === true;
}

/**
 * The user functions a topology may name, by kind. Names are unique within a kind; where each came
 * from is kept for error messages.
 *
 * @example
 * const udfs = UdfRegistry.of([bps, ewma]);
 * udfs.scalars.get('bps')?.fn(101, 100); // 100
 */
export class UdfRegistry {
  readonly aggregates = new Map<string, AggregateUdf>();
  readonly scalars = new Map<string, ScalarUdf>();
  readonly processes = new Map<string, ProcessUdf>();
  readonly maps = new Map<string, MapUdf>();
  private readonly origins = new Map<string, string>();

  static of(defs: Iterable<UdfDefinition>, origin = 'inline'): UdfRegistry {
    const r = new UdfRegistry();
    for (const d of defs) r.add(d, origin);
    return r;
  }

  private table(kind: UdfKind): Map<string, UdfDefinition> {
    switch (kind) {
      case 'aggregate':
        return this.aggregates;
      case 'scalar':
        return this.scalars;
      case 'process':
        return this.processes;
      case 'map':
        return this.maps;
    }
  }

  add(def: UdfDefinition, origin = 'inline'): void {
    const t = this.table(def.kind);
    const prev = t.get(def.name);
    if (prev === def) return;
    if (prev) {
      throw new TopologyError(
        `two ${def.kind} udfs are named '${def.name}' (${this.origins.get(`${def.kind}:${def.name}`)} and ${origin})`,
      );
    }
    t.set(def.name, def);
    this.origins.set(`${def.kind}:${def.name}`, origin);
  }

  /** A new registry with this one's functions plus `other`'s. */
  merged(other: UdfRegistry | undefined): UdfRegistry {
    const r = new UdfRegistry();
    for (const src of other ? [this, other] : [this]) {
      for (const kind of ['aggregate', 'scalar', 'process', 'map'] as const) {
        for (const d of src.table(kind).values()) r.add(d, src.origins.get(`${kind}:${d.name}`));
      }
    }
    return r;
  }

  get(kind: UdfKind, name: string): UdfDefinition | undefined {
    return this.table(kind).get(name);
  }

  names(kind: UdfKind): string[] {
    return [...this.table(kind).keys()];
  }

  /** Scalar functions as the expression compiler takes them. */
  scalarFunctions(): Map<string, (...args: any[]) => unknown> {
    return new Map([...this.scalars].map(([k, v]) => [k, v.fn]));
  }

  get size(): number {
    return this.aggregates.size + this.scalars.size + this.processes.size + this.maps.size;
  }
}

/**
 * The repo's udfs/ directory as this runtime can import it: the TypeScript sources when running
 * from sources (vitest), dist/udfs when running compiled.
 *
 * @example await loadUdfs([defaultUdfDir(), './my-udfs'])
 */
export function defaultUdfDir(): string {
  const root = packageRootDir();
  return RUNNING_FROM_SOURCE ? join(root, 'udfs') : join(root, 'dist', 'udfs');
}

function isModuleFile(name: string): boolean {
  if (/\.(d|test|spec)\.[cm]?[jt]s$/.test(name)) return false;
  return /\.(m?js|ts|mts)$/.test(name);
}

/**
 * Imports a module of the package that may be written in TypeScript: directly when the runtime
 * can (vitest, a TS loader), else its compiled twin `dist/<same relative path>.js` under the
 * package root. `what` names the file in errors.
 *
 * @example const mod = await importModule('topologies/market.ts', 'topology');
 */
export async function importModule(file: string, what: string): Promise<Record<string, unknown>> {
  const abs = resolve(file);
  if (!/\.[cm]?ts$/.test(abs)) return (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  let first: unknown;
  try {
    return (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    // Only the "cannot load .ts" failure falls back to dist/; a real error in the module must surface.
    const code = (e as { code?: string }).code;
    if (code !== 'ERR_UNKNOWN_FILE_EXTENSION' && code !== 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING') throw e;
    first = e;
  }
  const root = packageRootDir();
  const rel = relative(root, abs);
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new TopologyError(
      `the ${what} is TypeScript outside the riskflow package and this runtime cannot import .ts files: compile it to .js first`,
      { file, cause: first },
    );
  }
  const compiled = join(root, 'dist', rel.replace(/\.([cm]?)ts$/, '.$1js'));
  try {
    return (await import(pathToFileURL(compiled).href)) as Record<string, unknown>;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(compiled)) {
      throw new TopologyError(`this runtime cannot import .ts files and the ${what}'s compiled ${compiled} does not exist: run 'npm run build'`, {
        file,
        cause: e,
      });
    }
    throw e;
  }
}

const cache = new Map<string, Promise<UdfRegistry>>();

/**
 * Imports every module in the given directories (default: the repo's udfs/) and collects the
 * exports made with defineAggregate / defineScalar / defineProcess / defineMap. A directory that
 * does not exist is skipped; two functions of one kind with the same name are an error. Results are
 * cached per directory list (ES modules load once anyway).
 *
 * @example const udfs = await loadUdfs(['./my-udfs']); udfs.names('scalar'); // ['bps', ...]
 */
export function loadUdfs(dirs: readonly string[] = [defaultUdfDir()]): Promise<UdfRegistry> {
  const key = dirs.map((d) => resolve(d)).join('\u0000');
  let p = cache.get(key);
  if (!p) {
    p = loadUncached(dirs);
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

async function loadUncached(dirs: readonly string[]): Promise<UdfRegistry> {
  const reg = new UdfRegistry();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await readdir(dir)).filter(isModuleFile).sort();
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') continue;
      throw new TopologyError(`cannot read the udf directory ${dir}: ${(e as Error).message}`, { cause: e });
    }
    // Prefer .js over a .ts twin in the same directory (a compiled tree next to sources).
    const stems = new Set(names.filter((n) => /\.m?js$/.test(n)).map((n) => n.replace(/\.m?js$/, '')));
    for (const n of names) {
      if (/\.m?ts$/.test(n) && stems.has(n.replace(/\.m?ts$/, ''))) continue;
      const file = join(dir, n);
      let mod: Record<string, unknown>;
      try {
        mod = await importModule(file, 'udf module');
      } catch (e) {
        if (e instanceof RiskflowError) throw e;
        throw new TopologyError(`cannot load udf module ${file}: ${(e as Error).message}`, { file, cause: e });
      }
      for (const v of Object.values(mod)) if (isUdfDefinition(v)) reg.add(v, file);
    }
  }
  return reg;
}

function userError(kind: string, udf: string, step: string, method: string, cause: unknown): Error {
  if (cause instanceof RiskflowError) return cause;
  const msg = (cause as Error)?.message ?? String(cause);
  return new UserFunctionError(`${kind} udf '${udf}' threw in ${method}: ${msg}`, { step, cause });
}

/**
 * Wraps a keyed process function so that a throw becomes a UserFunctionError naming the step and udf.
 *
 * @example keyedProcess({ key, fn: guardProcess(udf.factory(params), 'positionCross', 'crossings') })
 */
export function guardProcess<T, O>(fn: KeyedProcessFunction<T, O>, udf: string, step: string): KeyedProcessFunction<T, O> {
  const out: KeyedProcessFunction<T, O> = {
    processElement(v: T, ctx: ProcessContext, emit: (o: O) => void): void {
      try {
        fn.processElement(v, ctx, emit);
      } catch (e) {
        throw userError('process', udf, step, 'processElement', e);
      }
    },
  };
  if (fn.onTimer) {
    const onTimer = fn.onTimer.bind(fn);
    out.onTimer = (ts: number, ctx: ProcessContext, emit: (o: O) => void): void => {
      try {
        onTimer(ts, ctx, emit);
      } catch (e) {
        throw userError('process', udf, step, 'onTimer', e);
      }
    };
  }
  return out;
}

/**
 * Wraps an aggregate function so that a throw becomes a UserFunctionError naming the step and udf.
 *
 * @example const safe = guardAggregate(ewma.factory(mid, '30s'), 'ewma', 'swings');
 */
export function guardAggregate<I, A, O>(fn: AggregateFunction<I, A, O>, udf: string, step: string): AggregateFunction<I, A, O> {
  return {
    createAccumulator(): A {
      try {
        return fn.createAccumulator();
      } catch (e) {
        throw userError('aggregate', udf, step, 'createAccumulator', e);
      }
    },
    add(acc: A, v: I): A {
      try {
        return fn.add(acc, v);
      } catch (e) {
        throw userError('aggregate', udf, step, 'add', e);
      }
    },
    getResult(acc: A): O {
      try {
        return fn.getResult(acc);
      } catch (e) {
        throw userError('aggregate', udf, step, 'getResult', e);
      }
    },
    merge(a: A, b: A): A {
      try {
        return fn.merge(a, b);
      } catch (e) {
        throw userError('aggregate', udf, step, 'merge', e);
      }
    },
  };
}

/**
 * Wraps a map function so that a throw becomes a UserFunctionError naming the step and udf.
 *
 * @example const fn = guardMap(udf.fn, 'tag', 'tagged'); fn(record, params);
 */
export function guardMap(fn: MapUdf['fn'], udf: string, step: string): MapUdf['fn'] {
  return (r, p) => {
    try {
      return fn(r, p);
    } catch (e) {
      throw userError('map', udf, step, 'map', e);
    }
  };
}
