/**
 * Replay of recorded days (CONTRACTS.md section 2): loading a day, reading its event files
 * (JSONL, gzip JSONL, Arrow IPC), merging them by event time with checkpointable positions, and
 * pacing the replay to a requested speed.
 *
 * @example
 * import { loadDay, DayReplaySource } from './connectors/replay/index.js';
 */
export { loadDay, findEventFile, type RecordedDay } from './day.js';
export { parseCsv, columnIndex, type CsvRow, type CsvTable } from './csv.js';
export { JsonlReader } from './jsonl.js';
export { ArrowReader } from './arrow.js';
export type { EventReader, ReaderChunk, ReaderStart } from './reader.js';
export {
  DayReplaySource,
  openEventReader,
  type DayReplayOptions,
  type ReplayBatch,
  type ReplayFilePosition,
  type ReplayPosition,
  type ReplayProgress,
} from './source.js';
export { Pacer, parseSpeed, systemPacerClock, type PacerClock } from './pacer.js';
