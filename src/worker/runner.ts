import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { toJson } from '../client/json.js';
import { taskLockHeld, taskSucceedHeld } from '../db/queries/tasks.js';
import { toMs } from '../duration.js';
import { PermanentError, SnoozeError, TandemError } from '../errors.js';
import { describeMs, MAX_DELAY_MS } from '../limits.js';
import type { MiddlewareStack } from '../middleware/stack.js';
import { runTaskChain } from '../middleware/task.js';
import { RetryAfterError, type RetryAfterOptions, type RetryAfterSource } from '../retry-after.js';
import { formatIssues, validate } from '../schema.js';
import type { AnyTask, TaskContext } from '../task.js';
import type { Duration, Logger } from '../types.js';
import type { AttemptAbort } from './abort.js';
import type { ClaimedTask, Outcome } from './outcome.js';

export interface RunnerDeps {
  db: Kysely<any>;
  workerId: string;
  logger: Logger;
  /** The Tandem instance's middleware; none when absent (runTask without a database). */
  middleware?: MiddlewareStack | undefined;
}

/** The transactional task's claim was lost (rescued or cancelled) before it could commit. */
class ClaimLostError extends Error {
  constructor(id: string) {
    super(`task ${id} is no longer held by this worker; its transaction was rolled back`);
    this.name = 'ClaimLostError';
  }
}

/**
 * What a handler gets as `ctx`. A class rather than an object literal with
 * getters: one is made per task, and literals with accessors are several
 * times slower to create. The logger and the signal are made on first use.
 */
class AttemptContext implements TaskContext {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly key: string | null;
  readonly db: Kysely<any>;
  readonly metadata: Record<string, unknown> | null;
  /** The validated payload, for middleware. */
  payload: unknown = undefined;
  /** Set for transactional tasks. */
  trx: Transaction<any> | undefined = undefined;
  private childLogger: Logger | null = null;

