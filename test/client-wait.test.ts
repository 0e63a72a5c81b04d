/** waitFor: one shared poll per process, however many wait; nothing when nobody waits. */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTandem, type Tandem } from '../src/index.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { sleep } from './support/wait.js';

let pool: pg.Pool;
let tandem: Tandem;
let queries = 0;

beforeAll(async () => {
  const url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  tandem = createTandem({ connectionString: url, logger: quietLogger });
  // Count every statement Tandem's own connections run.
  const query = tandem.sql.query.bind(tandem.sql);
  (tandem.sql as { query: typeof query }).query = (...args) => {
    queries++;
    return query(...args);
  };
});
afterAll(async () => {
  await tandem.close();
  await pool.end();
});

const insert = async (n: number) =>
  (
    await pool.query<{ id: string }>(
      `insert into tandem.tasks (name, payload) select 'w', '{}' from generate_series(1, $1) returning id::text`,
      [n],
    )
  ).rows.map((r) => r.id);

it('1,000 concurrent waiters cost one query per poll interval, and resolve with the finished tasks', async () => {
  const ids = await insert(1000);
  queries = 0;
  const waits = ids.map((id) => tandem.waitFor(id, { timeout: '20s' }));
  await sleep(1_000);
  // A poll every 150 ms: about 7 in a second, whatever the number of waiters.
  expect(queries).toBeGreaterThanOrEqual(4);
  expect(queries).toBeLessThanOrEqual(10);
  await pool.query(
    `update tandem.tasks set state = 'succeeded', finished_at = now(), result = jsonb_build_object('id', id) where id = any($1::bigint[])`,
    [ids],
  );
  const done = await Promise.all(waits);
  expect(done.map((t) => t.state)).toEqual(ids.map(() => 'succeeded'));
  expect(done.map((t) => (t.result as { id: number }).id)).toEqual(ids.map(Number));
  // Nobody waits any more: no timer, no query.
  queries = 0;
  await sleep(400);
  expect(queries).toBe(0);
});

it('resolves at once for a finished task; rejects for an unknown or deleted one, on timeout and on abort', async () => {
  const [a, b, c, d] = await insert(4);
  await pool.query(`update tandem.tasks set state = 'failed', finished_at = now() where id = $1`, [
    a,
  ]);
  const t0 = Date.now();
  expect((await tandem.waitFor(a!)).state).toBe('failed');
  expect(Date.now() - t0).toBeLessThan(100);
  await expect(tandem.waitFor('987654321')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
  const deleted = tandem.waitFor(b!);
  await sleep(200);
  await pool.query('delete from tandem.tasks where id = $1', [b]);
  await expect(deleted).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
  await expect(tandem.waitFor(c!, { timeout: 200 })).rejects.toMatchObject({ code: 'TIMEOUT' });
  const controller = new AbortController();
  const aborted = tandem.waitFor(d!, { signal: controller.signal });
  setTimeout(() => controller.abort(new Error('gave up')), 100);
  await expect(aborted).rejects.toThrow('gave up');
  expect(() => tandem.waitFor('abc')).toThrow(/task id must be a positive integer/);
});
