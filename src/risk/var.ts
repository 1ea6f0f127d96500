/**
 * Value at Risk and Expected Shortfall of a trader's book: historical simulation over scenario
 * returns from history.csv, and parametric (variance-covariance) VaR with an EWMA covariance.
 * Pure code: the desk-risk operator (desk.ts) keeps one scenario P&L vector per trader and calls
 * these on it.
 */
import type { History } from '../core/reference.js';
import { ewmaCovariance } from './ewma.js';
import { BUFFER_MAX, smallestSorted, smallestSortedKernel, type SmallestSortedKernel } from './quickselect.js';
import { BLOCK, br, brIf, END, F64, f64Load, f64Store, get, i32c, I32, i32Load, IF, LOOP, set, tee, V128, wasmFunction, wasmMemory, type WasmMemory } from './wasm.js';

/**
 * How the VaR quantile is read off the S scenario P&Ls:
 * - `lower` (CONTRACTS.md 4, the default): the order statistic L(k), k = floor((1 - c) S), 0-based;
 *   ES = -mean(L(0..k)).
 * - `linear`: R's `quantile(type = 7)` / numpy's default `linear`: with p = 1 - c and
 *   pos = p (S - 1), the quantile is Q7(p) = (1 - h) L(lo) + h L(lo + 1), lo = floor(pos),
 *   h = pos - lo. ES in this mode is the tail mean of the distribution whose quantile function is
 *   that interpolation: ES = -(1/p) * integral_0^p Q7(u) du, Q7 piecewise linear through
 *   (j / (S - 1), L(j)). It is >= VaR, continuous in c, and equals -L(0) when p = 0.
 *
 * @example
 * new HistoricalVar(500, { confidence: 0.99, quantile: 'linear' });
 */
export type QuantileMethod = 'lower' | 'linear';

/**
 * The scenario set every trader's VaR is computed over (CONTRACTS.md 4, Historical-simulation VaR).
 *
 * @example
 * const sc: ScenarioSet = buildScenarios(reference.history, 250); sc.size; // 250
 */
export interface ScenarioSet {
  /** Scenarios actually available: min(requested, dates - 1). */
  size: number;
  requested: number;
  /** End date of each scenario (the date of close[s]). */
  dates: string[];
  /** r[s] = close[s] / close[s-1] - 1 per instrument, s = 0..size-1, oldest first. */
  returns: Map<string, Float64Array>;
  /** Instruments with returns set to 0 because a close was missing or not positive: count per instrument. */
  filled: Map<string, number>;
  /** Human-readable findings (short history, filled returns), for the step to report. */
  warnings: string[];
}

/**
 * Scenario returns from the last S+1 dates of the history (CONTRACTS.md 4, Historical-simulation
 * VaR): `r[i][s] = close[i][s] / close[i][s-1] - 1`.
 *
 * Missing data never produces NaN: a return whose close (or previous close) is missing is 0 ("no
 * move observed" in that scenario) and counted in `filled`; an instrument absent from the history
 * has no entry in `returns`, so it contributes 0 to every scenario (desk.ts warns when such an
 * instrument is first traded). A history shorter than S+1 dates gives fewer scenarios (with a
 * warning); no history at all gives size 0, for which VaR and ES are 0.
 *
 * @example
 * const sc = buildScenarios(reference.history, 250);
 * sc.returns.get('ACME')![sc.size - 1]; // yesterday's return of ACME
 */
