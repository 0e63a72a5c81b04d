/**
 * Errors on dashboard paths become HTML: the status and message come from
 * the API's one error mapping (`errorHandler`), so a bad filter is a 400
 * with the same words in both; the page shows the message and a way on,
 * never a stack trace. htmx requests get the message as a fragment in the
 * page's flash area instead (HX-Retarget), so the live region keeps polling.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { Alert } from './components/alert.js';
import {
  type DashboardDeps,
  type DashContext,
  href,
  htmlResponse,
  isHtmx,
  viewOf,
} from './context.js';
import { Layout } from './layout.js';

type JsonErrors = (err: Error, c: Context) => Response;

const TITLES: Record<number, string> = {
  400: 'That request is not valid',
  401: 'Sign in first',
  403: 'Not allowed',
  404: 'Not found',
  408: 'Timed out',
  409: 'Not possible in this state',
  413: 'Too large',
  415: 'Unsupported content type',
  500: 'Something went wrong',
  503: 'The database is unavailable',
};

/** Renders one error for a dashboard path. */
export async function renderError(
  c: DashContext,
  deps: DashboardDeps,
  status: number,
  code: string,
  message: string,
): Promise<Response> {
  const title = TITLES[status] ?? 'Error';
  const box = (
    <Alert tone="error" title={`${title}:`}>
      {message} <span class="muted">({code})</span>
    </Alert>
  );
  const s = status as ContentfulStatusCode as 400;
  if (isHtmx(c)) {
    c.header('HX-Retarget', '#flash');
    c.header('HX-Reswap', 'innerHTML');
    return htmlResponse(c, box, s);
  }
  const view = viewOf(c, deps);
  return htmlResponse(
    c,
    <Layout view={view} title={title} nav={null}>
      <h1>{title}</h1>
      {box}
      <p>
        <a href={href(deps.base, '/')}>Back to the overview</a>
        {status === 401 && deps.tokens.size > 0 && (
          <>
            {' · '}
            <a href={href(deps.base, '/login')}>Sign in</a>
          </>
        )}
      </p>
    </Layout>,
    s,
  );
}

/** The app's onError for dashboard paths: the JSON mapping's status and message, as HTML. */
export function dashboardErrorHandler(deps: DashboardDeps, json: JsonErrors) {
  return async (err: Error, c: DashContext): Promise<Response> => {
    const res = json(err, c);
    const body = (await res.json()) as { error: { code: string; message: string } };
    return renderError(c, deps, res.status, body.error.code, body.error.message);
  };
}

/** Unknown dashboard paths: a page that says so (and `${base}/` goes to the overview). */
export function dashboardNotFound(deps: DashboardDeps) {
  return (c: DashContext): Response | Promise<Response> => {
    if (deps.base !== '' && c.req.path === `${deps.base}/`) return c.redirect(deps.base, 308);
    return renderError(
      c,
      deps,
      404,
      'NOT_FOUND',
      `there is no dashboard page at ${c.req.path}; the pages are listed at the top`,
    );
  };
}
