export {
  loadDriver,
  parseBrokers,
  redactConnection,
  type KafkaConnection,
  type KafkaDriver,
  type DriverName,
  type DriverProducer,
  type DriverConsumer,
  type OutMessage,
  type InBatch,
  type InMessage,
  type TopicPartition,
  type PartitionOffsets,
  type ReadMessage,
} from './driver.js';
export { KafkaTaskSource, type KafkaTaskSourceOptions, type TaskInput, type TaskPosition } from './task-source.js';
export { KafkaTaskSinks, alertKey, type KafkaSinkOptions, type KafkaSinkCounts } from './alert-sink.js';
export { KafkaJob, type KafkaJobOptions, type KafkaJobSummary } from './job.js';
export { TaskLock } from './task-lock.js';