export function buildScenarios(history: History | undefined, requested = 250): ScenarioSet {
  if (!(Number.isInteger(requested) && requested >= 1)) throw new RangeError(`scenarios must be an integer >= 1, got ${requested}`);
  const warnings: string[] = [];
  const dates = history?.dates ?? [];
  const size = Math.max(0, Math.min(requested, dates.length - 1));
  if (size < requested) {
    warnings.push(`history has ${dates.length} dates: ${size} VaR scenarios instead of ${requested}`);
  }
  const first = dates.length - size - 1;
  const returns = new Map<string, Float64Array>();
  const filled = new Map<string, number>();
  if (history && size > 0) {
    for (const [instrument, closes] of history.closes) {
      const r = new Float64Array(size);
      let missing = 0;
      for (let s = 0; s < size; s++) {
        const prev = closes[first + s] as number;
        const cur = closes[first + s + 1] as number;
        if (prev > 0 && cur > 0) r[s] = cur / prev - 1;
        else missing++;
      }
      returns.set(instrument, r);
      if (missing > 0) filled.set(instrument, missing);
    }
  }
  for (const [instrument, n] of filled) {
    warnings.push(`${instrument}: ${n} of ${size} scenario returns missing in history.csv, taken as 0`);
  }
  return { size, requested, dates: dates.slice(first + 1), returns, filled, warnings };
}

/**
 * The 0-based rank k = floor((1 - c) S) of the `lower` quantile, clamped to [0, S-1]. A 1e-9 nudge
 * absorbs binary rounding: (1 - 0.9) * 250 is 24.999999999999996 in doubles, and the contract
 * means 25.
 *
 * @example
 * lowerRank(0.99, 250); // 2
 * lowerRank(0.9, 250);  // 25
 */
export function lowerRank(confidence: number, S: number): number {
  const k = Math.floor((1 - confidence) * S + 1e-9);
  return Math.min(Math.max(k, 0), S - 1);
}

/**
 * Historical-simulation VaR and ES of scenario P&L vectors, by selection rather than sorting:
 * only the k+1 (or, for `linear`, lo+2) smallest scenarios are extracted, in one O(S) pass
 * (quickselect.ts: `smallestSorted`), and VaR and ES read off them. Figures are losses
 * (positive = money lost) scaled to the horizon by sqrt(h) (CONTRACTS.md 4). VaR can be negative
 * when even the k-th worst scenario is a gain; a flat book gives exactly 0.
 *
 * @example
 * const hv = new HistoricalVar(250, { confidence: 0.99 });
 * hv.compute(L); // hv.var, hv.es
 */
export class HistoricalVar {
  readonly size: number;
  readonly confidence: number;
  readonly horizonDays: number;
  readonly quantile: QuantileMethod;
  var = 0;
  es = 0;
  private readonly scratch: Float64Array;
  private readonly tail: Float64Array;
  private readonly scale: number;
  private readonly k: number;
  private readonly pos: number;
  private readonly m: number;

  constructor(size: number, opts: { confidence?: number; horizonDays?: number; quantile?: QuantileMethod } = {}) {
    const c = opts.confidence ?? 0.99;
    const h = opts.horizonDays ?? 1;
    if (!(c > 0 && c < 1)) throw new RangeError(`VaR confidence must be in (0, 1), got ${c}`);
    if (!(h > 0)) throw new RangeError(`VaR horizon must be > 0 days, got ${h}`);
    this.size = size;
    this.confidence = c;
    this.horizonDays = h;
    this.quantile = opts.quantile ?? 'lower';
    this.scale = Math.sqrt(h);
    this.k = size > 0 ? lowerRank(c, size) : 0;
    this.pos = (1 - c) * Math.max(size - 1, 0);
    // Order statistics needed: x(0..k) for `lower`; x(0..lo+1) for `linear`.
    this.m = size === 0 ? 0 : this.quantile === 'lower' ? this.k + 1 : Math.min(Math.floor(this.pos) + 2, size);
    this.tail = new Float64Array(Math.max(this.m, 1));
    this.scratch = new Float64Array(Math.max(size, 1));
  }

  /** Sets `var` and `es` from the first `size` entries of `pnl` (left unchanged). */
  compute(pnl: Float64Array): void {
    if (this.size === 0) {
      this.var = 0;
      this.es = 0;
      return;
    }
    smallestSorted(pnl, this.size, this.m, this.tail, this.scratch);
    this.fromTail(this.tail);
  }

