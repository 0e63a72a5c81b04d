/**
 * Liveness that never fails a healthy worker, and rescue that costs a lost
 * task no attempt: a starved pool, connection blips, half-open sessions, each
 * worker judged by its own lease, claims fenced by registration, lost claims
 * refunded with backoff and poison tasks stopped, elections that write only
 * when they could win.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, type Tandem, type Worker } from '../src/index.js';
import { freshDatabase, taskRuleViolations } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { sleep, waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
const workers: Worker[] = [];
const instances: Tandem[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
  await pool.query('create table runs (task_id bigint not null, attempt integer not null)');
});
afterEach(async () => {
  for (const p of proxies) p.accept();
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(instances.splice(0).map((t) => t.close()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  expect(await taskRuleViolations(pool)).toEqual([]);
  await pool.query(
    'truncate runs, tandem.tasks, tandem.workers, tandem.leader, tandem.schedules, tandem.queues',
  );
});
afterAll(() => pool.end());

/** Records each execution in `runs`, through the test's own pool. */
const slow = (name: string, ms: number, extra: Record<string, unknown> = {}) =>
  defineTask({
    name,
    payload: z.object({}).passthrough(),
    ...extra,
    async handler(_p, ctx) {
      await sleep(ms);
      await pool.query('insert into runs values ($1, $2)', [ctx.id, ctx.attempt]);
    },
  });

const idle = defineTask({ name: 'idle', payload: z.object({}), handler: () => {} });

function setup(
  tasks: any[],
  options: Parameters<Tandem['worker']>[0] = {},
  connectionString = url,
  extra: Record<string, unknown> = {},
) {
  const tandem = createTandem({ connectionString, tasks, logger: quietLogger, ...extra });
  instances.push(tandem);
  const worker = tandem.worker({ pollInterval: 100, shutdownTimeout: 5_000, ...options });
  workers.push(worker);
  return { tandem, worker };
}

/** A leader that has nothing to run: it only judges the others. */
async function judge(lease: number) {
  const j = setup([idle], { queues: { idle: 1 }, lease });
  await j.worker.start();
  await waitFor(() => j.worker.isLeader, 5_000, 'the judge to lead');
  return j;
}

const lostErrors = async () =>
  (
    await pool.query(
      `select count(*)::int n from tandem.tasks, jsonb_array_elements(errors) e where e->>'name' = 'WorkerLostError'`,
    )
  ).rows[0].n as number;
const runsPerTask = async () =>
  (await pool.query('select task_id, count(*)::int n from runs group by 1')).rows.map((r) => r.n);
/** Waits up to 5 s until no task is running. */
const noneRunning = (what: string) =>
  waitFor(
    async () =>
      (await pool.query(`select count(*)::int n from tandem.tasks where state = 'running'`)).rows[0]
        .n === 0,
    5_000,
    what,
  );

const allSucceeded = (n: number, ms = 20_000) =>
  waitFor(
    async () =>
      (await pool.query(`select count(*)::int n from tandem.tasks where state = 'succeeded'`))
        .rows[0].n === n,
    ms,
    `${n} tasks to succeed`,
  );

