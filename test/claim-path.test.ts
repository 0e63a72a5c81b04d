/**
 * Claims stay cheap while something pins the xmin horizon: every claimed
 * row leaves a dead entry in the claim index that vacuum cannot remove, and
 * a claim that starts from the head of the index reads them all. Measured
 * by the index tuples the claim index hands out per claimed task.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { sleep, waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
});
afterAll(() => pool.end());

const indexReads = async () =>
  Number(
    (
      await pool.query(
        `select idx_tup_read from pg_stat_user_indexes where indexrelname = 'tasks_runnable_idx'`,
      )
    ).rows[0].idx_tup_read,
  );

it('reads about one claim-index entry per task while the horizon is pinned', {
  timeout: 60_000,
}, async () => {
  let done = 0;
  const job = defineTask({ name: 'job', payload: z.object({}), handler: () => void done++ });
  const tandem = createTandem({ connectionString: url, tasks: [job], logger: quietLogger });
  const worker = tandem.worker({ queues: { default: 10 }, pollInterval: 100 });
  await worker.start();
  const pin = new pg.Client(url);
  await pin.connect();
  await pin.query('begin; select txid_current()');
  // A snapshot lists the pin's transaction as in progress only once a later
  // one has finished; on a busy server that is at once. Until then, and for
  // a second after, claims start from before the pin (claim-bounds.ts).
  await pool.query('select txid_current()');
  try {
    await sleep(1_500); // stats of earlier work flushed
    const before = await indexReads();
    const n = 8_000;
    // A steady producer: the worker keeps up, claiming small batches.
    for (let i = 0; i < n; i += 100) {
      await tandem.enqueueMany(
        pool,
        Array.from({ length: 100 }, () => ({ task: job, payload: {} })),
      );
      await sleep(5);
    }
    await waitFor(() => done === n, 30_000, 'every task to run');
    await sleep(1_500); // the worker idle: its statistics are flushed
    const perTask = ((await indexReads()) - before) / n;
    console.log(`claim-index entries read per task, horizon pinned: ${perTask.toFixed(1)}`);
    // From the head of the index each claim would read every dead entry
    // left since the pin began: thousands per claim, tens per task.
    expect(perTask).toBeLessThan(5);
  } finally {
    await pin.query('rollback');
    await pin.end();
    await worker.stop();
    await tandem.close();
  }
});

it('never scans the dead head of the claim index while a claim waits: the probe does, on a pooled connection', {
  timeout: 60_000,
}, async () => {
  let done = 0;
  const job = defineTask({ name: 'job', payload: z.object({}), handler: () => void done++ });
  // The worker's session (claims) goes direct; everything else shares one pooled connection.
  const shared = new pg.Pool({ connectionString: url, max: 1 });
  const tandem = createTandem({
    pool: shared,
    sessionConnectionString: url,
    tasks: [job],
    logger: quietLogger,
  });
  const worker = tandem.worker({ queues: { default: 10 }, pollInterval: 100 });
  await worker.start();
  const pin = new pg.Client(url);
  await pin.connect();
  await pin.query('begin; select txid_current()');
  await pool.query('select txid_current()'); // the pin shows in snapshots (see above)
  let held: pg.PoolClient | null = null;
  try {
    // 30,000 dead entries at the head of the claim index.
    const enqueue = (n: number) =>
      tandem.enqueueMany(
        pool,
        Array.from({ length: n }, () => ({ task: job, payload: {} })),
      );
    for (let i = 0; i < 30; i++) await enqueue(1_000);
    await waitFor(() => done === 30_000, 30_000, 'the first tasks');
    // The probe cannot run now: its pooled connection is taken.
    held = await shared.connect();
    await sleep(1_500); // stats of earlier work flushed
    const before = await indexReads();
    // 3 s of tasks: a claim that scanned from the head (every 2 s, say)
    // would read the 30,000 dead entries at least once.
    for (let i = 0; i < 100; i++) {
      await enqueue(20);
      await sleep(30);
    }
    await waitFor(() => done === 32_000, 30_000, 'the trickle');
    await sleep(1_500);
    const perTask = ((await indexReads()) - before) / 2_000;
    console.log(`claim-index entries read per task without the probe: ${perTask.toFixed(1)}`);
    expect(perTask).toBeLessThan(5);
    // Once the probe runs again, it finds a task that landed behind the claims.
    held.release();
    held = null;
    const [behind] = await tandem.enqueueMany(pool, [
      { task: job, payload: {}, options: { runAt: new Date(Date.now() - 3_600_000) } },
    ]);
    // (It waited for its connection: it probes again within 10 s.)
    await waitFor(() => done === 32_001, 15_000, `task ${behind!.id}, due an hour ago`);
  } finally {
    held?.release();
    await pin.query('rollback');
    await pin.end();
    await worker.stop();
    await tandem.close();
    await shared.end();
  }
});

describe('tasks that land behind where claims start', () => {
  it('runs a task whose transaction stayed open while later tasks were claimed', {
    timeout: 30_000,
  }, async () => {
    const ran = new Set<string>();
    const job = defineTask({
      name: 'job',
      payload: z.object({ n: z.number() }),
      handler: (_p, ctx) => void ran.add(ctx.id),
    });
    const tandem = createTandem({ connectionString: url, tasks: [job], logger: quietLogger });
    const worker = tandem.worker({ queues: { default: 10 }, pollInterval: 100 });
    await worker.start();
    const slow = await pool.connect();
    try {
      await slow.query('begin');
      // run_at is this transaction's start; it commits after later tasks ran.
      const late = await tandem.enqueue(slow, job, { n: -1 });
      const others: { id: string }[] = [];
      for (let i = 0; i < 20; i++) {
        others.push(...(await tandem.enqueueMany(pool, [{ task: job, payload: { n: i } }])));
        await sleep(50);
      }
      await waitFor(() => others.every((o) => ran.has(o.id)), 10_000, 'the later tasks');
      await slow.query('commit');
      await waitFor(() => ran.has(late.id), 10_000, 'the task committed late');
      // The same with a priority no task definition has.
      const urgent = await tandem.enqueue(pool, job, { n: 99 }, { priority: -7 });
      await waitFor(() => ran.has(urgent.id), 10_000, 'a task of an unseen priority');
    } finally {
      slow.release();
      await worker.stop();
      await tandem.close();
    }
  });
});

it('does not read again, claim after claim, a backlog of task names it has no handler for', {
  timeout: 60_000,
}, async () => {
  const image = defineTask({ name: 'image', payload: z.object({}), handler: () => {} });
  const ran: string[] = [];
  const email = defineTask({
    name: 'email',
    payload: z.object({}),
    handler: (_p, ctx) => void ran.push(ctx.id),
  });
  // Another fleet's backlog in the same queue: 20,000 tasks no worker here runs.
  const producer = createTandem({
    connectionString: url,
    tasks: [image, email],
    logger: quietLogger,
  });
  const backlog = 20_000;
  const images = (n: number) =>
    producer.enqueueMany(
      pool,
      Array.from({ length: n }, () => ({ task: image, payload: {} })),
    );
  await images(backlog);
  const tandem = createTandem({ connectionString: url, tasks: [email], logger: quietLogger });
  const worker = tandem.worker({ queues: { default: 10 }, pollInterval: 1_000 });
  await worker.start();
  try {
    await sleep(1_500); // statistics of the first claims flushed
    const before = await indexReads();
    // More images keep coming for 4 s; each commit wakes the worker, whose
    // claim finds no email.
    for (let i = 0; i < 40; i++) {
      await images(10);
      await sleep(100);
    }
    const last = await producer.enqueue(pool, email, {});
    await waitFor(() => ran.includes(last.id), 10_000, 'the email');
    await sleep(1_500);
    const reads = (await indexReads()) - before;
    console.log(`claim-index entries read in 4 s beside a foreign backlog: ${reads}`);
    // From the start of the queue each of those claims would step over the
    // whole backlog again: over a hundred times. A discovery scan every 2 s
    // reads it once each, three or four times in this window.
    expect(reads).toBeLessThan(10 * backlog);
  } finally {
    await worker.stop();
    await tandem.close();
    await producer.close();
  }
});

/** A worker of no-op tasks on a database of its own, and a count of the tasks it ran. */
async function countingWorker(concurrency: number, pollInterval: number) {
  const db = await freshDatabase();
  const admin = new pg.Pool({ connectionString: db });
  let ran = 0;
  const job = defineTask({ name: 'job', payload: z.object({}), handler: () => void ran++ });
  const tandem = createTandem({ connectionString: db, tasks: [job], logger: quietLogger });
  const worker = tandem.worker({ queues: { default: concurrency }, pollInterval });
  await worker.start();
  return {
    db,
    admin,
    tandem,
    job,
    ran: () => ran,
    stop: async () => {
      await worker.stop();
      await tandem.close();
      await admin.end();
    },
  };
}

