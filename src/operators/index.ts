// One operator per file (DESIGN.md convention 1); this index is their public face.
export { filterRecords } from './filter-records.js';
export { mapRecords } from './map-records.js';
export { flatMapRecords } from './flat-map-records.js';
export { assignWatermarks, type AssignWatermarksOptions } from './assign-watermarks.js';
export { windowAggregate, type WindowResult, type WindowStats, type WindowAggregateOptions } from './window-aggregate.js';
export { keyedProcess, type ProcessContext, type KeyedProcessFunction, type KeyedProcessOptions } from './keyed-process.js';
export { asofJoin, type AsofJoinOptions } from './asof-join.js';
export { intervalJoin, type IntervalJoinOptions } from './interval-join.js';
export { union, unionWith, type UnionOptions } from './union.js';
export { elementOperator, type ElementHandler } from './internals.js';
