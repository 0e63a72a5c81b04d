/**
 * What `drain` and `runTask` share: a worker identity registered like a real
 * worker's (a row in `tandem.workers` and its liveness lock, so a rescuer
 * running elsewhere leaves its tasks alone), and one attempt run in this
 * process through the worker's own attempt runner, then settled with the
 * worker's own statement.
 */
import type { TandemClient } from '../client/client.js';
import { flowClaim } from '../db/queries/flow.js';
import {
  claimProbe,
  type ProbeRow,
  taskSettleAndClaimFlow,
} from '../db/queries/settle-and-claim.js';
import { TandemError } from '../errors.js';
import type { AnyTask } from '../task.js';
import type { TaskState } from '../types.js';
import { AttemptAbort, TaskAbortError } from '../worker/abort.js';
import { type ClaimedTask, type SettleRow, settleRow, toSettleParams } from '../worker/outcome.js';
import { Registry } from '../worker/registry.js';
import { type RunnerDeps, runAttempt } from '../worker/runner.js';

/** How one attempt of a task ended, as `drain` and `runTask` report it. */
export interface TaskOutcome {
  id: string;
  name: string;
  queue: string;
  /** The attempt that ran (1 for the first). */
  attempt: number;
  /**
   * The task's state after this attempt: `succeeded`; `retrying` (it failed
   * and will run again after its backoff); `failed` (attempts used up,
   * `PermanentError`, a timeout on the last attempt, or a payload that does
   * not parse); `queued` or `retrying` after a snooze; `cancelled`.
   */
  state: TaskState;
  /** True when the handler snoozed (the attempt was not counted). */
  snoozed: boolean;
  /** The handler's return value as stored (after a JSON round trip), or null. */
  result: unknown;
  /** What the handler threw (or the timeout), or null. */
  error: Error | null;
}

/** One attempt that ran, and the row that settles it (none when it committed itself). */
export interface Ran {
  outcome: TaskOutcome;
  settle: SettleRow | null;
}

/**
 * A worker without a loop: the caller claims, this runs and settles. Use
 * `InlineWorker.use(tandem, fn)`; it deregisters when `fn` ends.
 */
export class InlineWorker {
  private claims = 0;

  private constructor(
    private readonly client: TandemClient,
    private readonly registry: Registry,
  ) {}

  /** Registers a worker identity for the duration of `fn`. */
  static async use<T>(client: TandemClient, fn: (worker: InlineWorker) => Promise<T>): Promise<T> {
    const conn = await client.openConnection();
    const registry = new Registry({}, 30_000);
    try {
      await registry.attach(conn.client);
      return await fn(new InlineWorker(client, registry));
    } finally {
      await registry.deregister(client.sql).catch(() => {});
      await conn.close();
    }
  }

  get id(): string {
    return this.registry.id;
  }

  /** A fresh claim token: outcomes are written only where the token still matches. */
  nextToken(): string {
    return String(++this.claims);
  }

  /**
   * Writes `settle` and claims up to `count` runnable tasks of each queue, in
   * the worker's order (priority, run_at, id), of the registered task names.
   */
  async settleAndClaim(
    settle: readonly SettleRow[],
    queues: readonly string[],
    count: number,
  ): Promise<ClaimedTask[]> {
    const { ids, rest } = toSettleParams(settle);
    const names = [...this.client.taskDefinitions.keys()];
    const token = this.nextToken();
    // Every claim starts at the first runnable task of each priority (no
    // claim bounds kept here).
    const heads = await this.client.sql.query<ProbeRow>(claimProbe, [queues, names]);
    const rows = await this.client.sql.query<ClaimedTask>(taskSettleAndClaimFlow, [
      this.id,
      ids,
      queues,
      queues.map(() => count),
      names,
      ...rest,
      token,
      heads.map((h) => h.queue),
      heads.map((h) => h.priority),
      heads.map((h) => h.run_key),
      heads.map((h) => String(BigInt(h.id) - 1n)),
    ]);
    const tasks = rows.filter((r) => r.id !== null);
    // Tasks under limits: claimed as a worker claims them, within their limits.
    for (const queue of queues) {
      const limited = await this.client.sql.query<ClaimedTask>(flowClaim, [
        this.id,
        token,
        queue,
        count,
        0,
        names,
      ]);
      tasks.push(...limited.filter((r) => r.id !== null));
    }
    for (const r of tasks) r.token = token;
    return tasks;
  }

