/**
 * Order statistics by selection (CONTRACTS.md 4, Historical-simulation VaR: "sort L ascending" is
 * only ever read in its k+1 smallest entries, so a full sort per trade would waste O(S log S)).
 */

import { BLOCK, br, brIf, END, F64, f64Load, f64Store, get, i32c, I32, IF, LOOP, set, tee, V128, wasmFunction, type WasmMemory } from './wasm.js';

/** Below this many elements an insertion sort beats another partition round. */
const SMALL = 16;

/**
 * Rearranges `a[0..n)` so that `a[k]` is the k-th smallest (0-based) of them, every `a[i]` with
 * i < k is <= a[k] and every one with i > k is >= a[k]; returns `a[k]`. Quickselect with a
 * median-of-three pivot (Hoare partition, as in Numerical Recipes' `select`), which is O(n)
 * expected; the round count is capped at about 2 log2(n) and past it the remaining range is sorted,
 * so the worst case is O(n log n) rather than quadratic (introselect's guarantee with a simpler
 * fallback). The values must not contain NaN (the callers never produce one).
 *
 * @example
 * const a = Float64Array.of(5, 1, 4, 2, 3);
 * selectInPlace(a, 5, 1); // 2; a[0] is 1, a[2..4] are {3, 4, 5} in some order
 */
export function selectInPlace(a: Float64Array, n: number, k: number): number {
  if (!(k >= 0 && k < n && n <= a.length)) throw new RangeError(`selectInPlace: k=${k} outside [0, ${n})`);
  let lo = 0;
  let hi = n - 1;
  let budget = 2 * Math.ceil(Math.log2(n + 1)) + 4;
  while (hi - lo >= SMALL) {
    if (budget-- === 0) {
      a.subarray(lo, hi + 1).sort();
      return a[k] as number;
    }
    const mid = (lo + hi) >>> 1;
    // Median of a[lo], a[mid], a[hi] into a[lo+1]; a[lo] <= pivot <= a[hi] then act as sentinels.
    let t = a[mid] as number;
    a[mid] = a[lo + 1] as number;
    a[lo + 1] = t;
    if ((a[lo] as number) > (a[hi] as number)) swap(a, lo, hi);
    if ((a[lo + 1] as number) > (a[hi] as number)) swap(a, lo + 1, hi);
    if ((a[lo] as number) > (a[lo + 1] as number)) swap(a, lo, lo + 1);
    let i = lo + 1;
    let j = hi;
    const pivot = a[lo + 1] as number;
    for (;;) {
      do i++;
      while ((a[i] as number) < pivot);
      do j--;
      while ((a[j] as number) > pivot);
      if (j < i) break;
      t = a[i] as number;
      a[i] = a[j] as number;
      a[j] = t;
    }
    a[lo + 1] = a[j] as number;
    a[j] = pivot;
    if (j >= k) hi = j - 1;
    if (j <= k) lo = i;
    // k may fall between j and i (an element equal to the pivot): already in place.
    if (k < lo || k > hi) return a[k] as number;
  }
  // Insertion sort of the last small range puts a[k] in place and keeps the partition property.
  for (let i = lo + 1; i <= hi; i++) {
    const v = a[i] as number;
    let j = i - 1;
    while (j >= lo && (a[j] as number) > v) {
      a[j + 1] = a[j] as number;
      j--;
    }
    a[j + 1] = v;
  }
  return a[k] as number;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i] as number;
  a[i] = a[j] as number;
  a[j] = t;
}

/** Up to this many order statistics are kept by insertion into a sorted buffer; above it, quickselect. */
export const BUFFER_MAX = 64;

/**
 * Writes the `m` smallest of `src[0..n)` to `out[0..m)` in ascending order, leaving `src` as it
 * is. A VaR tail is tiny (m = k + 1 = 6 at S = 500, c = 0.99), so the default path is one read-only
 * pass that keeps a sorted buffer of the m smallest so far: each element costs one comparison
 * against the buffer's largest, a branch that is almost never taken once the buffer holds low
 * values (about m ln(n/m) insertions expected, O(n m) at worst). That beats quickselect, whose
 * partition branches are unpredictable on fresh data (measured 3-5x faster at S = 500, m = 6,
 * when every call sees a different trader's vector), and needs no scratch copy. For m > 64 it
 * copies into `scratch`, runs {@link selectInPlace} (O(n) expected) and sorts only the m selected.
 *
 * @example
 * const out = new Float64Array(3);
 * smallestSorted(Float64Array.of(5, -1, 4, -7, 0), 5, 3, out); // out = [-7, -1, 0]
 */