  constructor(
    task: ClaimedTask,
    private readonly abort: AttemptAbort,
    private readonly deps: RunnerDeps,
  ) {
    this.id = task.id;
    this.name = task.name;
    this.queue = task.queue;
    this.attempt = task.attempt;
    this.maxAttempts = task.max_attempts;
    this.key = task.key;
    this.db = deps.db;
    this.metadata = task.metadata;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get logger(): Logger {
    this.childLogger ??= this.deps.logger.child({
      taskId: this.id,
      task: this.name,
      queue: this.queue,
      attempt: this.attempt,
    });
    return this.childLogger;
  }

  snooze(delay: Duration): never {
    throw new SnoozeError(toMs(delay, 'snooze delay', MAX_DELAY_MS));
  }

  retryAfter(source: RetryAfterSource, options?: RetryAfterOptions): never {
    throw new RetryAfterError(source, options);
  }
}

/**
 * Runs one attempt of a task and reports how it ended. Never throws: every
 * failure of the handler, sync or async, becomes an Outcome.
 */
export async function runAttempt(
  task: ClaimedTask,
  def: AnyTask,
  abort: AttemptAbort,
  deps: RunnerDeps,
): Promise<Outcome> {
  const parsed = validate(def.schema, task.payload);
  if (!parsed.ok) {
    const issues = formatIssues(parsed.issues);
    const err = new TandemError(
      'INVALID_PAYLOAD',
      `stored payload no longer matches the schema of ${task.name}: ${issues}`,
    );
    return { kind: 'failed', error: err, permanent: true };
  }
  const ctx = new AttemptContext(task, abort, deps);
  const chain = deps.middleware?.taskChain() ?? null;
  let result: unknown;
  try {
    if (def.transactional) {
      if (chain === null) await runInTransaction(task, def, parsed.value, ctx, deps);
      else {
        ctx.payload = parsed.value;
        await runTaskChain(chain, ctx, () => runInTransaction(task, def, parsed.value, ctx, deps));
      }
      return { kind: 'committed' };
    }
    if (chain === null) result = await def.handler(parsed.value, ctx as never);
    else {
      ctx.payload = parsed.value;
      result = await runTaskChain(chain, ctx, () => def.handler(parsed.value, ctx as never));
    }
  } catch (err) {
    return failureOutcome(err, abort);
  }
  try {
    return { kind: 'succeeded', resultJson: resultToJson(task, result) };
  } catch (err) {
    // Running it again would repeat its effects only to produce the same value.
    return { kind: 'failed', error: err, permanent: true };
  }
}

/** The result as JSON text; throws RESULT_NOT_JSON for what JSON or PostgreSQL cannot hold. */
function resultToJson(task: ClaimedTask, result: unknown): string | null {
  if (result === undefined) return null;
  return toJson(result, 'RESULT_NOT_JSON', `the result of task ${task.name} (id ${task.id})`);
}

/** A result that cannot be stored fails its transactional attempt before the commit. */
class ResultNotStored extends Error {
  constructor(readonly inner: unknown) {
    // Middleware around the attempt sees this error: say what the inner one said.
    super((inner as Error)?.message ?? 'the result cannot be stored');
    this.name = 'ResultNotStored';
  }
}

/** The handler went on after a statement of its transaction failed. */
class TransactionAbortedError extends Error {
  constructor(id: string) {
    super(
      `task ${id}: a statement in the task's transaction failed and the handler carried on (it caught the error); PostgreSQL aborted the transaction, so none of its writes were kept. Let database errors propagate from the handler, or run a statement that may fail inside a savepoint`,
    );
    this.name = 'TransactionAbortedError';
  }
}

function failureOutcome(err: unknown, abort: AttemptAbort): Outcome {
  if (err instanceof ResultNotStored) return { kind: 'failed', error: err.inner, permanent: true };
  if (err instanceof SnoozeError) {
    const ms = err.delayMs;
    if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 && ms <= MAX_DELAY_MS)
      return { kind: 'snoozed', delayMs: Math.round(ms) };
    const bad = new TandemError(
      'INVALID_DURATION',
      `snooze delay must be at most ${describeMs(MAX_DELAY_MS)} and not negative, got ${String(ms)}`,
    );
    return { kind: 'failed', error: bad, permanent: false };
  }
  switch (abort.reason?.kind) {
    case 'cancel':
      return { kind: 'cancelled' };
    case 'shutdown':
    case 'lost':
      return { kind: 'released' };
    case 'timeout':
      return { kind: 'failed', error: abort.reason, permanent: false };
    default:
      return { kind: 'failed', error: err, permanent: err instanceof PermanentError };
  }
}

/**
 * A transactional task: lock the task row (still ours?), run the handler with
 * the transaction, mark it succeeded in the same transaction; resolves with
 * the handler's result once committed. If anything
 * throws, the transaction rolls back and the failure is recorded by the
 * worker's batch afterwards, on its own.
 */
async function runInTransaction(
  task: ClaimedTask,
  def: AnyTask,
  payload: unknown,
  ctx: AttemptContext,
  deps: RunnerDeps,
): Promise<unknown> {
  const held = [task.id, task.token, deps.workerId];
  return deps.db.transaction().execute(async (trx) => {
    const locked = await trx.executeQuery(CompiledQuery.raw(taskLockHeld, held));
    if (locked.rows.length === 0) throw new ClaimLostError(task.id);
    // If the handler hangs, the server ends the session and frees the row.
    const idleMs = (task.timeout_ms ?? 60_000) + 30_000;
    await trx.executeQuery(
      CompiledQuery.raw(`set local idle_in_transaction_session_timeout = ${idleMs}`),
    );
    ctx.trx = trx;
    const result = await def.handler(payload, ctx as never);
    if (ctx.signal.aborted) throw ctx.signal.reason;
    let json: string | null;
    try {
      json = resultToJson(task, result);
    } catch (err) {
      throw new ResultNotStored(err);
    }
    let done: { numAffectedRows?: bigint };
    try {
      done = await trx.executeQuery(CompiledQuery.raw(taskSucceedHeld, [...held, json]));
    } catch (err) {
      if ((err as { code?: string }).code === '25P02') throw new TransactionAbortedError(task.id);
      throw err;
    }
    if (Number(done.numAffectedRows ?? 0) === 0) throw new ClaimLostError(task.id);
    return result;
  });
}
