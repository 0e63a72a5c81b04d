import type { Kysely } from 'kysely';
import type { TandemClient } from '../client/client.js';
import { prepareTask } from '../client/prepare.js';
import { taskClaimById } from '../db/queries/testing.js';
import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import type { AnyTask, PayloadOf } from '../task.js';
import type { Duration, Logger } from '../types.js';
import type { ClaimedTask } from '../worker/outcome.js';
import { InlineWorker, runOne, type TaskOutcome } from './inline-worker.js';

export interface RunTaskOptions {
  /**
   * Run against this Tandem's database: the task is enqueued as a real row,
   * claimed and run like a worker would, and its outcome written (so you can
   * also assert on the row). Needed for transactional tasks (`ctx.trx`) and
   * for handlers that use `ctx.db`.
   */
  tandem?: TandemClient;
  /** `ctx.attempt`. Default 1. */
  attempt?: number;
  /** `ctx.maxAttempts`. Default: the task's. */
  maxAttempts?: number;
  /** `ctx.key`. */
  key?: string;
  /** `ctx.metadata`. */
  metadata?: Record<string, unknown>;
  /** `ctx.logger` of a run without `tandem` (with it: the Tandem's logger). Default: one that drops everything. */
  logger?: Logger;
  /** Overrides the task's timeout for this run. Default: the task's. */
  timeout?: Duration;
  /** Aborting it aborts `ctx.signal` (as a worker shutdown would). */
  signal?: AbortSignal;
}

const silent: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silent,
};

/** `ctx.db` of a run without a database: any use says what to pass. */
const noDatabase = (task: string) =>
  new Proxy({} as Kysely<any>, {
    get() {
      throw new TandemError(
        'INVALID_OPTIONS',
        `runTask(${task}): the handler uses ctx.db, and runTask was given no database; pass { tandem }`,
      );
    },
  });

/**
 * Runs one attempt of a task's handler now, in this process, with a real
 * context, and reports how it ended: result, error, and the state the task
 * would move to. The payload is validated and serialised as `enqueue` does.
 * Without `tandem` nothing touches a database (for handlers that need none);
 * with it, the attempt runs on a real task row, and a transactional task
 * gets `ctx.trx`, committed with its completion.
 *
 * @example
 * // vitest
 * const outcome = await runTask(sendReceipt, { orderId: '1', email: 'ada@example.com' });
 * expect(outcome).toMatchObject({ state: 'succeeded', result: { sentTo: 'ada@example.com' } });
 *
 * @example
 * // node:test, a transactional task on a test database
 * const outcome = await runTask(chargeOrder, { orderId, cents: 500 }, { tandem });
 * assert.equal(outcome.state, 'succeeded');
 */
export async function runTask<T extends AnyTask>(
  task: T,
  payload: PayloadOf<T>,
  options: RunTaskOptions = {},
): Promise<TaskOutcome> {
  const attempt = options.attempt ?? 1;
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `runTask: attempt must be an integer of at least 1, got ${attempt}`,
    );
  }
  const timeoutMs =
    options.timeout === undefined ? task.timeoutMs : toMs(options.timeout, 'timeout');
  const prepared = prepareTask(
    task,
    payload,
    {
      ...(options.key !== undefined && { key: options.key }),
      ...(options.metadata !== undefined && { metadata: options.metadata }),
      maxAttempts: Math.max(options.maxAttempts ?? task.maxAttempts, attempt),
    },
    Number.POSITIVE_INFINITY,
  );
  if (options.tandem)
    return runOnRow(
      options.tandem,
      task,
      payload,
      prepared.maxAttempts,
      attempt,
      timeoutMs,
      options,
    );
  if (task.transactional) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `runTask(${task.name}): the task is transactional, so it needs a database for ctx.trx; pass { tandem }`,
    );
  }
  const claimed: ClaimedTask = {
    id: '0',
    name: task.name,
    queue: prepared.queue,
    payload: JSON.parse(prepared.payloadJson),
    key: prepared.key,
    attempt,
    max_attempts: prepared.maxAttempts,
    timeout_ms: timeoutMs,
    metadata: prepared.metadataJson === null ? null : JSON.parse(prepared.metadataJson),
    token: '0',
    priority: prepared.priority,
    run_key: '',
  };
  const deps = { db: noDatabase(task.name), workerId: 'runTask', logger: options.logger ?? silent };
  const limits = options.signal ? { signal: options.signal } : {};
  const ran = await runOne(claimed, task, deps, limits, async () => null);
  return ran.outcome;
}

/** Enqueues the task, claims exactly that row as `attempt`, runs and settles it. */
async function runOnRow(
  tandem: TandemClient,
  task: AnyTask,
  payload: unknown,
  maxAttempts: number,
  attempt: number,
  timeoutMs: number | null,
  options: RunTaskOptions,
): Promise<TaskOutcome> {
  tandem.addTask(task);
  const { id, inserted } = await tandem.enqueue(tandem.pool ?? tandem.db, task, payload as never, {
    ...(options.key !== undefined && { key: options.key }),
    ...(options.metadata !== undefined && { metadata: options.metadata }),
    maxAttempts,
  });
  if (!inserted) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `runTask(${task.name}): key ${JSON.stringify(options.key)} already has task ${id}; use another key`,
    );
  }
  return InlineWorker.use(tandem, async (worker) => {
    const [claimed] = await tandem.sql.query<ClaimedTask>(taskClaimById, [
      id,
      worker.id,
      attempt,
      worker.nextToken(),
    ]);
    if (!claimed)
      throw new TandemError('INVALID_STATE', `runTask: task ${id} was taken by a worker`);
    claimed.timeout_ms = timeoutMs;
    const ran = await worker.run(claimed, options.signal ? { signal: options.signal } : {});
    await worker.settleAndClaim(ran.settle ? [ran.settle] : [], [], 0);
    return ran.outcome;
  });
}
