/**
 * The task registry: what workers, `tandem.register()` and `tandem migrate
 * --tasks` record of their definitions in `tandem.task_types`, so that SQL
 * enqueue, the CLI and the HTTP API apply them (docs/registry.md).
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Queryable } from '../db/executor.js';
import {
  taskTypesAdoptPending,
  taskTypesList,
  taskTypesRegister,
  taskTypesUnregistered,
} from '../db/queries/task-types.js';
import type { ResolvedRate } from '../flow/options.js';
import { jsonSchemaOf } from '../schema.js';
import type { AnyTask } from '../task.js';

/** How a task type's concurrency key is made. */
export type KeyKind = 'none' | 'template' | 'function';

/** One version (hash) of a definition that registered. */
export interface TaskTypeVersion {
  hash: string;
  firstSeenAt: Date;
  lastSeenAt: Date;
  /** Registrants, most recent first (worker ids, or `client:<host>-<pid>`), at most 20. */
  seenBy: string[];
  /** The workers among `seenBy` that are running now. */
  liveWorkers: string[];
}

/** A registered task type, as `listTaskTypes` returns it. */
export interface TaskType {
  name: string;
  queue: string;
  priority: number;
  maxAttempts: number;
  backoff: { baseMs: number; factor: number; maxMs: number; jitter: boolean };
  timeoutMs: number | null;
  transactional: boolean;
  keyKind: KeyKind;
  /** The concurrency key template, when keyKind is 'template'. */
  keyTemplate: string | null;
  limits: { concurrency: number | null; rate: ResolvedRate | null };
  keyLimits: {
    concurrency: number | null;
    rate: ResolvedRate | null;
    order: 'strict' | 'skip';
  };
  /** The payload's JSON Schema, when its validator provides one. */
  payloadSchema: Record<string, unknown> | null;
  /** sha256 of the definition's options and payload schema (not its handler code). */
  hash: string;
  registeredAt: Date;
  /** When `hash` became the current definition. */
  changedAt: Date;
  lastSeenAt: Date;
  lastSeenBy: string | null;
  /** Every version seen, most recently registered first; more than one live means a mixed fleet. */
  versions: TaskTypeVersion[];
}

/** What `register` did for one name. */
export interface RegisteredTaskType {
  name: string;
  hash: string;
  /** True when this hash was not the current definition before. */
  changed: boolean;
  /** Waiting tasks enqueued before the name was registered that took this definition's defaults. */
  adopted: number;
}

/** Waiting tasks of a name nobody registered (misspelt, or its workers not deployed yet). */
export interface UnregisteredTasks {
  name: string;
  queue: string;
  waiting: number;
  oldestCreatedAt: Date;
}

/** The registry row of one definition (snake_case, as the SQL function reads it). */
export function describeTask(task: AnyTask): Record<string, unknown> {
  const key = task.concurrencyKey;
  const rate = (r: ResolvedRate | null) => (r ? { limit: r.limit, per_ms: r.perMs } : null);
  const row = {
    name: task.name,
    queue: task.queue,
    priority: task.priority,
    max_attempts: task.maxAttempts,
    backoff: {
      base_ms: task.backoff.baseMs,
      factor: task.backoff.factor,
      max_ms: task.backoff.maxMs,
      jitter: task.backoff.jitter,
    },
    timeout_ms: task.timeoutMs,
    transactional: task.transactional,
    key_kind: (key === null || key === undefined
      ? 'none'
      : typeof key === 'string'
        ? 'template'
        : 'function') satisfies KeyKind,
    key_template: typeof key === 'string' ? key : null,
    limits: {
      concurrency: task.limits?.concurrency ?? null,
      rate: rate(task.limits?.rate ?? null),
    },
    key_limits: {
      concurrency: task.keyLimits?.concurrency ?? null,
      rate: rate(task.keyLimits?.rate ?? null),
      order: task.keyLimits?.order ?? 'strict',
    },
    payload_schema: jsonSchemaOf(task.schema),
  };
  // Keys in a fixed order (the literal above), so equal definitions hash equally.
  const hash = createHash('sha256').update(JSON.stringify(row)).digest('hex').slice(0, 16);
  return { ...row, hash, definition: row };
}

/** Who registers from a process that is not a worker. */
export const clientRegistrant = () => `client:${hostname()}-${process.pid}`;

/**
 * Records `tasks` in the registry in one statement and applies them to the
 * waiting tasks enqueued before their names were registered.
 */
export async function registerTaskTypes(
  sql: Queryable,
  tasks: readonly AnyTask[],
  seenBy: string,
): Promise<RegisteredTaskType[]> {
  if (tasks.length === 0) return [];
  const rows = await sql.query<RegisteredTaskType>(taskTypesRegister, [
    JSON.stringify(tasks.map(describeTask)),
    seenBy,
  ]);
  return rows.map((r) => ({
    name: r.name,
    hash: r.hash,
    changed: r.changed,
    adopted: Number(r.adopted),
  }));
}

const rateOf = (r: { limit: number; per_ms: number } | null): ResolvedRate | null =>
  r ? { limit: r.limit, perMs: r.per_ms } : null;

/** Every registered task type, by name. */
export async function listTaskTypes(sql: Queryable): Promise<TaskType[]> {
  const rows = await sql.query<any>(taskTypesList);
  return rows.map((r) => ({
    name: r.name,
    queue: r.queue,
    priority: r.priority,
    maxAttempts: r.max_attempts,
    backoff: {
      baseMs: r.backoff.base_ms,
      factor: r.backoff.factor,
      maxMs: r.backoff.max_ms,
      jitter: r.backoff.jitter,
    },
    timeoutMs: r.timeout_ms,
    transactional: r.transactional,
    keyKind: r.key_kind,
    keyTemplate: r.key_template,
    limits: { concurrency: r.limits.concurrency ?? null, rate: rateOf(r.limits.rate ?? null) },
    keyLimits: {
      concurrency: r.key_limits.concurrency ?? null,
      rate: rateOf(r.key_limits.rate ?? null),
      order: r.key_limits.order ?? 'strict',
    },
    payloadSchema: r.payload_schema,
    hash: r.hash,
    registeredAt: r.registered_at,
    changedAt: r.changed_at,
    lastSeenAt: r.last_seen_at,
    lastSeenBy: r.last_seen_by,
    versions: (r.versions as any[]).map((v) => ({
      hash: v.hash,
      firstSeenAt: new Date(v.first_seen_at),
      lastSeenAt: new Date(v.last_seen_at),
      seenBy: v.seen_by,
      liveWorkers: v.live_workers,
    })),
  }));
}

/** Waiting tasks of names nobody registered, per name and queue. */
export async function listUnregisteredTasks(sql: Queryable): Promise<UnregisteredTasks[]> {
  const rows = await sql.query<any>(taskTypesUnregistered);
  return rows.map((r) => ({
    name: r.name,
    queue: r.queue,
    waiting: Number(r.waiting),
    oldestCreatedAt: r.oldest_created_at,
  }));
}

/**
 * Applies registered definitions to waiting tasks still marked as enqueued
 * without one: the leader's pass that catches an enqueue which committed
 * just after a registration it could not see.
 */
export async function adoptPendingTasks(sql: Queryable): Promise<number> {
  const rows = await sql.query<{ adopted: number }>(taskTypesAdoptPending);
  return rows.reduce((n, r) => n + Number(r.adopted), 0);
}
