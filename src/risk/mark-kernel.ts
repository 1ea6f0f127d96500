/**
 * The desk's per-holder mark-move loop (DeskRisk.onMarkMove) as WebAssembly, over a position book
 * kept in WebAssembly memory (PositionBook.memory). The JavaScript loop pays a bounds check on
 * each of the thirty-odd typed-array reads and writes a holder costs; here they are plain loads
 * and stores at constant offsets from the two records. Bit-identical to the JavaScript loop: the
 * same IEEE-754 double operations in the same order (wasm's f64 add, sub, mul, abs, neg and
 * comparisons are JavaScript's +, -, *, Math.abs, unary - and comparisons; nothing is fused).
 *
 * It does only the common case and hands everything else back to JavaScript, holder by holder,
 * so that JavaScript performs exactly its own steps there:
 * - a holder whose trader tracks concentration, or whose touch count reaches a re-sum, is
 *   returned untouched (`2k`): JavaScript re-values it entirely;
 * - a holder whose book-level metrics leave the quiet box, or whose drift bound passes the VaR
 *   room, is returned after its re-valuation (`2k + 1`): JavaScript runs the limit checks.
 * `2 * count` means every holder from `k` on is done.
 */
import type { BookMemory } from './positions.js';
import { BLOCK, br, brIf, END, F64, f64c, f64Load, f64Store, get, i32c, I32, i32Load, IF, LOOP, RETURN, set, tee, wasmFunction, wasmMemory } from './wasm.js';

/**
 * Slot numbers (in doubles) of the records the kernel reads and writes: a position record of 8
 * doubles and a trader record of 24 (PF and TF of positions.ts), the desk's slots included.
 *
 * @example markKernel(memory, { qty: 0, avg: 1, ... })
 */
export interface MarkKernelSlots {
  qty: number;
  avg: number;
  notional: number;
  unrealized: number;
  abs: number;
  riskNotional: number;
  riskDrift: number;
  gross: number;
  net: number;
  realized: number;
  traderUnrealized: number;
  peak: number;
  touches: number;
  drift: number;
  varRoom: number;
  gLo: number;
  gHi: number;
  lLo: number;
  lHi: number;
  dLo: number;
  dHi: number;
  conc: number;
  /** An instrument record's mark, VaR bound and holder-list byte offsets (IM_MARK, IM_EXT, IM_IDS_AT, IM_TIS_AT of positions.ts). */
  mark: number;
  bound: number;
  idsAt: number;
  tisAt: number;
  /** Doubles per position record and per trader record (powers of two times 8 not required). */
  pf: number;
  tf: number;
  /** Touches between re-sums (a power of two). */
  resumEvery: number;
}

/**
 * run(instAt, k, count, skip, pfAt, tfAt): re-values holders k.. of the instrument whose record
 * is at byte instAt (its mark, VaR bound and the byte offsets of its holder lists: position ids and
 * trader indices as int32; position records at byte pfAt, trader records at tfAt), skipping
 * trader `skip`, until one needs JavaScript; returns 2k, 2k + 1 or 2 count as described above.
 * Every argument is an integer: a double passed from JavaScript would be boxed at each call.
 */
export type MarkKernel = (instAt: number, k: number, count: number, skip: number, pfAt: number, tfAt: number) => number;

/**
 * A fresh growable WebAssembly memory of one 64 KiB page for a PositionBook, or undefined when
 * this runtime has no WebAssembly.
 *
 * @example const book = new PositionBook(prevClose, listener, hooks, bookMemory());
 */
export function bookMemory(): BookMemory | undefined {
  return wasmMemory(1);
}

/**
 * The kernel over `memory` (a WebAssembly.Memory), or undefined when this runtime has no
 * WebAssembly. Assembled here from its instructions (see wasm.ts).
 */
