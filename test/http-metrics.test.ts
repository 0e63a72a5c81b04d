/**
 * /metrics: the fleet's view from the database and a worker process's own
 * counters and histograms, parsed with a Prometheus text-format parser.
 */
import parse from 'parse-prometheus-text-format';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from '../src/http/index.js';
import { createTandem, defineTask, PermanentError, type Tandem } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { call } from './support/http.js';
import { quietLogger } from './support/quiet-logger.js';
import { waitFor } from './support/wait.js';

let pool: pg.Pool;
let tandem: Tandem;

const work = defineTask({
  name: 'work',
  payload: z.object({ fail: z.boolean() }),
  maxAttempts: 2,
  backoff: { base: 1, jitter: false },
  handler: async (p) => {
    await new Promise((r) => setTimeout(r, 5));
    if (p.fail) throw new PermanentError('no');
  },
});

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  tandem = createTandem({ connectionString: url, tasks: [work], logger: quietLogger });
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});

type Family = ReturnType<typeof parse>[number];
const family = (all: Family[], name: string) => {
  const f = all.find((x) => x.name === name);
  if (!f) throw new Error(`no metric ${name} in ${all.map((x) => x.name).join(', ')}`);
  return f;
};
const value = (f: Family, labels: Record<string, string>) =>
  Number(
    f.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value,
  );

it('exposes fleet and worker metrics in a text format a Prometheus parser reads', async () => {
  const worker = tandem.worker({ pollInterval: 100 });
  await worker.start();
  const app = createApp(tandem, { worker });
  try {
    await tandem.enqueueMany(tandem.pool, [
      ...Array.from({ length: 6 }, () => ({ task: work, payload: { fail: false } })),
      ...Array.from({ length: 2 }, () => ({ task: work, payload: { fail: true } })),
    ]);
    await tandem.enqueue(tandem.pool, work, { fail: false }, { queue: 'later', delay: '1h' });
    await waitFor(async () => worker.stats.succeeded + worker.stats.failed === 8);
    await worker.rollup.flush();
    await waitFor(async () => worker.isLeader);

    const r = await call(app, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const all = parse(r.text);

    const tasks = family(all, 'tandem_tasks');
    expect(tasks.type).toBe('GAUGE');
    expect(value(tasks, { queue: 'later', state: 'queued' })).toBe(1);
    expect(value(tasks, { queue: 'later', state: 'running' })).toBe(0);
    expect(value(family(all, 'tandem_queue_depth'), { queue: 'later' })).toBe(1);
    expect(value(family(all, 'tandem_queue_oldest_runnable_age_seconds'), { queue: 'later' })).toBe(
      0,
    );
    expect(value(family(all, 'tandem_workers_alive'), {})).toBe(1);
    expect(value(family(all, 'tandem_leader'), { worker: worker.id })).toBe(1);
    const recent = family(all, 'tandem_recent_attempts');
    expect(value(recent, { name: 'work', outcome: 'succeeded' })).toBe(6);
    expect(value(recent, { name: 'work', outcome: 'failed' })).toBe(2);
    expect(
      value(family(all, 'tandem_recent_run_seconds'), { name: 'work', quantile: '0.5' }),
    ).toBeGreaterThan(0.004);

    const attempts = family(all, 'tandem_worker_attempts_total');
    expect(attempts.type).toBe('COUNTER');
    expect(value(attempts, { queue: 'default', name: 'work', outcome: 'succeeded' })).toBe(6);
    expect(value(attempts, { queue: 'default', name: 'work', outcome: 'failed' })).toBe(2);
    const run = family(all, 'tandem_worker_run_seconds');
    expect(run.type).toBe('HISTOGRAM');
    // The parser folds a histogram's series into one (there is one here)
    // and keeps _count and _sum of unlabelled histograms only: read those from the text.
    const h = run.metrics[0]!;
    expect(h.buckets!['+Inf']).toBe('8');
    expect(r.text).toContain('tandem_worker_run_seconds_count{queue="default",name="work"} 8\n');
    const sum = /tandem_worker_run_seconds_sum\{queue="default",name="work"\} ([\d.e+-]+)/.exec(
      r.text,
    );
    expect(Number(sum?.[1])).toBeGreaterThan(8 * 0.004);
    const buckets = Object.entries(h.buckets!)
      .map(([le, n]) => [le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), Number(n)] as const)
      .sort((a, b) => a[0] - b[0]);
    expect(buckets).toHaveLength(21);
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]);
    expect(buckets.find(([le]) => le === 0.0025)![1]).toBe(0);
    expect(family(all, 'tandem_worker_lag_seconds').metrics[0]!.buckets!['+Inf']).toBe('8');
    expect(value(family(all, 'tandem_worker_leader'), {})).toBe(1);
  } finally {
    await worker.stop();
  }
  // Without a worker, and with fleet metrics off, nothing of either shows.
  const none = parse(
    (await call(createApp(tandem, { fleetMetrics: false }), 'GET', '/metrics')).text,
  );
  expect(none).toEqual([]);
});
