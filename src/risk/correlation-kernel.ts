/**
 * The pair update of CorrelationMatrix as WebAssembly with f64x2 SIMD, over a block of buffered
 * bars: for every pair i < k < n, sxy[i * cap + k] += r_i(j) * r_k(j) for each bar j of the block
 * in bar order, where r(j) holds bar j's returns with 0 for the instruments that did not move.
 * Each pair's sum stays in a register over the block's bars (sixteen pairs per pass: two rows by
 * eight columns, eight f64x2 sums), so sxy is read and written once per block rather than once
 * per bar, and each return read serves two or eight pairs.
 *
 * Bit-identical to adding the products bar after bar over the pairs whose sides both moved (the
 * caller's sparse loop): each lane of f64x2.mul and f64x2.add is one IEEE-754 double
 * multiplication or addition (nothing fused), each pair gets its products in bar order; a product
 * with a side that did not move is r * 0 = +-0, and sxy + (+-0) is sxy unchanged as long as r is
 * finite (the caller buffers only bars with finite returns) and sxy is not -0 (a sum started at +0
 * never becomes -0 in round-to-nearest).
 *
 * And the window close's Pearson formula of every pair whose sides started together ({@link
 * PairKernelState.corr}), two pairs per instruction: f64x2.div and f64x2.sqrt are correctly
 * rounded as JavaScript's / and Math.sqrt, so each lane is the caller's formula bit for bit.
 *
 * Memory layout (bytes): sxy (cap * cap doubles) at 0, then the block of bars at
 * {@link pairBarsAt}: bar j's returns are the cap doubles from pairBarsAt(cap) + j * cap * 8;
 * then the correlations (cap * cap doubles), then four per-instrument arrays of cap + 2 doubles
 * (the pass over two pairs reads one instrument past n).
 */
import { BLOCK, br, brIf, END, F64, f64c, f64Load, f64Store, get, i32c, I32, IF, LOOP, set, tee, uleb, V128, wasmFunction, wasmMemory } from './wasm.js';

/** Bars a kernel's block holds (the caller runs the kernel when it is full). */
export const PAIR_BLOCK_BARS = 64;

/**
 * run(barsAt, bars, n, cap): adds the products of the `bars` buffered bars (returns at byte
 * barsAt, cap doubles per bar, the first n used) to every pair i < k < n of sxy.
 */
export type PairKernel = (barsAt: number, bars: number, n: number, cap: number) => void;

/**
 * A pair update kernel with its own memory laid out for `cap` instruments.
 *
 * @example const k = pairKernel(200); if (k) { k.bars.fill(0, 0, 200); k.bars[3] = 0.01; k.bars[7] = -0.02; k.run(pairBarsAt(200), 1, 200, 200); }
 */
export interface PairKernelState {
  /** sxy, cap * cap doubles, in the kernel's memory. */
  sxy: Float64Array;
  /** The block of bars: {@link PAIR_BLOCK_BARS} rows of cap returns (0: did not move), in the kernel's memory. */
  bars: Float64Array;
  run: PairKernel;
  /** The correlation of pair i < k at i * cap + k, written by {@link corr}. */
  rho: Float64Array;
  /**
   * corr's inputs by instrument: s (sum of returns), own (sum of squares - s^2 / n), zss
   * (ZERO_VARIANCE * sum of squares) and n (the window's returns from its first on), each cap + 2
   * doubles from s.
   */
  s: Float64Array;
  own: Float64Array;
  zss: Float64Array;
  n: Float64Array;
  /**
   * corr(n): for every pair i < k < n, rho[i * cap + k] = (sxy - s_i s_k / n_i) / sqrt(own_i
   * own_k) clamped to [-1, 1], or NaN unless own_i > zss_i and own_k > zss_k: the correlation of
   * the pair if both sides started together (n_i = n_k), which the caller checks.
   */
  corr: (n: number) => void;
}

/** Byte offset of the block of bars for capacity `cap`. */
export function pairBarsAt(cap: number): number {
  return cap * cap * 8;
}

