/** The audit log: GET /api/operator-actions. */
import { createRoute, z } from '@hono/zod-openapi';
import { intParam } from '../filters.js';
import { ErrorJson, OperatorActionJson, OperatorActionsQuery } from '../schemas.js';
import { operatorActionJson } from '../serialize.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const list = createRoute({
  method: 'get',
  path: '/api/operator-actions',
  summary: 'Recorded operator actions (who did what, when), newest first',
  request: { query: OperatorActionsQuery },
  responses: {
    200: jsonContent(
      z.object({ actions: z.array(OperatorActionJson), next_cursor: z.string().nullable() }),
      'One page',
    ),
    400: jsonContent(ErrorJson, 'Invalid filter or cursor'),
  },
});

export function operatorActionRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const page = await tandem.listOperatorActions({
      ...(q.actor !== undefined && { actor: q.actor }),
      ...(q.action !== undefined && { action: q.action }),
      ...(q.task_id !== undefined && { taskId: q.task_id }),
      limit: intParam(q.limit),
      cursor: q.cursor ?? null,
    });
    return c.json(
      { actions: page.actions.map(operatorActionJson), next_cursor: page.nextCursor } as never,
      200,
    );
  });
}
