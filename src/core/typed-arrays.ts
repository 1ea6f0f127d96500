/**
 * A copy of the typed array `a` with room for at least `n` elements: its length doubled until it
 * fits (the growth step of the engine's typed-array state: position and trader records, per-trader
 * position lists).
 *
 * @example
 * let ids = new Int32Array(8);
 * if (n > ids.length) ids = grown(ids, n); // ids[0..7] kept, length 16, 32, ... >= n
 */
export function grown<T extends Float64Array | Int32Array | Uint8Array>(a: T, n: number): T {
  let len = Math.max(a.length, 1);
  while (len < n) len *= 2;
  const b = new (a.constructor as new (n: number) => T)(len);
  b.set(a);
  return b;
}
