/** Queues: GET /api/queues, POST /api/queues/:name/pause and /resume. */
import { createRoute, z } from '@hono/zod-openapi';
import { audit } from '../audit.js';
import { ErrorJson, QueueJson, QueueNameParam, QueueStateJson } from '../schemas.js';
import { queueJson } from '../serialize.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const list = createRoute({
  method: 'get',
  path: '/api/queues',
  summary: 'Every queue: live counts per state, paused, oldest runnable age',
  responses: { 200: jsonContent(z.object({ queues: z.array(QueueJson) }), 'The queues') },
});

const toggle = (what: 'pause' | 'resume') =>
  createRoute({
    method: 'post',
    path: `/api/queues/{name}/${what}`,
    summary:
      what === 'pause'
        ? 'Stop every worker from claiming tasks of this queue (within a second)'
        : 'Let workers claim tasks of this queue again',
    request: { params: QueueNameParam },
    responses: {
      200: jsonContent(QueueStateJson, 'The queue’s new state'),
      400: jsonContent(ErrorJson, 'Invalid queue name'),
      403: jsonContent(ErrorJson, 'Read-only server, or a request from another origin'),
    },
  });

export function queueRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(list, async (c) => {
    const now = Date.now();
    const queues = await tandem.listQueues();
    return c.json({ queues: queues.map((q) => queueJson(q, now)) }, 200);
  });

  for (const what of ['pause', 'resume'] as const) {
    app.openapi(toggle(what), async (c) => {
      const { name } = c.req.valid('param');
      if (what === 'pause') await tandem.pauseQueue(name);
      else await tandem.resumeQueue(name);
      await audit(tandem, c, { action: what, target: { queue: name }, affected: 1 });
      return c.json({ name, paused: what === 'pause' }, 200);
    });
  }
}