export function smallestSorted(src: Float64Array, n: number, m: number, out: Float64Array, scratch?: Float64Array): void {
  if (!(m >= 1 && m <= n && out.length >= m)) throw new RangeError(`smallestSorted: m=${m} outside [1, ${n}]`);
  if (m > BUFFER_MAX) {
    const a = scratch && scratch.length >= n ? scratch : new Float64Array(n);
    a.set(n === src.length ? src : src.subarray(0, n));
    selectInPlace(a, n, m - 1);
    const head = out.subarray(0, m);
    head.set(a.subarray(0, m));
    head.sort();
    return;
  }
  // The first m fill the buffer; then each element is compared with the buffer's largest, kept
  // in a local (`worst`) so the common case is one comparison without a memory read.
  let i = 0;
  for (; i < m; i++) {
    const x = src[i] as number;
    let j = i;
    while (j > 0 && (out[j - 1] as number) > x) {
      out[j] = out[j - 1] as number;
      j--;
    }
    out[j] = x;
  }
  let worst = out[m - 1] as number;
  // Four at a time: one combined test per group, which almost always fails once the buffer holds
  // low values (measured about 1.7x faster at S = 250, m = 3 than one branch per element). A
  // group that has a candidate is inserted element by element, in order, as below.
  for (; i + 3 < n; i += 4) {
    if (!((src[i] as number) < worst || (src[i + 1] as number) < worst || (src[i + 2] as number) < worst || (src[i + 3] as number) < worst)) continue;
    for (let g = i; g < i + 4; g++) {
      const x = src[g] as number;
      if (x < worst) worst = insertBelow(out, m, x);
    }
  }
  for (; i < n; i++) {
    const x = src[i] as number;
    if (x < worst) worst = insertBelow(out, m, x);
  }
}

/** Inserts x (below out[m - 1]) into the sorted out[0..m), dropping the largest; returns the new out[m - 1]. */
function insertBelow(out: Float64Array, m: number, x: number): number {
  let j = m - 1;
  while (j > 0 && (out[j - 1] as number) > x) {
    out[j] = out[j - 1] as number;
    j--;
  }
  out[j] = x;
  return out[m - 1] as number;
}

/**
 * smallestSorted(src, n, m, out) for m <= {@link BUFFER_MAX} on vectors in WebAssembly memory:
 * run(srcAt, n, m, outAt) with src (n doubles) at byte srcAt and out (m doubles) at byte outAt.
 */
export type SmallestSortedKernel = (srcAt: number, n: number, m: number, outAt: number) => void;

/**
 * {@link smallestSorted}'s buffer path (m <= BUFFER_MAX, m <= n) as a WebAssembly SIMD function
 * over `memory`, or undefined when this runtime has no WebAssembly SIMD. The same steps: the
 * first m elements are insertion-sorted into out, then each group of eight is tested against the
 * buffer's largest at once (four f64x2 comparisons, any lane true), and a group with a candidate
 * is inserted element by element, in order, with the scalar test and insertion of the JavaScript
 * loop (so ties and signed zeros land where they do there); the last 0-7 one by one. The test
 * only filters (the largest never grows), so out holds exactly the bits smallestSorted writes.
 * Assembled from its instructions (see wasm.ts).
 *
 * @example
 * const sel = smallestSortedKernel(memory)!; sel(lAt, 250, 3, outAt); // out = the 3 smallest, ascending
 */
