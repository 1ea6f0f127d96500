import { resolve } from 'node:path';
import { RiskflowError, UsageError } from '../core/errors.js';
import { parse } from './args.js';
import { isDirectory, replayDay, standardTopologies, loadTopologies } from './replay.js';
import { cmdGenDay } from './gen-day.js';
import { cmdRun } from './run.js';
import { cmdProduceDay } from './produce-day.js';

const USAGE = `riskflow: event-time stream processing for trading risk and surveillance

Usage:
  riskflow replay <dayDir> [--topology <file>]... [--out <dir>] [--speed max|<N>x] [--set <param>=<value>]...
                  [--checkpoint-dir <dir>] [--checkpoint-every <duration>] [--fresh] [--no-progress] [--quiet]
                  [--snapshot-every <duration>] [--snapshot-retention <n>|all]
  riskflow sql [--snapshots <dir>] [<query>] [--format table|csv|json] [--export <file.parquet|.csv|.json>]
  riskflow gen-day --date <YYYY-MM-DD> --seed <n> --out <dir> [--instruments <n>] [--traders <n>]
                  [--hours <h>] [--format jsonl|jsonl.gz|arrow] [--incidents all|none] [--quiet]
  riskflow run <topology>... --brokers <host:port,...> [--group <id>] [--checkpoint-dir <dir>] [--bounded]
               [--driver kafkajs|confluent] [--transactions|--no-transactions] [--reference <dayDir>] [--set <p>=<v>]...
               [--topic-prefix <p>] [--checkpoint-every <event time>] [--checkpoint-interval <wall time>] [--batch-size <n>]
               [--max-rate <events/s per task>] [--fetch-wait <dur>] [--session-timeout <dur>] [--outputs] [--kafka-config <file.json>] [--json] [--quiet]
  riskflow produce-day <dayDir> --brokers <host:port,...> [--speed max|<N>x] [--driver kafkajs|confluent]
               [--topic-prefix <p>] [--streams trade,quote,order]
  riskflow validate <topology>...
  riskflow describe <topology> [--set <param>=<value>]...
  riskflow help

Exit status: 0 success, 2 bad usage or invalid input/topology, 1 internal failure.
`;

async function cmdReplay(argv: string[]): Promise<number> {
  const { values, positionals } = parse('replay', argv, {
    topology: { type: 'string', multiple: true },
    out: { type: 'string', default: 'out' },
    speed: { type: 'string', default: 'max' },
    set: { type: 'string', multiple: true },
    'checkpoint-dir': { type: 'string' },
    'checkpoint-every': { type: 'string' },
    fresh: { type: 'boolean', default: false },
    'snapshot-every': { type: 'string', default: '60s' },
    'snapshot-retention': { type: 'string' },
    'no-progress': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new UsageError('replay: give exactly one day directory');
  const dayDir = positionals[0]!;
  if (!(await isDirectory(dayDir))) throw new UsageError(`replay: ${dayDir} is not a directory`);
  const { summary } = await replayDay({
    dayDir,
    topologies: values.topology,
    outDir: values.out,
    speed: values.speed,
    set: values.set,
    checkpointDir: values['checkpoint-dir'],
    checkpointEvery: values['checkpoint-every'],
    fresh: values.fresh,
    snapshotEvery: values['snapshot-every'],
    snapshotRetention: values['snapshot-retention'],
    progress: !values['no-progress'] && !values.quiet,
    printDetection: !values.quiet,
  });
  if (!values.quiet) {
    const out = process.stdout;
    out.write(
      `replayed ${summary.events.total.toLocaleString('en-US')} events (${summary.eventTime.first} .. ${summary.eventTime.last}) ` +
        `in ${(summary.wallMs / 1000).toFixed(2)} s, ${summary.eventsPerSecond.toLocaleString('en-US')} events/s\n`,
    );
    out.write(`topologies: ${summary.topologies.map((t) => t.name).join(', ')}\n`);
    out.write(`alerts: ${summary.alerts.total}   dead letters: ${summary.deadLetters}   late: ${Object.values(summary.late).reduce((a, b) => a + b, 0)}\n`);
    const rows = Object.entries(summary.alerts.byType).sort((a, b) => b[1] - a[1]);
    if (rows.length) {
      const w = Math.max(...rows.map(([t]) => t.length), 4);
      out.write(`  ${'type'.padEnd(w)}  count\n`);
      for (const [t, n] of rows) out.write(`  ${t.padEnd(w)}  ${String(n).padStart(5)}\n`);
    }
    out.write(`written to ${resolve(values.out)}: alerts.jsonl, dead-letters.jsonl, late.jsonl, snapshots/, summary.json\n`);
  }
  return 0;
}

async function cmdValidate(argv: string[]): Promise<number> {
  const { positionals } = parse('validate', argv, {});
  const files = positionals.length ? positionals : await standardTopologies();
  const topologies = await loadTopologies(files);
  for (const t of topologies) {
    process.stdout.write(`ok  ${t.file}  (${t.name}: ${t.spec.steps.length} steps)\n`);
    for (const w of t.warnings ?? []) process.stdout.write(`    warning: ${w}\n`);
  }
  return 0;
}

async function cmdDescribe(argv: string[]): Promise<number> {
  const { values, positionals } = parse('describe', argv, { set: { type: 'string', multiple: true } });
  if (positionals.length !== 1) throw new UsageError('describe: give exactly one topology file');
  const [t] = await loadTopologies(positionals, values.set ?? []);
  process.stdout.write(`${t!.describe()}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'replay':
      return cmdReplay(rest);
    case 'validate':
      return cmdValidate(rest);
    case 'describe':
      return cmdDescribe(rest);
    case 'gen-day':
      return cmdGenDay(rest);
    case 'run':
      return cmdRun(rest);
    case 'produce-day':
      return cmdProduceDay(rest);
    case 'sql':
      // Loaded on demand: replay does not load DuckDB, sql does not load the engine.
      return (await import('./sql.js')).cmdSql(rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    case undefined:
      process.stderr.write(USAGE);
      return 2;
    default:
      throw new UsageError(`unknown command '${cmd}'\n\n${USAGE}`);
  }
}

/** Prints an error the way the CLI contract wants it and returns the exit status. */
export function reportError(err: unknown): number {
  if (err instanceof RiskflowError) {
    const list = (err as RiskflowError & { errors?: RiskflowError[] }).errors;
    if (Array.isArray(list) && list.length > 1) {
      for (const e of list) process.stderr.write(`riskflow: error: ${e instanceof RiskflowError ? e.describe() : String(e)}\n`);
    } else {
      process.stderr.write(`riskflow: error: ${err.describe()}\n`);
    }
    if (err.exitCode === 1 && err.cause) process.stderr.write(`  caused by: ${String((err.cause as Error).stack ?? err.cause)}\n`);
    return err.exitCode;
  }
  process.stderr.write(`riskflow: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

