import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, type Tandem } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { waitFor } from './support/wait.js';

let pool: pg.Pool;
let tandem: Tandem;
const charge = defineTask({
  name: 'charge-order',
  payload: z.object({ orderId: z.number() }),
  backoff: { base: 10, jitter: false },
  handler: (_p, ctx) => {
    if (ctx.attempt < 3) throw new Error(`gateway said no (${ctx.attempt})`);
    return { ok: true };
  },
});

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
  tandem = createTandem({ connectionString: url, tasks: [charge], logger: quietLogger });
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});

it('lists every attempt for an order with the documented audit query', async () => {
  const worker = tandem.worker({ pollInterval: 20 });
  await worker.start();
  const { id } = await tandem.enqueue(pool, charge, { orderId: 123 }, { key: 'order:123' });
  await waitFor(async () => (await tandem.getTask(id))?.state === 'succeeded');
  await worker.stop();
  const { rows } = await pool.query(
    `select attempt, outcome, error_message, worker from tandem.task_attempts where key = 'order:123' order by attempt`,
  );
  expect(rows).toEqual([
    { attempt: 1, outcome: 'failed', error_message: 'gateway said no (1)', worker: worker.id },
    { attempt: 2, outcome: 'failed', error_message: 'gateway said no (2)', worker: worker.id },
    { attempt: 3, outcome: 'succeeded', error_message: null, worker: null },
  ]);
  const stats = await pool.query(`select queue, state, tasks::int from tandem.queue_stats`);
  expect(stats.rows).toEqual([{ queue: 'default', state: 'succeeded', tasks: 1 }]);
});