  /**
   * {@link compute} of `pnl`, a P&L vector resident in `fold`'s memory at byte `at`
   * (ScenarioFold.residentL), with its selection in WebAssembly (ScenarioFold.smallestOf): the
   * same order statistics, so the same bits. Falls back to compute() where the fold has no
   * selection kernel or the tail is too long for it.
   */
  computeResident(pnl: Float64Array, fold: ScenarioFold, at: number): void {
    const x = this.size === 0 ? undefined : fold.smallestOf(at, this.size, this.m);
    if (x === undefined) this.compute(pnl);
    else this.fromTail(x);
  }

  /** Sets `var` and `es` from the m smallest scenario P&Ls in ascending order. */
  private fromTail(x: Float64Array): void {
    const S = this.size;
    let v: number;
    let e: number;
    if (this.quantile === 'lower') {
      // CONTRACTS.md 4: VaR_c = -L[k], ES_c = -mean(L[0..k]) on the ascending order.
      const k = this.k;
      let sum = 0;
      for (let i = 0; i <= k; i++) sum += x[i] as number;
      v = -(x[k] as number);
      e = -sum / (k + 1);
    } else {
      [v, e] = linearTail(x, S, this.pos);
    }
    // +0 turns -0 (a flat book) into 0.
    this.var = v * this.scale + 0;
    this.es = e * this.scale + 0;
  }
}

/**
 * R type-7 quantile and its tail mean (see {@link QuantileMethod}) from the sorted lo+2 smallest
 * values x(0..lo+1): with pos = lo + h,
 * integral_0^p Q7 du = [sum_{j<=lo} x(j) - x(0)/2 - x(lo)/2 + h x(lo) + h^2/2 (x(lo+1) - x(lo))] / (S-1),
 * and p = pos / (S - 1), so ES = -[...] / pos.
 */
function linearTail(x: Float64Array, S: number, pos: number): [number, number] {
  if (S === 1) return [-(x[0] as number), -(x[0] as number)];
  const lo = Math.min(Math.floor(pos), S - 1);
  const h = pos - lo;
  const xLo = x[lo] as number;
  const xHi = lo + 1 < S ? (x[lo + 1] as number) : xLo;
  const x0 = x[0] as number;
  let sum = 0;
  for (let i = 0; i <= lo; i++) sum += x[i] as number;
  // R's own form of the interpolation ((1-h) x_lo + h x_hi), so results match quantile(type = 7) bit for bit where they can.
  const q = (1 - h) * xLo + h * xHi;
  if (pos === 0) return [-q, -x0];
  const area = sum - x0 / 2 - xLo / 2 + h * xLo + ((h * h) / 2) * (xHi - xLo);
  return [-q, -area / pos];
}

/**
 * `L += d * r` over the first S entries: a position's notional changed by `d`, so every
 * scenario's P&L moves by d times that instrument's scenario return (CONTRACTS.md 4: "a position
 * change updates L in O(S)").
 *
 * @example
 * addScaled(L, newNotional - oldNotional, scenarios.returns.get('ACME')!, scenarios.size);
 */
export function addScaled(L: Float64Array, d: number, r: Float64Array, S: number): void {
  let s = 0;
  // Unrolled by 4: measured about 25% faster than the plain loop at S = 500 (fewer loop checks per element).
  for (; s + 3 < S; s += 4) {
    L[s] = (L[s] as number) + d * (r[s] as number);
    L[s + 1] = (L[s + 1] as number) + d * (r[s + 1] as number);
    L[s + 2] = (L[s + 2] as number) + d * (r[s + 2] as number);
    L[s + 3] = (L[s + 3] as number) + d * (r[s + 3] as number);
  }
  for (; s < S; s++) L[s] = (L[s] as number) + d * (r[s] as number);
}

/**
 * `L += d[0] * r[0]; L += d[1] * r[1]; ...` over the first S entries for the first `k` pairs, with
 * the same floating-point result as that many {@link addScaled} calls in that order (each entry
 * receives the same additions in the same order; JavaScript never fuses a multiply-add), but
 * reading and writing L once per group of up to eight positions rather than once per position
 * (groups of eight, then the rest in one pass): a snapshot folds every moved position of a book
 * at once.
 *
 * @example
 * addScaledMany(L, Float64Array.of(d1, d2), [r1, r2], 2, S); // same bits as addScaled(L, d1, r1, S); addScaled(L, d2, r2, S)
 */
