export { tumbling, sliding, session, windowStart, type TimeWindow, type WindowAssigner } from './assigners.js';
export type { AggregateFunction, AggregateInput, AggregateAccumulator, AggregateResult } from './aggregate.js';
export {
  count,
  sum,
  min,
  max,
  avg,
  first,
  last,
  variance,
  stddev,
  vwap,
  composite,
  type AvgAcc,
  type TimedValueAcc,
  type MomentsAcc,
  type VwapAcc,
  type CompositeResult,
  type CompositeInput,
} from './aggregates.js';
export { normalizeTrigger, type TriggerSpec } from './triggers.js';
