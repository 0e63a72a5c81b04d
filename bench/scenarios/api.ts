/**
 * API: latency of the operator API and of the dashboard's pages on a table
 * with many finished tasks. A fresh database gets `apiRows` finished tasks
 * in one INSERT … SELECT FROM generate_series (five task names, 1 % failed
 * with an error, 0.5 % cancelled, keys order:<i>, finished over the last
 * day), a day of stats rollup from four workers (minute and hour rows), and
 * 200 operator actions, then VACUUM ANALYZE. A real server (tandem.server
 * on 127.0.0.1) answers sequential requests from this process, so each
 * figure includes the HTTP round trip; dashboard pages also report the
 * server's own time (their Server-Timing header: routing, sign-in, queries
 * and rendering). Every route is warmed up first, then timed `apiRequests`
 * times. Tandem only.
 */
import { type BenchDatabases, inFreshDatabase, withClient } from '../db.js';
import { progress } from '../log.js';
import type { BenchOptions } from '../options.js';
import { fmt, quantile } from '../stats.js';

export interface ApiResult {
  route: string;
  rows: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** Tasks in the last response (for listings), to show the page was not empty. */
  returned: number | null;
  /** Dashboard pages: the server's own time (Server-Timing), p50 and p99. */
  serverP50Ms?: number;
  serverP99Ms?: number;
  error?: string;
}

async function fill(url: string, rows: number): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(
      `insert into tandem.tasks (name, queue, payload, key, state, attempt, errors, result,
                                 run_at, created_at, started_at, finished_at)
       select (array['charge-order','send-receipt','ship-order','refund','report'])[1 + g % 5],
              case when g % 5 = 0 then 'payments' else 'default' end,
              jsonb_build_object('orderId', g, 'cents', 100 + g % 900),
              'order:' || g,
              case when g % 100 = 5 then 'failed' when g % 200 = 3 then 'cancelled' else 'succeeded' end,
              1,
              case when g % 100 = 5
                   then jsonb_build_array(jsonb_build_object('attempt', 1, 'at', now(), 'name', 'Error',
                          'message', (array['card declined','timeout','insufficient funds'])[1 + g % 3]))
                   else '[]'::jsonb end,
              case when g % 100 = 5 or g % 200 = 3 then null else '{"ok":true}'::jsonb end,
              t, t, t, t + interval '5 milliseconds'
         from generate_series(1, $1::bigint) g,
              lateral (select now() - interval '1 day' + (g::float8 / $1) * interval '1 day' as t) ts`,
      [rows],
    );
    // A day of rollup from four workers running four task names, as they write it:
    // a row per minute and a row per hour for each (worker, queue, name).
    for (const [span, unit, steps] of [
      [60, 'minute', 1440],
      [3600, 'hour', 24],
    ] as const) {
      await c.query(
        `insert into tandem.task_stats (span_s, at, queue, name, writer, succeeded, failed, retried,
                                        run_hist, run_sum_ms, lag_hist, lag_sum_ms)
         select $1, date_trunc($2, now()) - m * ('1 ' || $2)::interval, 'default', n, 'w' || w,
                900, 9, 3, array_fill(40, array[21]), 4500, array_fill(40, array[21]), 9000
           from generate_series(0, $3::int - 1) m,
                unnest(array['send-receipt','ship-order','refund','report']) n,
                generate_series(1, 4) w`,
        [span, unit, steps],
      );
    }
    await c.query(
      `insert into tandem.operator_actions (actor, action, target, task_ids, affected)
       select 'ops', 'retry', jsonb_build_object('ids', jsonb_build_array(g::text)), array[g::bigint], 1
         from generate_series(1, 200) g`,
    );
    await c.query('vacuum analyze tandem.tasks, tandem.task_stats');
    await c.query('checkpoint');
  });
}

