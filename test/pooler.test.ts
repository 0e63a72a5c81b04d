/**
 * Behind PgBouncer in transaction mode (Debian's pgbouncer, started by the
 * test): every statement Tandem sends through the pool leaves no session
 * state behind, and workers run either with a direct session of their own
 * (sessionConnectionString) or, with session: false, through the pooler
 * alone.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { type Bouncer, startPgBouncer } from './support/pgbouncer.js';
import { quietLogger } from './support/quiet-logger.js';
import { available, findCommand } from './support/services.js';
import { waitFor } from './support/wait.js';

const binary = findCommand('pgbouncer', ['/usr/sbin/pgbouncer']);
const run = available('PgBouncer', binary !== null, 'apt-get install pgbouncer');

let url: string;
let bouncer: Bouncer;
let direct: pg.Pool;

beforeAll(async () => {
  if (!run) return;
  url = await freshDatabase();
  direct = new pg.Pool({ connectionString: url });
  await direct.query('create table effects (task_id bigint primary key)');
  bouncer = await startPgBouncer(binary!, url);
});
afterAll(async () => {
  if (!run) return;
  await bouncer.stop();
  await direct.end();
});

const job = defineTask({ name: 'job', payload: z.object({ n: z.number() }), handler: () => 'ok' });
const effect = defineTask({
  name: 'effect',
  payload: z.object({ n: z.number() }),
  transactional: true,
  async handler(_p, ctx) {
    await ctx.trx.insertInto('effects').values({ task_id: ctx.id }).execute();
  },
});

/** Session state on the pooler's server connections, seen through the pooler. */
async function pooledSessionState(): Promise<{
  asyncCommits: number;
  customPlans: number;
  tandemSettings: number;
}> {
  const pool = new pg.Pool({ connectionString: bouncer.url, max: 8 });
  try {
    const seen = await Promise.all(
      Array.from({ length: 16 }, () =>
        pool.query(
          `select current_setting('synchronous_commit') as sc,
                  current_setting('plan_cache_mode') as pcm,
                  current_setting('tandem.notified_' || md5('default'), true) as notified`,
        ),
      ),
    );
    return {
      asyncCommits: seen.filter((r) => r.rows[0].sc !== 'on').length,
      customPlans: seen.filter((r) => r.rows[0].pcm !== 'auto').length,
      tandemSettings: seen.filter((r) => r.rows[0].notified).length,
    };
  } finally {
    await pool.end();
  }
}

const heldLivenessLocks = async () =>
  (
    await direct.query(
      `select count(*)::int n from pg_locks where locktype = 'advisory' and classid = 1952542308
          and database = (select oid from pg_database where datname = current_database())`,
    )
  ).rows[0].n as number;

async function runThrough(
  tandem: ReturnType<typeof createTandem>,
  worker: ReturnType<ReturnType<typeof createTandem>['worker']>,
) {
  await worker.start();
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: tandem.pool! }) });
  await db.transaction().execute(async (trx) => {
    await tandem.enqueueMany(
      trx,
      Array.from({ length: 50 }, (_, n) => ({ task: job, payload: { n } })),
    );
    await tandem.enqueue(trx, effect, { n: 1 });
  });
  await tandem.enqueueMany(
    tandem.pool,
    Array.from({ length: 50 }, (_, n) => ({ task: effect, payload: { n } })),
  );
  // SQL enqueue through the pooler too.
  await tandem.pool!.query(`select tandem.enqueue('job', '{"n": -1}')`);
  await waitFor(
    async () =>
      (await direct.query(`select count(*)::int n from tandem.tasks where state = 'succeeded'`))
        .rows[0].n === 102,
    20_000,
    'every task to succeed',
  );
  await worker.stop();
  expect((await direct.query('select count(*)::int n from effects')).rows[0].n).toBe(51);
  await tandem.close();
}

describe.runIf(run)('behind PgBouncer in transaction mode', () => {
  it('runs everything through the pooler, the worker on a direct session of its own', async () => {
    const tandem = createTandem({
      connectionString: bouncer.url,
      sessionConnectionString: url,
      tasks: [job, effect],
      logger: quietLogger,
    });
    await runThrough(tandem, tandem.worker({ pollInterval: 100 }));
    expect(await pooledSessionState()).toEqual({
      asyncCommits: 0,
      customPlans: 0,
      tandemSettings: 0,
    });
    expect(await heldLivenessLocks()).toBe(0);
    await direct.query('truncate tandem.tasks, effects');
  });

  it('runs a worker through the pooler alone with session: false', async () => {
    const tandem = createTandem({
      connectionString: bouncer.url,
      tasks: [job, effect],
      logger: quietLogger,
    });
    await runThrough(tandem, tandem.worker({ session: false, pollInterval: 100 }));
    expect(await pooledSessionState()).toEqual({
      asyncCommits: 0,
      customPlans: 0,
      tandemSettings: 0,
    });
    expect(await heldLivenessLocks()).toBe(0);
    await direct.query('truncate tandem.tasks, effects');
  });
});