  /** Runs one claimed attempt, as this worker, with the task's timeout. */
  run(task: ClaimedTask, limits: AttemptLimits = {}): Promise<Ran> {
    const def = this.client.taskDefinitions.get(task.name);
    if (!def) {
      throw new TandemError('UNKNOWN_TASK', `no definition registered for task ${task.name}`);
    }
    const client = this.client;
    return runOne(
      task,
      def,
      { db: client.db, workerId: this.id, logger: client.logger, middleware: client.middleware },
      limits,
      async () => {
        // A transactional task committed its completion itself: read its result back.
        const [row] = await client.sql.query<{ result: unknown }>(
          'select result from tandem.tasks where id = $1',
          [task.id],
        );
        return row?.result ?? null;
      },
    );
  }
}

/** When an attempt is cut short besides its own timeout. */
export interface AttemptLimits {
  /** Epoch ms: abort as a shutdown (task given back, attempt not counted). */
  deadline?: number;
  /** Aborting it aborts the attempt as a shutdown. */
  signal?: AbortSignal;
}

/**
 * One attempt through the worker's runner, with the task's timeout and the
 * given limits, described as a TaskOutcome. `committedResult` reads the
 * result of a transactional task, which the runner does not return.
 */
export async function runOne(
  task: ClaimedTask,
  def: AnyTask,
  deps: RunnerDeps,
  limits: AttemptLimits,
  committedResult: () => Promise<unknown>,
): Promise<Ran> {
  const abort = new AttemptAbort();
  const timers: NodeJS.Timeout[] = [];
  const timeoutMs = task.timeout_ms ?? def.timeoutMs;
  if (timeoutMs) {
    const why = `task ${task.name} (id ${task.id}) timed out after ${timeoutMs} ms`;
    timers.push(setTimeout(() => abort.abort(new TaskAbortError('timeout', why)), timeoutMs));
  }
  const shutdown = (why: string) => () => abort.abort(new TaskAbortError('shutdown', why));
  if (limits.deadline !== undefined && Number.isFinite(limits.deadline)) {
    const ms = Math.max(0, limits.deadline - Date.now());
    timers.push(setTimeout(shutdown('the drain timeout passed'), ms));
  }
  const onSignal = shutdown('the caller aborted the attempt');
  if (limits.signal?.aborted) onSignal();
  limits.signal?.addEventListener('abort', onSignal, { once: true });
  try {
    const outcome = await runAttempt(task, def, abort, deps);
    const settle = settleRow(task, def, outcome, deps.workerId);
    const base = { id: task.id, name: task.name, queue: task.queue, attempt: task.attempt };
    const none = { snoozed: false, result: null, error: null };
    switch (outcome.kind) {
      case 'committed':
        return {
          settle,
          outcome: { ...base, ...none, state: 'succeeded', result: await committedResult() },
        };
      case 'succeeded': {
        const result = outcome.resultJson === null ? null : JSON.parse(outcome.resultJson);
        return { settle, outcome: { ...base, ...none, state: 'succeeded', result } };
      }
      case 'failed':
        return {
          settle,
          outcome: {
            ...base,
            ...none,
            state: settle?.state ?? 'failed',
            error: toError(outcome.error),
          },
        };
      default:
        return {
          settle,
          outcome: {
            ...base,
            ...none,
            state: settle?.state ?? 'queued',
            snoozed: outcome.kind === 'snoozed',
          },
        };
    }
  } finally {
    for (const t of timers) clearTimeout(t);
    limits.signal?.removeEventListener('abort', onSignal);
  }
}

function toError(err: unknown): Error {
  return err instanceof Error
    ? err
    : new Error(typeof err === 'string' ? err : JSON.stringify(err));
}
