/**
 * The task registry: GET /api/task-types, every registered task type with
 * its versions, and the waiting tasks of names nobody registered.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { TaskType, UnregisteredTasks } from '../../client/task-types.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const Rate = z.object({ limit: z.number().int(), per_ms: z.number().int() }).nullable();

const TaskTypeVersionJson = z
  .object({
    hash: z.string(),
    first_seen_at: z.string(),
    last_seen_at: z.string(),
    seen_by: z.array(z.string()),
    live_workers: z.array(z.string()),
  })
  .openapi('TaskTypeVersion');

export const TaskTypeJson = z
  .object({
    name: z.string(),
    queue: z.string(),
    priority: z.number().int(),
    max_attempts: z.number().int(),
    backoff: z.object({
      base_ms: z.number(),
      factor: z.number(),
      max_ms: z.number(),
      jitter: z.boolean(),
    }),
    timeout_ms: z.number().int().nullable(),
    transactional: z.boolean(),
    concurrency_key: z.object({
      kind: z.enum(['none', 'template', 'function']),
      template: z.string().nullable(),
    }),
    limits: z.object({ concurrency: z.number().int().nullable(), rate: Rate }),
    key_limits: z.object({
      concurrency: z.number().int().nullable(),
      rate: Rate,
      order: z.enum(['strict', 'skip']),
    }),
    payload_schema: z.record(z.string(), z.unknown()).nullable(),
    hash: z.string(),
    registered_at: z.string(),
    changed_at: z.string(),
    last_seen_at: z.string(),
    last_seen_by: z.string().nullable(),
    versions: z.array(TaskTypeVersionJson),
  })
  .openapi('TaskType');

export const UnregisteredJson = z
  .object({
    name: z.string(),
    queue: z.string(),
    waiting: z.number().int(),
    oldest_created_at: z.string(),
  })
  .openapi('UnregisteredTasks');

const list = createRoute({
  method: 'get',
  path: '/api/task-types',
  summary:
    'Registered task types (queue, attempts, timeout, limits, schema, versions) and waiting tasks of unregistered names',
  responses: {
    200: jsonContent(
      z.object({ task_types: z.array(TaskTypeJson), unregistered: z.array(UnregisteredJson) }),
      'The registry',
    ),
  },
});

const rate = (r: { limit: number; perMs: number } | null) =>
  r ? { limit: r.limit, per_ms: r.perMs } : null;
const iso = (d: Date) => new Date(d).toISOString();

export function taskTypeJson(t: TaskType): z.infer<typeof TaskTypeJson> {
  return {
    name: t.name,
    queue: t.queue,
    priority: t.priority,
    max_attempts: t.maxAttempts,
    backoff: {
      base_ms: t.backoff.baseMs,
      factor: t.backoff.factor,
      max_ms: t.backoff.maxMs,
      jitter: t.backoff.jitter,
    },
    timeout_ms: t.timeoutMs,
    transactional: t.transactional,
    concurrency_key: { kind: t.keyKind, template: t.keyTemplate },
    limits: { concurrency: t.limits.concurrency, rate: rate(t.limits.rate) },
    key_limits: {
      concurrency: t.keyLimits.concurrency,
      rate: rate(t.keyLimits.rate),
      order: t.keyLimits.order,
    },
    payload_schema: t.payloadSchema,
    hash: t.hash,
    registered_at: iso(t.registeredAt),
    changed_at: iso(t.changedAt),
    last_seen_at: iso(t.lastSeenAt),
    last_seen_by: t.lastSeenBy,
    versions: t.versions.map((v) => ({
      hash: v.hash,
      first_seen_at: iso(v.firstSeenAt),
      last_seen_at: iso(v.lastSeenAt),
      seen_by: v.seenBy,
      live_workers: v.liveWorkers,
    })),
  };
}

export function unregisteredJson(u: UnregisteredTasks): z.infer<typeof UnregisteredJson> {
  return {
    name: u.name,
    queue: u.queue,
    waiting: u.waiting,
    oldest_created_at: iso(u.oldestCreatedAt),
  };
}

export function taskTypeRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(list, async (c) => {
    const [types, unregistered] = await Promise.all([
      tandem.listTaskTypes(),
      tandem.listUnregisteredTasks(),
    ]);
    return c.json(
      { task_types: types.map(taskTypeJson), unregistered: unregistered.map(unregisteredJson) },
      200,
    );
  });
}
