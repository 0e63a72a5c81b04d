/**
 * Testing the walkthrough's tasks with tandem-queue/testing, under vitest:
 * a database of this file's own, assertions inside the transaction that
 * enqueues, and tasks run without a worker.
 */
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { createTandem } from 'tandem-queue';
import {
  createTestDatabase,
  drain,
  expectEnqueued,
  runTask,
  type TestDatabase,
} from 'tandem-queue/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chargeOrder, sendReceipt } from './tasks.js';

/** The walkthrough's tables, made once in the template of every test database. */
async function createShopTables(connectionString: string) {
  const client = new pg.Client(connectionString);
  await client.connect();
  await client.query(`
    create table orders (id bigint generated always as identity primary key,
                         email text not null, cents integer not null);
    create table payments (order_id bigint primary key references orders, cents integer not null,
                           charged_at timestamptz not null default now())`);
  await client.end();
}

/** The code under test: an order and its tasks, in the caller's transaction. */
async function placeOrder(trx: Transaction<any>, email: string, cents: number) {
  const { id } = await trx
    .insertInto('orders')
    .values({ email, cents })
    .returning('id')
    .executeTakeFirstOrThrow();
  await tandem.enqueue(trx, chargeOrder, { orderId: id, cents }, { key: `charge:${id}` });
  await tandem.enqueue(trx, sendReceipt, { orderId: id, email }, { key: `receipt:${id}` });
  return id as string;
}

let testDb: TestDatabase;
let pool: pg.Pool;
let db: Kysely<any>;
let tandem: ReturnType<typeof createTandem>;

beforeAll(async () => {
  testDb = await createTestDatabase({ setup: createShopTables });
  pool = new pg.Pool({ connectionString: testDb.connectionString });
  db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  tandem = createTandem({ pool, tasks: [chargeOrder, sendReceipt] });
});
afterAll(async () => {
  await tandem.close();
  await db.destroy();
  await testDb.drop();
});

it('enqueues the charge and the receipt in the order transaction, and nothing when it rolls back', async () => {
  let orderId = '';
  const rollback = new Error('roll back');
  await expect(
    db.transaction().execute(async (trx) => {
      orderId = await placeOrder(trx, 'ada@example.com', 500);
      // Inside the uncommitted transaction, the tasks are there…
      await expectEnqueued(trx, chargeOrder, { orderId, cents: 500 }, { key: `charge:${orderId}` });
      await expectEnqueued(trx, sendReceipt, { email: 'ada@example.com' }, { count: 1 });
      // …and another connection does not see them yet.
      await expect(expectEnqueued(pool, chargeOrder, { orderId })).rejects.toThrow(
        /expected a task "charge-order", payload matching .* to be enqueued, got 0/,
      );
      throw rollback;
    }),
  ).rejects.toBe(rollback);
  await expect(expectEnqueued(pool, chargeOrder, { orderId })).rejects.toThrow(/got 0/);
});

it('drain runs every runnable task: the order is charged once and its receipt sent', async () => {
  const orderId = await db
    .transaction()
    .execute((trx) => placeOrder(trx, 'grace@example.com', 700));
  const outcomes = await drain(tandem);
  expect(outcomes.map((o) => [o.name, o.state, o.result])).toEqual([
    ['charge-order', 'succeeded', { charged: 700 }],
    ['send-receipt', 'succeeded', { sentTo: 'grace@example.com' }],
  ]);
  const payments = await db
    .selectFrom('payments')
    .selectAll()
    .where('order_id', '=', orderId)
    .execute();
  expect(payments).toHaveLength(1);
  expect(await drain(tandem)).toEqual([]);
});

it('runTask: a charge over the limit fails at once, without a payment', async () => {
  const { id } = await db
    .insertInto('orders')
    .values({ email: 'alan@example.com', cents: 2_000_000 })
    .returning('id')
    .executeTakeFirstOrThrow();
  const outcome = await runTask(chargeOrder, { orderId: id, cents: 2_000_000 }, { tandem });
  expect(outcome).toMatchObject({ name: 'charge-order', state: 'failed', attempt: 1 });
  expect(outcome.error).toMatchObject({ name: 'PermanentError', message: 'over the limit' });
  const { rows } =
    await sql`select count(*)::int as n from payments where order_id = ${id}`.execute(db);
  expect(rows).toEqual([{ n: 0 }]);
});

it('runTask without a database: the receipt handler says whom it wrote to', async () => {
  const outcome = await runTask(sendReceipt, { orderId: '1', email: 'edsger@example.com' });
  expect(outcome).toMatchObject({ state: 'succeeded', result: { sentTo: 'edsger@example.com' } });
});