export function addScaledMany(L: Float64Array, d: Float64Array, r: ReadonlyArray<Float64Array>, k: number, S: number): void {
  let j = 0;
  const eight = FOLD_KERNELS[8]!;
  for (; j + 7 < k; j += 8) eight(L, d, r, j, S);
  // The last 1-7 positions in one pass too (a book has a handful: one read and write of L
  // rather than one per power-of-two group).
  const rest = k - j;
  if (rest === 1) addScaled(L, d[j] as number, r[j]!, S);
  else if (rest > 1) FOLD_KERNELS[rest]!(L, d, r, j, S);
}

type FoldKernel = (L: Float64Array, d: Float64Array, r: ReadonlyArray<Float64Array>, j: number, S: number) => void;

/**
 * Positions j..j+w-1 of d and r folded in one pass over L, added left to right
 * (`L[s] + d0 * r0[s] + d1 * r1[s] + ...`, the order of w addScaled calls), with each d and r in
 * a local: the loop written out for width w, generated once per width rather than written out
 * eight times. No input reaches the generated text.
 */
function foldKernel(w: number): FoldKernel {
  const locals: string[] = [];
  const terms: string[] = [];
  for (let i = 0; i < w; i++) {
    locals.push(`const d${i} = d[j + ${i}], r${i} = r[j + ${i}];`);
    terms.push(`d${i} * r${i}[s]`);
  }
  return new Function('L', 'd', 'r', 'j', 'S', `${locals.join(' ')} for (let s = 0; s < S; s++) L[s] = L[s] + ${terms.join(' + ')};`) as FoldKernel;
}

/** FOLD_KERNELS[w]: the kernel of width w (2 to 8). */
const FOLD_KERNELS: Array<FoldKernel | undefined> = Array.from({ length: 9 }, (_, w) => (w >= 2 ? foldKernel(w) : undefined));

/**
 * Scenario return vectors kept in WebAssembly memory, and a fold of many positions into a P&L
 * vector there with 128-bit SIMD (two scenarios per instruction): the snapshot-time fold of every
 * moved position of every book, the largest arithmetic loop of desk risk. Bit-identical to
 * {@link addScaledMany} and to that many {@link addScaled} calls: each scenario s receives
 * `L[s] + d0 * r0[s]`, then `+ d1 * r1[s]`, ... in position order, as IEEE-754 double multiplies
 * and adds with no fused multiply-add (wasm's f64x2.mul/f64x2.add and f64.mul/f64.add round
 * exactly like JavaScript's * and +). Positions go four at a time through one pass over L, so L
 * is read and written once per four positions. Without WebAssembly SIMD it falls back to
 * addScaledMany on the same staged inputs (same results).
 *
 * Usage: `returnsOf(name)` gives the instrument's return vector (a view into the memory, same
 * values as `scenarios.returns`) and `returnsId(name)` a number for it; stage positions 0..k-1
 * with `stage(j, d, id)`, then `foldStaged(L, k)` adds them to L.
 *
 * @example
 * const f = new ScenarioFold(scenarios);
 * f.stage(0, d1, f.returnsId('ACME')); f.stage(1, d2, f.returnsId('BOLT'));
 * f.foldStaged(L, 2); // same bits as addScaled(L, d1, rACME, S); addScaled(L, d2, rBOLT, S)
 */
