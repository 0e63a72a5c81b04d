/**
 * Flow control across three worker processes: limits proven from the
 * start and end times each handler recorded, and from the claim times.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, taskRuleViolations } from './support/db.js';
import { spawnWorker, type WorkerProcess } from './support/processes.js';
import { waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
let procs: WorkerProcess[] = [];

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
  await pool.query(
    `create table runs (task_id bigint, name text, tenant text, n int, start bigint, "end" bigint)`,
  );
  procs = await Promise.all(
    [0, 1, 2].map(() =>
      spawnWorker({ DATABASE_URL: url, CONCURRENCY: '10' }, 'test/support/flow-worker.ts'),
    ),
  );
}, 60_000);
afterEach(async () => {
  expect(await taskRuleViolations(pool)).toEqual([]);
  await pool.query('delete from tandem.tasks; delete from runs');
});
afterAll(async () => {
  for (const p of procs) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));
  await pool.end();
});

/** Inserts tasks as the doors do, with their concurrency key. */
async function insert(
  name: string,
  rows: { n: number; ms: number; tenant?: string }[],
  key?: (r: { tenant?: string }) => string,
) {
  await pool.query(
    `insert into tandem.tasks (name, queue, payload, concurrency_key)
     select $1, 'flow', p, k from unnest($2::jsonb[], $3::text[]) as u(p, k)`,
    [name, rows.map((r) => JSON.stringify(r)), rows.map((r) => (key ? key(r) : null))],
  );
  await pool.query(`select pg_notify('tandem_wake', 'flow')`);
}

const drained = (n: number, ms = 30_000) =>
  waitFor(
    async () => (await pool.query('select count(*)::int as c from runs')).rows[0].c >= n,
    ms,
    `${n} runs`,
  );

/** Most intervals [start, end) open at one instant. */
function maxOverlap(spans: { start: number; end: number }[]): number {
  const edges = spans.flatMap((s) => [
    [s.start, 1],
    [s.end, -1],
  ]);
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let open = 0;
  let max = 0;
  for (const [, d] of edges) {
    open += d!;
    max = Math.max(max, open);
  }
  return max;
}

describe('fleet-wide limits across three processes', () => {
  it('concurrency 3: never more than 3 running at once, though 30 slots are free', async () => {
    await insert(
      'capped',
      Array.from({ length: 30 }, (_, n) => ({ n, ms: 40 })),
    );
    await drained(30);
    const runs = (await pool.query('select start::float8, "end"::float8 from runs')).rows;
    expect(maxOverlap(runs)).toBeLessThanOrEqual(3);
    // It ran at its limit, not one at a time.
    expect(maxOverlap(runs)).toBe(3);
    const claims = (
      await pool.query(
        `select extract(epoch from started_at) * 1000 as start, extract(epoch from finished_at) * 1000 as end
           from tandem.tasks where name = 'capped'`,
      )
    ).rows.map((r) => ({ start: Number(r.start), end: Number(r.end) }));
    expect(maxOverlap(claims)).toBeLessThanOrEqual(3);
    // The handlers' rows come before their outcomes: once all are written, no slot is held.
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int as c from tandem.tasks where state = 'succeeded'`))
          .rows[0].c === 30,
      5_000,
      'the outcomes',
    );
    const lim = await pool.query(`select running from tandem.flow_limits where name = 'capped'`);
    expect(lim.rows[0].running).toBe(0);
  });

  it('rate 20/500ms: no window of 500 ms holds more than 20 starts', async () => {
    await insert(
      'rated',
      Array.from({ length: 100 }, (_, n) => ({ n, ms: 1 })),
    );
    const began = Date.now();
    await drained(100);
    const took = Date.now() - began;
    const starts = (
      await pool.query(
        `select extract(epoch from started_at) * 1000 as t from tandem.tasks where name = 'rated' order by started_at`,
      )
    ).rows.map((r) => Number(r.t));
    let worst = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[i]! - starts[j]! >= 500) j++;
      worst = Math.max(worst, i - j + 1);
    }
    expect(worst).toBeLessThanOrEqual(20);
    expect(worst).toBe(20);
    // 100 starts at 20 per 500 ms take at least 2 s (the first 20 go at once).
    expect(took).toBeGreaterThanOrEqual(1_900);
  });

  it('key concurrency 1: one task per tenant at a time, in enqueue order', async () => {
    const rows = Array.from({ length: 60 }, (_, n) => ({ n, ms: 10, tenant: `t${n % 3}` }));
    await insert('serial', rows, (r) => `tenant:${r.tenant}`);
    await drained(60);
    const runs = (
      await pool.query('select tenant, n, start::float8, "end"::float8 from runs order by start, n')
    ).rows;
    for (const t of ['t0', 't1', 't2']) {
      const mine = runs.filter((r) => r.tenant === t);
      expect(maxOverlap(mine)).toBe(1);
      expect(mine.map((r) => r.n)).toEqual([...mine.map((r) => r.n)].sort((a, b) => a - b));
    }
    // Tenants ran side by side.
    expect(maxOverlap(runs)).toBeGreaterThan(1);
  });

  it("fairness: a tenant's 10 tasks do not wait behind another's backlog of 400", async () => {
    const big = Array.from({ length: 400 }, (_, n) => ({ n, ms: 2, tenant: 'big' }));
    await insert('fair', big, (r) => `tenant:${r.tenant}`);
    const small = Array.from({ length: 10 }, (_, n) => ({ n, ms: 2, tenant: 'small' }));
    await insert('fair', small, (r) => `tenant:${r.tenant}`);
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int as c from runs where tenant = 'small'`)).rows[0]
          .c === 10,
      30_000,
      'the small tenant',
    );
    const bigDone = (await pool.query(`select count(*)::int as c from runs where tenant = 'big'`))
      .rows[0].c;
    // Two at a time each, round-robin: the small tenant's ten are done
    // while the big one has run about as many.
    expect(bigDone).toBeLessThan(60);
    await drained(410);
  });

  it('a worker killed while it holds every slot: its tasks are rescued and the slots come back', async () => {
    await insert(
      'capped',
      Array.from({ length: 6 }, (_, n) => ({ n, ms: 1_500 })),
    );
    // Wait until three run; kill whichever processes hold them.
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int as c from tandem.tasks where state = 'running'`))
          .rows[0].c === 3,
      10_000,
      'three running',
    );
    const owners = (
      await pool.query(`select distinct owner from tandem.tasks where state = 'running'`)
    ).rows.map((r) => r.owner);
    const victims = procs.filter((p) => owners.includes(p.id));
    expect(victims.length).toBeGreaterThan(0);
    expect(victims.length).toBeLessThan(3);
    for (const v of victims) v.child.kill('SIGKILL');
    await Promise.all(victims.map((v) => v.exited));
    procs = procs.filter((p) => !victims.includes(p));
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int as c from tandem.tasks where state = 'succeeded'`))
          .rows[0].c === 6,
      30_000,
      'all six done by the survivors',
    );
    const lim = await pool.query(`select running from tandem.flow_limits where name = 'capped'`);
    expect(lim.rows[0].running).toBe(0);
    const lost = await pool.query(
      `select count(*)::int as c from tandem.tasks where name = 'capped' and lost > 0`,
    );
    expect(lost.rows[0].c).toBeGreaterThan(0);
  }, 60_000);
});
