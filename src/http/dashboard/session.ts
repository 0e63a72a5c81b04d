/**
 * Dashboard sign-in. With tokens configured, the login page trades a token
 * for a session cookie: HttpOnly (no script reads it), SameSite=Strict (no
 * other site's page sends it), signed with a key derived from that token
 * (so changing a token ends its sessions), valid 12 hours. API clients keep
 * sending `Authorization: Bearer`, which the dashboard's pages accept too.
 *
 * Changes made with the cookie must come from a dashboard page: the request
 * must say where it came from (an Origin header, or Sec-Fetch-Site:
 * same-origin, as every current browser sends), and `guardMutations` then
 * refuses any other origin, exactly as for the API.
 */
import { createHmac } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import { ApiError } from '../errors.js';
import { type ApiEnv, bearerToken, matchToken } from '../security.js';
import { type DashboardDeps, href, isHtmx } from './context.js';

const COOKIE = 'tandem_session';
export const SESSION_MS = 12 * 3_600_000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The signing key of the sessions opened with `token`. */
function keyFor(token: string): string {
  return createHmac('sha256', token).update('tandem dashboard session v1').digest('hex');
}

function cookiePath(base: string): string {
  return base || '/';
}

function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

/** Opens a session for the token labelled `label`. */
export async function startSession(
  c: Context<ApiEnv>,
  deps: DashboardDeps,
  label: string,
): Promise<void> {
  const token = deps.tokens.get(label)!;
  const expires = Date.now() + SESSION_MS;
  const value = `${expires}~${Buffer.from(label).toString('base64url')}`;
  await setSignedCookie(c, COOKIE, value, keyFor(token), {
    path: cookiePath(deps.base),
    httpOnly: true,
    sameSite: 'Strict',
    secure: isHttps(c),
    maxAge: SESSION_MS / 1000,
  });
}

export function endSession(c: Context<ApiEnv>, deps: DashboardDeps): void {
  deleteCookie(c, COOKIE, { path: cookiePath(deps.base), secure: isHttps(c) });
}

/** The label of the token whose session cookie came with the request, or null. */
async function sessionActor(c: Context<ApiEnv>, deps: DashboardDeps): Promise<string | null> {
  const raw = getCookie(c, COOKIE);
  if (!raw) return null;
  const value = raw.slice(0, Math.max(0, raw.lastIndexOf('.')));
  const m = /^(\d{13})~([A-Za-z0-9_-]{1,400})$/.exec(value);
  if (!m) return null;
  const label = Buffer.from(m[2]!, 'base64url').toString();
  const token = deps.tokens.get(label);
  if (token === undefined) return null;
  if ((await getSignedCookie(c, keyFor(token), COOKIE)) !== value) return null;
  return Number(m[1]) > Date.now() ? label : null;
}

/**
 * Who is asking, for every dashboard path: nobody needs to sign in without
 * tokens; otherwise a Bearer token or a session cookie, else GET requests
 * go to the login page (htmx ones through HX-Redirect) and others get 401.
 * `isPublic`: the login page and the assets.
 */
export function dashboardAuth(
  deps: DashboardDeps,
  isPublic: (path: string) => boolean,
): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const bearer = bearerToken(c.req.header('authorization'));
    if (!SAFE_METHODS.has(c.req.method) && bearer === null) {
      const site = c.req.header('sec-fetch-site');
      if (c.req.header('origin') === undefined && site !== 'same-origin')
        throw new ApiError(
          403,
          'CROSS_ORIGIN',
          'changes through the dashboard must come from its own pages (the request carried neither Origin nor Sec-Fetch-Site: same-origin); scripts use the API with a Bearer token',
        );
    }
    if (deps.tokens.size === 0) {
      c.set('actor', 'anonymous');
      return next();
    }
    const actor =
      bearer !== null ? await matchToken(deps.tokens, bearer) : await sessionActor(c, deps);
    if (actor !== null) {
      c.set('actor', actor);
      return next();
    }
    if (isPublic(c.req.path)) return next();
    const u = new URL(c.req.url);
    const login = href(deps.base, '/login', {
      next: c.req.method === 'GET' && !isHtmx(c) ? u.pathname + u.search : null,
    });
    if (isHtmx(c)) {
      c.header('HX-Redirect', href(deps.base, '/login'));
      return c.body(null, 401);
    }
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return c.redirect(login, 303);
    throw new ApiError(
      401,
      'UNAUTHORIZED',
      bearer !== null ? 'invalid token' : 'sign in first: no session, or it has ended',
    );
  };
}
