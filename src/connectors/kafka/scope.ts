/**
 * Which topologies `riskflow run` may split by instrument, and which need a global view.
 *
 * The input topics are co-partitioned by instrument, and partition p of every input topic is a
 * task with its own operator state. That gives a topology exactly the results of a replay only
 * when every piece of its state belongs to one instrument: a per-instrument detector sees all of
 * its instrument's records in replay order within one task. A step whose state spans instruments
 * (per-trader positions and limits, the correlation matrix, a trader's median order size across
 * instruments, alerts merged per trader and instant) would see only a slice of its input in each
 * task: such a topology is **global** and runs in the job's single global task, which reads every
 * partition (see job.ts).
 *
 * The table below says it per step type; a topology is global as soon as one of its steps is.
 * Generic steps depend on their keys: a window, process or join is per instrument only when its
 * key includes the `instrument` field (keyed by instrument, or by instrument and more). A step
 * type not listed here (a library step registered elsewhere) is global: the safe side, since a
 * global task is always exact, only not parallel.
 */
import type { LoadedTopology } from '../../topology/compile.js';

/** `instrument`: its state is keyed by instrument (partitionable); `global`: it needs every instrument. */
export type Scope = 'instrument' | 'global';

type StepLike = Record<string, unknown> & { id?: unknown; type?: unknown };
type Rule = Scope | ((step: StepLike) => { scope: Scope; why: string });

/** True when a key spec (a field name or a list of them) includes the `instrument` field. */
function keyHasInstrument(key: unknown): boolean {
  if (key === 'instrument') return true;
  return Array.isArray(key) && key.includes('instrument');
}

function keyed(field: string): Rule {
  return (step) =>
    keyHasInstrument(step[field])
      ? { scope: 'instrument', why: `keyed by ${JSON.stringify(step[field])}` }
      : { scope: 'global', why: step[field] === undefined ? `no ${field}: one state for every instrument` : `${field} ${JSON.stringify(step[field])} does not include instrument` };
}

/** A join matches per instrument when both keys have `instrument` at the same position. */
function joinRule(step: StepLike): { scope: Scope; why: string } {
  const l = step.leftKey;
  const r = step.rightKey;
  const ls = Array.isArray(l) ? l : [l];
  const rs = Array.isArray(r) ? r : [r];
  const same = ls.some((k, i) => k === 'instrument' && rs[i] === 'instrument');
  return same
    ? { scope: 'instrument', why: 'joined on instrument' }
    : { scope: 'global', why: `joined on ${JSON.stringify(l)} = ${JSON.stringify(r)}, not on instrument` };
}

/**
 * Step type -> scope. Library steps (src/risk, src/surveillance) by what their state is keyed by;
 * generic steps by their keys.
 */
export const STEP_SCOPES: Readonly<Record<string, Rule>> = {
  // Stateless, record at a time (a map UDF is a function of its record).
  filter: 'instrument',
  map: 'instrument',
  union: 'instrument',
  enrich: 'instrument',
  sink: 'instrument',
  // Stateless, unless it rewrites the partitioning field itself.
  derive: (step) =>
    step.fields && typeof step.fields === 'object' && 'instrument' in (step.fields as object)
      ? { scope: 'global', why: 'rewrites the instrument field' }
      : { scope: 'instrument', why: 'record at a time' },
  // `throttle` keeps one timestamp per alert entity.
  alert: (step) => {
    if (step.throttle === undefined) return { scope: 'instrument', why: 'record at a time' };
    const entity = ((step.alert as Record<string, unknown> | undefined)?.entity ?? {}) as Record<string, unknown>;
    return entity.instrument === 'instrument'
      ? { scope: 'instrument', why: 'throttled per entity, whose entity includes the instrument' }
      : { scope: 'global', why: `throttled per entity ${JSON.stringify(Object.keys(entity))}, not per instrument` };
  },
  window: keyed('keyBy'),
  process: keyed('keyBy'),
  asofJoin: joinRule,
  intervalJoin: joinRule,
  // desk-risk: positions per (trader, instrument), but P&L, exposure, VaR and limits per trader
  // across instruments.
  positions: 'global',
  // market-risk: per-instrument monitors (marketWideHalt watches each index instrument on its own).
  marketEvents: 'instrument',
  flashCrash: 'instrument',
  ultrafastExtremeEvent: 'instrument',
  luld: 'instrument',
  marketWideHalt: 'instrument',
  liquidity: 'instrument',
  marketState: 'instrument',
  // The correlation matrix needs every pair of instruments.
  correlation: 'global',
  // surveillance: every detector merges its findings per (trader, instant) across instruments;
  // spoofing's median order size is per trader across instruments; front running looks at every
  // desk-mate; wash trades match owners across traders.
  washTrade: 'global',
  spoofing: 'global',
  layering: 'global',
  markingTheClose: 'global',
  frontRunning: 'global',
};

/**
 * The scope of one step (after `${params.x}` substitution), with the reason.
 *
 * @example stepScope({ id: 'bars', type: 'window', keyBy: 'instrument' }).scope; // 'instrument'
 */
export function stepScope(step: StepLike): { scope: Scope; why: string } {
  const type = String(step.type);
  const rule = Object.hasOwn(STEP_SCOPES, type) ? STEP_SCOPES[type] : undefined;
  if (rule === undefined) return { scope: 'global', why: `step type '${type}' is not known to be per instrument` };
  if (typeof rule === 'function') return rule(step);
  return { scope: rule, why: rule === 'instrument' ? 'per instrument' : 'needs every instrument' };
}

export interface TopologyScope {
  scope: Scope;
  /** For a global topology: the steps that make it so, as `step 'id' (type): reason`. */
  reasons: string[];
}

/**
 * Whether a topology can run in the per-partition tasks (`instrument`) or needs the global task.
 *
 * @example topologyScope(await loadTopology('topologies/desk-risk.yaml')).scope; // 'global'
 */
export function topologyScope(t: Pick<LoadedTopology, 'resolved'>): TopologyScope {
  const reasons: string[] = [];
  for (const step of t.resolved.steps as unknown as StepLike[]) {
    const s = stepScope(step);
    if (s.scope === 'global') reasons.push(`step '${String(step.id)}' (${String(step.type)}): ${s.why}`);
  }
  return { scope: reasons.length ? 'global' : 'instrument', reasons };
}