export async function runApi(dbs: BenchDatabases, options: BenchOptions): Promise<ApiResult[]> {
  if (!options.systems.includes('tandem')) return [];
  const rows = options.apiRows;
  const n = options.apiRequests;
  return inFreshDatabase(dbs, 'api', async (url) => {
    const { createTandem } = await import('../../src/index.js');
    const tandem = createTandem({ connectionString: url });
    await tandem.migrate();
    const t0 = performance.now();
    await fill(url, rows);
    progress(
      `api: ${fmt(rows)} finished tasks written and vacuumed in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const server = await tandem.server({ port: 0 });
    const results: ApiResult[] = [];
    try {
      const random = (k: number) => 1 + Math.floor(Math.random() * k);
      const routes: [string, () => string][] = [
        ['GET /api/tasks/:id', () => `/api/tasks/${random(rows)}`],
        [
          'GET /api/tasks?status=failed&name=charge-order',
          () => '/api/tasks?status=failed&name=charge-order&limit=50',
        ],
        ['GET /api/tasks?key=order:<n>', () => `/api/tasks?key=order:${random(rows)}`],
        [
          'GET /api/tasks?name=send-receipt (window)',
          () => '/api/tasks?name=send-receipt&limit=50',
        ],
        [
          'GET /api/tasks?payload={"orderId":n} (window)',
          () =>
            `/api/tasks?payload=${encodeURIComponent(JSON.stringify({ orderId: rows - random(15_000) }))}`,
        ],
        ['GET /api/queues', () => '/api/queues'],
        ['GET /api/failures', () => '/api/failures'],
        ['GET /api/stats?window=1h&step=1m', () => '/api/stats?window=1h&step=1m'],
        ['GET /metrics', () => '/metrics'],
        ['dashboard overview (1 h)', () => '/'],
        ['dashboard overview (24 h)', () => '/?window=24h'],
        ['dashboard overview, live refresh', () => '/'],
        ['dashboard tasks (no filter: window)', () => '/tasks'],
        ['dashboard tasks?status=failed', () => '/tasks?status=failed'],
        ['dashboard tasks?name=send-receipt&since=1h', () => '/tasks?name=send-receipt&since=1h'],
        ['dashboard tasks?key=order:<n>', () => `/tasks?key=order:${random(rows)}`],
        ['dashboard task/:id', () => `/tasks/${random(rows)}`],
        ['dashboard failures', () => '/failures'],
        ['dashboard queues', () => '/queues'],
        ['dashboard workers', () => '/workers'],
        ['dashboard schedules', () => '/schedules'],
        ['dashboard operator log', () => '/log'],
      ];
      const live = { 'hx-request': 'true', 'hx-target': 'live' };
      for (const [route, path] of routes) {
        const times: number[] = [];
        const serverTimes: number[] = [];
        let returned: number | null = null;
        let error: string | undefined;
        for (let i = -Math.min(50, n); i < n; i++) {
          const start = performance.now();
          const res = await fetch(`${server.url}${path()}`, {
            headers: route.endsWith('live refresh') ? live : {},
          });
          const text = await res.text();
          const ms = performance.now() - start;
          if (res.status !== 200) {
            error = `${res.status} ${text.slice(0, 200)}`;
            break;
          }
          const timing = /total;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
          if (i >= 0) times.push(ms);
          if (i >= 0 && timing) serverTimes.push(Number(timing[1]));
          if (i === n - 1 && text.startsWith('{"tasks"')) returned = JSON.parse(text).tasks.length;
        }
        const r: ApiResult = {
          route,
          rows,
          requests: times.length,
          p50Ms: quantile(times, 0.5),
          p99Ms: quantile(times, 0.99),
          returned,
          ...(serverTimes.length > 0 && {
            serverP50Ms: quantile(serverTimes, 0.5),
            serverP99Ms: quantile(serverTimes, 0.99),
          }),
          ...(error && { error }),
        };
        const server_ =
          r.serverP50Ms === undefined
            ? ''
            : `; server time p50 ${fmt(r.serverP50Ms)} ms, p99 ${fmt(r.serverP99Ms!)} ms`;
        progress(
          `api ${route}: p50 ${fmt(r.p50Ms)} ms, p99 ${fmt(r.p99Ms)} ms over ${fmt(r.requests)} requests${server_}${returned === null ? '' : ` (${returned} tasks in the last page)`}${error ? `; FAILED ${error}` : ''}`,
        );
        results.push(r);
      }
    } finally {
      await server.close();
      await tandem.close();
    }
    return results;
  });
}
