import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCsv, formatJson, formatTable, formatTimestampTz, tzOffsetMinutes } from '../../../src/query/formatter.js';
import { statementComplete } from '../../../src/query/repl.js';
import { SqlSession, type QueryResult } from '../../../src/query/session.js';
import { tempDir } from './helpers.js';

describe('formatting results', () => {
  let s: SqlSession;
  const q = async (sql: string, maxRows?: number): Promise<QueryResult> => (await s.query(sql, { maxRows }))[0]!;
  beforeAll(async () => {
    s = await SqlSession.open({ snapshots: await tempDir(), timezone: 'America/New_York' });
  });
  afterAll(() => s.close());

  const sample = `SELECT * FROM (VALUES
      ('TR03', 412345.125::DOUBLE, 500000::BIGINT, TIMESTAMPTZ '2024-03-15 14:30:00+00', 'VaR, "99%"'),
      ('TR07', 0.5, NULL, TIMESTAMPTZ '2024-03-15 14:31:00.25+00', NULL)
    ) t(trader_id, var_99, var_limit, ts, note)`;

  it('table: names and types over aligned columns, numbers right-aligned with one precision per column', async () => {
    expect(formatTable(await q(sample), { timezone: s.timezone })).toBe(
      [
        ' trader_id |     var_99 | var_limit | ts                        | note',
        ' varchar   |     double |    bigint | timestamp with time zone  | varchar',
        '-----------+------------+-----------+---------------------------+------------',
        ' TR03      | 412345.125 |    500000 | 2024-03-15 10:30:00-04    | VaR, "99%"',
        ' TR07      |      0.500 |      NULL | 2024-03-15 10:31:00.25-04 | NULL',
        '(2 rows)',
        '',
      ].join('\n'),
    );
  });

  it('table: long results are cut at maxRows and say so; statements without rows say OK', async () => {
    const r = await q('SELECT range AS i FROM range(5000)', 3);
    expect(r.rows.length).toBe(3);
    expect(formatTable(r).split('\n').slice(-2)).toEqual(['(5,000 rows, first 3 shown: add LIMIT, or use --format csv)', '']);
    expect(formatTable(await q('CREATE TEMP TABLE t (x INTEGER)'))).toBe('OK\n');
    expect(formatTable(await q('INSERT INTO t VALUES (1), (2)'))).toBe('OK, 2 rows changed\n');
    expect(formatTable(await q("SELECT 'a' || chr(10) || 'b' AS s, 'x' AS long"), { maxCellWidth: 5 })).toContain(' a↵b');
  });

  it('csv: RFC 4180 quoting, empty nulls, full precision, timestamps as DuckDB writes them', async () => {
    expect(formatCsv(await q(sample), { timezone: s.timezone })).toBe(
      [
        'trader_id,var_99,var_limit,ts,note',
        'TR03,412345.125,500000,2024-03-15 10:30:00-04,"VaR, ""99%"""',
        'TR07,0.5,,2024-03-15 10:31:00.25-04,',
        '',
      ].join('\n'),
    );
    expect(formatCsv(await q("SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, 0.1::DOUBLE + 0.2::DOUBLE AS c"))).toBe('a,b,c\nnan,inf,0.30000000000000004\n');
  });

  it('json: one object per line, ISO timestamps with offset, non-finite numbers as null', async () => {
    expect(formatJson(await q(sample), { timezone: s.timezone })).toBe(
      [
        '[',
        '{"trader_id":"TR03","var_99":412345.125,"var_limit":500000,"ts":"2024-03-15T10:30:00-04:00","note":"VaR, \\"99%\\""},',
        '{"trader_id":"TR07","var_99":0.5,"var_limit":null,"ts":"2024-03-15T10:31:00.25-04:00","note":null}',
        ']',
        '',
      ].join('\n'),
    );
    expect(formatJson(await q("SELECT 'nan'::DOUBLE AS a, 1 AS a, 12345678901234567890::HUGEINT AS h"))).toBe('[\n{"a":null,"a_1":1,"h":"12345678901234567890"}\n]\n');
    expect(formatJson(await q('SELECT 1 AS x WHERE false'))).toBe('[]\n');
  });

  it('time zones: DST-aware offsets, half-hour zones', () => {
    expect(tzOffsetMinutes(Date.UTC(2024, 0, 15), 'America/New_York')).toBe(-300);
    expect(tzOffsetMinutes(Date.UTC(2024, 6, 15), 'America/New_York')).toBe(-240);
    expect(formatTimestampTz(BigInt(Date.UTC(2024, 2, 15, 4, 0)) * 1000n, 'Asia/Kolkata')).toBe('2024-03-15 09:30:00+05:30');
    expect(formatTimestampTz(BigInt(Date.UTC(2024, 2, 15, 4, 0)) * 1000n + 1n, 'UTC', true)).toBe('2024-03-15T04:00:00.000001+00:00');
  });
});

describe('statementComplete', () => {
  it('ends at a ; outside strings, quoted names and comments', () => {
    expect(statementComplete('SELECT 1;')).toBe(true);
    expect(statementComplete('SELECT 1')).toBe(false);
    expect(statementComplete('SELECT 1; -- done')).toBe(true);
    expect(statementComplete("SELECT ';'")).toBe(false);
    expect(statementComplete("SELECT 'it''s;'")).toBe(false);
    expect(statementComplete("SELECT 'it''s';")).toBe(true);
    expect(statementComplete('SELECT "a;b" FROM t')).toBe(false);
    expect(statementComplete('SELECT 1 /* ; */')).toBe(false);
    expect(statementComplete('SELECT 1 /* ; ')).toBe(false);
    expect(statementComplete('SELECT 1\n  FROM t\n;')).toBe(true);
  });
});
