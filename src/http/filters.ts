/**
 * The API's snake_case filters (query strings or a JSON body) as the
 * library's TaskFilter. Type errors were caught by the schemas; the values
 * themselves are checked again by the library (INVALID_FILTER).
 */
import type { TaskFilter } from '../client/task-filter.js';
import { TandemError } from '../errors.js';
import type { TaskState } from '../types.js';

export interface FilterInput {
  status?: string | string[];
  name?: string;
  queue?: string;
  key?: string;
  key_prefix?: string;
  payload?: string | Record<string, unknown> | unknown[];
  error?: string;
  last_error?: string;
  created_after?: string;
  created_before?: string;
  finished_after?: string;
  finished_before?: string;
}

function date(v: string | undefined, field: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime()))
    throw new TandemError(
      'INVALID_FILTER',
      `${field} is not a valid timestamp: ${JSON.stringify(v)}`,
    );
  return d;
}

function payload(v: FilterInput['payload']): TaskFilter['payloadContains'] {
  if (v === undefined || typeof v !== 'string') return v;
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new TandemError(
      'INVALID_FILTER',
      `payload must be JSON that the payloads contain, e.g. {"orderId":42}; got ${JSON.stringify(v.slice(0, 100))}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw new TandemError(
      'INVALID_FILTER',
      'payload must be a JSON object or array, e.g. {"orderId":42}',
    );
  return parsed as TaskFilter['payloadContains'];
}

export function toTaskFilter(q: FilterInput): TaskFilter {
  const f: TaskFilter = {};
  if (q.status !== undefined)
    f.states = (typeof q.status === 'string' ? q.status.split(',') : q.status) as TaskState[];
  if (q.name !== undefined) f.name = q.name;
  if (q.queue !== undefined) f.queue = q.queue;
  if (q.key !== undefined) f.key = q.key;
  if (q.key_prefix !== undefined) f.keyPrefix = q.key_prefix;
  const contains = payload(q.payload);
  if (contains !== undefined) f.payloadContains = contains;
  if (q.error !== undefined) f.error = q.error;
  if (q.last_error !== undefined) f.lastError = q.last_error;
  const dates = [
    ['createdAfter', 'created_after'],
    ['createdBefore', 'created_before'],
    ['finishedAfter', 'finished_after'],
    ['finishedBefore', 'finished_before'],
  ] as const;
  for (const [to, from] of dates) {
    const d = date(q[from], from);
    if (d) f[to] = d;
  }
  return f;
}

/** A small integer query parameter (limit), or undefined. */
export function intParam(v: string | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}
