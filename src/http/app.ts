import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { TandemClient } from '../client/client.js';
import { TandemError } from '../errors.js';
import { createDashboard } from './dashboard/index.js';
import { ApiError, errorHandler, notFound, validationHook } from './errors.js';
import type { AppOptions } from './options.js';
import { fleetRoutes } from './routes/fleet.js';
import { healthRoutes } from './routes/health.js';
import { limitRoutes } from './routes/limits.js';
import { metricsRoutes } from './routes/metrics.js';
import { operatorActionRoutes } from './routes/operator-actions.js';
import { queueRoutes } from './routes/queues.js';
import { relayRoutes } from './routes/relay.js';
import { statsRoutes } from './routes/stats.js';
import { taskActionRoutes } from './routes/task-actions.js';
import { taskTypeRoutes } from './routes/task-types.js';
import { taskRoutes } from './routes/tasks.js';
import type { Api } from './routes/types.js';
import { type ApiEnv, authenticate, checkHost, guardMutations } from './security.js';

export type { AppOptions } from './options.js';

const TOKEN_RE = /^[\x21-\x7e]{16,4096}$/;

function resolveTokens(options: AppOptions): Map<string, string> {
  const out = new Map<string, string>();
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env?.TANDEM_API_TOKEN;
  const single = options.token ?? (options.tokens ? undefined : env || undefined);
  if (single !== undefined) out.set('token', single);
  for (const [label, token] of Object.entries(options.tokens ?? {})) out.set(label, token);
  for (const [label, token] of out) {
    if (typeof token !== 'string' || !TOKEN_RE.test(token)) {
      throw new TandemError(
        'INVALID_OPTIONS',
        `API token ${JSON.stringify(label)} must be 16-4096 printable characters without spaces (generate one with: openssl rand -hex 32)`,
      );
    }
  }
  return out;
}

/**
 * The HTTP API as a Hono app. Its `fetch(request)` runs in any Fetch-API
 * runtime (Node, Bun, Deno, workers); mount it under `basePath` in another
 * app (docs/http-api.md shows Express, Fastify and Hono).
 *
 * @example
 * import { createApp } from 'tandem-queue/http';
 * const app = createApp(tandem, { basePath: '/admin/tandem', token: process.env.TANDEM_API_TOKEN });
 * const res = await app.request('/admin/tandem/api/tasks/42', { headers: { authorization: `Bearer ${token}` } });
 */
export function createApp(tandem: TandemClient, options: AppOptions = {}): Api {
  const base = (options.basePath ?? '').replace(/\/+$/, '');
  if (base !== '' && !/^(\/[A-Za-z0-9._~-]+)+$/.test(base)) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `basePath must look like /admin/tandem (segments of letters, digits and . _ ~ -), got ${JSON.stringify(options.basePath)}`,
    );
  }
  const tokens = resolveTokens(options);
  const maxBody = options.bodyLimit ?? 1024 * 1024;
  const root = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const app = (base ? root.basePath(base) : root) as Api;
  const readOnly = options.readOnly ?? false;
  const jsonErrors = errorHandler(tandem.logger);
  const dash =
    options.dashboard === false
      ? null
      : createDashboard(tandem, { base, tokens, readOnly }, jsonErrors);
  // On the root and on its base-path copy: basePath() copies the handlers
  // it finds, so the copy made above would otherwise keep Hono's defaults.
  for (const a of new Set([root, app])) {
    a.onError((err, c) => (dash?.owns(c.req.path) ? dash.onError(err, c) : jsonErrors(err, c)));
    a.notFound((c) => (dash?.owns(c.req.path) ? dash.notFound(c) : notFound(c)));
  }
  if (options.allowedHosts) app.use('*', checkHost(options.allowedHosts));
  // The API takes Bearer tokens; the dashboard's paths sign in on their own (a session cookie).
  app.use(
    '*',
    authenticate(tokens, (path) => path === `${base}/healthz` || (dash?.owns(path) ?? false)),
  );
  for (const mw of dash?.middleware ?? []) app.use('*', mw);
  app.use('*', guardMutations(readOnly, dash?.changesNothing));
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBody,
      onError: () => {
        throw new ApiError(413, 'BODY_TOO_LARGE', `the request body is over ${maxBody} bytes`);
      },
    }),
  );
  const deps = { tandem };
  taskRoutes(app, deps);
  taskActionRoutes(app, deps);
  queueRoutes(app, deps);
  limitRoutes(app, deps);
  taskTypeRoutes(app, deps);
  fleetRoutes(app, deps);
  statsRoutes(app, deps);
  operatorActionRoutes(app, deps);
  relayRoutes(app, deps);
  healthRoutes(app, deps);
  dash?.routes(app);
  metricsRoutes(app, deps, {
    ...(options.fleetMetrics !== undefined && { fleet: options.fleetMetrics }),
    ...(options.worker && { worker: options.worker }),
  });
  app.doc31('/api/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Tandem operator API',
      version: '1',
      description:
        'Tasks, queues, workers, schedules, stats, the operator log and the outbox relay of a Tandem database. JSON in snake_case; ids are strings; timestamps ISO 8601. Errors: { "error": { "code", "message", "issues"? } }.',
    },
    security: tokens.size > 0 ? [{ bearer: [] }] : [],
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
  });
  return app;
}
