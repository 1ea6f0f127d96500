/**
 * riskflow's public API. Everything else under src/ is internal and may change without notice.
 *
 * @example
 * import { defineTopology, loadTopology, replayDay, windowAggregate, tumbling, sum } from 'riskflow';
 */
export { Watermark, END_OF_TIME, isWatermark, type Element, type Stream, type Timestamped } from './core/element.js';
export {
  RiskflowError,
  UsageError,
  TopologyError,
  InputError,
  UserFunctionError,
  CheckpointError,
  InternalError,
  type ErrorLocation,
} from './core/errors.js';
export { parseDuration, toEventTime, formatEventTime, ManualClock, systemClock, type Clock, type EventTime } from './core/time.js';
export { JobContext, SideOutput, type Checkpointable } from './core/context.js';
export { WatermarkTracker, type WatermarkOptions } from './core/watermarks.js';
export { makeAlert, alertIdOf, canonicalJson, ALERT_TOPICS, DEAD_LETTER_TOPIC, type Alert, type AlertInput, type Severity } from './core/alerts.js';
export type { ReferenceData, Instrument, Trader, History, DayMeta, Incident } from './core/reference.js';
export { CheckpointStore, readCheckpoint, type CheckpointData } from './core/checkpoint.js';
export {
  Runner,
  type RunnerOptions,
  type RunStats,
  type BatchSource,
  type SourceBatch,
  type JobSinks,
  type RunnableTopology,
} from './core/runner.js';
export type { ValueState, MapState, StateDescriptor } from './core/keyed-state.js';
export { SnapshotColumns, snapshotRowObjects, type SnapshotRows } from './core/snapshot-rows.js';

export * from './operators/index.js';
export * from './windows/index.js';

export {
  defineTopology,
  registerStepType,
  loadTopology,
  parseTopology,
  compileTopology,
  compileExpression,
  defineAggregate,
  defineScalar,
  defineProcess,
  defineMap,
  loadUdfs,
  describeTopology,
  TopologyValidationError,
  type TopologySpec,
  type StepSpec,
  type LoadedTopology,
  type BuildEnv,
  type SourceDecl,
} from './topology/index.js';

export { validateEvent, type DeadLetter } from './connectors/events.js';
export { loadDay, DayReplaySource, type RecordedDay } from './connectors/replay/index.js';
export { replayDay, type ReplayOptions, type ReplaySummary, type ReplayResult } from './cli/replay.js';
