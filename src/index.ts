export type { BulkOptions, BulkResult, BulkTarget } from './client/bulk.js';
export {
  type ClientOptions,
  type EnqueueItem,
  type QueueSummary,
  TandemClient,
} from './client/client.js';
export type { FailureGroup, FailureGroupOptions } from './client/failures.js';
export type { ScheduleInfo, WorkerInfo } from './client/fleet.js';
export type { SchemaStatus } from './client/health.js';
export type { LimitInfo, LimitsUpdate, LimitTarget } from './client/limits.js';
export type { ListOptions, TaskPage } from './client/list-tasks.js';
export type {
  NewOperatorAction,
  OperatorAction,
  OperatorActionQuery,
} from './client/operator-log.js';
export type { PublishOptions, PublishResult } from './client/publish.js';
export type { DestinationStatus, RelayStatus } from './client/relay-status.js';
export type { QueueDepth, Stats, StatsOptions, StatsPoint, StatsSeries } from './client/stats.js';
export type { TaskFilter } from './client/task-filter.js';
export type {
  KeyKind,
  RegisteredTaskType,
  TaskType,
  TaskTypeVersion,
  UnregisteredTasks,
} from './client/task-types.js';
export type { WaitOptions } from './client/wait-for.js';
export {
  type AnyDestination,
  type Broker,
  type Destination,
  type DestinationOptions,
  defineDestination,
  type JetStreamBroker,
  jetstream,
  type MessageOf,
  type RabbitMqBroker,
  type RedisStreamsBroker,
  type Route,
  rabbitmq,
  redisStreams,
} from './destination.js';
export { PermanentError, SnoozeError, TandemError, type TandemErrorCode } from './errors.js';
export type { RateLimit, ResolvedRate } from './flow/options.js';
export type { ServerOptions, TandemServer } from './http/options.js';
export {
  defineInbox,
  type InboxBatch,
  type InboxDefinition,
  type InboxOptions,
} from './inbox/define.js';
export { Inbox } from './inbox/inbox.js';
export type { InboxMessage, InboxSourceOptions } from './inbox/source.js';
export type { EnqueueDoor, EnqueueInfo, EnqueueMiddleware } from './middleware/enqueue.js';
export { type LogTasksOptions, logTasks } from './middleware/logging.js';
export { onTaskFinished, type TaskFinished } from './middleware/metrics.js';
export type { AttemptOutcome } from './middleware/outcome.js';
export type { MiddlewareOptions } from './middleware/stack.js';
export type { TaskMiddleware, TaskMiddlewareContext } from './middleware/task.js';
export type { PumpStatus as RelayDestinationStatus } from './relay/pump.js';
export { Relay, type RelayOptions, type RelayProcessStatus } from './relay/relay.js';
export {
  RetryAfterError,
  type RetryAfterOptions,
  type RetryAfterSource,
  retryAfterMs,
} from './retry-after.js';
export {
  type InferInput,
  type InferOutput,
  jsonSchemaOf,
  type PayloadSchema,
  type SchemaIssue,
  type ValidationResult,
  validate,
} from './schema.js';
export { createTandem, Tandem, type TandemOptions } from './tandem.js';
export {
  type AnyTask,
  type BackoffOptions,
  defineTask,
  type PayloadOf,
  type TaskContext,
  type TaskDefinition,
  type TaskOptions,
  type TransactionalTaskContext,
} from './task.js';
export type {
  AttemptError,
  Duration,
  EnqueueOptions,
  EnqueueResult,
  Logger,
  TaskRecord,
  TaskState,
} from './types.js';
export type { Schedule } from './worker/cron.js';
export type { RetentionOptions } from './worker/pruner.js';
export { Worker, type WorkerOptions } from './worker/worker.js';
