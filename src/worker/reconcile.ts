import type pg from 'pg';
import { taskHeldConfirm, taskReleaseLost } from '../db/queries/tasks.js';
import type { Logger } from '../types.js';
import { type AttemptAbort, TaskAbortError } from './abort.js';
import type { ClaimedTask, SettleRow } from './outcome.js';
import type { QueueState } from './queues.js';
import type { RecentOutcomes } from './round-trip.js';

/** A running attempt, as reconciliation sees it. */
export interface HeldAttempt {
  task: ClaimedTask;
  abort: AttemptAbort;
  /** Set when its outcome must not be written (here: its claim is gone). */
  settled: boolean;
}

/** Everything a worker holds when its control connection comes back. */
export interface Holdings {
  running: Iterable<HeldAttempt>;
  queues: Iterable<QueueState>;
  /** Outcomes not yet written, read when the release runs (handlers go on finishing meanwhile). */
  pending: () => readonly SettleRow[];
  /** Outcomes written that a crash could have undone. */
  recent: RecentOutcomes;
}

/**
 * After a reconnection, makes the worker and the database agree, in both
 * directions. Tasks the worker holds that the database no longer shows
 * running under it with the same claim token were lost (the claim went with
 * a crash-restart, or the task was taken from it): running copies are
 * aborted without writing anything, claimed-ahead ones dropped. Outcomes
 * written shortly before the connection went are written again (a no-op
 * where they survived). Tasks the database shows running under the worker
 * that it neither holds nor has an outcome for are made runnable again,
 * the attempt not counted. Returns the outcomes to write again; the caller
 * puts them ahead of its pending ones (it must not replace them: handlers
 * that finish while this runs add to those).
 */
export async function reconcile(
  conn: pg.ClientBase,
  owner: string,
  h: Holdings,
  logger: Logger,
): Promise<SettleRow[]> {
  const running = [...h.running].filter((a) => !a.settled);
  const held: ClaimedTask[] = running.map((a) => a.task);
  for (const q of h.queues) held.push(...q.buffer);
  const { rows } = await conn.query<{ id: string; token: string }>(taskHeldConfirm, [
    owner,
    held.map((t) => t.id),
    held.map((t) => t.token),
  ]);
  const confirmed = new Set(rows.map((r) => `${r.id}#${r.token}`));
  const ok = (t: ClaimedTask) => confirmed.has(`${t.id}#${t.token}`);
  let dropped = 0;
  for (const a of running) {
    if (ok(a.task)) continue;
    a.settled = true;
    a.abort.abort(
      new TaskAbortError('lost', `task ${a.task.id}: its claim was lost with the connection`),
    );
    dropped++;
  }
  for (const q of h.queues) {
    const before = q.buffer.length;
    q.buffer = q.buffer.filter(ok);
    dropped += before - q.buffer.length;
  }
  const again = h.recent.take();
  const keepIds: string[] = rows.map((r) => r.id);
  const keepTokens: string[] = rows.map((r) => r.token);
  for (const o of again.concat(h.pending())) {
    keepIds.push(o.id);
    keepTokens.push(o.token);
  }
  const released = await conn.query(taskReleaseLost, [owner, keepIds, keepTokens]);
  if (dropped > 0 || released.rows.length > 0)
    logger.warn(
      { dropped, released: released.rows.length },
      'after reconnecting: dropped tasks whose claim was lost, made runnable again tasks whose outcome was lost',
    );
  return again;
}
