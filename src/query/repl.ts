/**
 * The interactive prompt of `riskflow sql`: statements end with `;` and may span lines, dot
 * commands inspect the session, history persists across sessions.
 */
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { formatResult, OUTPUT_FORMATS, type OutputFormat } from './formatter.js';
import type { SqlSession } from './session.js';

/**
 * The prompt, and the one shown while a statement goes on over several lines.
 *
 * @example rl.setPrompt(buffer ? CONTINUATION : PROMPT)
 */
export const PROMPT = 'riskflow> ';
/**
 * See {@link PROMPT}: as wide, so the lines of a statement line up.
 *
 * @example CONTINUATION.length === PROMPT.length // true
 */
export const CONTINUATION = '     ...> ';
const HISTORY_SIZE = 1000;

/**
 * Does `sql` end with a statement terminator? A `;` inside a string, a quoted identifier or a
 * comment does not count, so a statement may contain them and span several lines.
 *
 * @example statementComplete("SELECT ';' AS x") // false
 * @example statementComplete('SELECT 1; -- done') // true
 */
export function statementComplete(sql: string): boolean {
  let last = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const close = c;
      i++;
      for (;;) {
        if (i >= n) return false;
        if (sql[i] === close) {
          if (sql[i + 1] === close) i += 2;
          else break;
        } else i++;
      }
      last = close;
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) return false;
      i = end + 2;
    } else {
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return last === ';';
}

/**
 * Options of {@link runRepl}.
 *
 * @example { input: process.stdin, output: process.stdout, terminal: true, format: 'table' }
 */
export interface ReplOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** A terminal: prompts, line editing, history. Otherwise statements are read as a script. */
  terminal: boolean;
  format?: OutputFormat;
  /** Rows shown of a result in the table format (default 1000; csv and json print all). */
  maxRows?: number;
  /** History file (default ~/.riskflow_sql_history, or $RISKFLOW_SQL_HISTORY; '' for none). */
  historyFile?: string;
  /** Printed first in a terminal. */
  banner?: string;
}

const HELP = `Statements end with ';' and may span lines. Commands:
  .tables              tables and views, with row counts
  .schema [name]       columns of a table or view (all when no name)
  .format [fmt]        output format: table, csv or json (shows it without fmt)
  .maxrows [n]         rows shown in the table format (0: all)
  .timer on|off        print how long each statement took
  .help                this text
  .quit                leave (Ctrl-D too)
Tables are named after the snapshot folders (positions, trader_risk, correlations, market, alerts, ...);
latest_<table> holds each table's rows at its last snapshot_time.
`;

/**
 * Where history goes: `historyFile`, else $RISKFLOW_SQL_HISTORY, else ~/.riskflow_sql_history;
 * undefined (no history) when that is ''.
 *
 * @example historyPath('') // undefined
 */
export function historyPath(explicit?: string): string | undefined {
  const p = explicit ?? process.env.RISKFLOW_SQL_HISTORY ?? join(homedir(), '.riskflow_sql_history');
  return p === '' ? undefined : p;
}

async function loadHistory(file: string | undefined): Promise<string[]> {
  if (!file) return [];
  const text = await readFile(file, 'utf8').catch(() => '');
  // The file is oldest first (as in psql or sqlite); readline wants newest first.
  return text
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .slice(-HISTORY_SIZE)
    .reverse();
}

/**
 * Runs the prompt (or, off a terminal, the script on `input`) against a session until `.quit`,
 * Ctrl-D or the end of input. In a terminal, Ctrl-C cancels the statement being typed or stops
 * the one running. Returns the number of statements that failed.
 *
 * @example
 * const failed = await runRepl(session, { input: process.stdin, output: process.stdout, terminal: true });
 */