/**
 * The kernel and its memory for `cap` instruments (all zero), or undefined when this runtime has
 * no WebAssembly (or no SIMD). Assembled here from its instructions (it has no other source).
 */
export function pairKernel(cap: number): PairKernelState | undefined {
  const SHL = 0x74;
  const ADD = 0x6a;
  const MUL = 0x6c;
  const [LT_S, GE_U, GT_U] = [0x48, 0x4f, 0x4b];
  const [F64_ADD, F64_MUL] = [0xa0, 0xa2];
  const vLoad = (offset: number): number[] => [0xfd, 0x00, 3, offset];
  const vStore = (offset: number): number[] => [0xfd, 0x0b, 3, offset];
  const load64Splat = (offset: number): number[] => [0xfd, 0x0a, 3, offset];
  const F64X2_ADD = [0xfd, 0xf0, 0x01];
  const F64X2_MUL = [0xfd, 0xf2, 0x01];
  // Params 0 barsAt, 1 bars, 2 n, 3 cap; i32 locals 4 stride, 5 end, 6 i, 7 k, 8 iOff, 9 kOff,
  // 10 s (sxy byte address of (i, k)), 11 p (the bar's byte address); f64 12, 13 the sums of a
  // column, 14, 15 r_i and r_i+1, 16 r_k; v128 17, 18 r_i and r_i+1 in both lanes, 19 two r_k, 20..27 the sums.
  const [BARS_AT, BARS, N, CAP, STRIDE, END_P, I, K, I_OFF, K_OFF, S, P, XK, X] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 19];
  const FA = [12, 13];
  const FR = [14, 15];
  const RV = [17, 18];
  const A = [20, 21, 22, 23, 24, 25, 26, 27];
  const b: number[] = [];
  // One pass: the pairs of rows i .. i + rows - 1 and columns k .. k + 2 * vectors - 1 (one
  // column in f64 for vectors 0): load the sums, add every bar's products in bar order, store
  // them, k past the columns.
  const pass = (rows: number, vectors: number): number[] => {
    const o: number[] = [];
    const acc = (r: number, v: number): number => A[r * 4 + v]!;
    const row = (r: number): number[] => [...get(S), ...(r === 0 ? [] : [...get(STRIDE), ADD])];
    o.push(...get(I), ...get(CAP), MUL, ...get(K), ADD, ...i32c(3), SHL, ...set(S));
    for (let r = 0; r < rows; r++) {
      if (vectors === 0) o.push(...row(r), ...f64Load(0), ...set(FA[r]!));
      for (let v = 0; v < vectors; v++) o.push(...row(r), ...vLoad(16 * v), ...set(acc(r, v)));
    }
    o.push(...get(K), ...i32c(3), SHL, ...set(K_OFF), ...get(BARS_AT), ...set(P));
    o.push(...BLOCK, ...LOOP, ...get(P), ...get(END_P), GE_U, ...brIf(1));
    for (let r = 0; r < rows; r++) o.push(...get(P), ...get(I_OFF), ADD, ...(vectors === 0 ? [...f64Load(8 * r), ...set(FR[r]!)] : [...load64Splat(8 * r), ...set(RV[r]!)]));
    if (vectors === 0) {
      o.push(...get(P), ...get(K_OFF), ADD, ...f64Load(0), ...set(XK));
      for (let r = 0; r < rows; r++) o.push(...get(FA[r]!), ...get(FR[r]!), ...get(XK), F64_MUL, F64_ADD, ...set(FA[r]!));
    }
    for (let v = 0; v < vectors; v++) {
      o.push(...get(P), ...get(K_OFF), ADD, ...vLoad(16 * v), ...set(X));
      for (let r = 0; r < rows; r++) o.push(...get(acc(r, v)), ...get(RV[r]!), ...get(X), ...F64X2_MUL, ...F64X2_ADD, ...set(acc(r, v)));
    }
    o.push(...get(P), ...get(STRIDE), ADD, ...set(P), ...br(0), ...END, ...END);
    for (let r = 0; r < rows; r++) {
      if (vectors === 0) o.push(...row(r), ...get(FA[r]!), ...f64Store(0));
      for (let v = 0; v < vectors; v++) o.push(...row(r), ...get(acc(r, v)), ...vStore(16 * v));
    }
    o.push(...get(K), ...i32c(vectors === 0 ? 1 : 2 * vectors), ADD, ...set(K));
    return o;
  };
  b.push(...get(CAP), ...i32c(3), SHL, ...tee(STRIDE), ...get(BARS), MUL, ...get(BARS_AT), ADD, ...set(END_P));
  // Rows two at a time: block $done: loop $rows: while i + 1 < n
  b.push(...BLOCK, ...LOOP, ...get(I), ...i32c(1), ADD, ...get(N), GE_U, ...brIf(1));
  b.push(...get(I), ...i32c(3), SHL, ...set(I_OFF));
  // The pair (i, i + 1), then both rows' pairs from k = i + 2: eight columns per pass while
  // k + 8 <= n, then two while k + 2 <= n, then the last one.
  b.push(...get(I), ...i32c(1), ADD, ...set(K), ...pass(1, 0));
  for (const vectors of [4, 1]) {
    b.push(...BLOCK, ...LOOP, ...get(K), ...i32c(2 * vectors), ADD, ...get(N), GT_U, ...brIf(1));
    b.push(...pass(2, vectors), ...br(0), ...END, ...END);
  }
  b.push(...get(K), ...get(N), LT_S, ...IF, ...pass(2, 0), ...END);
  b.push(...get(I), ...i32c(2), ADD, ...set(I), ...br(0), ...END, ...END);
  const rhoAt = pairBarsAt(cap) + PAIR_BLOCK_BARS * cap * 8;
  const instAt = rhoAt + cap * cap * 8;
  const inst = cap + 2;
  const pages = Math.max(1, Math.ceil((instAt + 4 * inst * 8) / 65536));
  const memory = wasmMemory(pages);
  if (memory === undefined) return undefined;
  const run = wasmFunction({ params: [I32, I32, I32, I32], result: undefined, locals: [[8, I32], [5, F64], [11, V128]], body: b, memory, minPages: pages }) as PairKernel | undefined;
  const corr = wasmFunction({ params: [I32, I32, I32, I32], result: undefined, locals: [[4, I32], [9, V128]], body: corrBody(), memory, minPages: pages }) as
    | ((n: number, cap: number, rhoAt: number, instAt: number) => void)
    | undefined;
  if (run === undefined || corr === undefined) return undefined;
  return {
    sxy: new Float64Array(memory.buffer, 0, cap * cap),
    bars: new Float64Array(memory.buffer, pairBarsAt(cap), PAIR_BLOCK_BARS * cap),
    run,
    rho: new Float64Array(memory.buffer, rhoAt, cap * cap),
    s: new Float64Array(memory.buffer, instAt, inst),
    own: new Float64Array(memory.buffer, instAt + inst * 8, inst),
    zss: new Float64Array(memory.buffer, instAt + 2 * inst * 8, inst),
    n: new Float64Array(memory.buffer, instAt + 3 * inst * 8, inst),
    corr: (n) => corr(n, cap, rhoAt, instAt),
  };
}

