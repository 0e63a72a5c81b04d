/** GET /healthz: the database answers and has the expected schema (200), or not (503). No token needed. */
import { createRoute } from '@hono/zod-openapi';
import { HealthJson } from '../schemas.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const health = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Liveness for load balancers: database reachable and schema at the expected version',
  responses: {
    200: jsonContent(HealthJson, 'Healthy'),
    503: jsonContent(HealthJson, 'Database unreachable, or schema not migrated'),
  },
});

export function healthRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(health, async (c) => {
    const s = await tandem.schemaStatus();
    const body = {
      status: s.ok ? ('ok' as const) : ('unavailable' as const),
      database: s.reachable ? ('reachable' as const) : ('unreachable' as const),
      schema_version: s.version,
      expected_schema_version: s.expected,
      ...(s.error && { error: s.error }),
    };
    return s.ok ? c.json(body, 200) : c.json(body, 503);
  });
}
