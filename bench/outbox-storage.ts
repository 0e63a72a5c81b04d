/**
 * Why relay messages have a table of their own: the two storage choices
 * side by side, on one fresh database, on the database side of the path
 * from commit to publish (the broker is the same either way).
 *
 *   npx tsx bench/outbox-storage.ts [--messages 20000] [--database-url URL]
 *
 * For each choice, `messages` transactions on one connection, each
 *   BEGIN; INSERT INTO orders …; <store one message>; COMMIT
 * then the relay's side: read the oldest 500 of the destination in id order
 * and mark them published, until none is left; for tasks, also the pruning
 * of those rows that retention does later. The loop runs with
 * synchronous_commit off, so the figures are the statements' cost rather
 * than the disk's flush; the store figure is the time of the one statement
 * that stores the message, summed.
 *
 * - tasks:  the message as a Tandem task of a reserved queue, no key (a task
 *           key is an idempotency key: two messages for order:1 would be
 *           one), through tandem.insert_task; published = an update to
 *           `succeeded` (what the worker writes), later pruned.
 * - outbox: tandem.insert_message into tandem.outbox; published = a delete.
 */
import { Command } from 'commander';
import pg from 'pg';
import { createTandem } from '../src/index.js';
import { BenchDatabases, canConnect, withClient } from './db.js';
import { progress } from './log.js';
import { fmt } from './stats.js';

const program = new Command('outbox-storage')
  .option('--messages <n>', 'messages per choice', (v) => Number(v), 20_000)
  .option('--database-url <url>', 'server', process.env.DATABASE_URL)
  .parse();
const { messages, databaseUrl } = program.opts<{ messages: number; databaseUrl?: string }>();
const url = databaseUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres';
if (!(await canConnect(url))) throw new Error(`no PostgreSQL at ${url}`);

const BATCH = 500;
const payload = (i: number) => JSON.stringify({ orderId: i, status: 'created', cents: 1234 });

interface Choice {
  name: string;
  store(c: pg.PoolClient, i: number): Promise<unknown>;
  take(c: pg.PoolClient): Promise<number>;
  /** What retention does later to what was published (nothing for the outbox). */
  prune?(c: pg.PoolClient): Promise<number>;
}

const choices: Choice[] = [
  {
    name: 'tasks',
    store: (c, i) =>
      c.query({
        name: 'store-task',
        text: `select tandem.insert_task('tandem.relay', 'tandem.relay:orders', $1, null, 0, 4, null, null, null, $2, false)`,
        values: [payload(i), JSON.stringify({ key: `order:${i % 1000}` })],
      }),
    async take(c) {
      const { rows } = await c.query({
        name: 'take-task',
        text: `with batch as (
                 select id from tandem.tasks
                  where queue = 'tandem.relay:orders' and state in ('queued', 'retrying')
                  order by priority, run_at, id limit ${BATCH})
               update tandem.tasks t set state = 'succeeded', attempt = 1,
                      started_at = now(), finished_at = now()
                 from batch where t.id = batch.id
               returning t.id, t.payload`,
        values: [],
      });
      return rows.length;
    },
    async prune(c) {
      const { rowCount } = await c.query(
        `delete from tandem.tasks where id in (
           select id from tandem.tasks where queue = 'tandem.relay:orders' and state = 'succeeded' limit 1000)`,
      );
      return rowCount ?? 0;
    },
  },
  {
    name: 'outbox',
    store: (c, i) =>
      c.query({
        name: 'store-outbox',
        text: `select tandem.insert_message('orders', $1, null, $2, null, false)`,
        values: [`order:${i % 1000}`, payload(i)],
      }),
    async take(c) {
      const { rows } = await c.query({
        name: 'take-outbox',
        text: `with batch as (
                 select id from tandem.outbox where destination = 'orders' order by id limit ${BATCH})
               delete from tandem.outbox o using batch where o.id = batch.id
               returning o.id, o.payload::text`,
        values: [],
      });
      return rows.length;
    },
  },
];

const dbs = new BenchDatabases(url);
try {
  const { url: dbUrl } = await dbs.create('outbox_storage');
  const tandem = createTandem({ connectionString: dbUrl });
  await tandem.migrate();
  await tandem.close();
  await withClient(dbUrl, (c) =>
    c.query('create table orders (id bigserial primary key, cents integer not null)'),
  );
  const pool = new pg.Pool({ connectionString: dbUrl, max: 1 });
  const c = await pool.connect();
  try {
    for (const round of [1, 2]) {
      for (const choice of choices) {
        await c.query('set synchronous_commit = off');
        let storeMs = 0;
        const t0 = performance.now();
        for (let i = 0; i < messages; i++) {
          await c.query('begin');
          await c.query('insert into orders (cents) values ($1)', [i]);
          const s0 = performance.now();
          await choice.store(c, i);
          storeMs += performance.now() - s0;
          await c.query('commit');
        }
        const t1 = performance.now();
        let taken = 0;
        for (;;) {
          const n = await choice.take(c);
          if (n === 0) break;
          taken += n;
        }
        const t2 = performance.now();
        if (choice.prune) while ((await choice.prune(c)) > 0);
        const t3 = performance.now();
        const size = await c.query(
          `select pg_total_relation_size('tandem.tasks') + pg_total_relation_size('tandem.outbox') as bytes`,
        );
        progress(
          `round ${round} ${choice.name.padEnd(6)}: ${fmt(messages / ((t1 - t0) / 1000))} tx/s, ` +
            `store ${fmt((storeMs * 1000) / messages)} µs/message, ` +
            `take ${fmt(((t2 - t1) * 1000) / taken)} µs/message (batches of ${BATCH}), ` +
            `prune ${fmt(((t3 - t2) * 1000) / taken)} µs/message, ` +
            `tables now ${fmt(Number(size.rows[0].bytes) / 2 ** 20)} MiB`,
        );
      }
      await c.query('vacuum tandem.tasks, tandem.outbox, orders');
    }
    await c.query('select 1');
  } finally {
    c.release();
    await pool.end();
  }
} finally {
  await dbs.dropAll();
}
