/**
 * Request and response schemas of the HTTP API. The request schemas
 * validate at each route's edge; all of them generate /api/openapi.json.
 */
import { z } from '@hono/zod-openapi';

const STATES = ['queued', 'running', 'succeeded', 'retrying', 'failed', 'cancelled'] as const;

export const TaskIdParam = z.strictObject({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,18}$/, 'a task id is a positive integer (digits only, no sign)')
    .refine(
      (s) => !/^[0-9]+$/.test(s) || BigInt(s) <= 9_223_372_036_854_775_807n,
      'task ids are at most 2^63 - 1',
    )
    .openapi({ param: { name: 'id', in: 'path' }, example: '42' }),
});

export const QueueNameParam = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.:\-/]{1,200}$/, 'a queue name is 1-200 of letters, digits and _ . : - /')
    .openapi({ param: { name: 'name', in: 'path' }, example: 'payments' }),
});

const isoDate = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/,
    'an ISO 8601 timestamp with a time zone, e.g. 2026-01-31T12:00:00Z',
  );

/** The filters of GET /api/tasks, as query strings (also `tandem tasks`). */
export const TaskFilterQuery = z.strictObject({
  status: z
    .string()
    .regex(
      new RegExp(`^(${STATES.join('|')})(,(${STATES.join('|')}))*$`),
      `comma-separated states: ${STATES.join(', ')}`,
    )
    .optional()
    .openapi({ example: 'failed,cancelled' }),
  name: z.string().optional().openapi({ example: 'charge-order' }),
  queue: z.string().optional(),
  key: z.string().optional().openapi({ example: 'order:42' }),
  key_prefix: z.string().optional().openapi({ example: 'order:' }),
  payload: z
    .string()
    .optional()
    .openapi({ description: 'JSON the payload contains (@>)', example: '{"orderId":42}' }),
  error: z.string().optional().openapi({ description: 'text in any attempt’s error message' }),
  last_error: z.string().optional().openapi({ description: 'the last error message, exactly' }),
  created_after: isoDate.optional(),
  created_before: isoDate.optional(),
  finished_after: isoDate.optional(),
  finished_before: isoDate.optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/, 'an integer from 1 to 500')
    .optional(),
  cursor: z.string().max(100).optional(),
});

/** The same filters in a JSON body (bulk actions). */
export const TaskFilterBody = z
  .strictObject({
    status: z.union([z.enum(STATES), z.array(z.enum(STATES)).min(1)]).optional(),
    name: z.string().optional(),
    queue: z.string().optional(),
    key: z.string().optional(),
    key_prefix: z.string().optional(),
    payload: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
    error: z.string().optional(),
    last_error: z.string().optional(),
    created_after: isoDate.optional(),
    created_before: isoDate.optional(),
    finished_after: isoDate.optional(),
    finished_before: isoDate.optional(),
  })
  .openapi('TaskFilter');

export const WaitQuery = z.strictObject({
  wait: z
    .string()
    .regex(/^\d+(\.\d+)?(ms|s|m)?$/, 'a duration such as 500ms, 5s or 1m (at most 60s)')
    .optional()
    .openapi({ description: 'long-poll until the task is finished, at most 60s', example: '5s' }),
});

export const EnqueueBody = z
  .strictObject({
    name: z.string().openapi({ example: 'send-receipt' }),
    payload: z.unknown().openapi({ example: { orderId: 42 } }),
    key: z.string().optional(),
    queue: z.string().optional(),
    priority: z.number().int().optional(),
    run_at: isoDate.optional(),
    delay: z.union([z.number().nonnegative(), z.string()]).optional().openapi({ example: '30s' }),
    max_attempts: z.number().int().min(1).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    concurrency_key: z.string().optional().openapi({
      description:
        "instead of the one the task's registered concurrency key template or function makes",
      example: 'customer:42',
    }),
  })
  .openapi('EnqueueRequest');

export const BulkBody = z
  .strictObject({
    action: z.enum(['retry', 'cancel', 'delete']),
    ids: z.array(z.string()).min(1).max(10_000).optional(),
    filter: TaskFilterBody.optional(),
    dry_run: z.boolean().optional(),
  })
  .openapi('BulkRequest');

export const StatsQuery = z.strictObject({
  window: z.string().max(20).optional().openapi({ example: '1h' }),
  step: z.string().max(20).optional().openapi({ example: '1m' }),
});

export const FailuresQuery = z.strictObject({
  name: z.string().optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/)
    .optional(),
});

export const OperatorActionsQuery = z.strictObject({
  actor: z.string().optional(),
  action: z.string().optional(),
  task_id: z
    .string()
    .regex(/^[1-9][0-9]{0,18}$/, 'a task id')
    .optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/)
    .optional(),
  cursor: z.string().max(100).optional(),
});

// Responses.

const ts = z.string().openapi({ format: 'date-time', example: '2026-01-31T12:00:00.000Z' });

export const AttemptErrorJson = z
  .object({
    attempt: z.number().int(),
    at: ts,
    name: z.string(),
    message: z.string(),
    stack: z.string().optional(),
    worker: z.string().optional(),
  })
  .openapi('AttemptError');

