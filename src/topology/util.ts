import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TopologyError } from '../core/errors.js';
import { parseDuration } from '../core/time.js';

function distance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = new Array<number>(n + 1);
  let cur = new Array<number>(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[n]!;
}

/**
 * " (did you mean 'x'?)" when one of `known` is a close spelling of `name`, else "". Typos in
 * topologies are the commonest mistake, and naming the intended word saves a round trip.
 */
export function didYouMean(name: string, known: Iterable<string>, show: (k: string) => string = (k) => k): string {
  let best: string | undefined;
  let bestD = Infinity;
  const lower = name.toLowerCase();
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const limit = Math.max(1, Math.floor(name.length * 0.4));
  return best !== undefined && bestD <= limit ? ` (did you mean '${show(best)}'?)` : '';
}

/** A value's type as users read it in errors: "a number", "a list", "a mapping". */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `a string ("${v}")`;
  return `a ${typeof v} (${String(v)})`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

let root: string | undefined;

/** The riskflow package root (the directory whose package.json is named "riskflow"). */
export function packageRootDir(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'riskflow') return (root = dir);
      } catch {
        // not ours: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the riskflow package root');
    dir = up;
  }
}

/**
 * True when this module runs from TypeScript sources (vitest, a TS loader), so `.ts` modules can be
 * imported directly; false when it runs compiled from dist/.
 */
export const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

const UNITS: Array<[string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** Milliseconds as the shortest duration text parseDuration reads back: 90000 -> "1m30s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return '0s';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  let rest = ms;
  let out = '';
  for (const [u, n] of UNITS) {
    if (rest >= n) {
      const q = Math.floor(rest / n);
      out += `${q}${u}`;
      rest -= q * n;
    }
  }
  if (rest > 0) out += `${Number(rest.toFixed(3))}ms`;
  return out;
}

/**
 * A signed duration in ms: what parseDuration reads, plus a leading '-' (interval join bounds).
 *
 * @example parseSignedDuration('-5s', 'between') === -5000
 */
export function parseSignedDuration(v: unknown, field: string): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TopologyError(`invalid duration ${v}`, { field });
    return v;
  }
  if (typeof v !== 'string') throw new TopologyError(`expected a duration, got ${typeName(v)}`, { field });
  const t = v.trim();
  return t.startsWith('-') ? -parseDuration(t.slice(1).trim(), field) : parseDuration(t.replace(/^\+/, ''), field);
}
