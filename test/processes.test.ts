/**
 * Several real worker processes on one database: no double runs, SIGKILL and
 * SIGSTOP rescue, cron once per tick, pause and cancel across processes.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTandem, type Tandem } from '../src/index.js';
import { freshDatabase, taskRuleViolations } from './support/db.js';
import { spawnWorker, type WorkerProcess } from './support/processes.js';
import { quietLogger } from './support/quiet-logger.js';
import { sleep, waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
let tandem: Tandem;
const procs: WorkerProcess[] = [];

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
  await pool.query('create table runs (task_id bigint not null, worker integer not null)');
  await pool.query('create table effects (task_id bigint not null, worker integer not null)');
  tandem = createTandem({ connectionString: url, logger: quietLogger });
});
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.child.kill('SIGCONT');
    p.child.kill('SIGKILL');
    await p.exited;
  }
  expect(await taskRuleViolations(pool)).toEqual([]);
  await pool.query(
    'truncate runs, effects, tandem.tasks, tandem.workers, tandem.leader, tandem.schedules, tandem.queues',
  );
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});

const spawn = async (env: Record<string, string> = {}) => {
  const p = await spawnWorker({ DATABASE_URL: url, ...env });
  procs.push(p);
  return p;
};
const insertTasks = (name: string, n: number) =>
  pool.query(
    `insert into tandem.tasks (name, payload) select $1, jsonb_build_object('n', g) from generate_series(1, $2) g`,
    [name, n],
  );
const countWhere = async (sql: string, params: unknown[] = []) =>
  (await pool.query(`select count(*)::int as n from ${sql}`, params)).rows[0].n as number;

describe('many worker processes', () => {
  it('never runs a task twice across two processes (5,000 tasks)', async () => {
    await insertTasks('record', 5_000);
    const [a, b] = await Promise.all([spawn(), spawn()]);
    await waitFor(
      () => countWhere(`tandem.tasks where state = 'succeeded'`).then((n) => n === 5_000),
      30_000,
      'all tasks to succeed',
    );
    const runs = await pool.query(
      'select task_id, count(*)::int n from runs group by task_id having count(*) > 1',
    );
    expect(runs.rows).toEqual([]);
    expect(await countWhere('runs')).toBe(5_000);
    const perWorker = await pool.query('select worker, count(*)::int n from runs group by worker');
    expect(perWorker.rows.map((r) => r.worker).sort()).toEqual([a.pid, b.pid].sort());
  });

  it('rescues the tasks of a SIGKILLed worker within seconds; transactional effects happen exactly once', async () => {
    await insertTasks('effect', 5_000);
    const workers = [
      await spawn({ TASK_SLEEP_MS: '2' }),
      await spawn({ TASK_SLEEP_MS: '2' }),
      await spawn({ TASK_SLEEP_MS: '2' }),
    ];
    await waitFor(
      () => countWhere(`tandem.tasks where state = 'succeeded'`).then((n) => n > 1_000),
      30_000,
      'progress',
    );
    // Kill one that is holding tasks right now.
    let victim: WorkerProcess | undefined;
    await waitFor(async () => {
      for (const w of workers)
        if ((await countWhere(`tandem.tasks where owner = $1 and state = 'running'`, [w.id])) > 0)
          victim = w;
      return victim;
    });
    victim!.child.kill('SIGKILL');
    const killedAt = performance.now();
    await victim!.exited;
    await waitFor(
      () =>
        countWhere(`tandem.tasks where owner = $1 and state = 'running'`, [victim!.id]).then(
          (n) => n === 0,
        ),
      8_000,
      'rescue',
    );
    const rescueMs = performance.now() - killedAt;
    console.log(`rescue after SIGKILL: ${rescueMs.toFixed(0)} ms`);
    // A free liveness lock counts as death after a 2 s grace (blips are not deaths).
    expect(rescueMs).toBeLessThan(3_500);
    await waitFor(
      () => countWhere(`tandem.tasks where state = 'succeeded'`).then((n) => n === 5_000),
      60_000,
      'all tasks to succeed',
    );
    expect(await countWhere('effects')).toBe(5_000);
    expect(await countWhere('(select distinct task_id from effects) e')).toBe(5_000);
    const lost = await pool.query(`select errors from tandem.tasks where errors <> '[]'`);
    expect(lost.rows.length).toBeGreaterThan(0);
    for (const r of lost.rows)
      expect(r.errors[0]).toMatchObject({ name: 'WorkerLostError', worker: victim!.id });
    // A lost attempt is given back: every rescued task ran its one attempt.
    expect(await countWhere(`tandem.tasks where attempt <> 1`)).toBe(0);
  });

  it('rescues the tasks of a frozen worker after its lease, and the worker drops them when it wakes', async () => {
    const frozen = await spawn({ LEASE_MS: '1500', CONCURRENCY: '2' });
    const { rows } = await pool.query(
      `insert into tandem.tasks (name, payload) values ('wait', '{}'), ('wait', '{}') returning id`,
    );
    await waitFor(() =>
      countWhere(`tandem.tasks where owner = $1 and state = 'running'`, [frozen.id]).then(
        (n) => n === 2,
      ),
    );
    const helper = await spawn({ LEASE_MS: '1500', CONCURRENCY: '2' });
    frozen.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    await waitFor(
      () => countWhere(`tandem.tasks where owner = $1`, [frozen.id]).then((n) => n === 0),
      10_000,
      'lease rescue',
    );
    const rescueMs = performance.now() - stoppedAt;
    console.log(`rescue of a frozen worker (lease 1.5 s): ${rescueMs.toFixed(0)} ms`);
    expect(rescueMs).toBeLessThan(1_500 + 5_000 + 1_000);
    // The helper now runs them; the frozen worker wakes, learns it was declared dead and drops its copies.
    await waitFor(() =>
      countWhere(`tandem.tasks where owner = $1 and state = 'running'`, [helper.id]).then(
        (n) => n === 2,
      ),
    );
    frozen.child.kill('SIGCONT');
    await waitFor(
      () => countWhere(`runs where worker = -1`).then((n) => n === 2),
      10_000,
      'the frozen worker to abort its stale copies',
    );
    // Its stale outcome did not touch the tasks the helper holds now.
    const states = await pool.query(
      'select state, owner, attempt, lost from tandem.tasks where id = any($1)',
      [rows.map((r) => r.id)],
    );
    // The lost attempt was given back: this is attempt 1 again, after one loss.
    for (const s of states.rows)
      expect(s).toMatchObject({ state: 'running', owner: helper.id, attempt: 1, lost: 1 });
  });

  it('fires each cron tick exactly once with three processes', async () => {
    await Promise.all([
      spawn({ SCHEDULE: '* * * * * *' }),
      spawn({ SCHEDULE: '* * * * * *' }),
      spawn({ SCHEDULE: '* * * * * *' }),
    ]);
    await sleep(3_500);
    const ticks = await pool.query(
      `select key, count(*)::int n from tandem.tasks where name = 'tick' group by key order by key`,
    );
    expect(ticks.rows.length).toBeGreaterThanOrEqual(2);
    for (const t of ticks.rows) {
      expect(t.key).toMatch(/^cron:every-second:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect(t.n).toBe(1);
    }
    // Consecutive seconds: no tick missed between the first and the last.
    const secs = ticks.rows.map((t) => Date.parse(t.key.slice('cron:every-second:'.length)) / 1000);
    expect(secs[secs.length - 1]! - secs[0]!).toBe(secs.length - 1);
  });

  it('honours a pause set from another process, and cancels a task running in another process', async () => {
    const w = await spawn();
    await tandem.pauseQueue('default');
    await sleep(100);
    const { rows } = await pool.query(
      `insert into tandem.tasks (name, payload) values ('wait', '{}') returning id::text`,
    );
    const id = rows[0].id;
    await sleep(1_000);
    expect((await tandem.getTask(id))?.state).toBe('queued');
    await tandem.resumeQueue('default');
    await waitFor(async () => (await tandem.getTask(id))?.state === 'running', 2_000);
    expect((await tandem.getTask(id))?.owner).toBe(w.id);
    expect(await tandem.cancel(id)).toBe('cancelled');
    await waitFor(
      () => countWhere(`runs where worker = -1 and task_id = $1`, [id]).then((n) => n === 1),
      2_000,
      'the handler to see the abort',
    );
    await sleep(200);
    expect((await tandem.getTask(id))?.state).toBe('cancelled');
  });
});
