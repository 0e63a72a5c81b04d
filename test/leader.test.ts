/** Leader duties in one process: handover, retention pruning, cron catch-up. */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createTandem,
  defineTask,
  type Schedule,
  type Tandem,
  TandemError,
  type Worker,
} from '../src/index.js';
import { freshDatabase, taskRuleViolations } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { waitFor } from './support/wait.js';

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

describe('leadership', () => {
  it('has one leader at a time and hands over on stop', async () => {
    const a = start();
    const b = start();
    await a.worker.start();
    await b.worker.start();
    await waitFor(() => a.worker.isLeader || b.worker.isLeader);
    const [leader, other] = a.worker.isLeader ? [a, b] : [b, a];
    expect(other.worker.isLeader).toBe(false);
    expect((await pool.query('select holder from tandem.leader')).rows[0].holder).toBe(
      leader.worker.id,
    );
    await leader.worker.stop();
    await waitFor(() => other.worker.isLeader, 3_000, 'the other worker to take over');
    expect((await pool.query('select id from tandem.workers')).rows.map((r) => r.id)).toEqual([
      other.worker.id,
    ]);
  });
});

describe('retention', () => {
  it('prunes finished tasks past their retention, per state, and keeps the rest', async () => {
    await pool.query(`
      insert into tandem.tasks (name, payload, state, attempt, created_at, finished_at)
      select 'report', '{"kind":"x"}', s.state, 1, now() - s.age - interval '1 minute', now() - s.age
        from (values ('succeeded', interval '2 hours'), ('succeeded', interval '1 minute'),
                     ('failed', interval '2 hours'), ('cancelled', interval '2 hours')) as s(state, age),
             generate_series(1, 1500)
       order by s.age desc`);
    // Old but not finished: never pruned (no worker here knows this task).
    await pool.query(
      `insert into tandem.tasks (name, payload, created_at, run_at) values ('other', '{}', now(), now() - interval '1 day')`,
    );
    const { worker } = start({ retention: { succeeded: '1h', failed: '1h', cancelled: false } });
    await worker.start();
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int n from tandem.tasks where state <> 'cancelled'`))
          .rows[0].n === 1501,
      5_000,
      'pruning',
    );
    const left = await pool.query(
      `select state, count(*)::int n from tandem.tasks group by 1 order by 1`,
    );
    expect(left.rows).toEqual([
      { state: 'cancelled', n: 1500 },
      { state: 'queued', n: 1 },
      { state: 'succeeded', n: 1500 },
    ]);
  });
});

describe('cron', () => {
  it('catches up missed ticks when asked, and only recent ones otherwise', async () => {
    const hourly: Schedule = {
      name: 'hourly',
      cron: '0 * * * *',
      task: report,
      payload: { kind: 'hourly' },
      catchUp: true,
    };
    const minutely: Schedule = {
      name: 'minutely',
      cron: '* * * * *',
      task: report,
      payload: { kind: 'minutely' },
    };
    await pool.query(
      `insert into tandem.schedules (name, last_tick) values ('hourly', date_trunc('hour', now()) - interval '5 hours'), ('minutely', now() - interval '1 hour')`,
    );
    const { worker } = start({ schedules: [hourly, minutely] });
    await worker.start();
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int n from tandem.tasks where key like 'cron:%'`))
          .rows[0].n >= 6,
      5_000,
      'ticks',
    );
    await new Promise((r) => setTimeout(r, 600));
    const rows = await pool.query(
      `select payload->>'kind' kind, count(*)::int n from tandem.tasks where key like 'cron:%' group by 1 order by 1`,
    );
    // 5 missed hours caught up; the hour of missed minutes reduced to the last minute.
    expect(rows.rows).toEqual([
      { kind: 'hourly', n: 5 },
      { kind: 'minutely', n: 1 },
    ]);
  });

  it('rejects a bad schedule with a clear error before starting', () => {
    const tandem = createTandem({ connectionString: url, tasks: [report], logger: quietLogger });
    open.push({ tandem });
    expect(() =>
      tandem.worker({ schedules: [{ name: 's', cron: 'every hour', task: report }] }),
    ).toThrow(/schedule "s": invalid cron pattern "every hour"/);
    expect(() =>
      tandem.worker({ schedules: [{ name: 's', cron: '* * * * *', task: 'nope' }] }),
    ).toThrow(TandemError);
    expect(() =>
      tandem.worker({
        schedules: [{ name: 's', cron: '* * * * *', task: report, payload: { kind: 1 } }],
      }),
    ).toThrow(/payload does not match/);
  });
});
