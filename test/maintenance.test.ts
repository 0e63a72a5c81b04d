/**
 * Retention pruning that keeps up with the drain and never deletes a task
 * that came back to life, and cron that bounds catch-up and resumes at once.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, type Schedule, type Tandem, type Worker } from '../src/index.js';
import { prunePass } from '../src/worker/pruner.js';
import { freshDatabase, taskRuleViolations } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { sleep, waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
const open: { tandem: Tandem; worker?: Worker }[] = [];
const report = defineTask({
  name: 'report',
  payload: z.object({ kind: z.string() }),
  handler: () => 'done',
});

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
});
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.worker?.stop();
    await o.tandem.close();
  }
  expect(await taskRuleViolations(pool)).toEqual([]);
  await pool.query('truncate tandem.tasks, tandem.workers, tandem.leader, tandem.schedules');
});
afterAll(() => pool.end());

function start(opts: { schedules?: Schedule[]; retention?: any } = {}) {
  const tandem = createTandem({
    connectionString: url,
    tasks: [report],
    logger: quietLogger,
    ...opts,
  });
  const worker = tandem.worker({ pollInterval: 100 });
  open.push({ tandem, worker });
  return { tandem, worker };
}

const count = async (where = 'true') =>
  (await pool.query(`select count(*)::int n from tandem.tasks where ${where}`)).rows[0].n as number;

describe('retention', () => {
  it('prunes a backlog of 60,000 finished tasks in seconds, not one 20,000-row batch a minute', async () => {
    await pool.query(`
      insert into tandem.tasks (name, payload, state, attempt, created_at, finished_at)
      select 'report', '{"kind":"x"}', 'succeeded', 1, now() - interval '3 hours', now() - interval '2 hours'
        from generate_series(1, 60000)`);
    const { worker } = start({ retention: { succeeded: '1h' } });
    await worker.start();
    await waitFor(async () => (await count()) === 0, 20_000, 'the backlog to be pruned');
  });

  it('does not delete a task that a retry brought back while the prune ran', async () => {
    const { rows } = await pool.query(`
      insert into tandem.tasks (name, payload, state, attempt, created_at, finished_at)
      values ('report', '{"kind":"x"}', 'failed', 1, now() - interval '3 hours', now() - interval '2 hours')
      returning id`);
    const id = rows[0].id;
    const retrier = await pool.connect();
    try {
      await retrier.query('begin');
      // The same change as tandem.retry(): queued again, no longer finished.
      await retrier.query(
        `update tandem.tasks set state = 'queued', finished_at = null, run_at = now(),
                max_attempts = greatest(max_attempts, attempt + 1) where id = $1`,
        [id],
      );
      await pool.query(`update tandem.retention set keep_ms = 3600000 where state = 'failed'`);
      const sql = {
        query: async (t: string, p?: readonly unknown[]) =>
          (await pool.query(t, p as unknown[])).rows,
      } as never;
      const pruning = prunePass(sql, quietLogger);
      await sleep(300);
      await retrier.query('commit');
      await pruning;
    } finally {
      retrier.release();
    }
    expect(await count(`id = ${id} and state = 'queued'`)).toBe(1);
  });
});

describe('cron', () => {
  it('catches up at most the last 1,000 ticks, whatever the outage', async () => {
    const minutely: Schedule = {
      name: 'minutely',
      cron: '* * * * *',
      task: report,
      payload: { kind: 'minutely' },
      catchUp: true,
    };
    await pool.query(
      `insert into tandem.schedules (name, last_tick) values ('minutely', now() - interval '3 days')`,
    );
    const { worker } = start({ schedules: [minutely] });
    await worker.start();
    await waitFor(
      async () => (await count(`key like 'cron:minutely:%'`)) >= 1_000,
      10_000,
      'catch-up',
    );
    await sleep(1_500);
    // One catch-up of 1,000 consecutive minutes, in one transaction; a minute
    // that turns during the test adds its own live tick in another.
    const { rows } = await pool.query<{ n: number; oldest: Date; newest: Date }>(
      `select count(*)::int n, min(substr(key, 15))::timestamptz oldest,
              max(substr(key, 15))::timestamptz newest
         from tandem.tasks where key like 'cron:minutely:%'
        group by created_at order by n desc`,
    );
    const { n, oldest, newest } = rows[0]!;
    expect(n).toBe(1_000);
    expect((newest.getTime() - oldest.getTime()) / 60_000).toBe(999);
    expect(rows.slice(1).every((r) => r.n === 1)).toBe(true);
    // The newest ticks, up to this minute.
    expect(Date.now() - rows.reduce((t, r) => Math.max(t, r.newest.getTime()), 0)).toBeLessThan(
      61_000,
    );
  });

  it('fires the next tick at once after a long outage, without walking every missed one', async () => {
    const everySecond: Schedule = {
      name: 'every-second',
      cron: '* * * * * *',
      task: report,
      payload: { kind: 's' },
    };
    await pool.query(
      `insert into tandem.schedules (name, last_tick) values ('every-second', now() - interval '2 hours')`,
    );
    const { worker } = start({ schedules: [everySecond] });
    const t0 = Date.now();
    await worker.start();
    await waitFor(
      async () => (await count(`key like 'cron:every-second:%'`)) >= 1,
      3_000,
      'a tick',
    );
    expect(Date.now() - t0).toBeLessThan(2_000);
    // Without catch-up only the last minute of missed ticks fires.
    expect(await count(`key like 'cron:every-second:%'`)).toBeLessThanOrEqual(62);
  });
});
