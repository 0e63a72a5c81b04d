/** Changing tasks: retry, cancel, delete one; bulk by ids or filter. Each is audited. */
import { createRoute } from '@hono/zod-openapi';
import type { BulkTarget } from '../../client/bulk.js';
import { TandemError } from '../../errors.js';
import { audit } from '../audit.js';
import { toTaskFilter } from '../filters.js';
import { BulkBody, BulkJson, DeletedJson, ErrorJson, TaskIdParam, TaskJson } from '../schemas.js';
import { taskJson } from '../serialize.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const error = (description: string) => jsonContent(ErrorJson, description);
const mutationErrors = {
  400: error('Invalid id'),
  403: error('Read-only server, or a request from another origin'),
  404: error('No such task'),
  409: error('The task is in a state this action does not apply to'),
};

const retry = createRoute({
  method: 'post',
  path: '/api/tasks/{id}/retry',
  summary: 'Run a failed, cancelled or succeeded task again, with one more attempt',
  request: { params: TaskIdParam },
  responses: { 200: jsonContent(TaskJson, 'The task, queued again'), ...mutationErrors },
});

const cancel = createRoute({
  method: 'post',
  path: '/api/tasks/{id}/cancel',
  summary: 'Cancel a queued, retrying or running task (a running one has its signal aborted)',
  request: { params: TaskIdParam },
  responses: { 200: jsonContent(TaskJson, 'The task, cancelled'), ...mutationErrors },
});

const remove = createRoute({
  method: 'delete',
  path: '/api/tasks/{id}',
  summary: 'Delete a task that is not running (its key becomes free)',
  request: { params: TaskIdParam },
  responses: { 200: jsonContent(DeletedJson, 'Deleted'), ...mutationErrors },
});

const bulk = createRoute({
  method: 'post',
  path: '/api/tasks/bulk',
  summary: 'Retry, cancel or delete tasks by ids or filter, in batches of 1,000',
  description:
    'Tasks in states the action does not apply to are skipped. dry_run counts without changing anything. An empty filter is refused.',
  request: { body: { content: { 'application/json': { schema: BulkBody } }, required: true } },
  responses: {
    200: jsonContent(BulkJson, 'How many tasks were changed'),
    400: error('Invalid body'),
    403: error('Read-only server, or a request from another origin'),
    413: error('Body too large'),
    415: error('Not application/json'),
  },
});

export function taskActionRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(retry, async (c) => {
    const { id } = c.req.valid('param');
    const task = await tandem.retry(id);
    await audit(tandem, c, { action: 'retry', target: { ids: [id] }, taskIds: [id], affected: 1 });
    return c.json(taskJson(task) as never, 200);
  });

  app.openapi(cancel, async (c) => {
    const { id } = c.req.valid('param');
    const before = await tandem.getTask(id);
    if (!before) throw new TandemError('TASK_NOT_FOUND', `no task with id ${id}`);
    const state = ['queued', 'retrying', 'running'].includes(before.state)
      ? await tandem.cancel(id)
      : before.state;
    if (state !== 'cancelled' || before.state === 'cancelled') {
      throw new TandemError(
        'INVALID_STATE',
        `task ${id} is ${state}; only queued, retrying or running tasks can be cancelled`,
      );
    }
    await audit(tandem, c, { action: 'cancel', target: { ids: [id] }, taskIds: [id], affected: 1 });
    const task = await tandem.getTask(id);
    if (!task) throw new TandemError('TASK_NOT_FOUND', `task ${id} was deleted meanwhile`);
    return c.json(taskJson(task) as never, 200);
  });

  app.openapi(remove, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await tandem.deleteTask(id))) {
      const task = await tandem.getTask(id);
      if (!task) throw new TandemError('TASK_NOT_FOUND', `no task with id ${id}`);
      throw new TandemError(
        'INVALID_STATE',
        `task ${id} is ${task.state}; a running task cannot be deleted (cancel it first)`,
      );
    }
    await audit(tandem, c, { action: 'delete', target: { ids: [id] }, taskIds: [id], affected: 1 });
    return c.json({ id, deleted: true as const }, 200);
  });

  app.openapi(bulk, async (c) => {
    const body = c.req.valid('json');
    if ((body.ids === undefined) === (body.filter === undefined)) {
      throw new TandemError('INVALID_OPTIONS', 'give exactly one of ids or filter');
    }
    const target: BulkTarget = body.ids
      ? { ids: body.ids }
      : { filter: toTaskFilter(body.filter!) };
    const dryRun = body.dry_run ?? false;
    const run = { retry: 'retryTasks', cancel: 'cancelTasks', delete: 'deleteTasks' } as const;
    const result = await tandem[run[body.action]](target, { dryRun });
    if (!dryRun) {
      await audit(tandem, c, {
        action: `bulk-${body.action}`,
        target: body.ids ? { ids: body.ids } : { filter: body.filter },
        taskIds: result.ids,
        affected: result.affected,
      });
    }
    return c.json({ affected: result.affected, dry_run: dryRun }, 200);
  });
}
