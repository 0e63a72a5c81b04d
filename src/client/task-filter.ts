import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { TandemError } from '../errors.js';
import type { TaskState } from '../types.js';
import { toJson } from './json.js';

/**
 * Which tasks a listing or a bulk action is about. Every field narrows the
 * set; an absent field does not filter.
 */
export interface TaskFilter {
  /** Any of these states. */
  states?: readonly TaskState[];
  /** Task name, exactly. */
  name?: string;
  /** Queue name, exactly. */
  queue?: string;
  /** Business key, exactly: every task with this key, whatever its name. */
  key?: string;
  /** Keys starting with this text. */
  keyPrefix?: string;
  /** Payloads that contain this JSON (PostgreSQL `@>`), e.g. `{ orderId: 42 }`. */
  payloadContains?: Record<string, unknown> | unknown[];
  /** Case-insensitive text in the error message of any attempt. */
  error?: string;
  /** The error message of the last failed attempt, exactly (a failure group). */
  lastError?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  finishedAfter?: Date;
  finishedBefore?: Date;
}

export const TASK_STATES: readonly TaskState[] = [
  'queued',
  'running',
  'succeeded',
  'retrying',
  'failed',
  'cancelled',
];

/**
 * States whose rows a partial index lists (sql/000001 and 000005), grouped
 * by index: a filter on these finds its rows through the indexes however
 * much history the table keeps. `succeeded` has none: it is most of the
 * table, and an index on it would cost every completion an insert.
 */
const INDEXED_STATE_GROUPS: readonly (readonly TaskState[])[] = [
  ['queued', 'retrying'],
  ['running'],
  ['failed', 'cancelled'],
];

/** A validated filter. */
export interface ResolvedFilter {
  states: TaskState[] | null;
  name: string | null;
  queue: string | null;
  key: string | null;
  keyPrefix: string | null;
  payloadJson: string | null;
  error: string | null;
  lastError: string | null;
  createdAfter: Date | null;
  createdBefore: Date | null;
  finishedAfter: Date | null;
  finishedBefore: Date | null;
  /**
   * True when an index finds the matching rows directly (an exact key, or
   * only states with a partial index); otherwise a listing reads a bounded
   * window of ids per page.
   */
  indexed: boolean;
}

const NAME_RE = /^[A-Za-z0-9_.:\-/]{1,200}$/;
const FIELDS = new Set([
  'states',
  'name',
  'queue',
  'key',
  'keyPrefix',
  'payloadContains',
  'error',
  'lastError',
  'createdAfter',
  'createdBefore',
  'finishedAfter',
  'finishedBefore',
]);
/** Largest payload-containment document, in bytes of JSON. */
const MAX_CONTAINS_BYTES = 16 * 1024;

function bad(msg: string): TandemError {
  return new TandemError('INVALID_FILTER', msg);
}

function label(v: unknown, field: string): string | null {
  if (v === undefined) return null;
  if (typeof v !== 'string' || !NAME_RE.test(v))
    throw bad(
      `filter ${field} must be 1-200 characters of letters, digits and _ . : - /, got ${JSON.stringify(v)}`,
    );
  return v;
}

function text(v: unknown, field: string, max: number): string | null {
  if (v === undefined) return null;
  if (typeof v !== 'string' || v.length === 0 || v.length > max || v.includes('\u0000'))
    throw bad(
      `filter ${field} must be a non-empty string of at most ${max} characters without NUL, got ${JSON.stringify(typeof v === 'string' ? v.slice(0, 100) : v)}`,
    );
  return v;
}

function date(v: unknown, field: string): Date | null {
  if (v === undefined) return null;
  if (!(v instanceof Date) || Number.isNaN(v.getTime()))
    throw bad(`filter ${field} must be a valid Date, got ${JSON.stringify(v)}`);
  return v;
}

