/** Reading and enqueueing tasks: GET /api/tasks/:id, GET /api/tasks, POST /api/tasks. */
import { createRoute } from '@hono/zod-openapi';
import { toMs } from '../../duration.js';
import { TandemError } from '../../errors.js';
import type { EnqueueOptions } from '../../types.js';
import { audit } from '../audit.js';
import { ApiError } from '../errors.js';
import { intParam, toTaskFilter } from '../filters.js';
import {
  EnqueueBody,
  EnqueueJson,
  ErrorJson,
  TaskFilterQuery,
  TaskIdParam,
  TaskJson,
  TaskPageJson,
  WaitQuery,
} from '../schemas.js';
import { taskJson } from '../serialize.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const MAX_WAIT_MS = 60_000;
const error = (description: string) => jsonContent(ErrorJson, description);

const getTask = createRoute({
  method: 'get',
  path: '/api/tasks/{id}',
  summary: 'One task: status, payload, result, and the error of every attempt',
  request: { params: TaskIdParam, query: WaitQuery },
  responses: {
    200: jsonContent(TaskJson, 'The task (with ?wait, once finished or when the wait ends)'),
    400: error('Invalid id or wait'),
    404: error('No such task'),
  },
});

const listTasks = createRoute({
  method: 'get',
  path: '/api/tasks',
  summary: 'Tasks matching the filters, newest first, in keyset pages',
  description:
    'Filters on an exact key or on states other than succeeded use indexes. Others read at most 20,000 ids per page, so a page can hold fewer than limit tasks and still have a next_cursor: follow it until it is null.',
  request: { query: TaskFilterQuery },
  responses: {
    200: jsonContent(TaskPageJson, 'One page'),
    400: error('Unknown filter, bad value or bad cursor'),
  },
});

const enqueue = createRoute({
  method: 'post',
  path: '/api/tasks',
  summary: 'Enqueue a task by name',
  description:
    'Validated by the task’s schema when this server has its definition (tandem serve --tasks); otherwise any JSON payload, with the defaults of SQL tandem.enqueue.',
  request: { body: { content: { 'application/json': { schema: EnqueueBody } }, required: true } },
  responses: {
    201: jsonContent(EnqueueJson, 'A new task'),
    200: jsonContent(EnqueueJson, 'The key already has a task: that one (inserted: false)'),
    400: error('Invalid body or payload'),
    413: error('Body or payload too large'),
    415: error('Not application/json'),
  },
});

export function taskRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(getTask, async (c) => {
    const { id } = c.req.valid('param');
    const { wait } = c.req.valid('query');
    const waitMs = wait === undefined ? 0 : toMs(/^\d+$/.test(wait) ? Number(wait) : wait, 'wait');
    if (waitMs > MAX_WAIT_MS)
      throw new ApiError(
        400,
        'INVALID_REQUEST',
        `wait is at most ${MAX_WAIT_MS / 1000}s, got ${wait}`,
      );
    let task = await tandem.getTask(id);
    if (!task) throw new TandemError('TASK_NOT_FOUND', `no task with id ${id}`);
    if (waitMs > 0 && !['succeeded', 'failed', 'cancelled'].includes(task.state)) {
      try {
        task = await tandem.waitFor(id, { timeout: waitMs, signal: c.req.raw.signal });
      } catch (err) {
        if (!(err instanceof TandemError && err.code === 'TIMEOUT')) throw err;
        task = (await tandem.getTask(id)) ?? task;
      }
    }
    return c.json(taskJson(task) as never, 200);
  });

  app.openapi(listTasks, async (c) => {
    const { limit, cursor, ...filters } = c.req.valid('query');
    const page = await tandem.listTasks(toTaskFilter(filters), {
      limit: intParam(limit),
      cursor: cursor ?? null,
    });
    return c.json({ tasks: page.tasks.map(taskJson), next_cursor: page.nextCursor } as never, 200);
  });

  app.openapi(enqueue, async (c) => {
    const body = c.req.valid('json');
    if (body.payload === undefined)
      throw new ApiError(400, 'INVALID_REQUEST', 'payload is required (use {} for none)');
    // JSON.stringify writes a NUL character as the escape \u0000, which jsonb refuses.
    if (JSON.stringify(body).includes('\\u0000'))
      throw new ApiError(
        400,
        'INVALID_REQUEST',
        'the body holds a NUL character (\\u0000), which PostgreSQL cannot store',
      );
    const options: EnqueueOptions = {};
    if (body.key !== undefined) options.key = body.key;
    if (body.queue !== undefined) options.queue = body.queue;
    if (body.priority !== undefined) options.priority = body.priority;
    if (body.max_attempts !== undefined) options.maxAttempts = body.max_attempts;
    if (body.delay !== undefined) options.delay = body.delay;
    if (body.run_at !== undefined) options.runAt = new Date(body.run_at);
    if (body.metadata !== undefined) options.metadata = body.metadata;
    if (body.concurrency_key !== undefined) options.concurrencyKey = body.concurrency_key;
    const r = await tandem.enqueueByName(body.name, body.payload, options);
    if (r.inserted)
      await audit(tandem, c, {
        action: 'enqueue',
        target: { name: body.name, ...(body.key !== undefined && { key: body.key }) },
        taskIds: [r.id],
        affected: 1,
      });
    const json = { id: r.id, inserted: r.inserted, status: r.state, validated: r.validated };
    return r.inserted ? c.json(json, 201) : c.json(json, 200);
  });
}
