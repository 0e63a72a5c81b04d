import type { AttemptError, TaskRecord, TaskState } from '../types.js';

/** A row of `tandem.tasks` as the driver returns it (snake_case). */
export interface TaskRow {
  id: string;
  name: string;
  queue: string;
  payload: unknown;
  key: string | null;
  priority: number;
  state: TaskState;
  attempt: number;
  max_attempts: number;
  run_at: Date;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  result: unknown;
  errors: AttemptError[];
  timeout_ms: number | null;
  owner: string | null;
  metadata: Record<string, unknown> | null;
}

/** The one place snake_case rows become camelCase records. */
export function toTaskRecord(row: TaskRow): TaskRecord {
  return {
    id: String(row.id),
    name: row.name,
    queue: row.queue,
    payload: row.payload,
    key: row.key,
    priority: row.priority,
    state: row.state,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    result: row.result ?? null,
    errors: row.errors ?? [],
    timeoutMs: row.timeout_ms,
    owner: row.owner,
    metadata: row.metadata,
  };
}
