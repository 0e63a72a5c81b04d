/**
 * The same helpers under node:test (`node --import tsx --test node-test.ts`,
 * with TANDEM_TEST_DATABASE_URL set). examples/walkthrough/node-test.test.ts
 * runs this file so that `npm test` covers it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createTandem } from 'tandem-queue';
import { createTestDatabase, drain, expectEnqueued, runTask } from 'tandem-queue/testing';
import { chargeOrder, sendReceipt } from './tasks.js';

const testDb = await createTestDatabase({
  async setup(url) {
    const client = new pg.Client(url);
    await client.connect();
    await client.query(`
      create table orders (id bigint generated always as identity primary key,
                           email text not null, cents integer not null);
      create table payments (order_id bigint primary key references orders,
                             cents integer not null, charged_at timestamptz not null default now())`);
    await client.end();
  },
});
const pool = new pg.Pool({ connectionString: testDb.connectionString });
const tandem = createTandem({ pool, tasks: [chargeOrder, sendReceipt] });
before(() => tandem.migrate()); // a no-op on a clone of the template, shown for completeness
after(async () => {
  await pool.end();
  await testDb.drop();
});

test('a charge enqueued with its order runs once', async () => {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query(
      `insert into orders (email, cents) values ('ada@example.com', 500) returning id`,
    );
    const orderId: string = rows[0].id;
    await tandem.enqueue(
      client,
      chargeOrder,
      { orderId, cents: 500 },
      { key: `charge:${orderId}` },
    );
    await expectEnqueued(client, chargeOrder, { orderId }, { key: `charge:${orderId}` });
    await client.query('commit');
  } finally {
    client.release();
  }
  const outcomes = await drain(tandem, { queues: ['payments'] });
  assert.deepEqual(
    outcomes.map((o) => [o.name, o.state]),
    [['charge-order', 'succeeded']],
  );
});

test('a receipt handler needs no database', async () => {
  const outcome = await runTask(sendReceipt, { orderId: '1', email: 'grace@example.com' });
  assert.equal(outcome.state, 'succeeded');
  assert.deepEqual(outcome.result, { sentTo: 'grace@example.com' });
});
