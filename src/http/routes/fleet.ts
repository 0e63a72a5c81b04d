/** The fleet: GET /api/workers and GET /api/schedules. */
import { createRoute, z } from '@hono/zod-openapi';
import { ScheduleJson, WorkerJson } from '../schemas.js';
import { scheduleJson, workerJson } from '../serialize.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const workers = createRoute({
  method: 'get',
  path: '/api/workers',
  summary: 'Registered workers: queues, heartbeat, leader, running count, alive',
  responses: { 200: jsonContent(z.object({ workers: z.array(WorkerJson) }), 'The workers') },
});

const schedules = createRoute({
  method: 'get',
  path: '/api/schedules',
  summary: 'Cron schedules: pattern, time zone, task, last and next tick',
  responses: {
    200: jsonContent(z.object({ schedules: z.array(ScheduleJson) }), 'The schedules'),
  },
});

export function fleetRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(workers, async (c) =>
    c.json({ workers: (await tandem.listWorkers()).map(workerJson) }, 200),
  );
  app.openapi(schedules, async (c) =>
    c.json({ schedules: (await tandem.listSchedules()).map(scheduleJson) }, 200),
  );
}
