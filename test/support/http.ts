/** In-process requests against a createApp() app (Hono's app.request), JSON in and out. */
import type pg from 'pg';

export interface Reply {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

type App = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

export async function call(
  app: App,
  method: string,
  path: string,
  options: { json?: unknown; body?: RequestInit['body']; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  }
  const res = await app.request(path, { method, headers, ...(body !== undefined && { body }) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/**
 * A fingerprint of everything an operator request could change: compare it
 * before and after to prove a request wrote nothing.
 */
export async function fingerprint(db: pg.Pool): Promise<string> {
  const { rows } = await db.query(`
    select md5(coalesce((select string_agg(t::text, ',' order by id) from tandem.tasks t), ''))
        || md5(coalesce((select string_agg(q::text, ',' order by name) from tandem.queues q), ''))
        || md5(coalesce((select string_agg(a::text, ',' order by id) from tandem.operator_actions a), ''))
        as f`);
  return rows[0].f;
}
