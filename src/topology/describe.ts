import { parseDuration } from '../core/time.js';
import type { LoadedTopology } from './compile.js';
import { flattenParams } from './params.js';
import { getStepType, inputsOf } from './schema.js';
import { formatDuration } from './util.js';

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * The topology as a readable text graph: its sources (stream, watermark settings), each step in
 * topological order with its type, inputs and a summary (key, window, aggregates, condition,
 * alert), and the parameters in effect, marking those set by `--set` with their default.
 *
 * @example
 * console.log(describeTopology(await loadTopology('topologies/examples/market-watch.yaml')));
 */
export function describeTopology(t: LoadedTopology): string {
  const out: string[] = [];
  out.push(`topology ${t.name}${t.resolved.description ? ` - ${t.resolved.description}` : ''}`);
  out.push(`  file: ${t.file}`);
  out.push('');
  out.push('sources');
  const sw = Math.max(...t.sources.map((s) => s.name.length));
  for (const s of t.sources) {
    out.push(
      `  ${s.name.padEnd(sw)}  stream ${s.stream.padEnd(5)}  out-of-orderness ${formatDuration(s.outOfOrdernessMs)}  idle timeout ${formatDuration(s.idleTimeoutMs)}`,
    );
  }
  out.push('');
  out.push('steps (in topological order)');
  const byId = new Map(t.resolved.steps.map((s) => [s.id, s]));
  const iw = Math.max(...t.order.map((id) => id.length));
  const tw = Math.max(...t.order.map((id) => byId.get(id)!.type.length));
  for (const id of t.order) {
    const step = byId.get(id)!;
    const def = getStepType(step.type)!;
    const inputs = inputsOf(step as unknown as Record<string, unknown>, def);
    const fields = def.inputFields ?? ['input'];
    const from = fields.length > 1 && fields.every((f) => typeof (step as unknown as Record<string, unknown>)[f] === 'string') ? fields.map((f, i) => `${f} ${inputs[i]}`).join(', ') : inputs.join(', ');
    out.push(`  ${id.padEnd(iw)}  ${step.type.padEnd(tw)}  <- ${from}`);
    const pad = ' '.repeat(iw + tw + 6);
    if (step.description) out.push(`${pad}# ${step.description}`);
    for (const line of describeStep(step as unknown as Record<string, unknown>, def)) out.push(`${pad}${line}`);
  }
  out.push('');
  const leaves = flattenParams(t.params);
  out.push('parameters' + (t.overrides.size ? ' (* = set by --set)' : ''));
  if (leaves.length === 0) out.push('  (none)');
  const pw = Math.max(0, ...leaves.map(([p]) => p.length));
  for (const [path, value] of leaves) {
    const over = t.overrides.has(path);
    out.push(`${over ? '* ' : '  '}${path.padEnd(pw)}  = ${show(value)}${over ? `   (default ${show(t.overrides.get(path))})` : ''}`);
  }
  return out.join('\n');
}

function describeStep(step: Record<string, unknown>, def: ReturnType<typeof getStepType> & object): string[] {
  if (def.describe) return def.describe(step);
  // A library step type without its own describe: show its own fields plainly.
  const skip = new Set(['id', 'type', 'description', ...(def.inputFields ?? ['input'])]);
  return Object.entries(step)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}: ${typeof v === 'string' && /^\d/.test(v) && isDuration(v) ? formatDuration(parseDuration(v)) : show(v)}`);
}

function isDuration(v: string): boolean {
  try {
    parseDuration(v);
    return true;
  } catch {
    return false;
  }
}
