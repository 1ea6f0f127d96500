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

/**
 * Copies the `n` entries of a ring of `cap` entries (a power of two) of `width` doubles each,
 * stored at `src[at..]` with its oldest entry at index `head`, to `dst[to..]` oldest first and
 * contiguous: the grow step of the risk library's rings kept inside one shared typed array
 * (flash-crash deques, ultrafast runs, liquidity baselines), whose capacity doubles for all.
 *
 * @example
 * const dst = new Float64Array(8);
 * unwrapRing(Float64Array.of(5, 50, 6, 60, 3, 30, 4, 40), 0, 4, 2, 4, 2, dst, 0); // dst: 3, 30, 4, 40, 5, 50, 6, 60
 */
export function unwrapRing(src: Float64Array, at: number, cap: number, head: number, n: number, width: number, dst: Float64Array, to: number): void {
  const mask = cap - 1;
  for (let j = 0; j < n; j++) {
    const from = at + ((head + j) & mask) * width;
    const into = to + j * width;
    for (let w = 0; w < width; w++) dst[into + w] = src[from + w] as number;
  }
}

/**
 * A ring's column at twice its capacity, unwrapped: its `n` entries from `head` (in a ring of
 * `mask + 1` cells) at 0..n-1 (the grow step of the surveillance rings: Deque, the wash-trade legs,
 * the layering orders, the order book's expiry queue).
 *
 * @example
 * const ts = regrown(Float64Array.of(3, 1, 2, 0), 1, 3, 3); // Float64Array [1, 2, 0, 0, 0, 0, 0, 0]
 */
export function regrown<A extends Float64Array | Int32Array | Uint8Array | Array<unknown>>(a: A, head: number, mask: number, n: number): A {
  const c = (mask + 1) * 2;
  const out = (Array.isArray(a) ? new Array<unknown>(c).fill(undefined) : new (a.constructor as new (n: number) => A)(c)) as A;
  for (let k = 0; k < n; k++) out[k] = a[(head + k) & mask];
  return out;
}