export function smallestSortedKernel(memory: WasmMemory): SmallestSortedKernel | undefined {
  const [I32_EQZ, I32_LE_S, I32_GE_S, I32_ADD, I32_SUB, I32_SHL] = [0x45, 0x4c, 0x4e, 0x6a, 0x6b, 0x74];
  const [F64_LT, F64_GT] = [0x63, 0x64];
  const V_LOAD = (offset: number): number[] => [0xfd, 0x00, 3, offset];
  const F64X2_SPLAT = [0xfd, 0x14];
  const F64X2_LT = [0xfd, 0x49];
  const V128_OR = [0xfd, 0x50];
  const V128_ANY_TRUE = [0xfd, 0x53];
  // Params 0 srcAt, 1 n, 2 m, 3 outAt; locals 4 i, 5 j, 6 a (i32), 7 x, 8 worst (f64), 9 w (v128: worst in both lanes).
  const [SRC, N, M, OUT, I, J, A, X, WORST, W] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const GROUP = 8;
  /** Byte address of out[j + delta]. */
  const outAt = (delta: number): number[] => [...get(OUT), ...get(J), ...i32c(delta), I32_ADD, ...i32c(3), I32_SHL, I32_ADD];
  /** while (j > 0 && out[j - 1] > x) { out[j] = out[j - 1]; j--; } out[j] = x; */
  const insert = (): number[] => [
    ...[...BLOCK, ...LOOP, ...get(J), ...i32c(0), I32_LE_S, ...brIf(1)],
    ...[...outAt(-1), ...f64Load(0), ...get(X), F64_GT, I32_EQZ, ...brIf(1)],
    ...[...outAt(0), ...outAt(-1), ...f64Load(0), ...f64Store(0), ...get(J), ...i32c(1), I32_SUB, ...set(J), ...br(0), ...END, ...END],
    ...[...outAt(0), ...get(X), ...f64Store(0)],
  ];
  /** Byte address of out[m - 1]. */
  const lastAt = [...get(OUT), ...get(M), ...i32c(1), I32_SUB, ...i32c(3), I32_SHL, I32_ADD];
  /** if (x < worst) { insert below from j = m - 1; worst = out[m - 1]; } */
  const insertBelow = (): number[] => [...get(X), ...get(WORST), F64_LT, ...IF, ...get(M), ...i32c(1), I32_SUB, ...set(J), ...insert(), ...lastAt, ...f64Load(0), ...set(WORST), ...END];
  /** x = src[i] (a = its address). */
  const loadX = [...get(SRC), ...get(I), ...i32c(3), I32_SHL, I32_ADD, ...tee(A), ...f64Load(0), ...set(X)];
  const b: number[] = [];
  // The first m, insertion-sorted.
  b.push(...BLOCK, ...LOOP, ...get(I), ...get(M), I32_GE_S, ...brIf(1));
  b.push(...loadX, ...get(I), ...set(J), ...insert());
  b.push(...get(I), ...i32c(1), I32_ADD, ...set(I), ...br(0), ...END, ...END);
  b.push(...lastAt, ...f64Load(0), ...tee(WORST), ...F64X2_SPLAT, ...set(W));
  // Groups of eight while i + 7 < n.
  b.push(...BLOCK, ...LOOP, ...get(I), ...i32c(GROUP - 1), I32_ADD, ...get(N), I32_GE_S, ...brIf(1));
  b.push(...get(SRC), ...get(I), ...i32c(3), I32_SHL, I32_ADD, ...set(A));
  for (let v = 0; v < GROUP / 2; v++) {
    b.push(...get(A), ...V_LOAD(v * 16), ...get(W), ...F64X2_LT);
    if (v > 0) b.push(...V128_OR);
  }
  b.push(...V128_ANY_TRUE, ...IF);
  for (let g = 0; g < GROUP; g++) b.push(...get(A), ...f64Load(g * 8), ...set(X), ...insertBelow());
  b.push(...get(WORST), ...F64X2_SPLAT, ...set(W), ...END);
  b.push(...get(I), ...i32c(GROUP), I32_ADD, ...set(I), ...br(0), ...END, ...END);
  // The rest one by one.
  b.push(...BLOCK, ...LOOP, ...get(I), ...get(N), I32_GE_S, ...brIf(1));
  b.push(...loadX, ...insertBelow(), ...get(I), ...i32c(1), I32_ADD, ...set(I), ...br(0), ...END, ...END);
  return wasmFunction({ params: [I32, I32, I32, I32], result: undefined, locals: [[3, I32], [2, F64], [1, V128]], body: b, memory, minPages: 1 }) as SmallestSortedKernel | undefined;
}