describe('healthy workers stay alive', () => {
  it('keeps heartbeating while transactional tasks hold every pool connection', async () => {
    await judge(1_000);
    const hold = defineTask({
      name: 'hold',
      payload: z.object({}),
      transactional: true,
      async handler(_p, ctx) {
        await ctx.trx.selectNoFrom((eb) => eb.val(1).as('x')).execute();
        await sleep(1_500);
        await pool.query('insert into runs values ($1, $2)', [ctx.id, ctx.attempt]);
      },
    });
    const a = setup([hold], { queues: { default: 20 }, lease: 1_000 });
    await a.tandem.enqueueMany(
      pool,
      Array.from({ length: 40 }, () => ({ task: hold, payload: {} })),
    );
    await a.worker.start();
    await allSucceeded(40, 30_000);
    expect(await lostErrors()).toBe(0);
    expect(await runsPerTask()).toEqual(Array(40).fill(1));
  });

  it('survives a 600 ms blip of its connections without being declared dead', async () => {
    await judge(30_000);
    const proxy = await startTcpProxy(url);
    proxies.push(proxy);
    const job = slow('job', 2_000);
    const a = setup([job], { queues: { default: 5 } }, proxy.url);
    await a.worker.start();
    await a.tandem.enqueueMany(
      pool,
      Array.from({ length: 5 }, () => ({ task: job, payload: {} })),
    );
    await waitFor(async () => a.worker.held === 5, 5_000, 'five running');
    proxy.refuse();
    proxy.cut();
    await sleep(600);
    proxy.accept();
    await allSucceeded(5);
    expect(await lostErrors()).toBe(0);
    expect(await runsPerTask()).toEqual(Array(5).fill(1));
  });

  it('gets going again when its old session survives half-open, still holding its lock', async () => {
    const proxy = await startTcpProxy(url);
    proxies.push(proxy);
    const quick = slow('quick', 1);
    const a = setup([quick], {}, proxy.url);
    await a.worker.start();
    proxy.strand();
    await sleep(300);
    await a.tandem.enqueueMany(
      pool,
      Array.from({ length: 10 }, () => ({ task: quick, payload: {} })),
    );
    await allSucceeded(10, 15_000);
  });

  it('judges each worker by its own lease, not the leader’s', async () => {
    await judge(500);
    const job = slow('job', 2_500);
    const a = setup([job], { queues: { default: 3 }, lease: 10_000 });
    await a.worker.start();
    await a.tandem.enqueueMany(
      pool,
      Array.from({ length: 3 }, () => ({ task: job, payload: {} })),
    );
    await allSucceeded(3);
    expect(await lostErrors()).toBe(0);
    expect(await runsPerTask()).toEqual([1, 1, 1]);
  });
});

describe('fleet-wide duties do not depend on who leads', () => {
  it('fires the schedules of a worker that does not lead', async () => {
    await judge(30_000);
    const tick = defineTask({ name: 'tick', payload: z.object({}), handler: () => 'tick' });
    const a = setup([tick], {
      schedules: [{ name: 'every-second', cron: '* * * * * *', task: tick }],
    });
    await a.worker.start();
    expect(a.worker.isLeader).toBe(false);
    await waitFor(
      async () =>
        (
          await pool.query(
            `select count(*)::int n from tandem.tasks where key like 'cron:every-second:%'`,
          )
        ).rows[0].n >= 2,
      6_000,
      'two ticks',
    );
  });

  it('prunes with the retention a worker was configured with, whoever leads', async () => {
    await judge(30_000);
    await pool.query(`
      insert into tandem.tasks (name, payload, state, attempt, created_at, finished_at)
      select 'job', '{}', 'succeeded', 1, now() - interval '2 hours', now() - interval '1 hour'
        from generate_series(1, 500)`);
    const a = setup([slow('job', 1)], {}, url, { retention: { succeeded: '10m' } });
    await a.worker.start();
    await waitFor(
      async () => (await pool.query('select count(*)::int n from tandem.tasks')).rows[0].n === 0,
      15_000,
      'the old tasks to be pruned',
    );
  });
});

describe('claims are fenced', () => {
  it('stops claiming as soon as its registration is gone, so no task runs twice', async () => {
    const job = slow('job', 600);
    const a = setup([job], { queues: { default: 10 } });
    await a.worker.start();
    const old = a.worker.id;
    await pool.query('delete from tandem.workers where id = $1', [old]);
    await a.tandem.enqueueMany(
      pool,
      Array.from({ length: 10 }, () => ({ task: job, payload: {} })),
    );
    await allSucceeded(10, 20_000);
    expect(await lostErrors()).toBe(0);
    expect(await runsPerTask()).toEqual(Array(10).fill(1));
  });
});

