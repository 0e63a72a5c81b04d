/**
 * Every error becomes a response here, and only here:
 * `{ "error": { "code", "message", "issues"? } }` with a status chosen by
 * the error's code. Bad input is always a 4xx; only Tandem's own failures
 * are a 500, and their details go to the log, not to the client.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { TandemError, type TandemErrorCode } from '../errors.js';
import type { Logger } from '../types.js';

/** An error of the HTTP layer itself (auth, read-only, routing). */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const STATUS: Partial<Record<TandemErrorCode, ContentfulStatusCode>> = {
  UNKNOWN_TASK: 400,
  INVALID_PAYLOAD: 400,
  PAYLOAD_NOT_JSON: 400,
  PAYLOAD_TOO_LARGE: 413,
  INVALID_OPTIONS: 400,
  INVALID_DURATION: 400,
  INVALID_LIMIT: 400,
  INVALID_CONCURRENCY_KEY: 400,
  INVALID_ID: 400,
  INVALID_CURSOR: 400,
  INVALID_FILTER: 400,
  TASK_NOT_FOUND: 404,
  INVALID_STATE: 409,
  TIMEOUT: 408,
  CLOSED: 503,
};

/** Codes of pg and of sockets that mean "the database is not there right now". */
const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
]);

export interface Issue {
  path: string;
  message: string;
}

export function errorBody(code: string, message: string, issues?: Issue[]) {
  return { error: { code, message, ...(issues && { issues }) } };
}

/** The validation hook of every route: a failed schema is a 400 naming each problem. */
export function validationHook(
  result: { success: boolean; error?: unknown; target?: string },
  c: Context,
): Response | undefined {
  if (result.success) return undefined;
  const raw =
    (result.error as { issues?: { path: PropertyKey[]; message: string }[] }).issues ?? [];
  const issues = raw.map((i) => ({
    path: i.path.map(String).join('.') || '(root)',
    message: i.message,
  }));
  const where =
    result.target === 'param'
      ? 'path'
      : result.target === 'query'
        ? 'query string'
        : 'request body';
  const code =
    result.target === 'param' && issues.some((i) => i.path === 'id')
      ? 'INVALID_ID'
      : 'INVALID_REQUEST';
  return c.json(
    errorBody(
      code,
      `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    ),
    400,
  );
}

/** The app's onError. */
export function errorHandler(logger: Logger) {
  return (err: Error, c: Context): Response => {
    if (err instanceof ApiError) {
      return c.json(errorBody(err.code, err.message), err.status, err.headers);
    }
    if (err instanceof TandemError) {
      const status = STATUS[err.code];
      if (status) {
        const issues = Array.isArray(err.details) ? (err.details as Issue[]) : undefined;
        return c.json(errorBody(err.code, err.message, issues), status);
      }
    }
    if (err instanceof HTTPException) {
      const known: Record<number, [string, string]> = {
        400: ['MALFORMED_JSON', 'the request body is not valid JSON'],
        413: ['BODY_TOO_LARGE', 'the request body is over the size limit'],
        415: ['UNSUPPORTED_MEDIA_TYPE', 'send the body as Content-Type: application/json'],
      };
      const [code, message] = known[err.status] ?? ['HTTP_ERROR', err.message];
      return c.json(errorBody(code, message), err.status as ContentfulStatusCode);
    }
    const code = (err as { code?: unknown }).code;
    // A value PostgreSQL refused (class 22, data exception: a NUL in a
    // string, a number out of range…) came from the request: a 400, not a 500.
    if (typeof code === 'string' && code.startsWith('22') && 'severity' in err) {
      return c.json(errorBody('INVALID_VALUE', `PostgreSQL refused a value: ${err.message}`), 400);
    }
    if (typeof code === 'string' && UNAVAILABLE.has(code)) {
      logger.warn({ err: { message: err.message, code } }, 'HTTP request: database unavailable');
      return c.json(
        errorBody('DATABASE_UNAVAILABLE', 'the database cannot be reached; try again'),
        503,
      );
    }
    logger.error({ err, method: c.req.method, path: c.req.path }, 'HTTP request failed');
    return c.json(errorBody('INTERNAL', 'internal error; details are in the server log'), 500);
  };
}

export function notFound(c: Context): Response {
  return c.json(
    errorBody(
      'NOT_FOUND',
      `no route ${c.req.method} ${c.req.path}; the routes are listed in /api/openapi.json`,
    ),
    404,
  );
}
