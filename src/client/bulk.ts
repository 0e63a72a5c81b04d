import type { Kysely } from 'kysely';
import type { Queryable } from '../db/executor.js';
import { taskBulkCancelWaiting, taskBulkDelete, taskBulkRetry } from '../db/queries/bulk.js';
import { taskCancelRunning, taskNotifyCancel } from '../db/queries/tasks.js';
import { TandemError } from '../errors.js';
import type { TaskState } from '../types.js';
import { scanTasks } from './list-tasks.js';
import {
  isEmptyFilter,
  narrowStates,
  type ResolvedFilter,
  resolveFilter,
  type TaskFilter,
} from './task-filter.js';
import { toTaskId } from './task-id.js';

/** What a bulk action applies to: listed ids, or every task matching a filter. */
export type BulkTarget = { ids: readonly (string | number | bigint)[] } | { filter: TaskFilter };

export interface BulkOptions {
  /** Count the tasks the action would change, and change nothing. */
  dryRun?: boolean;
}

/** What a bulk action did. */
export interface BulkResult {
  /** Tasks changed (or, with dryRun, that would be). */
  affected: number;
  /** Their ids, at most the first 10,000. */
  ids: string[];
}

export type BulkAction = 'retry' | 'cancel' | 'delete';

/** Rows per statement: each batch is one short transaction. */
const BATCH = 1_000;
const MAX_IDS = 10_000;
const KEPT_IDS = 10_000;

/** The states each action can change; tasks in other states are left alone. */
const APPLIES_TO: Record<BulkAction, readonly TaskState[]> = {
  retry: ['failed', 'cancelled', 'succeeded'],
  cancel: ['queued', 'retrying', 'running'],
  delete: ['queued', 'retrying', 'succeeded', 'failed', 'cancelled'],
};

/** Validates a bulk target before any SQL runs. */
export function resolveTarget(
  target: unknown,
): { ids: string[]; filter: null } | { ids: null; filter: ResolvedFilter } {
  const t = target as Record<string, unknown> | null;
  const hasIds = t !== null && typeof t === 'object' && 'ids' in t;
  const hasFilter = t !== null && typeof t === 'object' && 'filter' in t;
  if (hasIds === hasFilter) {
    throw new TandemError(
      'INVALID_OPTIONS',
      'a bulk action needs exactly one of { ids: [...] } or { filter: {...} }',
    );
  }
  if (hasIds) {
    const ids = t!.ids;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS) {
      throw new TandemError(
        'INVALID_OPTIONS',
        `ids must be a non-empty array of at most ${MAX_IDS} task ids`,
      );
    }
    return { ids: [...new Set(ids.map(toTaskId))], filter: null };
  }
  const filter = resolveFilter(t!.filter);
  if (isEmptyFilter(filter)) {
    throw new TandemError(
      'INVALID_FILTER',
      'an empty filter would match every task; give at least one criterion (states, name, queue, key…), or ids',
    );
  }
  return { ids: null, filter };
}

/**
 * Applies `action` to the target in batches of 1,000 (each one statement),
 * walking a filter newest first with the same keyset scan as listTasks.
 * Tasks the action does not apply to (retrying a running task, deleting a
 * running one) are skipped, not errors.
 */
export async function bulkAction(
  db: Kysely<any>,
  sql: Queryable,
  action: BulkAction,
  target: BulkTarget,
  options: BulkOptions = {},
): Promise<BulkResult> {
  const resolved = resolveTarget(target);
  const result: BulkResult = { affected: 0, ids: [] };
  const apply = async (ids: string[]) => {
    if (ids.length === 0) return;
    const done = options.dryRun
      ? await countApplicable(sql, action, ids)
      : await run(sql, action, ids);
    result.affected += done.length;
    for (const id of done) if (result.ids.length < KEPT_IDS) result.ids.push(id);
  };
  if (resolved.ids) {
    for (let i = 0; i < resolved.ids.length; i += BATCH)
      await apply(resolved.ids.slice(i, i + BATCH));
    return result;
  }
  const f = narrowStates(resolved.filter, APPLIES_TO[action]);
  if (!f) return result;
  let before: bigint | null = null;
  for (;;) {
    const page: { rows: { id: string }[]; next: bigint | null } = await scanTasks<{ id: string }>(
      db,
      f,
      BATCH,
      before,
      'id',
    );
    await apply(page.rows.map((r) => String(r.id)));
    if (page.next === null) return result;
    before = page.next;
  }
}

async function countApplicable(
  sql: Queryable,
  action: BulkAction,
  ids: string[],
): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(
    'select id::text as id from tandem.tasks where id = any($1::bigint[]) and state = any($2::text[])',
    [ids, APPLIES_TO[action]],
  );
  return rows.map((r) => r.id);
}

async function run(sql: Queryable, action: BulkAction, ids: string[]): Promise<string[]> {
  switch (action) {
    case 'retry': {
      const rows = await sql.query<{ id: string; queue: string }>(taskBulkRetry, [ids]);
      const queues = [...new Set(rows.map((r) => r.queue))];
      if (queues.length > 0)
        await sql.query(`select pg_notify('tandem_wake', q) from unnest($1::text[]) q`, [queues]);
      return rows.map((r) => r.id);
    }
    case 'delete':
      return (await sql.query<{ id: string }>(taskBulkDelete, [ids])).map((r) => r.id);
    case 'cancel': {
      const waiting = (await sql.query<{ id: string; running: string[] | null }>(
        taskBulkCancelWaiting,
        [ids],
      )) as { id: string }[];
      const done = waiting.map((r) => r.id);
      const cancelled = new Set(done);
      // Running ones: tell their workers to abort, then end them (as cancel() does).
      const running = await sql.query<{ id: string }>(
        `select id::text as id from tandem.tasks where id = any($1::bigint[]) and state = 'running'`,
        [ids.filter((id) => !cancelled.has(id))],
      );
      for (const r of running) {
        await sql.query(taskNotifyCancel, [r.id]);
        if ((await sql.query(taskCancelRunning, [r.id])).length > 0) done.push(r.id);
      }
      return done;
    }
  }
}