export class ScenarioFold {
  readonly size: number;
  /** Whether folds run in the WebAssembly SIMD kernel (false: the addScaledMany fallback). */
  readonly simd: boolean;
  /** Notional changes of the staged positions. */
  private readonly d: Float64Array;
  /** Byte offsets of the staged positions' return vectors in the memory (SIMD path). */
  private readonly off: Int32Array | undefined;
  /** The staged return vectors (fallback path). */
  private readonly rs: Float64Array[] = [];
  /** L's copy in the memory (SIMD path). */
  private readonly lw: Float64Array | undefined;
  private readonly kernel: FoldFn | undefined;
  /** The tail selection over resident vectors (see {@link smallestOf}), and its output, at byte tailAt. */
  private readonly select: SmallestSortedKernel | undefined;
  private readonly tail: Float64Array | undefined;
  private readonly tailAt: number;
  private readonly returns = new Map<string, Float64Array>();
  /** Each instrument's returns id (see {@link returnsId}), its vector, and the vector's byte offset in the memory (SIMD path). */
  private readonly ids = new Map<string, number>();
  private readonly vectors: Float64Array[] = [];
  private readonly offsets: Int32Array;
  private readonly lwAt: number;
  private readonly dAt: number;
  private readonly offAt: number;
  /** Byte offset of the next free resident L slot (see {@link residentL}) and the end of the slots. */
  private nextLAt: number;
  private readonly lEnd: number;

  /**
   * `extra`: how many positions beyond one per instrument with returns (what a book can hold) a
   * fold may stage. `residents`: how many L vectors to keep room for in the memory (see
   * {@link residentL}).
   */
  constructor(scenarios: ScenarioSet, extra = 0, residents = 0) {
    const S = scenarios.size;
    this.size = S;
    const n = scenarios.returns.size + extra;
    // Layout: L (S doubles), d (n doubles), offsets (n int32), the selected tail (BUFFER_MAX
    // doubles), the return vectors, then the resident L slots. Every part 16-byte aligned.
    const align = (x: number): number => Math.ceil(x / 16) * 16;
    this.lwAt = 0;
    this.dAt = align(S * 8);
    this.offAt = align(this.dAt + Math.max(n, 1) * 8);
    this.tailAt = align(this.offAt + Math.max(n, 1) * 4);
    const rAt = align(this.tailAt + BUFFER_MAX * 8);
    this.nextLAt = align(rAt + scenarios.returns.size * S * 8);
    this.lEnd = this.nextLAt + (S > 0 ? residents : 0) * align(S * 8);
    const bytes = this.lEnd;
    const kernel = S > 0 ? foldKernelWasm(Math.ceil(bytes / 65536)) : undefined;
    this.simd = kernel !== undefined;
    if (kernel !== undefined) {
      const buf = kernel.memory.buffer;
      this.kernel = kernel.fold;
      this.lw = new Float64Array(buf, this.lwAt, S);
      this.d = new Float64Array(buf, this.dAt, Math.max(n, 1));
      this.off = new Int32Array(buf, this.offAt, Math.max(n, 1));
      this.select = smallestSortedKernel(kernel.memory);
      this.tail = this.select === undefined ? undefined : new Float64Array(buf, this.tailAt, BUFFER_MAX);
      let at = rAt;
      for (const [name, r] of scenarios.returns) {
        const v = new Float64Array(buf, at, S);
        v.set(r.subarray(0, S));
        this.returns.set(name, v);
        at += S * 8;
      }
    } else {
      this.d = new Float64Array(Math.max(n, 1));
      for (const [name, r] of scenarios.returns) this.returns.set(name, r);
    }
    this.offsets = new Int32Array(Math.max(this.returns.size, 1));
    for (const [name, v] of this.returns) {
      const id = this.vectors.length;
      this.ids.set(name, id);
      this.vectors.push(v);
      // Read once here: a typed array's byteOffset is a slow property read.
      this.offsets[id] = v.byteOffset;
    }
  }

  /** A number for the instrument's scenario returns, to stage them with; -1 without history. */
  returnsId(name: string): number {
    return this.ids.get(name) ?? -1;
  }

  /** The instrument's scenario returns (the values of `scenarios.returns`), undefined without history. */
  returnsOf(name: string): Float64Array | undefined {
    return this.returns.get(name);
  }

  /** Stages position j of the next fold: notional change `d`, the returns of returnsId `id` (not -1). */
  stage(j: number, d: number, id: number): void {
    this.d[j] = d;
    if (this.off !== undefined) this.off[j] = this.offsets[id] as number;
    else this.rs[j] = this.vectors[id]!;
  }

