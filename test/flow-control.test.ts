/**
 * Flow control in one process: limits changed at run time, per-key order
 * when a key's oldest task fails, slots given back however a task stops,
 * checks before any SQL, and the HTTP routes.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from '../src/http/index.js';
import { createTandem, defineTask, type Tandem, type Worker } from '../src/index.js';
import { drain } from '../src/testing/index.js';
import { freshDatabase, taskRuleViolations } from './support/db.js';
import { call } from './support/http.js';
import { quietLogger } from './support/quiet-logger.js';
import { sleep, waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
const workers: Worker[] = [];
const instances: Tandem[] = [];

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(instances.splice(0).map((t) => t.close()));
  expect(await taskRuleViolations(pool)).toEqual([]);
  await pool.query(
    'delete from tandem.tasks; delete from tandem.flow_limits; delete from tandem.flow_keys',
  );
});
afterAll(() => pool.end());

function setup(tasks: any[], concurrency = 10) {
  const tandem = createTandem({ connectionString: url, tasks, logger: quietLogger });
  instances.push(tandem);
  const worker = tandem.worker({ queues: { q: concurrency }, pollInterval: 200 });
  workers.push(worker);
  return { tandem, worker };
}

const insert = (name: string, payloads: object[], key: string | null = null) =>
  pool.query(
    `insert into tandem.tasks (name, queue, payload, concurrency_key)
     select $1, 'q', p, $3 from unnest($2::jsonb[]) as p`,
    [name, payloads.map((p) => JSON.stringify(p)), key],
  );

const limitRow = async (scope: string, name: string) =>
  (
    await pool.query('select * from tandem.flow_limits where scope = $1 and name = $2', [
      scope,
      name,
    ])
  ).rows[0];

describe('limits at run time', () => {
  it('a queue limit set while tasks run holds from then on, counting what already runs', async () => {
    let now = 0;
    let max = 0;
    const work = defineTask({
      name: 'work',
      queue: 'q',
      payload: z.object({}),
      async handler() {
        now++;
        max = Math.max(max, now);
        await sleep(30);
        now--;
      },
    });
    const { tandem, worker } = setup([work]);
    await worker.start();
    await insert(
      'work',
      Array.from({ length: 10 }, () => ({})),
    );
    await waitFor(async () => now >= 5, 5_000, 'several running at once');
    await tandem.setLimits({ queue: 'q' }, { concurrency: 2 });
    // What ran when the limit was set is counted against it.
    const row = await limitRow('queue', 'q');
    expect(row.source).toBe('operator');
    expect(row.running).toBeGreaterThan(0);
    await waitFor(async () => now === 0, 5_000, 'the first batch to finish');
    max = 0;
    await insert(
      'work',
      Array.from({ length: 20 }, () => ({})),
    );
    await pool.query(`select pg_notify('tandem_wake', 'q')`);
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int as c from tandem.tasks where state = 'succeeded'`))
          .rows[0].c === 30,
      10_000,
      'all tasks',
    );
    expect(max).toBe(2);
    expect((await limitRow('queue', 'q')).running).toBe(0);
    // Removed: the queue runs 10 at a time again.
    await tandem.setLimits({ queue: 'q' }, { concurrency: null });
    max = 0;
    await insert(
      'work',
      Array.from({ length: 20 }, () => ({})),
    );
    await pool.query(`select pg_notify('tandem_wake', 'q')`);
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int as c from tandem.tasks where state = 'succeeded'`))
          .rows[0].c === 50,
      10_000,
      'all tasks',
    );
    expect(max).toBeGreaterThan(2);
  });

  it('a worker that polls (no LISTEN) picks up a limit set after it started', async () => {
    const work = defineTask({ name: 'polled', queue: 'q', payload: z.object({}), handler() {} });
    const tandem = createTandem({ connectionString: url, tasks: [work], logger: quietLogger });
    instances.push(tandem);
    const worker = tandem.worker({
      queues: { q: 5 },
      listen: false,
      pollInterval: 100,
      lease: '1s',
    });
    workers.push(worker);
    await worker.start();
    await tandem.setLimits({ queue: 'q' }, { concurrency: 2 });
    await insert(
      'polled',
      Array.from({ length: 5 }, () => ({})),
    );
    // The batched claim leaves the limited queue alone: only the limit's claim runs these.
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int as c from tandem.tasks where state = 'succeeded'`))
          .rows[0].c === 5,
      5_000,
      'the polling worker to run the limited queue',
    );
    expect((await limitRow('queue', 'q')).running).toBe(0);
  });

  it("an operator's setting outlives a worker's definition until reset", async () => {
    const t = defineTask({
      name: 'capped',
      queue: 'q',
      payload: z.object({}),
      concurrency: 4,
      handler() {},
    });
    const a = setup([t]);
    await a.worker.start();
    expect((await limitRow('task', 'capped')).concurrency).toBe(4);
    await a.tandem.setLimits({ task: 'capped' }, { concurrency: 1 });
    const b = setup([t]);
    await b.worker.start();
    expect((await limitRow('task', 'capped')).concurrency).toBe(1);
    expect(await a.tandem.resetLimits({ task: 'capped' })).toBe(true);
    // The workers write their definition back.
    await waitFor(
      async () => (await limitRow('task', 'capped'))?.concurrency === 4,
      5_000,
      'definition back',
    );
    expect((await limitRow('task', 'capped')).source).toBe('definition');
  });

  it('workers starting with unchanged definitions send no limit notifications', async () => {
    const listener = new pg.Client({ connectionString: url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    await listener.query('listen tandem_limits');
    const plain = defineTask({ name: 'plain', queue: 'q', payload: z.object({}), handler() {} });
    const capped = defineTask({
      name: 'capped',
      queue: 'q',
      payload: z.object({}),
      concurrency: 2,
      handler() {},
    });
    const a = setup([plain, capped]);
    await a.worker.start();
    await sleep(200);
    // The first start writes capped's limit: one notification.
    expect(heard).toEqual(['task:capped']);
    const b = setup([plain, capped]);
    await b.worker.start();
    await sleep(500);
    // Nothing changed: no notification, so no worker syncs again.
    expect(heard).toEqual(['task:capped']);
    await listener.end();
  });

  it('refuses bad limits before any SQL, naming what is wrong', async () => {
    const tandem = createTandem({ connectionString: url, logger: quietLogger });
    instances.push(tandem);
    const bad: [any, any, RegExp][] = [
      [{ queue: 'q' }, { concurrency: 0 }, /concurrency: must be an integer from 1/],
      [{ queue: 'q' }, { rateLimit: '10 per second' }, /written like '100\/1s'/],
      [{ queue: 'q' }, { rateLimit: '10/0ms' }, /at least 1 ms/],
      [{ queue: 'q' }, { keyConcurrency: 1 }, /set them on \{ task: name \}/],
      [{ queue: 'q' }, { concurency: 1 }, /unknown limit "concurency"/],
      [{ task: 'x' }, { keyConcurrency: 1 }, /has no concurrency key/],
      [{ queue: 'bad name' }, { concurrency: 1 }, /limits apply to \{ queue: name \}/],
    ];
    for (const [target, limits, message] of bad) {
      await expect(tandem.setLimits(target, limits)).rejects.toThrow(message);
    }
    expect((await pool.query('select count(*)::int as c from tandem.flow_limits')).rows[0].c).toBe(
      0,
    );
    expect(() =>
      defineTask({ name: 'k', payload: z.object({}), keyConcurrency: 1, handler() {} }),
    ).toThrow(/give concurrencyKey too/);
  });
});

describe('per-key order', () => {
  const keyed = (order: 'strict' | 'skip', log: string[]) =>
    defineTask({
      name: `keyed-${order}`,
      queue: 'q',
      payload: z.object({ n: z.number() }),
      concurrencyKey: '{tenant}',
      keyConcurrency: 1,
      keyOrder: order,
      maxAttempts: 2,
      backoff: { base: 400, jitter: false },
      handler(p, ctx) {
        log.push(`${p.n}#${ctx.attempt}`);
        if (p.n === 1 && ctx.attempt === 1) throw new Error('upstream down');
      },
    });

  it("strict: while the key's oldest task waits for its retry, the key's later tasks wait too", async () => {
    const log: string[] = [];
    const { worker } = setup([keyed('strict', log)]);
    await worker.start();
    await insert(
      'keyed-strict',
      [1, 2, 3].map((n) => ({ n })),
      'a',
    );
    await pool.query(`select pg_notify('tandem_wake', 'q')`);
    await waitFor(async () => log.length === 4, 5_000, 'four attempts');
    expect(log).toEqual(['1#1', '1#2', '2#1', '3#1']);
  });

  it("skip: a task waiting for its retry lets the key's later tasks start", async () => {
    const log: string[] = [];
    const { worker } = setup([keyed('skip', log)]);
    await worker.start();
    await insert(
      'keyed-skip',
      [1, 2, 3].map((n) => ({ n })),
      'a',
    );
    await pool.query(`select pg_notify('tandem_wake', 'q')`);
    await waitFor(async () => log.length === 4, 5_000, 'four attempts');
    expect(log).toEqual(['1#1', '2#1', '3#1', '1#2']);
  });
});

describe('slots come back however a task stops', () => {
  it('a cancelled running task gives its slot back to the next', async () => {
    const started: string[] = [];
    const hang = defineTask({
      name: 'hang',
      queue: 'q',
      payload: z.object({}),
      concurrency: 1,
      async handler(_p, ctx) {
        started.push(ctx.id);
        await new Promise((_r, rej) =>
          ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason)),
        );
      },
    });
    const { tandem, worker } = setup([hang]);
    await worker.start();
    await insert('hang', [{}, {}]);
    await pool.query(`select pg_notify('tandem_wake', 'q')`);
    await waitFor(async () => started.length === 1, 5_000, 'the first to start');
    await sleep(300);
    expect(started.length).toBe(1);
    expect((await limitRow('task', 'hang')).running).toBe(1);
    await tandem.cancel(started[0]!);
    await waitFor(
      async () => started.length === 2,
      5_000,
      'the second to start once the first is cancelled',
    );
    await tandem.cancel(started[1]!);
    await waitFor(
      async () => (await limitRow('task', 'hang')).running === 0,
      5_000,
      'no slot held',
    );
  });
});

describe('testing helpers', () => {
  it('drain runs tasks under limits too', async () => {
    const t = defineTask({
      name: 'limited',
      queue: 'q',
      payload: z.object({ n: z.number() }),
      handler: (p) => p.n,
    });
    const tandem = createTandem({ connectionString: url, tasks: [t], logger: quietLogger });
    instances.push(tandem);
    await tandem.setLimits({ queue: 'q' }, { concurrency: 1 });
    await tandem.enqueue(tandem.db, t, { n: 1 });
    await tandem.enqueue(tandem.db, t, { n: 2 });
    const outcomes = await drain(tandem, { queues: ['q'] });
    expect(outcomes.map((o: any) => o.state)).toEqual(['succeeded', 'succeeded']);
    expect((await limitRow('queue', 'q')).running).toBe(0);
  });
});

describe('HTTP', () => {
  it('GET /api/limits, PUT and DELETE /api/limits/{scope}/{name}', async () => {
    const tandem = createTandem({ connectionString: url, logger: quietLogger });
    instances.push(tandem);
    const app = createApp(tandem);
    const put = await call(app, 'PUT', '/api/limits/queue/payments', {
      json: { concurrency: 5, rate_limit: '100/1s' },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      scope: 'queue',
      name: 'payments',
      concurrency: 5,
      rate: { limit: 100, per_ms: 1000 },
      running: 0,
      source: 'operator',
    });
    const bad = await call(app, 'PUT', '/api/limits/queue/payments', { json: { concurrency: -1 } });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/concurrency/);
    const list = await call(app, 'GET', '/api/limits');
    expect(list.body.limits.map((l: any) => [l.scope, l.name, l.concurrency])).toEqual([
      ['queue', 'payments', 5],
    ]);
    const del = await call(app, 'DELETE', '/api/limits/queue/payments');
    expect(del.body).toEqual({ reset: true });
    expect((await call(app, 'GET', '/api/limits')).body.limits).toEqual([]);
    const log = await tandem.listOperatorActions();
    expect(log.actions.map((a: any) => a.action)).toEqual(
      expect.arrayContaining(['set-limits', 'reset-limits']),
    );
  });
});
