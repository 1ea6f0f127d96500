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
  /** Doubles per position record and per trader record (powers of two times 8 not required). */
  pf: number;
  tf: number;
  /** Touches between re-sums (a power of two). */
  resumEvery: number;
}

/**
 * run(idsAt, tisAt, k, count, skip, pfAt, tfAt, mark, bound): re-values holders k.. of an
 * instrument (holder position ids as int32 at byte idsAt, their trader indices at tisAt; position
 * records at byte pfAt, trader records at tfAt), skipping trader `skip`, until one needs
 * JavaScript; returns 2k, 2k + 1 or 2 count as described above.
 */
export type MarkKernel = (idsAt: number, tisAt: number, k: number, count: number, skip: number, pfAt: number, tfAt: number, mark: number, bound: number) => number;

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (d: { initial: number }) => BookMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/**
 * A fresh growable WebAssembly memory of one 64 KiB page for a PositionBook, or undefined when
 * this runtime has no WebAssembly.
 *
 * @example const book = new PositionBook(prevClose, listener, hooks, bookMemory());
 */
export function bookMemory(): BookMemory | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  return wasm === undefined ? undefined : new wasm.Memory({ initial: 1 });
}

/**
 * The kernel over `memory` (a WebAssembly.Memory), or undefined when this runtime has no
 * WebAssembly. Assembled here from its instructions (the module is small and has no other source).
 */