  /**
   * A zeroed L (length `size`) kept in the memory, so that {@link foldStaged} folds into it in
   * place instead of copying it in and out, and its byte offset there; undefined when the memory
   * has none (no SIMD kernel) or every slot is taken (the caller then uses a plain array). The
   * memory never grows, so the view stays valid.
   */
  residentL(): { L: Float64Array; at: number } | undefined {
    if (this.lw === undefined) return undefined;
    const at = this.nextLAt;
    const step = Math.ceil((this.size * 8) / 16) * 16;
    if (at + step > this.lEnd) return undefined;
    this.nextLAt = at + step;
    return { L: new Float64Array(this.lw.buffer, at, this.size), at };
  }

  /**
   * The `m` smallest of the first `n` entries of the resident vector at byte `at` (see
   * {@link residentL}) in ascending order, as smallestSorted writes them (selected in WebAssembly:
   * smallestSortedKernel); a view in the memory, valid until the next call. undefined when there
   * is no selection kernel or m is past its buffer (the caller then selects in JavaScript).
   */
  smallestOf(at: number, n: number, m: number): Float64Array | undefined {
    if (this.select === undefined || !(m >= 1 && m <= BUFFER_MAX && m <= n && n <= this.size)) return undefined;
    this.select(at, n, m, this.tailAt);
    return this.tail;
  }

  /**
   * Adds the first k staged positions to L (length `size`), in stage order. `lAt`: L's byte offset
   * in the memory when it came from {@link residentL} (folded in place), else -1.
   */
  foldStaged(L: Float64Array, k: number, lAt = -1): void {
    if (lAt >= 0) {
      this.kernel!(lAt, this.dAt, this.offAt, k, this.size);
      return;
    }
    const lw = this.lw;
    if (lw !== undefined) {
      lw.set(L);
      this.kernel!(this.lwAt, this.dAt, this.offAt, k, this.size);
      L.set(lw);
    } else addScaledMany(L, this.d, this.rs, k, this.size);
  }
}

type FoldFn = (lAt: number, dAt: number, offAt: number, k: number, n: number) => void;

/**
 * The SIMD fold kernel over a fresh memory of `pages` 64 KiB pages, or undefined when this
 * runtime has no WebAssembly SIMD. Assembled here from its instructions (see wasm.ts):
 * fold(lAt, dAt, offAt, k, n) does, for j = 0..k-1 in groups of four,
 * L[s] = L[s] + d[j] * R_j[s] (+ d[j+1] * R_{j+1}[s] ...) for s = 0..n-1, two doubles at a time
 * and the odd last one alone; L at byte lAt, d (f64) at dAt, the R_j byte offsets (i32) at offAt.
 */
