import type { Queryable } from '../db/executor.js';
import { taskFailureGroups } from '../db/queries/failures.js';
import { TandemError } from '../errors.js';
import type { TaskFilter } from './task-filter.js';

/** Failed tasks that share a task name and the last attempt's error. */
export interface FailureGroup {
  name: string;
  errorName: string | null;
  message: string | null;
  count: number;
  firstSeen: Date;
  lastSeen: Date;
  /** The newest task of the group, and its payload. */
  sampleId: string;
  samplePayload: unknown;
  /** Pass to retryTasks({ filter }) to run the whole group again (redrive). */
  filter: TaskFilter;
}

export interface FailureGroupOptions {
  /** Only failures of this task. */
  name?: string;
  /** Groups to return, largest first. Default 50, at most 500. */
  limit?: number;
}

/** How many of the latest failed tasks are grouped. */
export const FAILURES_SCANNED = 10_000;

/**
 * Groups the latest 10,000 failed tasks by task name and last error, so an
 * operator sees which failures dominate and can retry a group at once.
 */
export async function failureGroups(
  sql: Queryable,
  options: FailureGroupOptions = {},
): Promise<{ groups: FailureGroup[]; scanned: number; truncated: boolean }> {
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 500)
    throw new TandemError(
      'INVALID_OPTIONS',
      `limit must be an integer from 1 to 500, got ${limit}`,
    );
  const name = options.name ?? null;
  if (name !== null && (typeof name !== 'string' || !/^[A-Za-z0-9_.:\-/]{1,200}$/.test(name)))
    throw new TandemError(
      'INVALID_FILTER',
      `name must be a task name, got ${JSON.stringify(name)}`,
    );
  const rows = await sql.query<any>(taskFailureGroups, [name, FAILURES_SCANNED, limit]);
  const scanned = rows[0]?.scanned ?? 0;
  return {
    groups: rows.map((r) => {
      const filter: TaskFilter = { states: ['failed'], name: r.name };
      if (r.message !== null) filter.lastError = r.message;
      return {
        name: r.name,
        errorName: r.error_name,
        message: r.message,
        count: r.count,
        firstSeen: r.first_seen,
        lastSeen: r.last_seen,
        sampleId: r.sample_id,
        samplePayload: r.sample_payload,
        filter,
      };
    }),
    scanned,
    truncated: scanned >= FAILURES_SCANNED,
  };
}