it('claims by index once the table has grown, though the worker started on an empty one', {
  timeout: 60_000,
}, async () => {
  // A worker started against an almost empty table: a plan cached then
  // (a prepared statement's generic plan) would read the whole table with
  // every claim once it holds a backlog and a history.
  const { admin, tandem, job, ran, stop } = await countingWorker(2, 50);
  const seqScans = async () =>
    Number(
      (
        await admin.query(
          `select seq_scan from pg_stat_user_tables where schemaname = 'tandem' and relname = 'tasks'`,
        )
      ).rows[0].seq_scan,
    );
  try {
    // Enough round trips on the small table for plans to be cached.
    for (let i = 0; i < 20; i++) {
      await tandem.enqueue(admin, job, {});
      await waitFor(() => ran() === i + 1, 5_000, 'the task to run');
    }
    await admin.query(
      `insert into tandem.tasks (name, payload, state, attempt, finished_at)
       select 'job', '{}', 'succeeded', 1, now() from generate_series(1, 100000)`,
    );
    await sleep(1_500); // statistics flushed
    const before = await seqScans();
    for (let i = 0; i < 20; i++) {
      await tandem.enqueue(admin, job, {});
      await waitFor(() => ran() === 21 + i, 5_000, 'the task to run');
    }
    await sleep(1_500);
    expect((await seqScans()) - before).toBeLessThanOrEqual(2);
  } finally {
    await stop();
  }
});

