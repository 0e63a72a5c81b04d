/** History: GET /api/stats (the rollup) and GET /api/failures (failure groups). */
import { createRoute } from '@hono/zod-openapi';
import { ErrorJson, FailureGroupsJson, FailuresQuery, StatsJson, StatsQuery } from '../schemas.js';
import { failureGroupJson, statsJson } from '../serialize.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const stats = createRoute({
  method: 'get',
  path: '/api/stats',
  summary: 'Succeeded, failed, retried, run time p50/p95 and lag p95 per step, and queue depth',
  description:
    'From the rollup workers write (tandem.task_stats): cheap whatever the number of tasks. step is whole minutes; steps of whole hours read hour rows (kept 35 days), others minute rows (kept 2 days); at most 1,440 points.',
  request: { query: StatsQuery },
  responses: {
    200: jsonContent(StatsJson, 'Series per queue and task name, and their total'),
    400: jsonContent(ErrorJson, 'Invalid window or step'),
  },
});

const failures = createRoute({
  method: 'get',
  path: '/api/failures',
  summary: 'The latest 10,000 failed tasks grouped by task name and last error',
  description: 'Each group has a filter to pass to POST /api/tasks/bulk to retry the group.',
  request: { query: FailuresQuery },
  responses: {
    200: jsonContent(FailureGroupsJson, 'Groups, largest first'),
    400: jsonContent(ErrorJson, 'Invalid name or limit'),
  },
});

export function statsRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(stats, async (c) => {
    const { window, step } = c.req.valid('query');
    const s = await tandem.stats({ ...(window && { window }), ...(step && { step }) });
    return c.json(statsJson(s), 200);
  });

  app.openapi(failures, async (c) => {
    const { name, limit } = c.req.valid('query');
    const r = await tandem.failureGroups({
      ...(name !== undefined && { name }),
      ...(limit !== undefined && { limit: Number(limit) }),
    });
    return c.json(
      {
        groups: r.groups.map(failureGroupJson),
        scanned: r.scanned,
        truncated: r.truncated,
      } as never,
      200,
    );
  });
}
