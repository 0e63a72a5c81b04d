/**
 * PostgreSQL itself restarts mid-run (its own embedded server, so the rest
 * of the suite is unaffected): the worker reconnects and every task still
 * finishes, transactional effects exactly once.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { z } from 'zod';
import { type EmbeddedPostgresServer, startEmbeddedPostgres } from '../src/embedded.js';
import { createTandem, defineTask, type Logger } from '../src/index.js';
import { sleep, waitFor } from './support/wait.js';

let server: EmbeddedPostgresServer | undefined;
const dataDir = join(tmpdir(), `tandem-restart-${process.pid}-${Date.now()}`);
afterAll(async () => {
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function countingLogger() {
  const errors: string[] = [];
  const make = (): Logger => ({
    debug() {},
    info() {},
    warn() {},
    error(obj: object | string, msg?: string) {
      errors.push(typeof obj === 'string' ? obj : (msg ?? ''));
    },
    child: () => make(),
  });
  return { logger: make(), errors };
}

it('reconnects after a PostgreSQL restart and finishes every task', {
  timeout: 90_000,
}, async () => {
  const flags = ['-c', 'fsync=off'];
  server = await startEmbeddedPostgres({ dataDir, postgresFlags: flags });
  const port = server.port;
  const url = server.connectionString;
  const admin = new pg.Client(url);
  await admin.connect();
  await admin.query('create table effects (task_id bigint not null)');
  await admin.end();

  const effect = defineTask({
    name: 'effect',
    payload: z.object({ n: z.number() }),
    transactional: true,
    backoff: { base: 50 },
    maxAttempts: 20,
    async handler(_p, ctx) {
      await ctx.trx.insertInto('effects').values({ task_id: ctx.id }).execute();
      await sleep(2);
    },
  });
  const { logger, errors } = countingLogger();
  const tandem = createTandem({ connectionString: url, tasks: [effect], logger });
  await tandem.migrate();
  await tandem.enqueueMany(
    tandem.pool,
    Array.from({ length: 2_000 }, (_, n) => ({ task: effect, payload: { n } })),
  );
  const worker = tandem.worker({ pollInterval: 100 });
  await worker.start();
  const done = async () => {
    const c = new pg.Client(url);
    await c.connect();
    try {
      return (await c.query(`select count(*)::int n from tandem.tasks where state = 'succeeded'`))
        .rows[0].n as number;
    } finally {
      await c.end();
    }
  };
  await waitFor(async () => (await done()) > 300, 20_000, 'progress before the restart');

  await server.stop();
  await sleep(1_500);
  server = await startEmbeddedPostgres({ dataDir, port, postgresFlags: flags });

  await waitFor(
    async () => (await done().catch(() => 0)) === 2_000,
    40_000,
    'every task to succeed after the restart',
  );
  await worker.stop();
  const c = new pg.Client(url);
  await c.connect();
  const effects = (
    await c.query('select count(*)::int n, count(distinct task_id)::int d from effects')
  ).rows[0];
  const stuck = (
    await c.query(`select count(*)::int n from tandem.tasks where state <> 'succeeded'`)
  ).rows[0].n;
  await c.end();
  await tandem.close();
  expect(stuck).toBe(0);
  expect(effects).toEqual({ n: 2_000, d: 2_000 });
  // Logged per outage, not per poll: a handful of lines, not hundreds.
  expect(errors.length).toBeLessThan(12);
});
