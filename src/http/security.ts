/**
 * Who may call the API: bearer tokens (compared in constant time), a
 * read-only switch, and two guards against browsers being used as a
 * confused deputy: a mutation from another origin is refused, and, when
 * asked (a token-less server on loopback), so is any Host header that is
 * not a loopback name (DNS rebinding).
 */
import type { MiddlewareHandler } from 'hono';
import { timingSafeEqual } from 'hono/utils/buffer';
import { ApiError } from './errors.js';

export type ApiEnv = { Variables: { actor: string } };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Requires `Authorization: Bearer <token>` on every route but /healthz when tokens are set. */
export function authenticate(
  tokens: ReadonlyMap<string, string>,
  isPublic: (path: string) => boolean,
): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (tokens.size === 0) {
      c.set('actor', 'anonymous');
      return next();
    }
    if (isPublic(c.req.path)) return next();
    const token = bearerToken(c.req.header('authorization'));
    const challenge = { 'WWW-Authenticate': 'Bearer realm="tandem"' };
    if (token === null) {
      throw new ApiError(
        401,
        'UNAUTHORIZED',
        'this API needs a token: send Authorization: Bearer <token> (the server’s TANDEM_API_TOKEN or --token-file)',
        challenge,
      );
    }
    const actor = await matchToken(tokens, token);
    if (actor === null) throw new ApiError(401, 'UNAUTHORIZED', 'invalid token', challenge);
    c.set('actor', actor);
    return next();
  };
}

/** The label of the token equal to `candidate`, or null. Constant time in which one matched. */
export async function matchToken(
  tokens: ReadonlyMap<string, string>,
  candidate: string,
): Promise<string | null> {
  let actor: string | null = null;
  // Every token is compared, so the time taken does not tell which matched.
  for (const [label, token] of tokens) {
    if ((await timingSafeEqual(candidate, token)) && actor === null) actor = label;
  }
  return actor;
}

/** The token of an `Authorization: Bearer` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

/**
 * Read-only mode and the cross-origin check, for every method that changes
 * something. `changesNothing` names the paths read-only mode still allows
 * (the dashboard's login and logout); the origin check applies to them too.
 */
export function guardMutations(
  readOnly: boolean,
  changesNothing: (path: string) => boolean = () => false,
): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next();
    if (readOnly && !changesNothing(c.req.path))
      throw new ApiError(403, 'READ_ONLY', 'this server is read-only: mutations are disabled');
    const origin = c.req.header('origin');
    const site = c.req.header('sec-fetch-site');
    if (
      site === 'cross-site' ||
      (origin !== undefined && !sameOrigin(origin, c.req.url, c.req.header('host')))
    ) {
      throw new ApiError(
        403,
        'CROSS_ORIGIN',
        `mutations from another origin are refused (Origin: ${origin ?? 'unknown'})`,
      );
    }
    return next();
  };
}

export function sameOrigin(origin: string, url: string, host: string | undefined): boolean {
  try {
    const o = new URL(origin);
    return o.host === (host ?? new URL(url).host);
  } catch {
    return false;
  }
}

/** Refuses requests whose Host header is not one of `hosts` (names without the port). */
export function checkHost(hosts: readonly string[]): MiddlewareHandler<ApiEnv> {
  const allowed = new Set(hosts.map((h) => h.toLowerCase()));
  return async (c, next) => {
    const host = c.req.header('host') ?? new URL(c.req.url).host;
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
    if (!allowed.has(name.toLowerCase()))
      throw new ApiError(
        403,
        'HOST_NOT_ALLOWED',
        `requests for host ${JSON.stringify(name)} are refused; use one of ${[...allowed].join(', ')}`,
      );
    return next();
  };
}

/** Whether `host` (an address or name to listen on) is a loopback one. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1'
  );
}

export const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
