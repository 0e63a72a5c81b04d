/**
 * Every route of the HTTP API, in process (app.request), against a real
 * PostgreSQL, with real workers where a route reports what workers did.
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from '../src/http/index.js';
import { createTandem, defineTask, PermanentError, type Tandem } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { call } from './support/http.js';
import { quietLogger } from './support/quiet-logger.js';
import { waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
let tandem: Tandem;
let app: ReturnType<typeof createApp>;

const add = defineTask({
  name: 'add',
  payload: z.object({ a: z.number(), b: z.number() }),
  handler: (p) => ({ sum: p.a + p.b }),
});
const flaky = defineTask({
  name: 'flaky',
  payload: z.object({ n: z.number() }),
  maxAttempts: 2,
  backoff: { base: 10, jitter: false },
  handler: (p) => {
    throw new PermanentError(`card ${p.n % 2 === 0 ? 'declined' : 'expired'}`);
  },
});

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 3 });
  tandem = createTandem({ connectionString: url, tasks: [add, flaky], logger: quietLogger });
  app = createApp(tandem);
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});
beforeEach(async () => {
  await pool.query(
    'delete from tandem.tasks; delete from tandem.queues; delete from tandem.operator_actions; delete from tandem.task_stats',
  );
});

const insert = async (sql: string) => (await pool.query(sql)).rows;
const enqueue = async (json: unknown) => call(app, 'POST', '/api/tasks', { json });

describe('tasks', () => {
  it('POST /api/tasks enqueues by name: 201 new, 200 with inserted: false for a taken key', async () => {
    const first = await enqueue({ name: 'add', payload: { a: 1, b: 2 }, key: 'sum:1' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      id: expect.any(String),
      inserted: true,
      status: 'queued',
      validated: true,
    });
    const again = await enqueue({ name: 'add', payload: { a: 1, b: 2 }, key: 'sum:1' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, inserted: false });
    const other = await enqueue({
      name: 'report',
      payload: { day: '2026-01-01' },
      queue: 'reports',
      priority: 3,
      max_attempts: 2,
      delay: '1h',
    });
    expect(other.body.validated).toBe(false);
    const [row] = await insert(`select * from tandem.tasks where id = ${other.body.id}`);
    expect(row).toMatchObject({ name: 'report', queue: 'reports', priority: 3, max_attempts: 2 });
    expect(row.run_at.getTime() - Date.now()).toBeGreaterThan(3_500_000);
  });

  it('POST /api/tasks validates the payload with the known task schema: 400 with issues, nothing written', async () => {
    const r = await enqueue({ name: 'add', payload: { a: 'one' } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_PAYLOAD');
    expect(r.body.error.issues.map((i: any) => i.path)).toEqual(['a', 'b']);
    expect(await insert('select id from tandem.tasks')).toEqual([]);
  });

  it('GET /api/tasks/:id returns every documented field; 404 for an unknown id', async () => {
    const { body } = await enqueue({ name: 'add', payload: { a: 1, b: 2 }, key: 'k' });
    const r = await call(app, 'GET', `/api/tasks/${body.id}`);
    expect(r.status).toBe(200);
    for (const f of [
      'id',
      'name',
      'queue',
      'status',
      'payload',
      'result',
      'error',
      'errors',
      'attempt',
      'max_attempts',
      'key',
      'priority',
      'created_at',
      'run_at',
      'started_at',
      'finished_at',
    ])
      expect(r.body).toHaveProperty(f);
    expect(r.body).toMatchObject({
      id: body.id,
      status: 'queued',
      payload: { a: 1, b: 2 },
      key: 'k',
    });
    expect(r.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const missing = await call(app, 'GET', '/api/tasks/987654321');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('TASK_NOT_FOUND');
  });

  it('GET /api/tasks/:id?wait=5s long-polls until a worker finishes the task; a short wait returns it unfinished', async () => {
    const worker = tandem.worker({ pollInterval: 100 });
    await worker.start();
    try {
      const { body } = await enqueue({ name: 'add', payload: { a: 20, b: 22 } });
      const r = await call(app, 'GET', `/api/tasks/${body.id}?wait=5s`);
      expect(r.body).toMatchObject({ status: 'succeeded', result: { sum: 42 }, attempt: 1 });
      expect(r.body.finished_at).not.toBeNull();
    } finally {
      await worker.stop();
    }
    const { body } = await enqueue({ name: 'nobody-runs-this', payload: {} });
    const t0 = Date.now();
    const r = await call(app, 'GET', `/api/tasks/${body.id}?wait=300ms`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(r.body.status).toBe('queued');
  });

  it('GET /api/tasks filters by status, name, queue, key, key prefix, payload, error and time', async () => {
    await insert(`
      insert into tandem.tasks (name, queue, payload, key, state, finished_at, errors, created_at) values
        ('add', 'default', '{"orderId": 1}', 'order:1', 'succeeded', now(), '[]', now() - interval '2 hours'),
        ('add', 'default', '{"orderId": 2}', 'order:2', 'failed', now(), '[{"attempt":1,"at":"2026-01-01T00:00:00Z","name":"Error","message":"Card Declined"}]', now()),
        ('charge', 'payments', '{"orderId": 2}', 'order:2', 'queued', null, '[]', now()),
        ('charge', 'payments', '{"orderId": 3}', 'other:3', 'cancelled', now(), '[]', now())`);
    const names = async (q: string) => {
      const r = await call(app, 'GET', `/api/tasks?${q}`);
      expect(r.status, r.text).toBe(200);
      return r.body.tasks.map((t: any) => `${t.name}:${t.key}`).sort();
    };
    expect(await names('status=failed,cancelled')).toEqual(['add:order:2', 'charge:other:3']);
    expect(await names('name=add')).toEqual(['add:order:1', 'add:order:2']);
    expect(await names('queue=payments&status=queued')).toEqual(['charge:order:2']);
    expect(await names('key=order:2')).toEqual(['add:order:2', 'charge:order:2']);
    expect(await names('key_prefix=order:')).toHaveLength(3);
    expect(await names(`payload=${encodeURIComponent('{"orderId":2}')}`)).toEqual([
      'add:order:2',
      'charge:order:2',
    ]);
    expect(await names('error=card%20declined')).toEqual(['add:order:2']);
    expect(await names('last_error=Card%20Declined')).toEqual(['add:order:2']);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    expect(await names(`created_before=${hourAgo}`)).toEqual(['add:order:1']);
    expect(await names(`finished_after=${hourAgo}&name=charge`)).toEqual(['charge:other:3']);
  });

  it('GET /api/tasks pages with limit and next_cursor, newest first, every task once', async () => {
    await insert(
      `insert into tandem.tasks (name, payload) select 'add', jsonb_build_object('i', i) from generate_series(1, 23) i`,
    );
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: any = await call(
        app,
        'GET',
        `/api/tasks?limit=10${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(r.status).toBe(200);
      seen.push(...r.body.tasks.map((t: any) => t.payload.i));
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => 23 - i));
  });

  it('POST /api/tasks/:id/retry, /cancel and DELETE /api/tasks/:id: 200, 404 unknown, 409 wrong state', async () => {
    const [failed, queued, running] = await insert(`
      insert into tandem.tasks (name, payload, state, finished_at, attempt, owner, started_at) values
        ('add', '{}', 'failed', now(), 4, null, now()),
        ('add', '{}', 'queued', null, 0, null, null),
        ('add', '{}', 'running', null, 1, 'w1', now())
      returning id::text`);
    const retried = await call(app, 'POST', `/api/tasks/${failed.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id: failed.id, status: 'queued', max_attempts: 5 });
    expect((await call(app, 'POST', `/api/tasks/${running.id}/retry`)).status).toBe(409);
    expect((await call(app, 'POST', '/api/tasks/999999/retry')).status).toBe(404);

    const cancelled = await call(app, 'POST', `/api/tasks/${queued.id}/cancel`);
    expect(cancelled.body).toMatchObject({ status: 'cancelled' });
    const again = await call(app, 'POST', `/api/tasks/${queued.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/is cancelled/);
    expect((await call(app, 'POST', '/api/tasks/999999/cancel')).status).toBe(404);

    expect((await call(app, 'DELETE', `/api/tasks/${running.id}`)).status).toBe(409);
    const deleted = await call(app, 'DELETE', `/api/tasks/${queued.id}`);
    expect(deleted.body).toEqual({ id: queued.id, deleted: true });
    expect((await call(app, 'DELETE', `/api/tasks/${queued.id}`)).status).toBe(404);
  });

  it('POST /api/tasks/bulk retries, cancels and deletes by filter or ids and returns the count', async () => {
    await insert(`
      insert into tandem.tasks (name, payload, state, finished_at) values
        ('add', '{}', 'failed', now()), ('add', '{}', 'failed', now()),
        ('flaky', '{}', 'failed', now()), ('add', '{}', 'queued', null)`);
    const dry = await call(app, 'POST', '/api/tasks/bulk', {
      json: { action: 'retry', filter: { status: ['failed'], name: 'add' }, dry_run: true },
    });
    expect(dry.body).toEqual({ affected: 2, dry_run: true });
    expect(await insert(`select id from tandem.tasks where state = 'failed'`)).toHaveLength(3);
    const retried = await call(app, 'POST', '/api/tasks/bulk', {
      json: { action: 'retry', filter: { status: 'failed', name: 'add' } },
    });
    expect(retried.body).toEqual({ affected: 2, dry_run: false });
    const cancelled = await call(app, 'POST', '/api/tasks/bulk', {
      json: { action: 'cancel', filter: { name: 'add' } },
    });
    expect(cancelled.body.affected).toBe(3);
    const ids = (await insert('select id::text from tandem.tasks')).map((r) => r.id);
    const deleted = await call(app, 'POST', '/api/tasks/bulk', { json: { action: 'delete', ids } });
    expect(deleted.body.affected).toBe(4);
    for (const json of [
      { action: 'retry', filter: {} },
      { action: 'retry', ids: ['1'], filter: { name: 'add' } },
      { action: 'retry' },
    ]) {
      const r = await call(app, 'POST', '/api/tasks/bulk', { json });
      expect(r.status, JSON.stringify(json)).toBe(400);
    }
  });
});

describe('queues, workers, schedules, stats, failures, operator log, health, OpenAPI', () => {
  it('GET /api/queues and POST pause/resume', async () => {
    await insert(`insert into tandem.tasks (name, queue, payload, run_at) values
      ('add', 'q1', '{}', now() - interval '5 seconds'), ('add', 'q1', '{}', now() + interval '1 hour')`);
    expect((await call(app, 'POST', '/api/queues/q1/pause')).body).toEqual({
      name: 'q1',
      paused: true,
    });
    const r = await call(app, 'GET', '/api/queues');
    expect(r.body.queues).toEqual([
      expect.objectContaining({
        name: 'q1',
        paused: true,
        counts: { queued: 2, running: 0, retrying: 0 },
      }),
    ]);
    expect(r.body.queues[0].oldest_runnable_age_ms).toBeGreaterThanOrEqual(4_900);
    expect((await call(app, 'POST', '/api/queues/q1/resume')).body.paused).toBe(false);
    expect((await call(app, 'GET', '/api/queues')).body.queues[0].paused).toBe(false);
    expect((await call(app, 'POST', '/api/queues/bad%20name/pause')).status).toBe(400);
  });

  it('GET /api/workers, /api/schedules and /api/stats and /api/failures reflect a real worker', async () => {
    const t2 = createTandem({
      connectionString: url,
      tasks: [add, flaky],
      logger: quietLogger,
      schedules: [
        {
          name: 'nightly',
          cron: '0 3 * * *',
          timezone: 'Europe/Paris',
          task: add,
          payload: { a: 1, b: 1 },
        },
      ],
    });
    const worker = t2.worker({ pollInterval: 100 });
    await worker.start();
    try {
      for (let i = 0; i < 4; i++) await enqueue({ name: 'add', payload: { a: i, b: 1 } });
      for (let i = 0; i < 3; i++) await enqueue({ name: 'flaky', payload: { n: i } });
      await waitFor(
        async () =>
          (await insert(`select 1 from tandem.tasks where finished_at is null`)).length === 0,
      );
      const workers = await waitFor(async () => {
        const r = await call(app, 'GET', '/api/workers');
        return r.body.workers[0]?.leader ? r.body.workers : null;
      });
      expect(workers).toEqual([
        expect.objectContaining({
          id: worker.id,
          alive: true,
          leader: true,
          running: 0,
          queues: { default: 10 },
        }),
      ]);
      const schedules = await waitFor(
        async () => (await call(app, 'GET', '/api/schedules')).body.schedules[0],
      );
      expect(schedules).toMatchObject({
        name: 'nightly',
        cron: '0 3 * * *',
        timezone: 'Europe/Paris',
        task: 'add',
      });
      expect(new Date(schedules.next_tick).getTime()).toBeGreaterThan(Date.now());
    } finally {
      await worker.stop();
      await t2.close();
    }
    const stats = await call(app, 'GET', '/api/stats?window=10m&step=1m');
    expect(stats.status).toBe(200);
    expect(stats.body.total.points).toHaveLength(10);
    expect(stats.body.total.totals).toMatchObject({ succeeded: 4, failed: 3, retried: 0 });
    expect(
      stats.body.series.map((s: any) => `${s.name}:${s.totals.succeeded}:${s.totals.failed}`),
    ).toEqual(['add:4:0', 'flaky:0:3']);
    expect(stats.body.total.totals.run_p95_ms).toBeGreaterThan(0);

    const failures = await call(app, 'GET', '/api/failures');
    expect(failures.body.groups.map((g: any) => [g.message, g.count])).toEqual([
      ['card declined', 2],
      ['card expired', 1],
    ]);
    const redrive = await call(app, 'POST', '/api/tasks/bulk', {
      json: { action: 'retry', filter: failures.body.groups[0].filter, dry_run: true },
    });
    expect(redrive.body.affected).toBe(2);
    expect((await call(app, 'GET', '/api/stats?window=1h&step=7s')).status).toBe(400);
  });

  it('records every mutation in the operator log, queryable by task', async () => {
    const { body } = await enqueue({ name: 'add', payload: { a: 1, b: 1 } });
    await call(app, 'POST', `/api/tasks/${body.id}/cancel`);
    await call(app, 'POST', `/api/tasks/${body.id}/retry`);
    await call(app, 'POST', '/api/queues/default/pause');
    const r = await call(app, 'GET', `/api/operator-actions?task_id=${body.id}`);
    expect(r.body.actions.map((a: any) => a.action)).toEqual(['retry', 'cancel', 'enqueue']);
    expect(r.body.actions[0]).toMatchObject({
      actor: 'anonymous',
      task_ids: [body.id],
      affected: 1,
      request: { method: 'POST', path: `/api/tasks/${body.id}/retry` },
    });
    const all = await call(app, 'GET', '/api/operator-actions?limit=2');
    expect(all.body.actions.map((a: any) => a.action)).toEqual(['pause', 'retry']);
    const next = await call(
      app,
      'GET',
      `/api/operator-actions?limit=2&cursor=${all.body.next_cursor}`,
    );
    expect(next.body.actions.map((a: any) => a.action)).toEqual(['cancel', 'enqueue']);
    const { rows } = await pool.query(
      `select actor from tandem.operator_actions where action = 'retry' and task_ids @> array[$1::bigint]`,
      [body.id],
    );
    expect(rows).toEqual([{ actor: 'anonymous' }]);
  });

  it('GET /healthz: 200 with the schema version, 503 when the database is unusable', async () => {
    const ok = await call(app, 'GET', '/healthz');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      status: 'ok',
      schema_version: 10,
      expected_schema_version: 10,
    });
    const u = new URL(url);
    u.pathname = '/tandem_no_such_database';
    const broken = createTandem({ connectionString: u.toString(), logger: quietLogger });
    try {
      const r = await call(createApp(broken), 'GET', '/healthz');
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ status: 'unavailable', database: 'unreachable' });
    } finally {
      await broken.close();
    }
  });

  it('GET /api/openapi.json is an OpenAPI 3.1 document with every route', async () => {
    const r = await call(app, 'GET', '/api/openapi.json');
    expect(r.body.openapi).toBe('3.1.0');
    const routes = Object.entries(r.body.paths).flatMap(([p, ops]: [string, any]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(routes.sort()).toEqual(
      [
        'GET /api/tasks/{id}',
        'GET /api/tasks',
        'POST /api/tasks',
        'POST /api/tasks/{id}/retry',
        'POST /api/tasks/{id}/cancel',
        'DELETE /api/tasks/{id}',
        'POST /api/tasks/bulk',
        'GET /api/queues',
        'POST /api/queues/{name}/pause',
        'POST /api/queues/{name}/resume',
        'GET /api/limits',
        'PUT /api/limits/{scope}/{name}',
        'DELETE /api/limits/{scope}/{name}',
        'GET /api/task-types',
        'GET /api/workers',
        'GET /api/schedules',
        'GET /api/stats',
        'GET /api/failures',
        'GET /api/operator-actions',
        'GET /api/relay',
        'GET /healthz',
        'GET /metrics',
      ].sort(),
    );
    const params = r.body.paths['/api/tasks'].get.parameters.map((p: any) => p.name);
    expect(params).toEqual(
      expect.arrayContaining(['status', 'name', 'key', 'payload', 'cursor', 'limit']),
    );
    expect(r.body.components.schemas.Task.properties.max_attempts).toBeDefined();
  });

  it('serves everything under a base path', async () => {
    const mounted = createApp(tandem, { basePath: '/admin/tandem' });
    expect((await call(mounted, 'GET', '/admin/tandem/api/queues')).status).toBe(200);
    expect((await call(mounted, 'GET', '/admin/tandem/healthz')).status).toBe(200);
    expect((await call(mounted, 'GET', '/api/queues')).status).toBe(404);
    const doc = await call(mounted, 'GET', '/admin/tandem/api/openapi.json');
    expect(Object.keys(doc.body.paths)).toContain('/admin/tandem/api/tasks');
  });
});
