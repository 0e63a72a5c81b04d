import type { AnyTask } from '../task.js';
import { backoffDelay } from '../task.js';
import type { AttemptError, TaskState } from '../types.js';

/** A task as the claim statement hands it to the worker. */
export interface ClaimedTask {
  id: string;
  name: string;
  queue: string;
  payload: unknown;
  key: string | null;
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  metadata: Record<string, unknown> | null;
  /** Milliseconds from run_at to this claim (the stats' lag). */
  lag_ms?: number;
}

/** How one attempt ended, as the runner reports it. */
export type Outcome =
  | { kind: 'succeeded'; resultJson: string | null }
  /** A transactional task whose completion already committed with its writes. */
  | { kind: 'committed' }
  | { kind: 'failed'; error: unknown; permanent: boolean }
  | { kind: 'snoozed'; delayMs: number }
  | { kind: 'cancelled' }
  /** Give the task back without counting the attempt (shutdown). */
  | { kind: 'released' };

/** One row of the settle half of `taskSettleAndClaim`. */
export interface SettleRow {
  id: string;
  attempt: number;
  state: TaskState;
  /** The result as JSON text, spliced into the batch unparsed. */
  resultJson: string | null;
  delay_ms: number | null;
  error: AttemptError | null;
  undo: boolean;
}

export function errorRecord(err: unknown, attempt: number, worker: string): AttemptError {
  const e =
    err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
  return {
    attempt,
    at: new Date().toISOString(),
    message: e.message,
    name: e.name,
    ...(e.stack ? { stack: e.stack } : {}),
    worker,
  };
}

/** Decides the next state of a task from its attempt's outcome. Null: nothing to write. */
export function settleRow(
  task: ClaimedTask,
  def: AnyTask | undefined,
  outcome: Outcome,
  worker: string,
): SettleRow | null {
  const row = (
    state: TaskState,
    resultJson: string | null = null,
    error: AttemptError | null = null,
    delay_ms: number | null = null,
    undo = false,
  ): SettleRow => ({
    id: task.id,
    attempt: task.attempt,
    state,
    resultJson,
    delay_ms,
    error,
    undo,
  });
  const again = task.attempt - 1 > 0 ? 'retrying' : 'queued';
  switch (outcome.kind) {
    case 'committed':
      return null;
    case 'succeeded':
      return row('succeeded', outcome.resultJson);
    case 'cancelled':
      return row('cancelled');
    case 'released':
      return row(again, null, null, null, true);
    case 'snoozed':
      return row(again, null, null, outcome.delayMs, true);
    case 'failed': {
      const error = errorRecord(outcome.error, task.attempt, worker);
      if (outcome.permanent || task.attempt >= task.max_attempts || !def) {
        return row('failed', null, error);
      }
      return row('retrying', null, error, backoffDelay(def.backoff, task.attempt));
    }
  }
}

/**
 * The settle half of `taskSettleAndClaim`'s parameters: $2, then $6…$11.
 * Arrays of numbers, states and booleans go as ready-made array literals:
 * none of their elements needs quoting, and pg's generic array encoder was
 * a visible share of the worker's time per task.
 */
export function toSettleParams(rows: readonly SettleRow[]): { ids: string; rest: unknown[] } {
  const n = rows.length;
  const ids = new Array<string>(n);
  const attempts = new Array<number>(n);
  const states = new Array<string>(n);
  const results = new Array<string>(n);
  const delays = new Array<number | string>(n);
  const errors = new Array<string>(n);
  const undo = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    ids[i] = r.id;
    attempts[i] = r.attempt;
    states[i] = r.state;
    results[i] = r.resultJson ?? 'null';
    delays[i] = r.delay_ms ?? 'NULL';
    errors[i] = r.error ? JSON.stringify(r.error) : 'null';
    undo[i] = r.undo ? 't' : 'f';
  }
  return {
    ids: `{${ids.join(',')}}`,
    rest: [
      `{${attempts.join(',')}}`,
      `{${states.join(',')}}`,
      `[${results.join(',')}]`,
      `{${delays.join(',')}}`,
      `[${errors.join(',')}]`,
      `{${undo.join(',')}}`,
    ],
  };
}
