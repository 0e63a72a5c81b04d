/**
 * The dashboard tests' shared fixture: a database seeded with failed,
 * queued and succeeded tasks, a minute of rollup and a schedule; and
 * in-process GET and form POST helpers (app.request).
 */
import type pg from 'pg';
import { z } from 'zod';
import type { createApp } from '../../src/http/index.js';
import { defineTask } from '../../src/index.js';

export const ORIGIN = 'http://localhost';

export const charge = defineTask({
  name: 'charge',
  queue: 'payments',
  payload: z.object({ orderId: z.number() }),
  handler: () => ({ ok: true }),
});

type App = ReturnType<typeof createApp>;
export interface Page {
  status: number;
  text: string;
  headers: Headers;
}

export async function get(
  app: App,
  path: string,
  headers: Record<string, string> = {},
): Promise<Page> {
  const res = await app.request(path, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** A form POST, from the dashboard's own origin unless `headers` say otherwise. */
export async function post(
  app: App,
  path: string,
  form: Record<string, string | string[]>,
  headers: Record<string, string> = { origin: ORIGIN },
): Promise<Page> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const one of [v].flat()) body.append(k, one);
  const res = await app.request(path, {
    method: 'POST',
    body,
    headers: { host: 'localhost', 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

const errors = (n: number, message: string) =>
  JSON.stringify(
    Array.from({ length: n }, (_, i) => ({
      attempt: i + 1,
      at: new Date(Date.now() - (n - i) * 1000).toISOString(),
      started_at: new Date(Date.now() - (n - i) * 1000 - 40).toISOString(),
      name: 'Error',
      message: i === n - 1 ? message : `attempt ${i + 1} went wrong`,
      stack: `Error: ${message}\n    at charge (tasks.ts:10:5)`,
      worker: 'w-1',
    })),
  );

/**
 * Three failed charges (three attempts each, the last "card declined"), a
 * queued one in queue emails, a succeeded one; 41 succeeded, 3 failed and 6
 * retried this minute in the rollup; a nightly schedule. Returns the ids.
 */
export async function seedDashboard(pool: pg.Pool): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  const insert = async (key: string, sql: string, params: unknown[] = []) => {
    ids[key] = (await pool.query(sql, params)).rows[0].id;
  };
  for (let i = 0; i < 3; i++)
    await insert(
      `failed${i}`,
      `insert into tandem.tasks (name, queue, payload, key, state, attempt, max_attempts, errors, started_at, finished_at)
       values ('charge', 'payments', $1, $2, 'failed', 3, 3, $3, now() - interval '1 second', now()) returning id::text`,
      [{ orderId: i }, `order:${i}`, errors(3, 'card declined')],
    );
  await insert(
    'queued',
    `insert into tandem.tasks (name, queue, payload, key) values ('charge', 'emails', '{"orderId":9}', 'order:9') returning id::text`,
  );
  await insert(
    'done',
    `insert into tandem.tasks (name, queue, payload, state, attempt, result, started_at, finished_at)
     values ('charge', 'payments', '{"orderId":7}', 'succeeded', 1, '{"ok":true}', now() - interval '2 seconds', now()) returning id::text`,
  );
  await pool.query(
    `insert into tandem.task_stats (span_s, at, queue, name, writer, succeeded, failed, retried,
                                    run_hist, run_sum_ms, lag_hist, lag_sum_ms)
     values (60, date_trunc('minute', now()), 'payments', 'charge', 'w-1', 41, 3, 6,
             array_fill(0, array[21]), 0, array_fill(0, array[21]), 0)`,
  );
  await pool.query(
    `insert into tandem.schedules (name, last_tick, cron, timezone, task, defined_at)
     values ('nightly', now(), '0 3 * * *', 'Europe/Paris', 'charge', now())`,
  );
  return ids;
}
