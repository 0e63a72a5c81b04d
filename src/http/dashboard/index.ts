/**
 * The web dashboard, inside the API's Hono app: server-rendered pages
 * (Hono JSX) at `/` and below, live regions refreshed by htmx, charts by
 * uPlot, every file served from the package. Pages read through the same
 * library calls as the JSON API (listTasks, stats, failureGroups…); changes
 * go through the same calls, the same read-only and cross-origin guards,
 * and the same operator log.
 *
 * Paths: everything under the base path except /api/…, /metrics and
 * /healthz belongs to the dashboard.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { timing } from 'hono/timing';
import type { TandemClient } from '../../client/client.js';
import type { Api } from '../routes/types.js';
import type { ApiEnv } from '../security.js';
import { assetRoutes } from './assets.js';
import { bulkRoutes } from './bulk.js';
import type { DashboardDeps } from './context.js';
import { dashboardErrorHandler, dashboardNotFound } from './errors.js';
import { failuresRoutes } from './pages/failures.js';
import { loginRoutes } from './pages/login.js';
import { operatorLogRoutes } from './pages/operator-log.js';
import { overviewRoutes } from './pages/overview.js';
import { queuesRoutes } from './pages/queues.js';
import { schedulesRoutes } from './pages/schedules.js';
import { taskRoutes } from './pages/task.js';
import { taskTypesRoutes } from './pages/task-types.js';
import { tasksRoutes } from './pages/tasks.js';
import { workersRoutes } from './pages/workers.js';
import { dashboardAuth } from './session.js';

export interface Dashboard {
  /** Whether a path (with the base path) is the dashboard's. */
  owns(path: string): boolean;
  /** Paths that change nothing even though they are POSTs: read-only mode allows them. */
  changesNothing(path: string): boolean;
  /** Security headers and sign-in, for the dashboard's paths only; before every route. */
  middleware: MiddlewareHandler<ApiEnv>[];
  /** Adds the pages, actions and assets. */
  routes(app: Api): void;
  onError(err: Error, c: Context): Promise<Response>;
  notFound(c: Context): Response | Promise<Response>;
}

/**
 * Scripts only from this origin (htmx, uPlot and dashboard.js; no inline
 * script, no eval), no framing (the buttons cannot be clickjacked), forms
 * post only here. Same-origin referrers keep the Origin header that the
 * cross-origin check reads (with no-referrer, browsers send Origin: null).
 * No HSTS: the dashboard may sit on a shared domain it should not pin.
 */
const headers = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
  },
  referrerPolicy: 'same-origin',
  strictTransportSecurity: false,
  xFrameOptions: 'DENY',
});

/**
 * The dashboard of `tandem` under `base`. `jsonErrors` is the API's error
 * mapping, which the dashboard's error pages reuse for status and message.
 */
export function createDashboard(
  tandem: TandemClient,
  options: { base: string; tokens: ReadonlyMap<string, string>; readOnly: boolean },
  jsonErrors: (err: Error, c: Context) => Response,
): Dashboard {
  const { base } = options;
  const deps: DashboardDeps = { tandem, ...options };
  const owns = (path: string) => {
    if (base !== '' && path !== base && !path.startsWith(`${base}/`)) return false;
    // Case-insensitive, so that /API/TASKS gets the API's JSON 404, not a page.
    const rest = path.slice(base.length).toLowerCase();
    return !(
      rest === '/api' ||
      rest.startsWith('/api/') ||
      rest === '/metrics' ||
      rest === '/healthz'
    );
  };
  const changesNothing = (path: string) => path === `${base}/login` || path === `${base}/logout`;
  const isPublic = (path: string) => changesNothing(path) || path.startsWith(`${base}/assets/`);
  const only =
    (mw: MiddlewareHandler<ApiEnv>): MiddlewareHandler<ApiEnv> =>
    (c, next) =>
      owns(c.req.path) ? mw(c, next) : next();
  return {
    owns,
    changesNothing,
    middleware: [
      // Server-Timing: total;dur=… on every dashboard response (what the bench reports).
      only(timing({ totalDescription: 'dashboard' }) as MiddlewareHandler<ApiEnv>),
      only(headers as MiddlewareHandler<ApiEnv>),
      only(dashboardAuth(deps, isPublic)),
    ],
    routes(app) {
      assetRoutes(app);
      loginRoutes(app, deps);
      overviewRoutes(app, deps);
      tasksRoutes(app, deps);
      taskRoutes(app, deps);
      bulkRoutes(app, deps);
      failuresRoutes(app, deps);
      queuesRoutes(app, deps);
      workersRoutes(app, deps);
      schedulesRoutes(app, deps);
      taskTypesRoutes(app, deps);
      operatorLogRoutes(app, deps);
    },
    onError: dashboardErrorHandler(deps, jsonErrors),
    notFound: dashboardNotFound(deps),
  };
}
