import type { Queryable } from '../db/executor.js';
import { operatorActionInsert, operatorActionList } from '../db/queries/operator-actions.js';
import { TandemError } from '../errors.js';
import { toJson } from './json.js';
import { checkLimit, decodeCursor, encodeCursor } from './list-tasks.js';
import { toTaskId } from './task-id.js';

/** One recorded operator action. */
export interface OperatorAction {
  id: string;
  at: Date;
  /** Who: the label of the API token used (`anonymous` without a token, `cli` from the CLI). */
  actor: string;
  /** What: `retry`, `cancel`, `delete`, `enqueue`, `pause`, `resume`, `bulk-retry`… */
  action: string;
  /** What was asked for: `{ ids }`, `{ filter }`, `{ queue }` or `{ name }`. */
  target: Record<string, unknown>;
  /** The tasks it changed (the first 10,000). */
  taskIds: string[];
  affected: number;
  /** Method, path, remote address and user agent of the HTTP request. */
  request: Record<string, unknown> | null;
}

export type NewOperatorAction = Omit<OperatorAction, 'id' | 'at'>;

export interface OperatorActionQuery {
  actor?: string;
  action?: string;
  /** Only actions that changed this task. */
  taskId?: string | number | bigint;
  limit?: number;
  cursor?: string | null;
}

const MAX_IDS = 10_000;

export async function recordOperatorAction(
  sql: Queryable,
  a: NewOperatorAction,
): Promise<{ id: string; at: Date }> {
  for (const [field, v] of [
    ['actor', a.actor],
    ['action', a.action],
  ] as const) {
    if (typeof v !== 'string' || v.length === 0 || v.length > 200)
      throw new TandemError('INVALID_OPTIONS', `operator action ${field} must be 1-200 characters`);
  }
  const ids = a.taskIds.slice(0, MAX_IDS).map(toTaskId);
  const [row] = await sql.query<{ id: string; at: Date }>(operatorActionInsert, [
    a.actor,
    a.action,
    toJson(a.target, 'INVALID_OPTIONS', 'operator action target'),
    ids,
    a.affected,
    a.request === null ? null : toJson(a.request, 'INVALID_OPTIONS', 'operator action request'),
  ]);
  return row!;
}

/** Recorded operator actions, newest first, in keyset pages. */
export async function listOperatorActions(
  sql: Queryable,
  q: OperatorActionQuery = {},
): Promise<{ actions: OperatorAction[]; nextCursor: string | null }> {
  const limit = checkLimit(q.limit);
  const before = q.cursor === undefined || q.cursor === null ? null : decodeCursor(q.cursor);
  for (const [field, v] of [
    ['actor', q.actor],
    ['action', q.action],
  ] as const) {
    if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > 200))
      throw new TandemError('INVALID_FILTER', `${field} must be 1-200 characters`);
  }
  const taskId = q.taskId === undefined ? null : toTaskId(q.taskId);
  const rows = await sql.query<any>(operatorActionList, [
    before === null ? null : before.toString(),
    q.actor ?? null,
    q.action ?? null,
    taskId,
    limit + 1,
  ]);
  const more = rows.length > limit;
  if (more) rows.length = limit;
  return {
    actions: rows.map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      action: r.action,
      target: r.target,
      taskIds: r.task_ids ?? [],
      affected: r.affected,
      request: r.request,
    })),
    nextCursor: more ? encodeCursor(BigInt(rows[rows.length - 1].id)) : null,
  };
}
