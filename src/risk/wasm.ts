/**
 * The small WebAssembly assembler of the risk kernels (the scenario fold in var.ts, the desk's
 * mark-move loop in mark-kernel.ts): each kernel is written as its instructions, and this module
 * encodes them (LEB128 numbers, sections) into a module of one function over an imported memory.
 * The kernels are small and have no other source, so there is no toolchain to install.
 */

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (d: { initial: number; maximum?: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/**
 * A WebAssembly.Memory: its buffer is replaced when it grows (views of the old one are detached).
 *
 * @example const m = wasmMemory(1); new Float64Array(m!.buffer);
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

function api(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

/**
 * A fresh memory of `initial` 64 KiB pages (growable up to `maximum` when given), or undefined
 * when this runtime has no WebAssembly.
 *
 * @example const memory = wasmMemory(1); // one page, growable
 */
export function wasmMemory(initial: number, maximum?: number): WasmMemory | undefined {
  const wasm = api();
  if (wasm === undefined) return undefined;
  return new wasm.Memory(maximum === undefined ? { initial } : { initial, maximum });
}

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const o: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    o.push(b);
  } while (n !== 0);
  return o;
}

/** Signed LEB128 (32-bit). */
export function sleb(n: number): number[] {
  const o: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...o, b];
    o.push(b | 0x80);
  }
}

/** Value types. */
export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** Structured control (blocks without a result), and `br` / `br_if` to a depth. */
export const BLOCK = [0x02, 0x40];
export const LOOP = [0x03, 0x40];
export const IF = [0x04, 0x40];
export const END = [0x0b];
export const RETURN = [0x0f];
export const br = (depth: number): number[] => [0x0c, depth];
export const brIf = (depth: number): number[] => [0x0d, depth];

/** Locals, and constants. */
export const get = (i: number): number[] => [0x20, i];
export const set = (i: number): number[] => [0x21, i];
export const tee = (i: number): number[] => [0x22, i];
export const i32c = (n: number): number[] => [0x41, ...sleb(n)];
export const f64c = (x: number): number[] => [0x44, ...new Uint8Array(Float64Array.of(x).buffer)];

/** Loads and stores at a constant byte offset from the address on the stack (naturally aligned). */
export const i32Load = (offset: number): number[] => [0x28, 2, ...uleb(offset)];
export const f64Load = (offset: number): number[] => [0x2b, 3, ...uleb(offset)];
export const f64Store = (offset: number): number[] => [0x39, 3, ...uleb(offset)];

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));
const section = (id: number, b: number[]): number[] => [id, ...uleb(b.length), ...b];

/**
 * The module of one function (`params` -> `result`, with `locals` as [count, type] runs and the
 * instruction bytes `body`) importing `memory` as m.memory (at least `minPages` pages), compiled
 * and instantiated; its export, or undefined when this runtime has no WebAssembly or does not
 * validate the module (no SIMD, say).
 *
 * @example
 * const add = wasmFunction({ params: [I32, I32], result: I32, locals: [], body: [...get(0), ...get(1), 0x6a], memory, minPages: 1 });
 */
export function wasmFunction(m: {
  params: number[];
  result: number | undefined;
  locals: Array<[number, number]>;
  body: number[];
  memory: WasmMemory;
  minPages: number;
}): unknown {
  const wasm = api();
  if (wasm === undefined) return undefined;
  const func = [...vec(m.locals.map(([n, t]) => [...uleb(n), t])), ...m.body, ...END];
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(m.params.map((p) => [p])), ...vec(m.result === undefined ? [] : [[m.result]])]])),
    ...section(2, vec([[...name('m'), ...name('memory'), 0x02, 0x00, ...uleb(m.minPages)]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('run'), 0x00, 0]])),
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ]);
  if (!wasm.validate(bytes)) return undefined;
  return new wasm.Instance(new wasm.Module(bytes), { m: { memory: m.memory } }).exports['run'];
}