function foldKernelWasm(pages: number): { fold: FoldFn; memory: WasmMemory } | undefined {
  const memory = wasmMemory(pages, pages);
  if (memory === undefined) return undefined;
  const [ADD, SUB, AND, SHL, GE_U, LT_U] = [0x6a, 0x6b, 0x71, 0x74, 0x4f, 0x49];
  const [F64_MUL, F64_ADD] = [0xa2, 0xa0];
  const F64_STORE = f64Store(0);
  const V_LOAD = [0xfd, 0x00, 3, 0];
  const V_STORE = [0xfd, 0x0b, 3, 0];
  const F64X2_SPLAT = [0xfd, 0x14];
  const F64X2_ADD = [0xfd, 0xf0, 0x01];
  const F64X2_MUL = [0xfd, 0xf2, 0x01];
  // Params 0 lAt, 1 dAt, 2 offAt, 3 k, 4 n; locals 5 j, 6 p (byte offset in L), 7 n * 8,
  // 8 (n & ~1) * 8, 9 scratch address, 10-13 R offsets, 14-17 d (f64), 18-21 d splatted (v128).
  const [LAT, DAT, OAT, K, N, J, P, NB, N2B, A, R, D, DV] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 18];
  /** Positions j..j+w-1 in one pass over L, then j += w; `out` is the depth of the position loop. */
  const group = (w: number, out: number): number[] => {
    const o: number[] = [];
    for (let i = 0; i < w; i++) {
      o.push(...get(DAT), ...get(J), ...i32c(3), SHL, ADD, ...f64Load(i * 8), ...tee(D + i), ...F64X2_SPLAT, ...set(DV + i));
      o.push(...get(OAT), ...get(J), ...i32c(2), SHL, ADD, ...i32Load(i * 4), ...set(R + i));
    }
    o.push(...i32c(0), ...set(P), ...BLOCK, ...LOOP, ...get(P), ...get(N2B), GE_U, ...brIf(1));
    o.push(...get(LAT), ...get(P), ADD, ...tee(A), ...get(A), ...V_LOAD);
    for (let i = 0; i < w; i++) o.push(...get(DV + i), ...get(R + i), ...get(P), ADD, ...V_LOAD, ...F64X2_MUL, ...F64X2_ADD);
    o.push(...V_STORE, ...get(P), ...i32c(16), ADD, ...set(P), ...br(0), ...END, ...END);
    o.push(...get(P), ...get(NB), LT_U, ...IF, ...get(LAT), ...get(P), ADD, ...tee(A), ...get(A), ...f64Load(0));
    for (let i = 0; i < w; i++) o.push(...get(D + i), ...get(R + i), ...get(P), ADD, ...f64Load(0), F64_MUL, F64_ADD);
    o.push(...F64_STORE, ...END, ...get(J), ...i32c(w), ADD, ...set(J), ...br(out));
    return o;
  };
  // block(out) loop(pos): while j < k: the widest group that fits (4, 3, 2 or 1).
  const body = [...get(N), ...i32c(3), SHL, ...set(NB), ...get(N), ...i32c(-2), AND, ...i32c(3), SHL, ...set(N2B)];
  body.push(...BLOCK, ...LOOP, ...get(J), ...get(K), GE_U, ...brIf(1));
  for (const w of [4, 3, 2]) body.push(...get(K), ...get(J), SUB, ...i32c(w), GE_U, ...IF, ...group(w, 1), ...END);
  body.push(...group(1, 0), ...END, ...END);
  const fold = wasmFunction({ params: [I32, I32, I32, I32, I32], result: undefined, locals: [[5, I32], [4, I32], [4, F64], [4, V128]], body, memory, minPages: pages });
  return fold === undefined ? undefined : { fold: fold as FoldFn, memory };
}

// ---------------------------------------------------------------------------------------------
// Parametric VaR

/**
 * Standard normal quantile Phi^-1(p), Wichura's algorithm AS 241 (PPND16, Applied Statistics 37,
 * 1988), accurate to about 1e-16 relative.
 *
 * @example
 * normalQuantile(0.99); // 2.3263478740408408
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return Number.NEGATIVE_INFINITY;
    if (p === 1) return Number.POSITIVE_INFINITY;
    return Number.NaN;
  }
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (
      (q *
        (((((((2509.0809287301226727 * r + 33430.575583588128105) * r + 67265.770927008700853) * r + 45921.953931549871457) * r +
          13731.693765509461125) *
          r +
          1971.5909503065514427) *
          r +
          133.14166789178437745) *
          r +
          3.387132872796366608)) /
      (((((((5226.495278852545925 * r + 28729.085735721942674) * r + 39307.89580009271061) * r + 21213.794301586595867) * r +
        5394.1960214247511077) *
        r +
        687.1870074920579083) *
        r +
        42.313330701600911252) *
        r +
        1)
    );
  }
  let r = q < 0 ? p : 1 - p;
  r = Math.sqrt(-Math.log(r));
  let x: number;
  if (r <= 5) {
    r -= 1.6;
    x =
      (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r + 0.24178072517745061177) * r + 1.27045825245236838258) * r +
        3.64784832476320460504) *
        r +
        5.7694972214606914055) *
        r +
        4.6303378461565452959) *
        r +
        1.42343711074968357734) /
      (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r + 0.14810397642748007459) * r +
        0.68976733498510000455) *
        r +
        1.6763848301838038494) *
        r +
        2.05319162663775882187) *
        r +
        1);
  } else {
    r -= 5;
    x =
      (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r + 0.026532189526576123093) * r +
        0.29656057182850489123) *
        r +
        1.7848265399172913358) *
        r +
        5.4637849111641143699) *
        r +
        6.6579046435011037772) /
      (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r +
        0.0148753612908506148525) *
        r +
        0.13692988092273580531) *
        r +
        0.59983220655588793769) *
        r +
        1);
  }
  return q < 0 ? -x : x;
}

/**
 * Standard normal density.
 *
 * @example
 * normalPdf(0); // 0.3989422804014327
 */
