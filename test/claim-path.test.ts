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
