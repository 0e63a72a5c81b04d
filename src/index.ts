export {
  type ClientOptions,
  type EnqueueItem,
  type QueueSummary,
  TandemClient,
} from './client/client.js';
export { PermanentError, SnoozeError, TandemError, type TandemErrorCode } from './errors.js';
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
