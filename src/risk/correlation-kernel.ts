/**
 * The per-bar pair update of CorrelationMatrix.closeBar as WebAssembly with f64x2 SIMD: for each
 * instrument i that moved in the bar, sxy[i * cap + k] += r_i * r_k for every k in (i, n), where
 * r holds the bar's returns with 0 for the instruments that did not move. Two pairs per
 * instruction over contiguous rows, instead of the JavaScript loop's gather over the moved
 * instruments' indices (with a bounds check on each access).
 *
 * Bit-identical to the sparse JavaScript loop under its caller's conditions: each lane of f64x2.mul
 * and f64x2.add is one IEEE-754 double multiplication or addition (nothing fused), each pair gets
 * the same one addition r_i * r_k per bar; a pair with a side that did not move gets
 * sxy + (r_i * 0) = sxy + (+-0), which is sxy unchanged as long as r_i is finite (the caller
 * checks) and sxy is not -0 (a sum started at +0 never becomes -0 in round-to-nearest).
 *
 * Memory layout (bytes): sxy (cap * cap doubles) at 0, r (cap doubles) at {@link pairRAt}, the
 * moved rows (cap int32) at {@link pairRowsAt}.
 */
import { BLOCK, br, brIf, END, F64, f64Load, f64Store, get, i32c, I32, i32Load, IF, LOOP, set, V128, wasmFunction, wasmMemory } from './wasm.js';

/**
 * run(rowsAt, rows, rAt, n, cap): adds the bar's products to the pairs of `rows` moved instruments
 * (int32 indices at byte rowsAt, any order, each at most once), returns at byte rAt, n instruments.
 */
export type PairKernel = (rowsAt: number, rows: number, rAt: number, n: number, cap: number) => void;

/**
 * A pair update kernel with its own memory laid out for `cap` instruments.
 *
 * @example const k = pairKernel(200); if (k) { k.sxy[1] = 0; k.run(pairRowsAt(200), 0, pairRAt(200), 2, 200); }
 */
export interface PairKernelState {
  /** sxy, cap * cap doubles, in the kernel's memory. */
  sxy: Float64Array;
  /** The bar's returns by instrument (0: did not move), cap doubles, in the kernel's memory. */
  r: Float64Array;
  /** The moved instruments' indices, cap int32, in the kernel's memory. */
  rows: Int32Array;
  run: PairKernel;
}

/** Byte offset of the returns for capacity `cap`. */
export function pairRAt(cap: number): number {
  return cap * cap * 8;
}

/** Byte offset of the moved rows for capacity `cap`. */
export function pairRowsAt(cap: number): number {
  return cap * cap * 8 + cap * 8;
}

/**
 * The kernel and its memory for `cap` instruments (all zero), or undefined when this runtime has
 * no WebAssembly (or no SIMD). Assembled here from its instructions (it has no other source).
 */
export function pairKernel(cap: number): PairKernelState | undefined {
  const SHL = 0x74;
  const ADD = 0x6a;
  const MUL = 0x6c;
  const [LT_U, GT_U, GE_U] = [0x49, 0x4b, 0x4f];
  const [F64_ADD, F64_MUL] = [0xa0, 0xa2];
  const V_LOAD = [0xfd, 0x00, 3, 0];
  const V_STORE = [0xfd, 0x0b, 3, 0];
  const F64X2_SPLAT = [0xfd, 0x14];
  const F64X2_ADD = [0xfd, 0xf0, 0x01];
  const F64X2_MUL = [0xfd, 0xf2, 0x01];
  // Params 0 rowsAt, 1 rows, 2 rAt, 3 n, 4 cap; locals 5 t, 6 i, 7 p, 8 q, 9 end (i32), 10 ri (f64), 11 rv (v128).
  const [ROWS_AT, ROWS, R_AT, N, CAP, T, I, P, Q, END_Q, RI, RV] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const b: number[] = [];
  b.push(...get(R_AT), ...get(N), ...i32c(3), SHL, ADD, ...set(END_Q));
  // block $done: loop $rows: while t < rows
  b.push(...BLOCK, ...LOOP, ...get(T), ...get(ROWS), GE_U, ...brIf(1));
  b.push(...get(ROWS_AT), ...get(T), ...i32c(2), SHL, ADD, ...i32Load(0), ...set(I));
  b.push(...get(R_AT), ...get(I), ...i32c(3), SHL, ADD, ...f64Load(0), ...set(RI));
  b.push(...get(RI), ...F64X2_SPLAT, ...set(RV));
  // q = &r[i + 1], p = &sxy[i * cap + i + 1]
  b.push(...get(R_AT), ...get(I), ...i32c(1), ADD, ...i32c(3), SHL, ADD, ...set(Q));
  b.push(...get(I), ...get(CAP), MUL, ...get(I), ADD, ...i32c(1), ADD, ...i32c(3), SHL, ...set(P));
  // block $tail: loop $pairs: while q + 16 <= end, two pairs
  b.push(...BLOCK, ...LOOP, ...get(Q), ...i32c(16), ADD, ...get(END_Q), GT_U, ...brIf(1));
  b.push(...get(P), ...get(P), ...V_LOAD, ...get(RV), ...get(Q), ...V_LOAD, ...F64X2_MUL, ...F64X2_ADD, ...V_STORE);
  b.push(...get(P), ...i32c(16), ADD, ...set(P), ...get(Q), ...i32c(16), ADD, ...set(Q), ...br(0), ...END, ...END);
  // The last pair of a row with an odd number of pairs.
  b.push(...get(Q), ...get(END_Q), LT_U, ...IF);
  b.push(...get(P), ...get(P), ...f64Load(0), ...get(RI), ...get(Q), ...f64Load(0), F64_MUL, F64_ADD, ...f64Store(0), ...END);
  b.push(...get(T), ...i32c(1), ADD, ...set(T), ...br(0), ...END, ...END);
  const pages = Math.max(1, Math.ceil((pairRowsAt(cap) + cap * 4) / 65536));
  const memory = wasmMemory(pages);
  if (memory === undefined) return undefined;
  const run = wasmFunction({ params: [I32, I32, I32, I32, I32], result: undefined, locals: [[5, I32], [1, F64], [1, V128]], body: b, memory, minPages: pages }) as PairKernel | undefined;
  if (run === undefined) return undefined;
  return {
    sxy: new Float64Array(memory.buffer, 0, cap * cap),
    r: new Float64Array(memory.buffer, pairRAt(cap), cap),
    rows: new Int32Array(memory.buffer, pairRowsAt(cap), cap),
    run,
  };
}
