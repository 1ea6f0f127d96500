/**
 * One typed error hierarchy (DESIGN.md convention 3). Callers branch on `instanceof` or `code`,
 * never on the message text. `step`, `file`, `line` and `field` say where the problem is when
 * that applies.
 *
 * @example
 * try { loadTopology(path) } catch (e) { if (e instanceof TopologyError) console.error(e.step) }
 */
export interface ErrorLocation {
  step?: string | undefined;
  file?: string | undefined;
  line?: number | undefined;
  field?: string | undefined;
}

export interface RiskflowErrorOptions extends ErrorLocation {
  cause?: unknown;
}

export class RiskflowError extends Error {
  readonly code: string;
  readonly step: string | undefined;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  /** Process exit status the CLI uses for this error (CONTRACTS.md section 6). */
  readonly exitCode: number = 1;

  constructor(code: string, message: string, opts: RiskflowErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.step = opts.step;
    this.file = opts.file;
    this.line = opts.line;
    this.field = opts.field;
  }

  /** "file:line: step 'x': field 'y': message", leaving out the parts that are unknown. */
  describe(): string {
    const where: string[] = [];
    if (this.file) where.push(this.line !== undefined ? `${this.file}:${this.line}` : this.file);
    if (this.step) where.push(`step '${this.step}'`);
    if (this.field) where.push(`field '${this.field}'`);
    return where.length ? `${where.join(': ')}: ${this.message}` : this.message;
  }
}

/** Bad command-line usage. Exit status 2. */
export class UsageError extends RiskflowError {
  override readonly exitCode = 2;
  constructor(message: string, opts: RiskflowErrorOptions = {}) {
    super('E_USAGE', message, opts);
  }
}

/** An invalid topology (schema, step wiring, expression, parameter). Exit status 2. */
export class TopologyError extends RiskflowError {
  override readonly exitCode = 2;
  constructor(message: string, opts: RiskflowErrorOptions = {}) {
    super('E_TOPOLOGY', message, opts);
  }
}

/** Input files that cannot be used at all (missing, unreadable, bad header). Exit status 2. */
export class InputError extends RiskflowError {
  override readonly exitCode = 2;
  constructor(message: string, opts: RiskflowErrorOptions = {}) {
    super('E_INPUT', message, opts);
  }
}

/** A user function (UDF, expression) threw while processing a record. Exit status 1. */
export class UserFunctionError extends RiskflowError {
  constructor(message: string, opts: RiskflowErrorOptions = {}) {
    super('E_USER_FUNCTION', message, opts);
  }
}

/** A checkpoint could not be written, read or restored. Exit status 1. */
export class CheckpointError extends RiskflowError {
  constructor(message: string, opts: RiskflowErrorOptions = {}) {
    super('E_CHECKPOINT', message, opts);
  }
}

/** A broken invariant inside the engine. Exit status 1. */
export class InternalError extends RiskflowError {
  constructor(message: string, opts: RiskflowErrorOptions = {}) {
    super('E_INTERNAL', message, opts);
  }
}