export function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}

/**
 * The EWMA covariance of the scenario returns (ewma.ts) over the instruments of a scenario set,
 * and the normal multipliers of parametric VaR/ES: VaR = z_c sqrt(w' Sigma w) sqrt(h),
 * ES = phi(z_c) / (1 - c) sqrt(w' Sigma w) sqrt(h), w = the notionals (CONTRACTS.md 4, parametric
 * VaR; lambda 0.94). Instruments without history have no row (they contribute nothing, like in
 * historical simulation).
 *
 * @example
 * const pm = new ParametricModel(scenarios, { confidence: 0.99, lambda: 0.94 });
 * pm.var(quadForm.q); // VaR of a book whose w' Sigma w is q
 */
export class ParametricModel {
  /** Instrument -> row of `cov`. */
  readonly index: Map<string, number>;
  readonly n: number;
  readonly cov: Float64Array;
  readonly varFactor: number;
  readonly esFactor: number;

  constructor(scenarios: ScenarioSet, opts: { confidence?: number; horizonDays?: number; lambda?: number } = {}) {
    const c = opts.confidence ?? 0.99;
    const h = opts.horizonDays ?? 1;
    if (!(c > 0 && c < 1)) throw new RangeError(`VaR confidence must be in (0, 1), got ${c}`);
    const names = [...scenarios.returns.keys()].sort();
    this.index = new Map(names.map((nm, i) => [nm, i]));
    this.n = names.length;
    this.cov = ewmaCovariance(names.map((nm) => scenarios.returns.get(nm)), scenarios.size, opts.lambda ?? 0.94);
    const z = normalQuantile(c);
    this.varFactor = z * Math.sqrt(h);
    this.esFactor = (normalPdf(z) / (1 - c)) * Math.sqrt(h);
  }

  /** VaR of a book with quadratic form q = w' Sigma w (negative q from rounding counts as 0). */
  var(q: number): number {
    return this.varFactor * Math.sqrt(q > 0 ? q : 0);
  }

  es(q: number): number {
    return this.esFactor * Math.sqrt(q > 0 ? q : 0);
  }
}

/**
 * w' Sigma w of one book kept incrementally: with u = Sigma w, a change d of w_i gives
 * q += d (2 u_i + d Sigma_ii) and u += d Sigma[i, .] — O(N) per position change instead of the
 * O(N^2) recomputation.
 *
 * @example
 * const qf = new QuadForm(model.n); qf.add(model, i, newNotional - oldNotional); model.var(qf.q);
 */
export class QuadForm {
  q = 0;
  u: Float64Array;
  constructor(n: number) {
    this.u = new Float64Array(n);
  }

  add(model: ParametricModel, i: number, d: number): void {
    const n = model.n;
    const cov = model.cov;
    const u = this.u;
    const row = i * n;
    this.q += d * (2 * (u[i] as number) + d * (cov[row + i] as number));
    for (let j = 0; j < n; j++) u[j] = (u[j] as number) + d * (cov[row + j] as number);
  }

  /** Recomputes from the weights (drops rounding accumulated by `add`). */
  rebuild(model: ParametricModel, w: Float64Array): void {
    const n = model.n;
    const cov = model.cov;
    const u = this.u;
    let q = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += (cov[i * n + j] as number) * (w[j] as number);
      u[i] = s;
      q += (w[i] as number) * s;
    }
    this.q = q;
  }
}
