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
export { KafkaTaskSource, SEQ_HEADER, type KafkaTaskSourceOptions, type TaskInput, type TaskPosition } from './task-source.js';
export { KafkaTaskSinks, alertKey, type KafkaSinkOptions, type KafkaSinkCounts } from './alert-sink.js';
export { KafkaJob, globalTopicName, type KafkaJobOptions, type KafkaJobSummary, type TaskId } from './job.js';
export { STEP_SCOPES, stepScope, topologyScope, type Scope, type TopologyScope } from './scope.js';
export { TaskLock } from './task-lock.js';
