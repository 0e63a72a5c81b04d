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

/** Drops a worker's own connection (the one holding its liveness lock). */
async function dropWorkerConnection(admin: pg.Client, workerId: string): Promise<void> {
  await admin.query(
    `select pg_terminate_backend(l.pid) from pg_locks l join tandem.workers w on l.objid = w.lock_key
      where l.locktype = 'advisory' and l.classid = 1952542308 and w.id = $1`,
    [workerId],
  );
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

it('recovers, after its connection drops, a task the database shows a worker holding that it does not hold', async () => {
  const { freshDatabase } = await import('./support/db.js');
  const { quietLogger } = await import('./support/quiet-logger.js');
  const url = await freshDatabase();
  const ran = defineTask({ name: 'ran', payload: z.object({}), handler: () => 'done' });
  const tandem = createTandem({ connectionString: url, tasks: [ran], logger: quietLogger });
  const worker = tandem.worker({ pollInterval: 100 });
  await worker.start();
  const admin = new pg.Client(url);
  await admin.connect();
  try {
    // As if its outcome had been lost in a database crash: running, owned by this worker.
    const { rows } = await admin.query(
      `insert into tandem.tasks (name, payload, state, attempt, owner, started_at)
       values ('ran', '{}', 'running', 1, $1, now()) returning id`,
      [worker.id],
    );
    await sleep(300);
    expect(
      (await admin.query('select state from tandem.tasks where id = $1', [rows[0].id])).rows[0]
        .state,
    ).toBe('running');
    await dropWorkerConnection(admin, worker.id);
    await waitFor(
      async () =>
        (await admin.query('select state from tandem.tasks where id = $1', [rows[0].id])).rows[0]
          .state === 'succeeded',
      10_000,
      'the lost task to run again',
    );
    const task = (
      await admin.query('select attempt, lost, errors from tandem.tasks where id = $1', [
        rows[0].id,
      ])
    ).rows[0];
    // The lost attempt is not counted: the run that succeeded is attempt 1.
    expect(task.attempt).toBe(1);
    expect(task.lost).toBe(1);
    expect(task.errors[0]).toMatchObject({ name: 'WorkerLostError', attempt: 1 });
  } finally {
    await admin.end();
    await worker.stop();
    await tandem.close();
  }
});

/**
 * A client on a fresh database where one task, at its second attempt, runs
 * under worker 'w-1' with claim `token`.
 */
async function heldTask(token: number): Promise<{ c: pg.Client; id: string }> {
  const { freshDatabase } = await import('./support/db.js');
  const c = new pg.Client(await freshDatabase());
  await c.connect();
  const { rows } = await c.query(
    `insert into tandem.tasks (name, payload, state, attempt, owner, claim_token, started_at)
     values ('t', '{}', 'running', 2, 'w-1', $1, now()) returning id::text`,
    [token],
  );
  return { c, id: rows[0].id };
}

it('after reconnecting, releases a task held under a newer claim than the outcome it still has', async () => {
  const { quietLogger } = await import('./support/quiet-logger.js');
  const { reconcile } = await import('../src/worker/reconcile.js');
  const { RecentOutcomes } = await import('../src/worker/round-trip.js');
  // The database shows claim 7 of this worker running: a round trip whose
  // reply was lost with the connection. The worker only has the outcome of
  // the task's earlier claim 6.
  const { c, id } = await heldTask(7);
  try {
    const outcomes = [
      {
        id,
        token: '6',
        state: 'retrying' as const,
        resultJson: null,
        delay_ms: 0,
        errorJson: null,
        undo: false,
      },
    ];
    await reconcile(
      c,
      'w-1',
      { running: [], queues: [], pending: () => outcomes, recent: new RecentOutcomes() },
      quietLogger,
    );
    const after = (
      await c.query('select state, owner, attempt, lost from tandem.tasks where id = $1', [id])
    ).rows[0];
    expect(after).toEqual({ state: 'retrying', owner: null, attempt: 1, lost: 1 });
  } finally {
    await c.end();
  }
});

it('writes the outcome of a task that finishes while the worker reconciles after a reconnect', async () => {
  const { freshDatabase } = await import('./support/db.js');
  const { quietLogger } = await import('./support/quiet-logger.js');
  const url = await freshDatabase();
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const gated = defineTask({
    name: 'gated',
    payload: z.object({}),
    handler: async () => {
      await gate;
      return 'done';
    },
  });
  const tandem = createTandem({ connectionString: url, tasks: [gated], logger: quietLogger });
  const worker = tandem.worker({ pollInterval: 100 });
  await worker.start();
  const admin = new pg.Client(url);
  const locker = new pg.Client(url);
  await admin.connect();
  await locker.connect();
  const state = async (id: string) =>
    (await admin.query('select state from tandem.tasks where id = $1', [id])).rows[0].state;
  try {
    const { id } = await tandem.enqueue(tandem.pool, gated, {});
    await waitFor(async () => (await state(id)) === 'running', 5_000, 'the task to start');
    // A row the database shows this worker holding that it does not hold:
    // reconciliation releases it, and waits on its lock until the test lets go.
    const stray = (
      await admin.query(
        `insert into tandem.tasks (name, payload, state, attempt, owner, claim_token, started_at)
         values ('gated', '{}', 'running', 1, $1, 999999, now()) returning id::text as id`,
        [worker.id],
      )
    ).rows[0].id as string;
    await locker.query('begin');
    await locker.query('select 1 from tandem.tasks where id = $1 for update', [stray]);
    await dropWorkerConnection(admin, worker.id);
    await waitFor(
      async () =>
        (
          await admin.query(
            `select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%was lost with the database connection%'`,
          )
        ).rows.length > 0,
      10_000,
      'reconciliation to wait on the stray row',
    );
    // The handler finishes while reconciliation is under way.
    open();
    await sleep(100);
    await locker.query('commit');
    await waitFor(
      async () => (await state(id)) === 'succeeded',
      5_000,
      'the outcome to be written',
    );
    const lost = await admin.query('select lost from tandem.tasks where id = $1', [stray]);
    expect(lost.rows[0].lost).toBe(1);
  } finally {
    open();
    await locker.end().catch(() => {});
    await admin.end();
    await worker.stop();
    await tandem.close();
  }
});

it('settles the outcome whose claim is current when a batch holds two for one task', async () => {
  const { quietLogger } = await import('./support/quiet-logger.js');
  const { runRound } = await import('../src/worker/round-trip.js');
  // Claim 8 of this worker is the current one; the outcome of its claim 7
  // is still in the batch (written again after a reconnect).
  const { c, id } = await heldTask(8);
  try {
    const outcome = (token: string, state: 'failed' | 'succeeded') => ({
      id: id,
      token,
      state,
      resultJson: state === 'succeeded' ? '"ok"' : null,
      delay_ms: null,
      errorJson: null,
      undo: false,
    });
    const round = {
      settle: [outcome('8', 'succeeded'), outcome('7', 'failed')],
      names: [],
      counts: [],
      boundQueues: [],
      boundPriorities: [],
      boundRunAts: [],
      boundIds: [],
      flowActive: false,
    };
    await runRound(c, 'w-1', '9', ['t'], round, quietLogger, false);
    const after = (await c.query('select state, result from tandem.tasks where id = $1', [id]))
      .rows[0];
    expect(after).toEqual({ state: 'succeeded', result: 'ok' });
  } finally {
    await c.end();
  }
});

/**
 * A TCP proxy that can hold what the server sends and then hand it over in
 * one write: a reply and the end of its connection reach the client together.
 */
async function startHoldingProxy(target: URL) {
  const { createServer, connect } = await import('node:net');
  let holding = false;
  const pipes: { client: import('node:net').Socket; held: Buffer[]; ended: boolean }[] = [];
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    const pipe = { client, held: [] as Buffer[], ended: false };
    pipes.push(pipe);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => (holding ? pipe.held.push(d) : client.write(d)));
    upstream.on('end', () => {
      if (holding) pipe.ended = true;
      else client.end();
    });
    client.on('end', () => upstream.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target);
  url.port = String((server.address() as import('node:net').AddressInfo).port);
  return {
    url: url.toString(),
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const p of pipes) {
        if (p.held.length > 0) p.client.write(Buffer.concat(p.held.splice(0)));
        if (p.ended) p.client.end();
      }
    },
    close: () => {
      for (const p of pipes) p.client.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

it('starts the tasks of a claim whose reply arrived together with the end of its connection', async () => {
  const { freshDatabase } = await import('./support/db.js');
  const { quietLogger } = await import('./support/quiet-logger.js');
  const url = await freshDatabase();
  const proxy = await startHoldingProxy(new URL(url));
  let ran = 0;
  const job = defineTask({ name: 'job', payload: z.object({}), handler: () => void ran++ });
  const tandem = createTandem({ connectionString: proxy.url, tasks: [job], logger: quietLogger });
  const worker = tandem.worker({ queues: { default: 1 }, pollInterval: 100 });
  await worker.start();
  const admin = new pg.Client(url);
  await admin.connect();
  try {
    let enqueued = 0;
    for (let attempt = 1; ; attempt++) {
      proxy.hold();
      // A polling round trip claims them; its reply waits in the proxy.
      await admin.query(
        `insert into tandem.tasks (name, payload) select 'job', '{}' from generate_series(1, 3)`,
      );
      enqueued += 3;
      const claimed = await waitFor(
        async () =>
          (await admin.query(`select 1 from tandem.tasks where state = 'running'`)).rows.length > 0,
        2_000,
      ).catch(() => false);
      if (claimed) break;
      // A round trip was on its way when the proxy began to hold, and its
      // reply is held: let it through, let these tasks run, and try again.
      proxy.release();
      await waitFor(() => ran === enqueued, 10_000, 'the tasks of a missed attempt to run');
      if (attempt === 5) throw new Error('no claim was held in 5 attempts');
    }
    await sleep(100);
    await dropWorkerConnection(admin, worker.id);
    await sleep(100);
    proxy.release();
    await waitFor(() => ran === enqueued, 10_000, 'every claimed task to run');
  } finally {
    proxy.release();
    await admin.end();
    await worker.stop();
    await tandem.close();
    await proxy.close();
  }
});
