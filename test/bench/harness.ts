/**
 * Benchmark helpers: time a function over N events, print a row per case. Benchmarks run the
 * compiled JavaScript (`npm run bench` builds first) on one core, and print figures; they are not
 * pass/fail tests.
 */
export interface BenchRow {
  name: string;
  events: number;
  engineMs: number;
  handMs?: number;
  target?: string;
}

export function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Best of `runs` (after one warm-up) — the usual way to read a micro-benchmark on a shared box. */
export function best(fn: () => void, runs = 3): number {
  fn();
  let b = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) b = Math.min(b, time(fn));
  return b;
}

export function rate(events: number, ms: number): string {
  const perSec = (events / ms) * 1000;
  return perSec >= 1e6 ? `${(perSec / 1e6).toFixed(2)}M/s` : `${(perSec / 1e3).toFixed(0)}k/s`;
}

export function printTable(rows: BenchRow[]): void {
  const head = ['case', 'events', 'engine', 'hand-written', 'overhead', 'target'];
  const body = rows.map((r) => [
    r.name,
    r.events.toLocaleString('en-US'),
    rate(r.events, r.engineMs),
    r.handMs !== undefined ? rate(r.events, r.handMs) : '-',
    r.handMs !== undefined ? `${(r.engineMs / r.handMs).toFixed(2)}x` : '-',
    r.target ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}
