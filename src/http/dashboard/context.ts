/**
 * What every dashboard page and action gets: the library client, where the
 * dashboard is mounted, whether it needs a login, whether it is read-only;
 * and the small helpers all of them share (links, HTML responses, the
 * live-fragment switch).
 */
import type { Context } from 'hono';
import type { TandemClient } from '../../client/client.js';
import type { ApiEnv } from '../security.js';

export interface DashboardDeps {
  tandem: TandemClient;
  /** Where the app is mounted ('' or '/admin/tandem'). */
  base: string;
  /** Label → token; empty: no login. */
  tokens: ReadonlyMap<string, string>;
  readOnly: boolean;
}

/** What a page needs to know about the request it renders for. */
export interface View {
  base: string;
  readOnly: boolean;
  /** A login is needed (tokens are set), so there is a logout button. */
  login: boolean;
  /** Who is signed in (the token's label), or `anonymous`. */
  actor: string;
  /** The page's own path and query, as the browser asked for it. */
  url: string;
}

export type DashContext = Context<ApiEnv>;

export function viewOf(c: DashContext, deps: DashboardDeps): View {
  const u = new URL(c.req.url);
  return {
    base: deps.base,
    readOnly: deps.readOnly,
    login: deps.tokens.size > 0,
    actor: c.get('actor') ?? 'anonymous',
    url: u.pathname + u.search,
  };
}

/**
 * A link inside the dashboard: `path` ('/tasks', '/' for the overview) under
 * the base path, with the query's non-empty values.
 */
export function href(
  base: string,
  path: string,
  query?: Record<string, string | readonly string[] | null | undefined>,
): string {
  const p = path === '/' ? base || '/' : `${base}${path}`;
  if (!query) return p;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === null || v === undefined) continue;
    for (const one of typeof v === 'string' ? [v] : v) if (one !== '') qs.append(k, one);
  }
  const s = qs.toString();
  return s ? `${p}?${s}` : p;
}

/** True for the requests htmx makes to refresh a page's live region. */
export function isLiveRequest(c: DashContext): boolean {
  return c.req.header('hx-request') === 'true' && c.req.header('hx-target') === 'live';
}

/** True for any request htmx makes (fragments, actions). */
export function isHtmx(c: DashContext): boolean {
  return c.req.header('hx-request') === 'true';
}

/** An HTML response that no cache keeps (pages show payloads, often sensitive). */
export function htmlResponse(
  c: DashContext,
  body: Parameters<DashContext['html']>[0],
  status: 200 | 400 | 401 | 403 | 404 | 409 | 413 | 500 | 503 = 200,
): Response | Promise<Response> {
  c.header('Cache-Control', 'no-store');
  c.header('Vary', 'HX-Request, HX-Target');
  return c.html(body, status);
}