export function markKernel(memory: BookMemory, slot: MarkKernelSlots): MarkKernel | undefined {
  const [I32_EQZ, I32_EQ, I32_GE_S, I32_ADD, I32_MUL, I32_AND, I32_OR, I32_SHL] = [0x45, 0x46, 0x4e, 0x6a, 0x6c, 0x71, 0x72, 0x74];
  const [F64_EQ, F64_NE, F64_LT, F64_GT, F64_LE, F64_ABS, F64_NEG, F64_FLOOR, F64_ADD, F64_SUB, F64_MUL] = [0x61, 0x62, 0x63, 0x64, 0x65, 0x99, 0x9a, 0x9c, 0xa0, 0xa1, 0xa2];
  const I32_LOAD = i32Load(0);
  const I32_TRUNC_F64_U = 0xab;
  // Record slots are in doubles.
  const slotLoad = (s: number): number[] => f64Load(s * 8);
  const slotStore = (s: number): number[] => f64Store(s * 8);
  // Params 0 instAt, 1 k, 2 count, 3 skip, 4 pfAt, 5 tfAt (i32); locals 6 ti, 7 b, 8 c, 9 idsAt,
  // 10 tisAt (i32), 11.. f64 (the mark and bound first, read from the instrument record).
  const [INST, K, COUNT, SKIP, PFAT, TFAT, TI, B, C, IDS, TIS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [MARK, BND, TOUCHES, Q, OLD_N, OLD_U, ABS_OLD, N, U, ABS_N, G, UN, PNL, PEAK, DRIFT, TERM, LOSS, DD, T] = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
  const retK = (plus: number): number[] => [...get(K), ...i32c(1), I32_SHL, ...(plus ? [...i32c(plus), I32_ADD] : []), ...RETURN];
  const pfLoad = (s: number): number[] => [...get(B), ...slotLoad(s)];
  const tfLoad = (s: number): number[] => [...get(C), ...slotLoad(s)];
  const instLoad = (s: number): number[] => [...get(INST), ...slotLoad(s)];
  const b: number[] = [];
  // The instrument record's numbers (the byte offsets: integral doubles below 2^32, as i32 addresses).
  b.push(...instLoad(slot.mark), ...set(MARK), ...instLoad(slot.bound), ...set(BND));
  b.push(...instLoad(slot.idsAt), I32_TRUNC_F64_U, ...set(IDS), ...instLoad(slot.tisAt), I32_TRUNC_F64_U, ...set(TIS));
  // block $done: loop $next: while k < count
  b.push(...BLOCK, ...LOOP, ...get(K), ...get(COUNT), I32_GE_S, ...brIf(1));
  b.push(...get(TIS), ...get(K), ...i32c(2), I32_SHL, I32_ADD, ...I32_LOAD, ...set(TI));
  // The skipped trader's holder: next.
  b.push(...get(TI), ...get(SKIP), I32_EQ, ...IF, ...get(K), ...i32c(1), I32_ADD, ...set(K), ...br(1), ...END);
  b.push(...get(PFAT), ...get(IDS), ...get(K), ...i32c(2), I32_SHL, I32_ADD, ...I32_LOAD, ...i32c(slot.pf * 8), I32_MUL, I32_ADD, ...set(B));
  b.push(...get(TFAT), ...get(TI), ...i32c(slot.tf * 8), I32_MUL, I32_ADD, ...set(C));
  // Concentration tracked, or a re-sum due: JavaScript's. touches + 1 is a non-negative integer
  // below 2^53, so (as ToInt32) a multiple of resumEvery, a power of two, exactly when
  // (touches + 1) / resumEvery (an exact scaling) is an integer: a multiply, a floor and a
  // comparison in doubles, not three conversions.
  b.push(...tfLoad(slot.conc), ...f64c(0), F64_NE, ...IF, ...retK(0), ...END);
  b.push(...tfLoad(slot.touches), ...f64c(1), F64_ADD, ...tee(TOUCHES), ...f64c(1 / slot.resumEvery), F64_MUL, ...tee(T), ...get(T), F64_FLOOR, F64_EQ);
  b.push(...IF, ...retK(0), ...END);
  // revalueAt's operations (an open holder).
  b.push(...pfLoad(slot.qty), ...set(Q), ...pfLoad(slot.notional), ...set(OLD_N), ...pfLoad(slot.unrealized), ...set(OLD_U), ...pfLoad(slot.abs), ...set(ABS_OLD));
  b.push(...get(Q), ...get(MARK), F64_MUL, ...set(N));
  b.push(...get(Q), ...get(MARK), ...pfLoad(slot.avg), F64_SUB, F64_MUL, ...set(U));
  b.push(...get(N), F64_ABS, ...set(ABS_N));
  b.push(...get(B), ...get(N), ...slotStore(slot.notional), ...get(B), ...get(U), ...slotStore(slot.unrealized), ...get(B), ...get(ABS_N), ...slotStore(slot.abs));
  b.push(...tfLoad(slot.gross), ...get(ABS_N), ...get(ABS_OLD), F64_SUB, F64_ADD, ...set(G), ...get(C), ...get(G), ...slotStore(slot.gross));
  b.push(...get(C), ...tfLoad(slot.net), ...get(N), ...get(OLD_N), F64_SUB, F64_ADD, ...slotStore(slot.net));
  b.push(...tfLoad(slot.traderUnrealized), ...get(U), ...get(OLD_U), F64_SUB, F64_ADD, ...set(UN), ...get(C), ...get(UN), ...slotStore(slot.traderUnrealized));
  // afterTouch(): touches, the peak P&L.
  b.push(...get(C), ...get(TOUCHES), ...slotStore(slot.touches));
  b.push(...tfLoad(slot.realized), ...get(UN), F64_ADD, ...set(PNL), ...tfLoad(slot.peak), ...set(PEAK));
  b.push(...get(PNL), ...get(PEAK), F64_GT, ...IF, ...get(C), ...get(PNL), ...slotStore(slot.peak), ...get(PNL), ...set(PEAK), ...END);
  // The VaR drift bound.
  b.push(...tfLoad(slot.drift), ...set(DRIFT));
  b.push(...get(BND), ...f64c(0), F64_GT, ...IF);
  b.push(...get(N), ...pfLoad(slot.riskNotional), F64_SUB, F64_ABS, ...get(BND), F64_MUL, ...set(TERM));
  b.push(...get(DRIFT), ...get(TERM), ...pfLoad(slot.riskDrift), F64_SUB, F64_ADD, ...set(DRIFT));
  b.push(...get(C), ...get(DRIFT), ...slotStore(slot.drift), ...get(B), ...get(TERM), ...slotStore(slot.riskDrift), ...END);
  // Outside the quiet box (insideBox in desk.ts), or the drift past the VaR room: JavaScript's checks.
  b.push(...get(PNL), F64_NEG, ...set(LOSS), ...get(PEAK), ...get(PNL), F64_SUB, ...set(DD));
  b.push(...get(G), ...tfLoad(slot.gLo), F64_GT, ...get(G), ...tfLoad(slot.gHi), F64_LE, I32_AND);
  b.push(...get(LOSS), ...tfLoad(slot.lLo), F64_GT, I32_AND, ...get(LOSS), ...tfLoad(slot.lHi), F64_LE, I32_AND);
  b.push(...get(DD), ...tfLoad(slot.dLo), F64_GT, I32_AND, ...get(DD), ...tfLoad(slot.dHi), F64_LT, I32_AND, I32_EQZ);
  b.push(...get(DRIFT), ...tfLoad(slot.varRoom), F64_GT, I32_OR, ...IF, ...retK(1), ...END);
  b.push(...get(K), ...i32c(1), I32_ADD, ...set(K), ...br(0), ...END, ...END);
  b.push(...get(COUNT), ...i32c(1), I32_SHL);
  return wasmFunction({ params: [I32, I32, I32, I32, I32, I32], result: I32, locals: [[5, I32], [19, F64]], body: b, memory, minPages: 1 }) as MarkKernel | undefined;
}
