/** GET /healthz: the database answers and has the expected schema (200), or not (503). No token needed. */
import { createRoute } from '@hono/zod-openapi';
import type { TandemClient } from '../../client/client.js';
import { HealthJson } from '../schemas.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

/**
 * Waiting tasks of names nobody registered: a misspelt name, or workers
 * not deployed yet. A warning, not a failure: the database is healthy.
 */
async function unregisteredWarnings(tandem: TandemClient): Promise<string[]> {
  const rows = await tandem.listUnregisteredTasks();
  if (rows.length === 0) return [];
  const names = [...new Set(rows.map((r) => r.name))];
  const waiting = rows.reduce((n, r) => n + r.waiting, 0);
  // Counts only: /healthz answers without a token, so it names no task.
  return [
    `${waiting} waiting task${waiting === 1 ? '' : 's'} of ${names.length} unregistered task name${names.length === 1 ? '' : 's'}: no worker has registered them; check the spelling, or deploy their workers (GET /api/task-types lists them)`,
  ];
}

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
    const warnings = s.ok ? await unregisteredWarnings(tandem) : [];
    const body = {
      status: s.ok ? ('ok' as const) : ('unavailable' as const),
      database: s.reachable ? ('reachable' as const) : ('unreachable' as const),
      schema_version: s.version,
      expected_schema_version: s.expected,
      ...(s.error && { error: s.error }),
      ...(warnings.length > 0 && { warnings }),
    };
    return s.ok ? c.json(body, 200) : c.json(body, 503);
  });
}