export const TaskJson = z
  .object({
    id: z.string().openapi({ example: '42' }),
    name: z.string(),
    queue: z.string(),
    status: z.enum(STATES),
    payload: z.unknown(),
    result: z.unknown().nullable(),
    error: AttemptErrorJson.nullable().openapi({
      description: 'the last attempt’s error while the task is failed or retrying',
    }),
    errors: z.array(AttemptErrorJson),
    attempt: z.number().int(),
    max_attempts: z.number().int(),
    key: z.string().nullable(),
    priority: z.number().int(),
    created_at: ts,
    run_at: ts,
    started_at: ts.nullable(),
    finished_at: ts.nullable(),
    timeout_ms: z.number().int().nullable(),
    worker: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('Task');

export const TaskPageJson = z
  .object({ tasks: z.array(TaskJson), next_cursor: z.string().nullable() })
  .openapi('TaskPage');

export const EnqueueJson = z
  .object({
    id: z.string(),
    inserted: z.boolean(),
    status: z.enum(STATES),
    validated: z.boolean().openapi({ description: 'checked against the task’s schema' }),
  })
  .openapi('EnqueueResult');

export const BulkJson = z
  .object({ affected: z.number().int(), dry_run: z.boolean() })
  .openapi('BulkResult');

export const DeletedJson = z.object({ id: z.string(), deleted: z.literal(true) });

export const QueueJson = z
  .object({
    name: z.string(),
    paused: z.boolean(),
    paused_at: ts.nullable(),
    counts: z.object({
      queued: z.number().int(),
      running: z.number().int(),
      retrying: z.number().int(),
    }),
    oldest_runnable_at: ts.nullable(),
    oldest_runnable_age_ms: z.number().nullable(),
  })
  .openapi('Queue');

export const QueueStateJson = z.object({ name: z.string(), paused: z.boolean() });

export const WorkerJson = z
  .object({
    id: z.string(),
    host: z.string(),
    pid: z.number().int(),
    queues: z.record(z.string(), z.number().int()),
    started_at: ts,
    heartbeat_at: ts,
    lease_ms: z.number().int(),
    leader: z.boolean(),
    running: z.number().int(),
    alive: z.boolean(),
  })
  .openapi('Worker');

export const ScheduleJson = z
  .object({
    name: z.string(),
    cron: z.string().nullable(),
    timezone: z.string().nullable(),
    task: z.string().nullable(),
    last_tick: ts,
    next_tick: ts.nullable(),
    defined_at: ts.nullable(),
  })
  .openapi('Schedule');

const PointJson = z
  .object({
    at: ts,
    succeeded: z.number().int(),
    failed: z.number().int(),
    retried: z.number().int(),
    run_p50_ms: z.number().nullable(),
    run_p95_ms: z.number().nullable(),
    lag_p95_ms: z.number().nullable(),
  })
  .openapi('StatsPoint');

export const StatsJson = z
  .object({
    from: ts,
    to: ts,
    step_ms: z.number().int(),
    window_ms: z.number().int(),
    series: z.array(
      z.object({
        queue: z.string(),
        name: z.string(),
        points: z.array(PointJson),
        totals: PointJson,
      }),
    ),
    total: z.object({ points: z.array(PointJson), totals: PointJson }),
    depth: z.array(
      z.object({
        queue: z.string(),
        queued: z.number().int(),
        retrying: z.number().int(),
        running: z.number().int(),
        oldest_runnable_at: ts.nullable(),
      }),
    ),
  })
  .openapi('Stats');

export const FailureGroupsJson = z
  .object({
    groups: z.array(
      z.object({
        name: z.string(),
        error_name: z.string().nullable(),
        message: z.string().nullable(),
        count: z.number().int(),
        first_seen: ts,
        last_seen: ts,
        sample_id: z.string(),
        sample_payload: z.unknown(),
        filter: TaskFilterBody,
      }),
    ),
    scanned: z.number().int(),
    truncated: z.boolean(),
  })
  .openapi('FailureGroups');

export const OperatorActionJson = z
  .object({
    id: z.string(),
    at: ts,
    actor: z.string(),
    action: z.string(),
    target: z.record(z.string(), z.unknown()),
    task_ids: z.array(z.string()),
    affected: z.number().int(),
    request: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('OperatorAction');

export const HealthJson = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    database: z.enum(['reachable', 'unreachable']),
    schema_version: z.number().int().nullable(),
    expected_schema_version: z.number().int(),
    error: z.string().optional(),
    /** Problems that do not make the service unhealthy, such as tasks of unregistered names. */
    warnings: z.array(z.string()).optional(),
  })
  .openapi('Health');

export const ErrorJson = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'INVALID_REQUEST' }),
      message: z.string(),
      issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi('Error');

// The outbox relay (GET /api/relay).
export const RelayDestinationJson = z
  .object({
    destination: z.string(),
    backlog: z
      .number()
      .int()
      .openapi({ description: 'Messages committed and not yet confirmed by the broker' }),
    oldest_at: ts.nullable(),
    oldest_age_seconds: z.number(),
    head: z
      .object({
        id: z.string(),
        attempts: z.number().int(),
        last_error: z.string().nullable(),
        last_attempt_at: ts.nullable(),
      })
      .nullable()
      .openapi({ description: 'The next message to go out, and its failed publish attempts' }),
    holder: z
      .string()
      .nullable()
      .openapi({ description: 'The relay process holding the destination' }),
    held_since: ts.nullable(),
    published: z.number().int(),
    published_at: ts.nullable(),
  })
  .openapi('RelayDestination');

export const RelayStatusJson = z
  .object({
    prefix: z
      .string()
      .nullable()
      .openapi({ description: 'Message ids on the wire are <prefix>-<id>' }),
    destinations: z.array(RelayDestinationJson),
  })
  .openapi('RelayStatus');
