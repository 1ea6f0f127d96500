/**
 * Runs `riskflow sql` from the built files the way bin.cjs runs a command, for the end-to-end tests
 * while main.ts has no `sql` case of its own.
 */
import { reportError } from '../../src/cli/main.js';
import { cmdSql } from '../../src/cli/sql.js';

cmdSql(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err);
  },
);
