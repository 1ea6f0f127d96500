/**
 * A DuckDB session over a snapshots folder: an in-memory database that has loaded the snapshot
 * tables and then been locked down, so SQL typed by an analyst can read those tables and nothing
 * else on the machine.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { DuckDBInstance, ResultReturnType, type DuckDBConnection, type DuckDBMaterializedResult, type DuckDBValue } from '@duckdb/node-api';
import { RiskflowError, UsageError, type RiskflowErrorOptions } from '../core/errors.js';
import { ident, loadSnapshots, type LoadReport } from './loader.js';

/**
 * An SQL statement failed (parse, bind or run time error, as DuckDB words it). Exit status 2: the
 * query is the user's input.
 *
 * @example
 * try { await session.query('SELEC 1') } catch (e) { if (e instanceof QueryError) console.error(e.message) }
 */
export class QueryError extends RiskflowError {
  override readonly exitCode = 2;
  constructor(message: string, opts: RiskflowErrorOptions = {}) {
    super('E_QUERY', message, opts);
  }
}

/**
 * A result column: its name, DuckDB type as SQL text (`DOUBLE`, `TIMESTAMP WITH TIME ZONE`) and type id.
 *
 * @example result.columns.map((c) => `${c.name} ${c.type}`)
 */
export interface ResultColumn {
  name: string;
  type: string;
  typeId: number;
}

/**
 * The result of one statement. `rows` holds DuckDB values (see the formatter); when a row limit
 * was asked, `rows` is the first rows and `totalRows` the count of them all.
 *
 * @example const [r] = await session.query('SELECT 1 AS x'); r.rows[0][0] // 1
 */
export interface QueryResult {
  kind: 'rows' | 'changed' | 'nothing';
  columns: ResultColumn[];
  rows: DuckDBValue[][];
  totalRows: number;
  /** Rows changed by an INSERT/UPDATE/DELETE/CREATE TABLE AS. */
  changed: number;
  ms: number;
}

/**
 * Options of {@link SqlSession.open}.
 *
 * @example await SqlSession.open({ snapshots: 'out/snapshots', timezone: 'America/New_York', exportPath: 'acme.parquet' })
 */
export interface SessionOptions {
  /** The snapshots folder (`<out>/snapshots` of a replay). */
  snapshots: string;
  /** IANA time zone timestamps are shown and parsed in (default UTC). */
  timezone?: string;
  /** The one file this session may write: the target of `--export`. */
  exportPath?: string;
  /** Load only these tables. */
  tables?: readonly string[];
  /** DuckDB worker threads (default: DuckDB's, one per core). */
  threads?: number;
}

/** Export formats by file extension. */
const EXPORT_FORMATS: Record<string, { copy: string; needs?: string }> = {
  '.parquet': { copy: "FORMAT parquet, COMPRESSION 'zstd'", needs: 'parquet' },
  '.csv': { copy: 'FORMAT csv, HEADER true' },
  '.json': { copy: 'FORMAT json, ARRAY true', needs: 'json' },
  '.jsonl': { copy: 'FORMAT json', needs: 'json' },
  '.ndjson': { copy: 'FORMAT json', needs: 'json' },
};

/**
 * Extensions an export file may have (the format follows the extension).
 *
 * @example EXPORT_EXTENSIONS.includes('.parquet') // true
 */
export const EXPORT_EXTENSIONS = Object.keys(EXPORT_FORMATS);

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function duckMessage(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).replace(/^Failed to (extract statements|prepare statement|execute prepared statement): /, '').trim();
}

/**
 * An in-memory DuckDB over the snapshot tables. `open` configures the session (time zone, the
 * export file if any), disables external access for good (`enable_external_access=false`: no
 * file, extension or network access from SQL; DuckDB refuses to turn it back on), loads the
 * snapshot files through the appender (which needs no file access from DuckDB), and locks the
 * configuration (`lock_configuration=true`) before any statement of the user runs, so no `SET`
 * can widen the session. Arbitrary SQL, joins, window functions and CTEs then run on the tables;
 * `read_csv('/etc/passwd')`, `COPY ... TO`, `ATTACH`, `INSTALL` fail.
 *
 * @example
 * const s = await SqlSession.open({ snapshots: 'out/snapshots', timezone: 'America/New_York' });
 * const [r] = await s.query('SELECT trader_id, var_99 FROM latest_trader_risk ORDER BY var_99 DESC LIMIT 5');
 * s.close();
 */