export async function runRepl(session: SqlSession, o: ReplOptions): Promise<number> {
  const out = o.output;
  let failed = 0;
  const say = (s: string) => out.write(s.endsWith('\n') ? s : `${s}\n`);
  const error = (s: string) => {
    failed++;
    say(`Error: ${s}`);
  };
  let format: OutputFormat = o.format ?? 'table';
  let maxRows = o.maxRows ?? 1000;
  let timer = false;
  const histFile = o.terminal ? historyPath(o.historyFile) : undefined;
  const history = await loadHistory(histFile);
  const rl: Interface = createInterface({
    input: o.input,
    output: o.terminal ? out : undefined,
    terminal: o.terminal,
    history,
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    prompt: PROMPT,
  });
  let buffer = '';
  let running = false;
  let quit = false;
  const prompt = () => {
    if (!o.terminal) return;
    rl.setPrompt(buffer ? CONTINUATION : PROMPT);
    rl.prompt();
  };
  rl.on('SIGINT', () => {
    if (running) {
      session.interrupt();
      return;
    }
    if (buffer) {
      buffer = '';
      out.write('^C\n');
    } else {
      out.write('\n(.quit or Ctrl-D to leave)\n');
    }
    prompt();
  });

  // Each statement is one history entry however many lines it took, so Up recalls it whole.
  const remember = async (text: string) => {
    if (!o.terminal) return;
    const flat = text.replace(/\s*\n\s*/g, ' ').trim();
    const h = (rl as unknown as { history?: string[] }).history;
    const parts = text.split('\n').filter((l) => l.trim().length > 0).reverse();
    if (Array.isArray(h) && parts.length > 1) {
      let k = 0;
      while (k < parts.length && h[k] === parts[k]) k++;
      h.splice(0, k, flat);
    }
    if (histFile) await appendFile(histFile, `${flat}\n`).catch(() => undefined);
  };

  const execute = async (sql: string) => {
    running = true;
    try {
      const results = await session.query(sql, { maxRows: format === 'table' && maxRows > 0 ? maxRows : undefined });
      for (const r of results) {
        const text = formatResult(r, format, { timezone: session.timezone });
        if (text) out.write(text);
        if (timer) say(`Run time: ${(r.ms / 1000).toFixed(3)} s`);
      }
    } catch (e) {
      error((e as Error).message);
    } finally {
      running = false;
    }
  };

  const dot = async (line: string) => {
    const [cmd, ...args] = line.trim().split(/\s+/);
    switch (cmd) {
      case '.quit':
      case '.exit':
      case '.q':
        quit = true;
        return;
      case '.help':
        out.write(HELP);
        return;
      case '.tables': {
        const list = await session.tables();
        const w = Math.max(4, ...list.map((t) => t.name.length));
        for (const t of list) say(`${t.name.padEnd(w)}  ${t.kind.padEnd(5)}  ${t.rows.toLocaleString('en-US').padStart(12)} rows  ${t.columns} columns`);
        if (list.length === 0) say('(no tables: is the snapshots folder empty?)');
        return;
      }
      case '.schema': {
        const names = args.length ? args : (await session.tables()).filter((t) => t.kind === 'table').map((t) => t.name);
        for (const name of names) {
          const cols = await session.schema(name.replace(/;$/, ''));
          if (!cols) {
            error(`no table or view named '${name}' (.tables lists them)`);
            continue;
          }
          const w = Math.max(...cols.map((c) => c.name.length));
          say(`${name}:`);
          for (const c of cols) say(`  ${c.name.padEnd(w)}  ${c.type}`);
        }
        return;
      }
      case '.format':
      case '.mode': {
        const f = args[0];
        if (f === undefined) say(`format: ${format}`);
        else if ((OUTPUT_FORMATS as readonly string[]).includes(f)) format = f as OutputFormat;
        else error(`unknown format '${f}' (table, csv or json)`);
        return;
      }
      case '.maxrows': {
        const n = Number(args[0]);
        if (args[0] === undefined) say(`maxrows: ${maxRows}`);
        else if (Number.isInteger(n) && n >= 0) maxRows = n;
        else error('.maxrows takes a number of rows (0: all)');
        return;
      }
      case '.timer':
        if (args[0] === 'on' || args[0] === 'off') timer = args[0] === 'on';
        else error('.timer on|off');
        return;
      default:
        error(`unknown command '${cmd}' (.help lists them)`);
    }
  };

  if (o.terminal && o.banner) out.write(o.banner);
  prompt();
  for await (const line of rl) {
    if (!buffer && line.trim().startsWith('.')) {
      await remember(line);
      await dot(line);
      if (quit) break;
      prompt();
      continue;
    }
    if (!buffer && line.trim() === '') {
      prompt();
      continue;
    }
    buffer = buffer ? `${buffer}\n${line}` : line;
    if (statementComplete(buffer)) {
      const sql = buffer;
      buffer = '';
      await remember(sql);
      await execute(sql);
    }
    prompt();
  }
  if (buffer.trim()) {
    // Input ended in the middle of a statement: run it as if it had its ';'.
    await execute(buffer);
  }
  rl.close();
  if (histFile) await trimHistory(histFile);
  return failed;
}

async function trimHistory(file: string): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length > HISTORY_SIZE) await writeFile(file, `${lines.slice(-HISTORY_SIZE).join('\n')}\n`).catch(() => undefined);
}
