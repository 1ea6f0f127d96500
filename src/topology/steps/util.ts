import type { Expr, KeySpec } from '../schema.js';

/** An expression as describe shows it. */
export function exprText(e: Expr | undefined): string {
  return e === undefined ? '' : typeof e === 'string' ? e : String(e);
}

/** A key spec as describe shows it. */
export function keyText(k: KeySpec | undefined): string {
  if (k === undefined) return '(global)';
  return Array.isArray(k) ? k.join(', ') : k;
}

/** Identifier check for fields a step adds to records (`as`, aggregate names). */
export const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