/**
 * The body of corr(n, cap, rhoAt, instAt) (see {@link PairKernelState.corr}): rows i, pairs
 * (i, k) and (i, k + 1) per pass from k = i + 1 (the last pass of a row with an odd number of
 * pairs writes a slot that no pair reads: k + 1 = n is in the lower triangle or past the row).
 */
function corrBody(): number[] {
  const SHL = 0x74;
  const ADD = 0x6a;
  const MUL = 0x6c;
  const GE_S = 0x4e;
  const vLoad = (offset: number): number[] => [0xfd, 0x00, 3, ...uleb(offset)];
  const vStore = [0xfd, 0x0b, 3, 0];
  const load64Splat = (offset: number): number[] => [0xfd, 0x0a, 3, ...uleb(offset)];
  const F64X2_SPLAT = [0xfd, 0x14];
  const F64X2_GT = [0xfd, 0x4a];
  const V128_AND = [0xfd, 0x4e];
  const V128_BITSELECT = [0xfd, 0x52];
  const F64X2_SQRT = [0xfd, 0xef, 0x01];
  const F64X2_SUB = [0xfd, 0xf1, 0x01];
  const F64X2_MUL = [0xfd, 0xf2, 0x01];
  const F64X2_DIV = [0xfd, 0xf3, 0x01];
  const F64X2_PMIN = [0xfd, 0xf6, 0x01];
  const F64X2_PMAX = [0xfd, 0xf7, 0x01];
  // Params 0 n, 1 cap, 2 rhoAt, 3 instAt; i32 locals 4 i, 5 k, 6 pair (byte offset of (i, k)),
  // 7 kAt (instAt + k * 8); v128 8 s_i, 9 own_i, 10 n_i, 11 own_i > zss_i, 12 1, 13 -1, 14 NaN, 15 rho, 16 own_k.
  const [N, CAP, RHO_AT, INST_AT, I, K, PAIR, K_AT, SI, OWNI, NI, OKI, ONE, MINUS_ONE, NAN, R, OWNK] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  // Byte offsets of the per-instrument arrays from instAt: s, own, zss, n, each cap + 2 doubles.
  const arrayAt = (j: number): number[] => [...get(CAP), ...i32c(2), ADD, ...i32c(8 * j), MUL];
  const b: number[] = [];
  b.push(...f64c(1), ...F64X2_SPLAT, ...set(ONE), ...f64c(-1), ...F64X2_SPLAT, ...set(MINUS_ONE), ...f64c(Number.NaN), ...F64X2_SPLAT, ...set(NAN));
  b.push(...BLOCK, ...LOOP, ...get(I), ...i32c(1), ADD, ...get(N), GE_S, ...brIf(1));
  // The row's side: s_i, own_i, n_i and its variance test in both lanes.
  const rowAt = (j: number): number[] => [...get(INST_AT), ...arrayAt(j), ADD, ...get(I), ...i32c(3), SHL, ADD];
  b.push(...rowAt(0), ...load64Splat(0), ...set(SI), ...rowAt(1), ...load64Splat(0), ...set(OWNI), ...rowAt(3), ...load64Splat(0), ...set(NI));
  b.push(...get(OWNI), ...rowAt(2), ...load64Splat(0), ...F64X2_GT, ...set(OKI));
  b.push(...get(I), ...i32c(1), ADD, ...set(K));
  b.push(...BLOCK, ...LOOP, ...get(K), ...get(N), GE_S, ...brIf(1));
  b.push(...get(I), ...get(CAP), MUL, ...get(K), ADD, ...i32c(3), SHL, ...set(PAIR), ...get(INST_AT), ...get(K), ...i32c(3), SHL, ADD, ...set(K_AT));
  const colAt = (j: number): number[] => [...get(K_AT), ...arrayAt(j), ADD];
  b.push(...colAt(1), ...vLoad(0), ...set(OWNK));
  // (sxy - (s_i * s_k) / n_i) / sqrt(own_i * own_k), then r > 1 ? 1 : r, then r < -1 ? -1 : r.
  b.push(...get(PAIR), ...vLoad(0), ...get(SI), ...get(K_AT), ...vLoad(0), ...F64X2_MUL, ...get(NI), ...F64X2_DIV, ...F64X2_SUB);
  b.push(...get(OWNI), ...get(OWNK), ...F64X2_MUL, ...F64X2_SQRT, ...F64X2_DIV, ...get(ONE), ...F64X2_PMIN, ...get(MINUS_ONE), ...F64X2_PMAX, ...set(R));
  // NaN unless own_i > zss_i and own_k > zss_k.
  b.push(...get(RHO_AT), ...get(PAIR), ADD, ...get(R), ...get(NAN), ...get(OKI), ...get(OWNK), ...colAt(2), ...vLoad(0), ...F64X2_GT, ...V128_AND, ...V128_BITSELECT, ...vStore);
  b.push(...get(K), ...i32c(2), ADD, ...set(K), ...br(0), ...END, ...END);
  b.push(...get(I), ...i32c(1), ADD, ...set(I), ...br(0), ...END, ...END);
  return b;
}
