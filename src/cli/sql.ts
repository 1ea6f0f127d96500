import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { UsageError } from '../core/errors.js';
import { OUTPUT_FORMATS, formatResult, type OutputFormat } from '../query/formatter.js';
import { runRepl } from '../query/repl.js';
import { EXPORT_EXTENSIONS, SqlSession } from '../query/session.js';
import { parse } from './args.js';

/**
 * Usage text of `riskflow sql` (for `riskflow help` too).
 *
 * @example process.stdout.write(SQL_USAGE)
 */
export const SQL_USAGE = `riskflow sql [--snapshots <dir>] [<query>] [--format table|csv|json] [--export <file.parquet|.csv|.json>]
             [--timezone <IANA zone>] [--max-rows <n>] [--quiet]

Loads the Arrow snapshots of a replay (default ./out/snapshots) into an in-memory DuckDB, one table
per folder (positions, trader_risk, correlations, market, alerts, ...) plus latest_<table> views,
then runs <query>, exports it with --export, or opens a prompt (statements end with ';', .help).
Timestamps are shown and parsed in --timezone (default UTC). The session reads no other file.
`;

/**
 * `riskflow sql`: SQL over the snapshot tables. With a query, prints its result (or writes it
 * with `--export`); without one, opens the interactive prompt on a terminal or runs the
 * statements piped on stdin. Bad snapshot files are reported on stderr and skipped. Returns the
 * exit status (2 when a piped statement failed; a failing command-line query throws QueryError).
 *
 * @example
 * process.exitCode = await cmdSql(['--snapshots', 'out/snapshots', 'SELECT count(*) FROM positions', '--format', 'csv']);
 */
export async function cmdSql(argv: string[]): Promise<number> {
  const { values, positionals } = parse('sql', argv, {
    snapshots: { type: 'string', default: 'out/snapshots' },
    format: { type: 'string' },
    export: { type: 'string' },
    timezone: { type: 'string', default: 'UTC' },
    'max-rows': { type: 'string' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(SQL_USAGE);
    return 0;
  }
  const format = (values.format ?? 'table') as OutputFormat;
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`sql: --format ${format}: use table, csv or json`);
  let maxRows: number | undefined;
  if (values['max-rows'] !== undefined) {
    maxRows = Number(values['max-rows']);
    if (!Number.isInteger(maxRows) || maxRows < 0) throw new UsageError(`sql: --max-rows ${values['max-rows']}: give a number of rows (0: all)`);
  }
  const query = positionals.join(' ').trim();
  if (values.export !== undefined) {
    if (!query) throw new UsageError('sql: --export needs a query: riskflow sql --export out.parquet "SELECT ..."');
    const ext = /\.[^./]+$/.exec(values.export)?.[0]?.toLowerCase() ?? '';
    if (!EXPORT_EXTENSIONS.includes(ext)) throw new UsageError(`sql: --export ${values.export}: unknown format '${ext}' (use ${EXPORT_EXTENSIONS.join(', ')})`);
  }

  const session = await SqlSession.open({ snapshots: values.snapshots, timezone: values.timezone, exportPath: values.export });
  try {
    for (const e of session.report.errors) process.stderr.write(`riskflow: warning: skipped ${e.file}: ${e.message}\n`);
    if (values.export !== undefined) {
      const r = await session.exportTo(query);
      if (!values.quiet) process.stdout.write(`wrote ${r.rows.toLocaleString('en-US')} rows to ${r.file} (${r.format})\n`);
      return 0;
    }
    if (query.startsWith('.')) {
      // `riskflow sql .tables`: a dot command, as the prompt would run it.
      const failed = await runRepl(session, { input: Readable.from([`${query}\n`]), output: process.stdout, terminal: false, format, maxRows });
      return failed > 0 ? 2 : 0;
    }
    if (query) {
      const results = await session.query(query, { maxRows: format === 'table' ? maxRows ?? 1000 : maxRows || undefined });
      results.forEach((r, i) => {
        if (i > 0 && format === 'table') process.stdout.write('\n');
        process.stdout.write(formatResult(r, format, { timezone: session.timezone }));
      });
      return 0;
    }
    const terminal = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    const failed = await runRepl(session, {
      input: process.stdin,
      output: process.stdout,
      terminal,
      format,
      maxRows,
      banner: values.quiet ? undefined : banner(session),
    });
    return failed > 0 && !terminal ? 2 : 0;
  } finally {
    session.close();
  }
}

function banner(s: SqlSession): string {
  const r = s.report;
  const secs = r.ms / 1000;
  const names = r.tables.map((t) => t.name).join(', ') || 'none';
  return (
    `riskflow sql: ${r.tables.length} tables from ${resolve(r.dir)} (${names})\n` +
    `${r.rows.toLocaleString('en-US')} rows from ${r.files.toLocaleString('en-US')} files loaded in ${secs.toFixed(2)} s; ` +
    `times in ${s.timezone}. Statements end with ';'; .help for commands.\n`
  );
}
