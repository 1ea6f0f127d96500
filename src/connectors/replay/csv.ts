import { InputError } from '../../core/errors.js';

/**
 * One data row of a CSV file; `line` is the 1-based line where the row starts (a quoted cell
 * may span lines).
 *
 * @example
 * { line: 2, cells: ['ACME', 'Technology'] }
 */
export interface CsvRow {
  line: number;
  cells: string[];
}

/**
 * A parsed CSV file: the header cells (and their line) and the data rows.
 *
 * @example
 * const t = parseCsv(text, 'instruments.csv'); t.rows.length
 */
export interface CsvTable {
  file: string;
  header: string[];
  headerLine: number;
  rows: CsvRow[];
}

/**
 * Parses RFC 4180 CSV text: quoted fields (with `""` escapes, commas and newlines inside quotes),
 * CRLF or LF line ends, a leading UTF-8 BOM, blank lines skipped. Unquoted cells are trimmed.
 * The first non-blank row is the header. A row whose cell count differs from the header's, or an
 * unterminated quote, is an {@link InputError} naming the file and line. Reference files are
 * small, so this works on the whole text.
 *
 * @example
 * const t = parseCsv('a,b\n1,"x, y"\n', 'f.csv'); // t.header = ['a','b'], t.rows[0] = { line: 2, cells: ['1','x, y'] }
 */
export function parseCsv(text: string, file: string): CsvTable {
  const records: CsvRow[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  let line = 1;
  while (i < n) {
    const startLine = line;
    const cells: string[] = [];
    let blank = true;
    for (;;) {
      // One cell.
      let cell: string;
      let p = i;
      while (p < n && (text.charCodeAt(p) === 0x20 || text.charCodeAt(p) === 0x09)) p++;
      if (p < n && text.charCodeAt(p) === 0x22) {
        blank = false;
        let out = '';
        let q = p + 1;
        for (;;) {
          const close = text.indexOf('"', q);
          if (close < 0) {
            throw new InputError('unterminated quoted field', { file, line: startLine });
          }
          const chunk = text.slice(q, close);
          for (let k = 0; k < chunk.length; k++) if (chunk.charCodeAt(k) === 0x0a) line++;
          out += chunk;
          if (text.charCodeAt(close + 1) === 0x22) {
            out += '"';
            q = close + 2;
          } else {
            q = close + 1;
            break;
          }
        }
        cell = out;
        // Only blanks may follow a closing quote before the separator.
        while (q < n && (text.charCodeAt(q) === 0x20 || text.charCodeAt(q) === 0x09)) q++;
        const c = text.charCodeAt(q);
        if (q < n && c !== 0x2c && c !== 0x0a && c !== 0x0d) {
          throw new InputError('unexpected text after a closing quote', { file, line });
        }
        i = q;
      } else {
        let q = i;
        while (q < n) {
          const c = text.charCodeAt(q);
          if (c === 0x2c || c === 0x0a || c === 0x0d) break;
          q++;
        }
        cell = text.slice(i, q).trim();
        if (cell.length > 0) blank = false;
        i = q;
      }
      cells.push(cell);
      if (i >= n) break;
      const c = text.charCodeAt(i);
      if (c === 0x2c) {
        i++;
        continue;
      }
      // End of the row: CRLF, LF or a lone CR.
      if (c === 0x0d) i++;
      if (i < n && text.charCodeAt(i) === 0x0a) i++;
      line++;
      break;
    }
    if (!blank || cells.length > 1) records.push({ line: startLine, cells });
  }
  const head = records.shift();
  if (!head) throw new InputError('empty file: expected a header row', { file, line: 1 });
  const header = head.cells;
  for (const r of records) {
    if (r.cells.length !== header.length) {
      throw new InputError(`expected ${header.length} columns (${header.join(',')}), got ${r.cells.length}`, {
        file,
        line: r.line,
      });
    }
  }
  return { file, header, headerLine: head.line, rows: records };
}

/**
 * Column positions of a CSV table by name, checking that every required column is present
 * (extra columns are allowed and ignored; order is free).
 *
 * @example
 * const col = columnIndex(table, ['date', 'instrument', 'close']); row.cells[col.close]
 */
export function columnIndex<K extends string>(table: CsvTable, required: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const name of required) {
    const idx = table.header.indexOf(name);
    if (idx < 0) {
      throw new InputError(`missing column '${name}' in the header (expected ${required.join(',')})`, {
        file: table.file,
        line: table.headerLine,
        field: name,
      });
    }
    out[name] = idx;
  }
  return out;
}
