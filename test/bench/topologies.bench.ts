import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { genDay, type GenDayOptions } from '../../src/cli/gen-day.js';
import { packageRoot } from '../../src/cli/paths.js';

/**
 * Issue 3's benchmark: the three standard topologies together on a generated day of >= 2 million
 * events (200 instruments, 500 traders, 6.5 hours), read from Arrow and from JSONL: events/s, peak
 * RSS and per-event processing latency (every 64th event timed). Each replay runs in its own
 * process. Each topology alone, and a floor topology that reads every record and drops it
 * (test/bench/floor.yaml: reading and the engine alone), show where the time goes. Generated days
 * are cached under the OS temp dir (BENCH_DAY_DIR to choose).
 */
export interface TopologyBenchRow {
  format: string;
  events: number;
  eventsPerSecond: number;
  maxRssMB: number;
  p50us: number;
  p99us: number;
  alerts: number;
  detected: string;
}

const CHILD = fileURLToPath(new URL('./replay-child.js', import.meta.url));

async function ensureDay(format: 'arrow' | 'jsonl'): Promise<{ dir: string; genMs: number | undefined }> {
  const base = process.env.BENCH_DAY_DIR ?? join(tmpdir(), 'riskflow-bench');
  const dir = join(base, `day-${format}`);
  const opts: GenDayOptions = { date: '2024-03-15', seed: 1, out: dir, instruments: 200, traders: 500, hours: 6.5, format };
  const marker = join(dir, 'generator.json');
  if (existsSync(marker)) {
    const g = JSON.parse(readFileSync(marker, 'utf8')) as { options?: Record<string, unknown> };
    const same = g.options && Object.entries({ seed: 1, instruments: 200, traders: 500, hours: 6.5, format }).every(([k, v]) => g.options![k] === v);
    if (same) return { dir, genMs: undefined };
  }
  const t0 = Date.now();
  await genDay(opts);
  return { dir, genMs: Date.now() - t0 };
}

const TOPOLOGIES = join(packageRoot(), 'topologies');
const FLOOR = join(packageRoot(), 'test', 'bench', 'floor.yaml');

export async function runTopologiesBench(): Promise<TopologyBenchRow[]> {
  const rows: TopologyBenchRow[] = [];
  const runs: Array<{ format: 'arrow' | 'jsonl'; label: string; topology?: string }> = [
    { format: 'arrow', label: 'arrow' },
    { format: 'jsonl', label: 'jsonl' },
    // Each topology alone on the Arrow day: where the time of the three together goes.
    ...['desk-risk', 'market-risk', 'surveillance'].map((t) => ({ format: 'arrow' as const, label: `arrow, ${t} alone`, topology: join(TOPOLOGIES, `${t}.yaml`) })),
    // The floor: every record read and dropped, the time no rule costs (reading + engine).
    ...(['arrow', 'jsonl'] as const).map((format) => ({ format, label: `${format}, reading + engine only`, topology: FLOOR })),
  ];
  for (const { format, label, topology } of runs) {
    const { dir, genMs } = await ensureDay(format);
    if (genMs !== undefined) console.log(`  generated the ${format} day in ${(genMs / 1000).toFixed(1)} s (${dir})`);
    const out = await mkdtemp(join(tmpdir(), 'rf-bench-out-'));
    const args = ['--max-old-space-size=8192', CHILD, dir, out, ...(topology ? [topology] : [])];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    await rm(out, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`replay of the ${format} day (${label}) failed: ${r.stderr}`);
    const line = r.stdout.trim().split('\n').pop()!;
    const j = JSON.parse(line) as {
      events: number;
      eventsPerSecond: number;
      maxRssMB: number;
      latencyUs?: { p50: number; p99: number };
      alerts: number;
      detection?: { labelled: number; detected: number; falseAlerts: number };
    };
    rows.push({
      format: label,
      events: j.events,
      eventsPerSecond: j.eventsPerSecond,
      maxRssMB: j.maxRssMB,
      p50us: j.latencyUs?.p50 ?? Number.NaN,
      p99us: j.latencyUs?.p99 ?? Number.NaN,
      alerts: j.alerts,
      detected: j.detection && topology !== FLOOR ? `${j.detection.detected}/${j.detection.labelled}, ${j.detection.falseAlerts} false` : '-',
    });
  }
  return rows;
}

export function printTopologyRows(rows: TopologyBenchRow[]): void {
  const head = ['input', 'events', 'events/s', 'target', 'peak RSS', 'p50 latency', 'p99 latency', 'alerts', 'incidents detected'];
  const body = rows.map((r) => [
    r.format,
    r.events.toLocaleString('en-US'),
    r.eventsPerSecond.toLocaleString('en-US'),
    r.format === 'arrow' ? '>= 1,000,000' : r.format === 'jsonl' ? '>= 400,000' : '',
    `${r.maxRssMB.toFixed(0)} MB`,
    `${r.p50us.toFixed(1)} us`,
    `${r.p99us.toFixed(1)} us`,
    String(r.alerts),
    r.detected,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const b of body) console.log(line(b));
}