/** Validates a filter before any SQL runs; INVALID_FILTER says what was wrong. */
export function resolveFilter(filter: unknown): ResolvedFilter {
  const f = (filter ?? {}) as Record<string, unknown>;
  if (typeof f !== 'object' || Array.isArray(f)) throw bad('a task filter must be an object');
  for (const k of Object.keys(f)) {
    if (!FIELDS.has(k))
      throw bad(`unknown filter ${JSON.stringify(k)}; known filters: ${[...FIELDS].join(', ')}`);
  }
  let states: TaskState[] | null = null;
  if (f.states !== undefined) {
    if (!Array.isArray(f.states) || f.states.length === 0)
      throw bad('filter states must be a non-empty array of task states');
    for (const s of f.states) {
      if (!TASK_STATES.includes(s as TaskState))
        throw bad(`unknown task state ${JSON.stringify(s)}; states are ${TASK_STATES.join(', ')}`);
    }
    states = [...new Set(f.states as TaskState[])];
  }
  let payloadJson: string | null = null;
  if (f.payloadContains !== undefined) {
    if (typeof f.payloadContains !== 'object' || f.payloadContains === null)
      throw bad('filter payloadContains must be a JSON object or array, e.g. { orderId: 42 }');
    payloadJson = toJson(f.payloadContains, 'INVALID_FILTER', 'filter payloadContains');
    if (payloadJson.includes('\\u0000'))
      throw bad('filter payloadContains holds a NUL character (\\u0000), which jsonb cannot store');
    if (payloadJson.length > MAX_CONTAINS_BYTES)
      throw bad(`filter payloadContains is over ${MAX_CONTAINS_BYTES} bytes of JSON`);
  }
  const resolved: ResolvedFilter = {
    states,
    name: label(f.name, 'name'),
    queue: label(f.queue, 'queue'),
    key: text(f.key, 'key', 500),
    keyPrefix: text(f.keyPrefix, 'keyPrefix', 500),
    payloadJson,
    error: text(f.error, 'error', 1000),
    lastError: text(f.lastError, 'lastError', 10_000),
    createdAfter: date(f.createdAfter, 'createdAfter'),
    createdBefore: date(f.createdBefore, 'createdBefore'),
    finishedAfter: date(f.finishedAfter, 'finishedAfter'),
    finishedBefore: date(f.finishedBefore, 'finishedBefore'),
    indexed: false,
  };
  resolved.indexed = isIndexed(resolved);
  return resolved;
}

function isIndexed(f: ResolvedFilter): boolean {
  if (f.key !== null) return true;
  return f.states?.every((s) => s !== 'succeeded') ?? false;
}

/** The same filter with its states narrowed to `allowed` (null: nothing can match). */
export function narrowStates(
  f: ResolvedFilter,
  allowed: readonly TaskState[],
): ResolvedFilter | null {
  const states = (f.states ?? TASK_STATES).filter((s) => allowed.includes(s));
  if (states.length === 0) return null;
  const out = { ...f, states };
  out.indexed = isIndexed(out);
  return out;
}

/** Whether the filter narrows anything at all. */
export function isEmptyFilter(f: ResolvedFilter): boolean {
  const { indexed: _, ...fields } = f;
  return Object.values(fields).every((v) => v === null);
}

/**
 * Adds the filter's conditions to a query on `tandem.tasks`. States are an
 * OR of one `in` list per partial index, so that the planner can combine
 * the indexes (a single `in` list spanning two partial indexes matches
 * neither predicate).
 */
export function applyFilter<DB, TB extends keyof DB, O>(
  q: SelectQueryBuilder<DB, TB, O>,
  f: ResolvedFilter,
): SelectQueryBuilder<DB, TB, O> {
  let out = q as unknown as SelectQueryBuilder<any, any, O>;
  if (f.states) {
    const states = f.states;
    const groups = INDEXED_STATE_GROUPS.map((g) => g.filter((s) => states.includes(s))).filter(
      (g) => g.length > 0,
    );
    if (states.includes('succeeded')) groups.push(['succeeded']);
    out = out.where((eb) => eb.or(groups.map((g) => eb('state', 'in', g))));
  }
  if (f.name !== null) out = out.where('name', '=', f.name);
  if (f.queue !== null) out = out.where('queue', '=', f.queue);
  if (f.key !== null) out = out.where('key', '=', f.key);
  if (f.keyPrefix !== null) out = out.where(sql<boolean>`starts_with(key, ${f.keyPrefix})`);
  if (f.payloadJson !== null) out = out.where(sql<boolean>`payload @> ${f.payloadJson}::jsonb`);
  if (f.error !== null) {
    out = out.where(
      sql<boolean>`exists (select 1 from jsonb_array_elements(errors) e
                    where strpos(lower(e->>'message'), lower(${f.error})) > 0)`,
    );
  }
  if (f.lastError !== null) out = out.where(sql<boolean>`errors->-1->>'message' = ${f.lastError}`);
  if (f.createdAfter) out = out.where('created_at', '>', f.createdAfter);
  if (f.createdBefore) out = out.where('created_at', '<', f.createdBefore);
  if (f.finishedAfter) out = out.where('finished_at', '>', f.finishedAfter);
  if (f.finishedBefore) out = out.where('finished_at', '<', f.finishedBefore);
  return out as unknown as SelectQueryBuilder<DB, TB, O>;
}

/** The tasks table as a Kysely source. */
export function tasksTable(db: Kysely<any>) {
  return db.selectFrom('tandem.tasks');
}
