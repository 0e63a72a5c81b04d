/**
 * API: latency of the operator API on a table with many finished tasks.
 * A fresh database gets `apiRows` finished tasks in one INSERT … SELECT
 * FROM generate_series (five task names, 1 % failed with an error, 0.5 %
 * cancelled, keys order:<i>, finished over the last day) and two hours of
 * stats rollup from four workers, then VACUUM ANALYZE. A real server
 * (tandem.server on 127.0.0.1) answers sequential requests from this
 * process, so each figure includes the HTTP round trip; every route is
 * warmed up first, then timed `apiRequests` times. Tandem only.
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
    await c.query(
      `insert into tandem.task_stats (span_s, at, queue, name, writer, succeeded, failed, retried,
                                      run_hist, run_sum_ms, lag_hist, lag_sum_ms)
       select 60, date_trunc('minute', now()) - m * interval '1 minute', 'default', n, 'w' || w,
              900, 9, 3, array_fill(40, array[21]), 4500, array_fill(40, array[21]), 9000
         from generate_series(0, 119) m, unnest(array['send-receipt','ship-order','refund','report']) n,
              generate_series(1, 4) w`,
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
      ];
      for (const [route, path] of routes) {
        const times: number[] = [];
        let returned: number | null = null;
        let error: string | undefined;
        for (let i = -Math.min(50, n); i < n; i++) {
          const start = performance.now();
          const res = await fetch(`${server.url}${path()}`);
          const text = await res.text();
          const ms = performance.now() - start;
          if (res.status !== 200) {
            error = `${res.status} ${text.slice(0, 200)}`;
            break;
          }
          if (i >= 0) times.push(ms);
          if (i === n - 1 && text.startsWith('{"tasks"')) returned = JSON.parse(text).tasks.length;
        }
        const r: ApiResult = {
          route,
          rows,
          requests: times.length,
          p50Ms: quantile(times, 0.5),
          p99Ms: quantile(times, 0.99),
          returned,
          ...(error && { error }),
        };
        progress(
          `api ${route}: p50 ${fmt(r.p50Ms)} ms, p99 ${fmt(r.p99Ms)} ms over ${fmt(r.requests)} requests${returned === null ? '' : ` (${returned} tasks in the last page)`}${error ? `; FAILED ${error}` : ''}`,
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