it('settles without reading the running index, whose dead entries pile up while the horizon is pinned', {
  timeout: 60_000,
}, async () => {
  const { db, admin, tandem, job, ran, stop } = await countingWorker(10, 100);
  const pin = new pg.Client(db);
  await pin.connect();
  await pin.query('begin; select txid_current()');
  const runningReads = async () =>
    Number(
      (
        await admin.query(
          `select idx_tup_read from pg_stat_user_indexes where indexrelname = 'tasks_running_idx'`,
        )
      ).rows[0].idx_tup_read,
    );
  const produce = async (n: number) => {
    const target = ran() + n;
    for (let i = 0; i < n; i += 100) {
      await tandem.enqueueMany(
        admin,
        Array.from({ length: 100 }, () => ({ task: job, payload: {} })),
      );
      await sleep(5);
    }
    await waitFor(() => ran() === target, 30_000, 'every task to run');
  };
  try {
    // Every claim of this worker leaves an entry under its owner that vacuum cannot remove.
    await produce(4_000);
    await sleep(1_500); // statistics flushed
    const before = await runningReads();
    await produce(2_000);
    await sleep(1_500);
    const perTask = ((await runningReads()) - before) / 2_000;
    // A settle that looked tasks up by owner read every entry left since the pin began.
    expect(perTask).toBeLessThan(3);
  } finally {
    await pin.query('rollback');
    await pin.end();
    await stop();
  }
});
