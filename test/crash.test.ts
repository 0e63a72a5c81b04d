/**
 * A PostgreSQL crash-restart (a backend killed with SIGKILL makes the
 * postmaster reset every session and replay the WAL, without changing
 * pg_postmaster_start_time()), on a throwaway cluster of the test's own.
 * Claims and outcomes written without waiting for the WAL flush may be lost;
 * whatever was lost, a finished handler's outcome is not turned into a retry,
 * a lost attempt does not use up the last one, and no two copies of a task
 * settle each other.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { z } from 'zod';
import { type EmbeddedPostgresServer, startEmbeddedPostgres } from '../src/embedded.js';
import { createTandem, defineTask, PermanentError } from '../src/index.js';
import { quietLogger } from './support/quiet-logger.js';
import { sleep, waitFor } from './support/wait.js';

let server: EmbeddedPostgresServer | undefined;
const dataDir = join(tmpdir(), `tandem-crash-${process.pid}-${Date.now()}`);
afterAll(async () => {
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function query<T = any>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client(url);
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end().catch(() => {});
  }
}

/** SIGKILLs one backend: PostgreSQL resets every session and recovers. */
async function crashRestart(url: string): Promise<void> {
  const victim = new pg.Client(url);
  await victim.connect();
  victim.on('error', () => {});
  const pid = (await victim.query('select pg_backend_pid() as pid')).rows[0].pid as number;
  process.kill(pid, 'SIGKILL');
  await waitFor(
    async () => (await query(url, 'select 1').catch(() => null)) !== null,
    30_000,
    'PostgreSQL to accept connections after crash recovery',
  );
}

it('keeps every finished outcome and every attempt across a crash-restart', {
  timeout: 120_000,
}, async () => {
  // The WAL writer waits 10 s between flushes, so a crash loses the last
  // seconds of claims and outcomes written without waiting for the flush.
  server = await startEmbeddedPostgres({
    dataDir,
    postgresFlags: ['-c', 'wal_writer_delay=10s', '-c', 'fsync=on'],
  });
  const url = server.connectionString;
  await query(url, 'create table runs (task_id bigint not null, attempt integer not null)');
  // The test's record of each run commits synchronously, so it survives the
  // crash; written again until it is in, so a handler ends only once it is.
  const record = async (id: string, attempt: number) => {
    for (;;) {
      try {
        return await query(url, 'insert into runs values ($1, $2)', [id, attempt]);
      } catch {
        await sleep(100);
      }
    }
  };
  const once = defineTask({
    name: 'once',
    payload: z.object({ n: z.number() }),
    maxAttempts: 1,
    async handler(_p, ctx) {
      await record(ctx.id, ctx.attempt);
      return 'done';
    },
  });
  const fatal = defineTask({
    name: 'fatal',
    payload: z.object({ n: z.number() }),
    maxAttempts: 3,
    async handler(_p, ctx) {
      await record(ctx.id, ctx.attempt);
      throw new PermanentError('declined');
    },
  });
  const tandem = createTandem({ connectionString: url, tasks: [once, fatal], logger: quietLogger });
  await tandem.migrate();
  const worker = tandem.worker({ queues: { default: 10 }, pollInterval: 100 });
  await worker.start();
  const n = 300;
  for (let i = 0; i < n; i += 30) {
    await tandem.enqueueMany(
      tandem.pool,
      Array.from({ length: 30 }, (_, j) => ({
        task: (i + j) % 2 ? fatal : once,
        payload: { n: i + j },
      })),
    );
    await sleep(20);
  }
  await waitFor(
    async () => Number((await query(url, 'select count(*) n from runs'))[0].n) >= n / 2,
    20_000,
    'half the tasks to run',
  );
  await crashRestart(url);
  await waitFor(
    async () =>
      Number(
        (
          await query(
            url,
            `select count(*) n from tandem.tasks where state in ('succeeded', 'failed')`,
          ).catch(() => [{ n: 0 }])
        )[0].n,
      ) === n,
    60_000,
    'every task to finish after the crash',
  ).catch(async (err) => {
    const left = await query(
      url,
      `select id, name, state, attempt, lost, owner, run_at, errors from tandem.tasks
        where state not in ('succeeded', 'failed') order by id limit 5`,
    );
    throw new Error(`${(err as Error).message}; unfinished: ${JSON.stringify(left)}`);
  });
  await worker.stop();
  await tandem.close();

  const tasks = await query(
    url,
    `select t.id, t.name, t.state, t.attempt, t.errors, count(r.*)::int as runs
       from tandem.tasks t left join runs r on r.task_id = t.id group by t.id`,
  );
  const ranAndFailedUnfinished = tasks.filter((t) => t.name === 'once' && t.state !== 'succeeded');
  // A maxAttempts: 1 task whose handler ran is never failed for a lost outcome.
  expect(ranAndFailedUnfinished).toEqual([]);
  for (const t of tasks.filter((t) => t.name === 'fatal')) {
    expect(t.state).toBe('failed');
    // Its recorded failure is its own PermanentError, never a lost worker.
    expect(t.errors.map((e: any) => e.name)).not.toContain('WorkerLostError');
    expect(t.errors.at(-1).name).toBe('PermanentError');
  }
  // At-least-once: a run whose claim was lost may repeat, never more.
  for (const t of tasks) expect(t.runs).toBeLessThanOrEqual(2);
  const owners = await query(
    url,
    `select count(*)::int n from tandem.tasks where owner is not null`,
  );
  expect(owners[0].n).toBe(0);
});