export class SqlSession {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
    readonly report: LoadReport,
    readonly timezone: string,
    readonly exportPath: string | undefined,
    private readonly exportTmp: string | undefined,
    private readonly extensions: ReadonlySet<string>,
  ) {}

  static async open(o: SessionOptions): Promise<SqlSession> {
    const timezone = o.timezone ?? 'UTC';
    const config: Record<string, string> = { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' };
    if (o.threads) config.threads = String(o.threads);
    const instance = await DuckDBInstance.create(':memory:', config);
    const conn = await instance.connect();
    try {
      const ext = await conn.runAndReadAll('SELECT extension_name FROM duckdb_extensions() WHERE loaded');
      const extensions = new Set(ext.getRows().map((r) => String(r[0])));
      try {
        await conn.run(`SET TimeZone = ${sqlString(timezone)}`);
      } catch (e) {
        throw new UsageError(`--timezone ${timezone}: ${duckMessage(e)}`);
      }
      const exportPath = o.exportPath ? resolve(o.exportPath) : undefined;
      // DuckDB may write only this temporary name; the file is renamed into place from Node.
      const exportTmp = exportPath ? join(dirname(exportPath), `.${basename(exportPath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`) : undefined;
      if (exportTmp) await conn.run(`SET allowed_paths = [${sqlString(exportTmp)}]`);
      await conn.run('SET enable_external_access = false');
      // The appender works on this thread: other DuckDB threads only add CPU while loading.
      const threads = Number((await conn.runAndReadAll("SELECT current_setting('threads')")).getRows()[0]![0]);
      await conn.run('SET threads = 1');
      const report = await loadSnapshots(conn, o.snapshots, { tables: o.tables });
      await conn.run(`SET threads = ${Math.max(1, Math.floor(threads))}`);
      // From here on the session runs other people's SQL: nothing may undo the settings above.
      await conn.run('SET lock_configuration = true');
      return new SqlSession(instance, conn, report, timezone, exportPath, exportTmp, extensions);
    } catch (e) {
      conn.closeSync();
      instance.closeSync();
      throw e;
    }
  }

  /** Is a built-in DuckDB extension (parquet, json, icu) available? None can be downloaded here. */
  hasExtension(name: string): boolean {
    return this.extensions.has(name);
  }

  /**
   * Runs one or more statements (`;`-separated) and returns each one's result. With `maxRows`,
   * only the first rows of a result are converted to JS (`totalRows` still counts them all).
   */
  async query(sql: string, opts: { maxRows?: number } = {}): Promise<QueryResult[]> {
    let extracted;
    try {
      extracted = await this.connection.extractStatements(sql);
    } catch (e) {
      throw new QueryError(duckMessage(e));
    }
    const out: QueryResult[] = [];
    for (let i = 0; i < extracted.count; i++) {
      const t0 = performance.now();
      let result: DuckDBMaterializedResult;
      try {
        const prepared = await extracted.prepare(i);
        result = await prepared.run();
      } catch (e) {
        throw new QueryError(duckMessage(e));
      }
      out.push(await readResult(result, opts.maxRows, t0));
    }
    return out;
  }

  /** Tables and views of the session, with their row counts. */
  async tables(): Promise<Array<{ name: string; kind: 'table' | 'view'; rows: number; columns: number }>> {
    const [r] = await this.query(
      `SELECT table_name, table_type, (SELECT count(*) FROM information_schema.columns c WHERE c.table_name = t.table_name AND c.table_schema = t.table_schema)
       FROM information_schema.tables t WHERE table_schema = 'main' ORDER BY table_type, table_name`,
    );
    const out: Array<{ name: string; kind: 'table' | 'view'; rows: number; columns: number }> = [];
    for (const row of r!.rows) {
      const name = String(row[0]);
      const kind = String(row[1]) === 'VIEW' ? 'view' : 'table';
      const [c] = await this.query(`SELECT count(*) FROM ${ident(name)}`);
      out.push({ name, kind, rows: Number(c!.rows[0]![0] as bigint), columns: Number(row[2] as bigint) });
    }
    return out;
  }

  /** Columns of a table or view; undefined when there is none of that name. */
  async schema(name: string): Promise<Array<{ name: string; type: string; nullable: boolean }> | undefined> {
    const [r] = await this.query(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ${sqlString(name)} ORDER BY ordinal_position`,
    );
    if (!r || r.rows.length === 0) return undefined;
    return r.rows.map((row) => ({ name: String(row[0]), type: String(row[1]), nullable: String(row[2]) === 'YES' }));
  }

  /**
   * Writes a query's result to the session's export file with DuckDB's own writer (COPY ... TO):
   * Parquet (zstd), CSV with a header, or JSON, by the file's extension. The file appears
   * complete or not at all (written under a temporary name, then renamed).
   */
  async exportTo(sql: string): Promise<{ file: string; rows: number; format: string }> {
    const file = this.exportPath;
    if (!file) throw new UsageError('this session was opened without an export file');
    const ext = extname(file).toLowerCase();
    const fmt = EXPORT_FORMATS[ext];
    if (!fmt) throw new UsageError(`--export ${file}: unknown format '${ext}' (use ${EXPORT_EXTENSIONS.join(', ')})`);
    if (fmt.needs && !this.hasExtension(fmt.needs)) {
      throw new UsageError(
        `--export ${file}: this DuckDB build has no ${fmt.needs} extension, and extensions cannot be downloaded here; export to .csv instead`,
      );
    }
    const body = sql.trim().replace(/;\s*$/, '');
    let count = 0;
    try {
      count = (await this.connection.extractStatements(body)).count;
    } catch (e) {
      throw new QueryError(duckMessage(e));
    }
    if (count !== 1) throw new UsageError(`--export takes exactly one query (got ${count} statements)`);
    const dir = dirname(file);
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) await mkdir(dir, { recursive: true });
    const tmp = this.exportTmp!;
    try {
      const r = await this.connection.run(`COPY (${body}) TO ${sqlString(tmp)} (${fmt.copy})`);
      const rows = r.rowsChanged;
      await rename(tmp, file);
      return { file, rows, format: ext.slice(1) };
    } catch (e) {
      await rm(tmp, { force: true });
      if (e instanceof RiskflowError) throw e;
      throw new QueryError(duckMessage(e));
    }
  }

  /** Stops the statement running now (Ctrl-C in the prompt). */
  interrupt(): void {
    this.connection.interrupt();
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

async function readResult(result: DuckDBMaterializedResult, maxRows: number | undefined, t0: number): Promise<QueryResult> {
  const names = result.columnNames();
  const types = result.columnTypes();
  const columns: ResultColumn[] = names.map((name, i) => ({ name, type: types[i]!.toString(), typeId: types[i]!.typeId as number }));
  const kind = result.returnType === ResultReturnType.QUERY_RESULT ? 'rows' : result.returnType === ResultReturnType.CHANGED_ROWS ? 'changed' : 'nothing';
  const rows: DuckDBValue[][] = [];
  const total = kind === 'rows' ? result.rowCount : 0;
  const limit = maxRows ?? Number.POSITIVE_INFINITY;
  for (let c = 0; c < result.chunkCount && rows.length < limit; c++) {
    const chunk = result.getChunk(c);
    for (const row of chunk.getRows()) {
      if (rows.length >= limit) break;
      rows.push(row);
    }
  }
  return { kind, columns, rows, totalRows: total, changed: kind === 'changed' ? result.rowsChanged : 0, ms: performance.now() - t0 };
}
