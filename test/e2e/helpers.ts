import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DEMO_DAY = join(ROOT, 'fixtures/demo-day');
export const MALFORMED_DAY = join(ROOT, 'fixtures/malformed-day');
export const MARKET_WATCH = join(ROOT, 'topologies/examples/market-watch.yaml');
const BIN = join(ROOT, 'dist/src/cli/bin.cjs');

export async function tempDir(prefix = 'rf-e2e-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A writable copy of a fixture day, to break on purpose. */
export async function copyDay(src: string): Promise<string> {
  const dir = join(await tempDir('rf-day-'), 'day');
  await cp(src, dir, { recursive: true });
  return dir;
}

/** Runs the built `riskflow` CLI (npm test builds first) as a user would. */
export function riskflow(args: string[], opts: { cwd?: string } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export async function readJsonl<T = Record<string, unknown>>(file: string): Promise<T[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

/** Alerts as text without `emittedAt`, the only field allowed to differ between replays. */
export async function alertsWithoutEmittedAt(file: string): Promise<string> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.replace(/,"emittedAt":\d+(\.\d+)?\}$/, '}'))
    .join('\n');
}
