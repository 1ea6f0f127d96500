/**
 * The rows of a snapshot table (CONTRACTS.md section 5) as a step hands them to the snapshot sink:
 * an array of row objects, or {@link SnapshotColumns}, the same rows column by column. A producer
 * of many rows per snapshot (positions, correlations) gives columns: no object per row, and the
 * sink encodes a Float64Array column with one copy.
 */

/**
 * Rows given column by column: row i has, for each column name, `columns[name][i]`. A cell that is
 * `null` or `undefined` is null in the file; a Float64Array column has a number in every row (NaN
 * included, as a row's NaN number is). A column absent here is null in every row.
 *
 * @example
 * new SnapshotColumns(2, { instrument: ['ACME', 'BOLT'], mark_price: Float64Array.of(101.5, 40) })
 */
export class SnapshotColumns {
  constructor(
    readonly length: number,
    readonly columns: Readonly<Record<string, ArrayLike<unknown>>>,
  ) {}

  /** Row i as an object (keys in column order). */
  row(i: number): Record<string, unknown> {
    const r: Record<string, unknown> = {};
    for (const name of Object.keys(this.columns)) r[name] = this.columns[name]![i];
    return r;
  }

  /** Every row as an object: for the rare paths (merging two producers, checkpoints, tests). */
  toRows(): Array<Record<string, unknown>> {
    const out = new Array<Record<string, unknown>>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.row(i);
    return out;
  }
}

/**
 * What a snapshot table's producer hands over: row objects, or columns.
 *
 * @example const rows: SnapshotRows = [{ instrument: 'ACME', mark_price: 101.5 }];
 */
export type SnapshotRows = ReadonlyArray<Record<string, unknown>> | SnapshotColumns;

/**
 * The rows as objects, whichever form they came in.
 *
 * @example snapshotRowObjects(new SnapshotColumns(1, { a: [1] })) // [{ a: 1 }]
 */
export function snapshotRowObjects(rows: SnapshotRows): ReadonlyArray<Record<string, unknown>> {
  return rows instanceof SnapshotColumns ? rows.toRows() : rows;
}