describe('rescue', () => {
  /** Tasks a vanished worker held, as the rescuer finds them. */
  const ghostTasks = (lost: number, n: number, maxAttempts = 1) =>
    pool.query(
      `insert into tandem.tasks (name, payload, state, attempt, max_attempts, owner, started_at, lost)
       select 'nobody-runs-me', '{}', 'running', 1, $2, 'ghost-worker', now(), $1 from generate_series(1, $3)`,
      [lost, maxAttempts, n],
    );

  it('does not count a lost attempt, backs off repeated losses, and fails a poison task', async () => {
    await ghostTasks(0, 3);
    await ghostTasks(1, 3);
    await ghostTasks(2, 3);
    await judge(30_000);
    await noneRunning('the rescue');
    const { rows } = await pool.query(
      `select lost, state, attempt, run_at > now() + interval '5 seconds' as later,
              errors->-1->>'name' as error
         from tandem.tasks order by lost`,
    );
    const first = rows.filter((r) => r.lost === 1);
    const second = rows.filter((r) => r.lost === 2);
    const third = rows.filter((r) => r.lost === 3);
    for (const r of first) expect(r).toMatchObject({ state: 'queued', attempt: 0, later: false });
    for (const r of second) expect(r).toMatchObject({ state: 'queued', attempt: 0, later: true });
    for (const r of third) expect(r).toMatchObject({ state: 'failed', error: 'WorkerLostError' });
  });

  it('keeps claiming while the rescue of tasks whose owner is unregistered waits', async () => {
    await ghostTasks(0, 1);
    // The orphan's rescue waits for as long as the test holds a lock (as a
    // scan of a running index full of dead entries would take its time).
    const holder = await pool.connect();
    await holder.query('select pg_advisory_lock(4242)');
    await pool.query(`
      create function hold_rescue() returns trigger language plpgsql as
        $$ begin perform pg_advisory_xact_lock(4242); return new; end $$;
      create trigger hold_rescue before update on tandem.tasks
        for each row when (old.owner = 'ghost-worker') execute function hold_rescue()`);
    try {
      const job = slow('job', 0);
      const a = setup([job], { queues: { default: 3 } });
      await a.worker.start();
      await waitFor(() => a.worker.isLeader, 5_000, 'the worker to lead');
      await waitFor(
        async () =>
          (
            await pool.query(
              `select count(*)::int n from pg_locks where locktype = 'advisory' and objid = 4242 and not granted`,
            )
          ).rows[0].n === 1,
        5_000,
        'the rescue to wait',
      );
      await a.tandem.enqueue(pool, job, {});
      await allSucceeded(1, 5_000);
      await holder.query('select pg_advisory_unlock(4242)');
      await noneRunning('the orphan to be rescued');
    } finally {
      holder.release(true);
      await pool.query('drop trigger hold_rescue on tandem.tasks; drop function hold_rescue()');
    }
  });

  it('never rescues its own running tasks when its lock looks free for a moment', async () => {
    const job = slow('job', 1_500);
    const a = setup([job], { queues: { default: 3 } });
    await a.worker.start();
    await waitFor(() => a.worker.isLeader, 5_000, 'the worker to lead');
    await a.tandem.enqueueMany(
      pool,
      Array.from({ length: 3 }, () => ({ task: job, payload: {} })),
    );
    await waitFor(() => a.worker.held === 3, 5_000, 'three running');
    // Its own control connection drops; it reconnects at once.
    await pool.query(
      `select pg_terminate_backend(l.pid) from pg_locks l join tandem.workers w on l.objid = w.lock_key
        where l.locktype = 'advisory' and l.classid = 1952542308 and w.id = $1`,
      [a.worker.id],
    );
    await allSucceeded(3);
    expect(await lostErrors()).toBe(0);
    expect(await runsPerTask()).toEqual([1, 1, 1]);
  });
});

describe('elections', () => {
  it('followers read the lease and leave the row alone while a live leader holds it', async () => {
    await judge(30_000);
    for (let i = 0; i < 3; i++) {
      const f = setup([idle], { queues: { idle: 1 } });
      await f.worker.start();
    }
    const lockedByOthers = new Set<string>();
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      const { rows } = await pool.query('select xmin::text, xmax::text from tandem.leader');
      const { xmin, xmax } = rows[0];
      if (xmax !== '0' && xmax !== xmin) lockedByOthers.add(xmax);
      await sleep(10);
    }
    // The leader's own renewal may leave its xid in xmax; a follower's upsert
    // would lock the row under the follower's xid every 500 ms.
    expect([...lockedByOthers]).toEqual([]);
  });
});
