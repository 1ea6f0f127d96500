/**
 * An incremental aggregate (Flink's `AggregateFunction`): the window operator keeps one
 * accumulator per (key, window) and never buffers records.
 *
 * Contract, which lets accumulators be updated in place on the hot path:
 * - `add` and `merge` may mutate and return their first argument (or return a new value, e.g. for
 *   number accumulators); the caller always keeps the returned value and discards the inputs.
 * - `merge(a, b)`: when a tie must be broken by arrival order, `b` counts as the later one.
 * - `getResult` must not mutate the accumulator and must not return an object that a later `add`
 *   mutates (results are emitted and may be held downstream).
 * - Accumulators are checkpointed, so they must be structured-cloneable: numbers, plain objects,
 *   arrays, Maps, typed arrays; no functions or class instances that need their prototype back.
 *
 * @example
 * const notional: AggregateFunction<Trade, number, number> = {
 *   createAccumulator: () => 0,
 *   add: (acc, t) => acc + t.price * t.qty,
 *   getResult: (acc) => acc,
 *   merge: (a, b) => a + b,
 * };
 */
export interface AggregateFunction<IN, ACC, OUT> {
  createAccumulator(): ACC;
  add(acc: ACC, value: IN): ACC;
  getResult(acc: ACC): OUT;
  merge(a: ACC, b: ACC): ACC;
}

/**
 * The record type an aggregate consumes.
 *
 * @example type In = AggregateInput<ReturnType<typeof sum<Trade>>>; // Trade
 */
export type AggregateInput<A> = A extends AggregateFunction<infer IN, any, any> ? IN : never;
/**
 * The accumulator type of an aggregate, e.g. for typing checkpoint tooling.
 *
 * @example type Acc = AggregateAccumulator<ReturnType<typeof avg<Quote>>>; // AvgAcc
 */
export type AggregateAccumulator<A> = A extends AggregateFunction<any, infer ACC, any> ? ACC : never;
/**
 * The result type of an aggregate.
 *
 * @example type Out = AggregateResult<typeof bars>; // { open: number; close: number }
 */
export type AggregateResult<A> = A extends AggregateFunction<any, any, infer OUT> ? OUT : never;
