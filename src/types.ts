/**
 * Types shared by every layer. This file imports nothing from Tandem.
 */

/** The states a task moves through. `succeeded`, `failed` and `cancelled` are terminal. */
export type TaskState = 'queued' | 'running' | 'succeeded' | 'retrying' | 'failed' | 'cancelled';

/** Milliseconds, or a string such as `'500ms'`, `'30s'`, `'5m'`, `'1h'`. */
export type Duration = number | string;

/** One failed attempt, as kept in `tasks.errors` (the JSON keys are stored and served as they are). */
export interface AttemptError {
  attempt: number;
  /** When the attempt ended (ISO 8601). */
  at: string;
  /** When the attempt started (ISO 8601); absent on errors recorded before 0.1.0. */
  started_at?: string | null;
  message: string;
  name: string;
  stack?: string;
  worker?: string;
}

/** A task row as Tandem returns it (camelCase view of `tandem.tasks`). */
export interface TaskRecord<Payload = unknown, Result = unknown> {
  id: string;
  name: string;
  queue: string;
  payload: Payload;
  key: string | null;
  priority: number;
  state: TaskState;
  attempt: number;
  maxAttempts: number;
  runAt: Date;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  result: Result | null;
  errors: AttemptError[];
  timeoutMs: number | null;
  owner: string | null;
  metadata: Record<string, unknown> | null;
}

/** What `enqueue` reports. `inserted: false` means the name+key already had a task: this one. */
export interface EnqueueResult {
  id: string;
  inserted: boolean;
  state: TaskState;
}

/** Per-enqueue options. */
export interface EnqueueOptions {
  /** Business key: one task per (task name, key) for as long as the row exists. */
  key?: string;
  /** Earliest time the task may run. */
  runAt?: Date;
  /** Delay before the task may run (ms or `'30s'`). Exclusive with `runAt`. */
  delay?: Duration;
  /** Lower runs first. Integer. */
  priority?: number;
  /** Overrides the task's queue. */
  queue?: string;
  /** Overrides the task's `maxAttempts` (at least 1). */
  maxAttempts?: number;
  /** Free-form metadata kept on the task (trace context, request id…). Must serialise to JSON. */
  metadata?: Record<string, unknown>;
  /**
   * The concurrency key, instead of the one the definition's
   * `concurrencyKey` template or function makes: 1-500 characters.
   */
  concurrencyKey?: string;
}

/** Minimal logger shape; pino's logger satisfies it. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}
