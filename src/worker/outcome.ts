import { cleanText, MAX_DELAY_MS } from '../limits.js';
import type { AnyTask } from '../task.js';
import { backoffDelay } from '../task.js';
import type { AttemptError, TaskState } from '../types.js';

/** A task as the claim statement hands it to the worker, with the claim's token. */
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
  /** The worker's token for this claim; outcomes are written only where it still matches. */
  token: string;
  priority: number;
  /** run_at as PostgreSQL prints it, for the claim bounds. */
  run_key: string;
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
  /** Give the task back without counting the attempt (shutdown, paused queue). */
  | { kind: 'released' };

/** One row of the settle half of `taskSettleAndClaim`. */
export interface SettleRow {
  id: string;
  token: string;
  state: TaskState;
  /** The result as JSON text, spliced into the batch unparsed. */
  resultJson: string | null;
  delay_ms: number | null;
  /** The attempt error as JSON text, ready to store. */
  errorJson: string | null;
  undo: boolean;
}

/** Longest message and stack kept per attempt error, in characters. */
const MAX_MESSAGE = 8_192;
const MAX_STACK = 16_384;

function clip(s: string, max: number): string {
  const clean = cleanText(s);
  return clean.length <= max
    ? clean
    : `${clean.slice(0, max)}… (${clean.length - max} more characters)`;
}

/** Reads `key` of a thrown value without letting a throwing getter escape. */
function read(value: unknown, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** A string for any thrown value: never throws, whatever the value does. */
function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return 'undefined was thrown';
  if (typeof value === 'symbol' || typeof value === 'bigint' || typeof value !== 'object') {
    try {
      return `${typeof value === 'bigint' ? 'BigInt ' : ''}${String(value)} was thrown`;
    } catch {
      return `a ${typeof value} was thrown`;
    }
  }
  if (value === null) return 'null was thrown';
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return `a non-Error object was thrown: ${text}`;
  } catch {
    // Cyclic, a toJSON that throws, a BigInt inside…
  }
  let tag = 'object';
  try {
    tag = Object.prototype.toString.call(value);
  } catch {}
  return `a non-Error ${tag} was thrown (it cannot be shown as JSON)`;
}

/**
 * The stored record of a failed attempt. Never throws and always stores:
 * names and messages are coerced to strings, U+0000 and lone surrogates
 * replaced, message and stack clipped.
 */
export function errorRecord(err: unknown, attempt: number, worker: string): AttemptError {
  const isError = err instanceof Error;
  let name = 'Error';
  let message: string;
  let stack: string | undefined;
  if (isError) {
    const n = read(err, 'name');
    name = typeof n === 'string' && n.length > 0 ? n : n === undefined ? 'Error' : safeString(n);
    const m = read(err, 'message');
    message = typeof m === 'string' ? m : m === undefined ? '' : safeString(m);
    const s = read(err, 'stack');
    stack = typeof s === 'string' ? s : undefined;
    if (message === '' && m !== '') message = `${name} (its message could not be read)`;
  } else {
    message = describeThrown(err);
  }
  return {
    attempt,
    at: new Date().toISOString(),
    message: clip(message, MAX_MESSAGE),
    name: clip(name, 200),
    ...(stack ? { stack: clip(stack, MAX_STACK) } : {}),
    worker,
  };
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return typeof v;
  }
}

/** The record's JSON text; every field is a plain string or number, so this cannot fail. */
export function errorJson(err: unknown, attempt: number, worker: string): string {
  return JSON.stringify(errorRecord(err, attempt, worker));
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
    error: string | null = null,
    delay_ms: number | null = null,
    undo = false,
  ): SettleRow => ({
    id: task.id,
    token: task.token,
    state,
    resultJson,
    delay_ms,
    errorJson: error,
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
      return row(again, null, null, Math.min(MAX_DELAY_MS, outcome.delayMs), true);
    case 'failed': {
      const error = errorJson(outcome.error, task.attempt, worker);
      if (outcome.permanent || task.attempt >= task.max_attempts || !def) {
        return row('failed', null, error);
      }
      return row('retrying', null, error, backoffDelay(def.backoff, task.attempt));
    }
  }
}

/**
 * A failure that replaces an outcome PostgreSQL refused to store (the row
 * alone failed with a data error): the task fails with the database's
 * reason, and the rest of its batch is written as it was.
 */
export function unstorableRow(row: SettleRow, reason: string, worker: string): SettleRow {
  const error = JSON.stringify({
    at: new Date().toISOString(),
    name: 'OutcomeNotStoredError',
    message: clip(
      `the outcome of this attempt (${row.state}) could not be stored: ${reason}; recorded as a failure instead`,
      MAX_MESSAGE,
    ),
    worker,
  });
  return {
    ...row,
    state: 'failed',
    resultJson: null,
    delay_ms: null,
    errorJson: error,
    undo: false,
  };
}

/**
 * The settle half of `taskSettleAndClaim`'s parameters: $2, the ids as an
 * array literal, and $6, a JSON object from id to [claim token, state,
 * result, delay, error, undo]. Built as text: results and errors are JSON
 * already, and ids, tokens, states and delays need no quoting (pg's generic
 * array encoder was a visible share of the worker's time per task).
 */
export function toSettleParams(rows: readonly SettleRow[]): { ids: string; rest: unknown[] } {
  const n = rows.length;
  const ids = new Array<string>(n);
  const entries = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    ids[i] = r.id;
    entries[i] =
      `"${r.id}":[${r.token},"${r.state}",${r.resultJson ?? 'null'},${r.delay_ms ?? 'null'},` +
      `${r.errorJson ?? 'null'},${r.undo}]`;
  }
  return { ids: `{${ids.join(',')}}`, rest: [`{${entries.join(',')}}`] };
}