export function markKernel(memory: BookMemory, slot: MarkKernelSlots): MarkKernel | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return undefined;
  const uleb = (n: number): number[] => {
    const o: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      o.push(b);
    } while (n !== 0);
    return o;
  };
  const sleb = (n: number): number[] => {
    const o: number[] = [];
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...o, b];
      o.push(b | 0x80);
    }
  };
  const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
  const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));
  const section = (id: number, b: number[]): number[] => [id, ...uleb(b.length), ...b];
  const [I32, F64] = [0x7f, 0x7c];
  const get = (i: number): number[] => [0x20, i];
  const set = (i: number): number[] => [0x21, i];
  const tee = (i: number): number[] => [0x22, i];
  const i32c = (n: number): number[] => [0x41, ...sleb(n)];
  const f64c = (x: number): number[] => [0x44, ...new Uint8Array(Float64Array.of(x).buffer)];
  const [I32_EQZ, I32_EQ, I32_GE_S, I32_ADD, I32_MUL, I32_AND, I32_OR, I32_SHL, I32_WRAP_I64] = [0x45, 0x46, 0x4e, 0x6a, 0x6c, 0x71, 0x72, 0x74, 0xa7];
  const [F64_NE, F64_LT, F64_GT, F64_LE, F64_ABS, F64_NEG, F64_ADD, F64_SUB, F64_MUL] = [0x62, 0x63, 0x64, 0x65, 0x99, 0x9a, 0xa0, 0xa1, 0xa2];
  const I64_TRUNC_SAT_F64_S = [0xfc, 0x06];
  const i32Load = [0x28, 2, 0];
  const f64Load = (s: number): number[] => [0x2b, 3, ...uleb(s * 8)];
  const f64Store = (s: number): number[] => [0x39, 3, ...uleb(s * 8)];
  const [BLOCK, LOOP, IF, END, RETURN] = [[0x02, 0x40], [0x03, 0x40], [0x04, 0x40], [0x0b], [0x0f]];
  const br = (depth: number): number[] => [0x0c, depth];
  const brIf = (depth: number): number[] => [0x0d, depth];
  // Params 0 idsAt, 1 tisAt, 2 k, 3 count, 4 skip, 5 pfAt, 6 tfAt (i32), 7 mark, 8 bound (f64);
  // locals 9 ti, 10 b, 11 c (i32), 12.. f64.
  const [IDS, TIS, K, COUNT, SKIP, PFAT, TFAT, MARK, BND, TI, B, C] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [TOUCHES, Q, OLD_N, OLD_U, ABS_OLD, N, U, ABS_N, G, UN, PNL, PEAK, DRIFT, TERM, LOSS, DD] = [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27];
  const retK = (plus: number): number[] => [...get(K), ...i32c(1), I32_SHL, ...(plus ? [...i32c(plus), I32_ADD] : []), ...RETURN];
  const pfLoad = (s: number): number[] => [...get(B), ...f64Load(s)];
  const tfLoad = (s: number): number[] => [...get(C), ...f64Load(s)];
  const b: number[] = [];
  // block $done: loop $next: while k < count
  b.push(...BLOCK, ...LOOP, ...get(K), ...get(COUNT), I32_GE_S, ...brIf(1));
  b.push(...get(TIS), ...get(K), ...i32c(2), I32_SHL, I32_ADD, ...i32Load, ...set(TI));
  // The skipped trader's holder: next.
  b.push(...get(TI), ...get(SKIP), I32_EQ, ...IF, ...get(K), ...i32c(1), I32_ADD, ...set(K), ...br(1), ...END);
  b.push(...get(PFAT), ...get(IDS), ...get(K), ...i32c(2), I32_SHL, I32_ADD, ...i32Load, ...i32c(slot.pf * 8), I32_MUL, I32_ADD, ...set(B));
  b.push(...get(TFAT), ...get(TI), ...i32c(slot.tf * 8), I32_MUL, I32_ADD, ...set(C));
  // Concentration tracked, or a re-sum due (touches + 1 a multiple of resumEvery, as ToInt32): JavaScript's.
  b.push(...tfLoad(slot.conc), ...f64c(0), F64_NE, ...IF, ...retK(0), ...END);
  b.push(...tfLoad(slot.touches), ...f64c(1), F64_ADD, ...tee(TOUCHES), ...I64_TRUNC_SAT_F64_S, I32_WRAP_I64, ...i32c(slot.resumEvery - 1), I32_AND, I32_EQZ);
  b.push(...IF, ...retK(0), ...END);
  // revalueAt's operations (an open holder).
  b.push(...pfLoad(slot.qty), ...set(Q), ...pfLoad(slot.notional), ...set(OLD_N), ...pfLoad(slot.unrealized), ...set(OLD_U), ...pfLoad(slot.abs), ...set(ABS_OLD));
  b.push(...get(Q), ...get(MARK), F64_MUL, ...set(N));
  b.push(...get(Q), ...get(MARK), ...pfLoad(slot.avg), F64_SUB, F64_MUL, ...set(U));
  b.push(...get(N), F64_ABS, ...set(ABS_N));
  b.push(...get(B), ...get(N), ...f64Store(slot.notional), ...get(B), ...get(U), ...f64Store(slot.unrealized), ...get(B), ...get(ABS_N), ...f64Store(slot.abs));
  b.push(...tfLoad(slot.gross), ...get(ABS_N), ...get(ABS_OLD), F64_SUB, F64_ADD, ...set(G), ...get(C), ...get(G), ...f64Store(slot.gross));
  b.push(...get(C), ...tfLoad(slot.net), ...get(N), ...get(OLD_N), F64_SUB, F64_ADD, ...f64Store(slot.net));
  b.push(...tfLoad(slot.traderUnrealized), ...get(U), ...get(OLD_U), F64_SUB, F64_ADD, ...set(UN), ...get(C), ...get(UN), ...f64Store(slot.traderUnrealized));
  // afterTouch(): touches, the peak P&L.
  b.push(...get(C), ...get(TOUCHES), ...f64Store(slot.touches));
  b.push(...tfLoad(slot.realized), ...get(UN), F64_ADD, ...set(PNL), ...tfLoad(slot.peak), ...set(PEAK));
  b.push(...get(PNL), ...get(PEAK), F64_GT, ...IF, ...get(C), ...get(PNL), ...f64Store(slot.peak), ...get(PNL), ...set(PEAK), ...END);
  // The VaR drift bound.
  b.push(...tfLoad(slot.drift), ...set(DRIFT));
  b.push(...get(BND), ...f64c(0), F64_GT, ...IF);
  b.push(...get(N), ...pfLoad(slot.riskNotional), F64_SUB, F64_ABS, ...get(BND), F64_MUL, ...set(TERM));
  b.push(...get(DRIFT), ...get(TERM), ...pfLoad(slot.riskDrift), F64_SUB, F64_ADD, ...set(DRIFT));
  b.push(...get(C), ...get(DRIFT), ...f64Store(slot.drift), ...get(B), ...get(TERM), ...f64Store(slot.riskDrift), ...END);
  // Outside the quiet box (insideBox in desk.ts), or the drift past the VaR room: JavaScript's checks.
  b.push(...get(PNL), F64_NEG, ...set(LOSS), ...get(PEAK), ...get(PNL), F64_SUB, ...set(DD));
  b.push(...get(G), ...tfLoad(slot.gLo), F64_GT, ...get(G), ...tfLoad(slot.gHi), F64_LE, I32_AND);
  b.push(...get(LOSS), ...tfLoad(slot.lLo), F64_GT, I32_AND, ...get(LOSS), ...tfLoad(slot.lHi), F64_LE, I32_AND);
  b.push(...get(DD), ...tfLoad(slot.dLo), F64_GT, I32_AND, ...get(DD), ...tfLoad(slot.dHi), F64_LT, I32_AND, I32_EQZ);
  b.push(...get(DRIFT), ...tfLoad(slot.varRoom), F64_GT, I32_OR, ...IF, ...retK(1), ...END);
  b.push(...get(K), ...i32c(1), I32_ADD, ...set(K), ...br(0), ...END, ...END);
  b.push(...get(COUNT), ...i32c(1), I32_SHL);
  const func = [...vec([[3, I32], [16, F64]]), ...b, ...END];
  const params = [I32, I32, I32, I32, I32, I32, I32, F64, F64];
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(params.map((p) => [p])), ...vec([[I32]])]])),
    ...section(2, vec([[...name('m'), ...name('memory'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('run'), 0x00, 0]])),
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ]);
  if (!wasm.validate(bytes)) return undefined;
  const instance = new wasm.Instance(new wasm.Module(bytes), { m: { memory } });
  return instance.exports.run as MarkKernel;
}
