/** The testing helpers (tandem-queue/testing), on a real PostgreSQL. */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, type Tandem } from '../src/index.js';
import {
  createTestDatabase,
  drain,
  expectEnqueued,
  runTask,
  type TestDatabase,
} from '../src/testing/index.js';
import { quietLogger } from './support/quiet-logger.js';

let testDb: TestDatabase;
let pool: pg.Pool;
const instances: Tandem[] = [];

beforeAll(async () => {
  testDb = await createTestDatabase({
    setup: async (url) => {
      const c = new pg.Client(url);
      await c.connect();
      await c.query('create table effects (note text not null)');
      await c.end();
    },
  });
  pool = new pg.Pool({ connectionString: testDb.connectionString });
});
afterEach(async () => {
  await Promise.all(instances.splice(0).map((t) => t.close()));
  await pool.query('delete from tandem.tasks; delete from effects; delete from tandem.workers');
});
afterAll(async () => {
  await pool.end();
  await testDb.drop();
});

function tandemWith(tasks: any[]) {
  const tandem = createTandem({ pool, tasks, logger: quietLogger });
  instances.push(tandem);
  return tandem;
}

describe('createTestDatabase', () => {
  it('clones a template with Tandem schema and the setup tables; clones do not share rows', async () => {
    const other = await createTestDatabase({
      setup: async (url) => {
        const c = new pg.Client(url);
        await c.connect();
        await c.query('create table effects (note text not null)');
        await c.end();
      },
    });
    const c = new pg.Client(other.connectionString);
    await c.connect();
    try {
      await pool.query(`select tandem.enqueue('probe', '{}'::jsonb)`);
      const { rows } = await c.query(
        `select (select count(*) from tandem.tasks)::int as tasks, (select count(*) from effects)::int as effects`,
      );
      expect(rows).toEqual([{ tasks: 0, effects: 0 }]);
    } finally {
      await c.end();
      await other.drop();
    }
    const { rows } = await pool.query('select 1 from pg_database where datname = $1', [other.name]);
    expect(rows).toEqual([]);
  });

  it('says what to set when there is no server', async () => {
    const saved = { t: process.env.TANDEM_TEST_DATABASE_URL, d: process.env.DATABASE_URL };
    delete process.env.TANDEM_TEST_DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      await expect(createTestDatabase()).rejects.toThrow(/set TANDEM_TEST_DATABASE_URL/);
    } finally {
      if (saved.t !== undefined) process.env.TANDEM_TEST_DATABASE_URL = saved.t;
      if (saved.d !== undefined) process.env.DATABASE_URL = saved.d;
    }
  });
});

describe('expectEnqueued', () => {
  const note = defineTask({
    name: 'note',
    payload: z.object({ text: z.string(), tags: z.array(z.string()).default([]) }),
    handler: () => {},
  });

  it('matches part of the payload and the key, and lists what it found when nothing matches', async () => {
    const tandem = tandemWith([note]);
    await tandem.enqueue(pool, note, { text: 'hello', tags: ['a'] }, { key: 'k1' });
    const [found] = await expectEnqueued(pool, note, { text: 'hello' }, { key: 'k1' });
    expect(found).toMatchObject({ name: 'note', key: 'k1', state: 'queued' });
    await expectEnqueued(pool, 'note', { tags: ['a'] }, { count: 1 });
    await expect(expectEnqueued(pool, note, { tags: ['a', 'b'] })).rejects.toThrow(
      /expected a task "note", payload matching \{"tags":\["a","b"\]\} to be enqueued, got 0; found 1 of that name and key: #\d+ queued \{.*"text":"hello".*\}/,
    );
    await expect(expectEnqueued(pool, note, undefined, { count: 2 })).rejects.toThrow(
      /expected 2 task "note" to be enqueued, got 1/,
    );
  });
});

describe('drain', () => {
  it('runs until nothing is runnable: retries without backoff again, follow-up tasks too', async () => {
    let runs = 0;
    const flaky = defineTask({
      name: 'flaky',
      payload: z.object({}),
      maxAttempts: 3,
      backoff: { base: 0, jitter: false },
      handler: () => {
        runs++;
        throw new Error(`failure ${runs}`);
      },
    });
    const first = defineTask({
      name: 'first',
      payload: z.object({ n: z.number() }),
      async handler({ n }, ctx) {
        await ctx.db
          .insertInto('effects')
          .values({ note: `first ${n}` })
          .execute();
        await tandem.enqueue(ctx.db, follow, { n: n + 1 });
        return n;
      },
    });
    const follow = defineTask({
      name: 'follow',
      payload: z.object({ n: z.number() }),
      queue: 'later',
      transactional: true,
      async handler({ n }, ctx) {
        await ctx.trx
          .insertInto('effects')
          .values({ note: `follow ${n}` })
          .execute();
        return { n };
      },
    });
    const tandem = tandemWith([flaky, first, follow]);
    await tandem.enqueue(pool, first, { n: 1 });
    await tandem.enqueue(pool, flaky, {});
    const outcomes = await drain(tandem);
    expect(
      outcomes.map((o) => [o.name, o.attempt, o.state, o.result, o.error?.message ?? null]),
    ).toEqual([
      ['first', 1, 'succeeded', 1, null],
      ['flaky', 1, 'retrying', null, 'failure 1'],
      // Enqueued by first, committed: claimed in the next round with the retry's settle.
      ['follow', 1, 'succeeded', { n: 2 }, null],
      ['flaky', 2, 'retrying', null, 'failure 2'],
      ['flaky', 3, 'failed', null, 'failure 3'],
    ]);
    const { rows } = await pool.query('select note from effects order by note');
    expect(rows.map((r) => r.note)).toEqual(['first 1', 'follow 2']);
    const states = await pool.query('select name, state from tandem.tasks order by id');
    expect(states.rows).toEqual([
      { name: 'first', state: 'succeeded' },
      { name: 'flaky', state: 'failed' },
      { name: 'follow', state: 'succeeded' },
    ]);
    // Only the named queues run.
    await tandem.enqueue(pool, follow, { n: 9 });
    expect(await drain(tandem, { queues: ['default'] })).toEqual([]);
    expect(await drain(tandem, { queues: ['later'] })).toHaveLength(1);
  });

  it('leaves delayed tasks alone, and gives up with TIMEOUT on tasks that never end', async () => {
    const again = defineTask({
      name: 'again',
      payload: z.object({}),
      async handler(_p, ctx) {
        await tandem.enqueue(ctx.db, again, {});
      },
    });
    const tandem = tandemWith([again]);
    await tandem.enqueue(pool, again, {}, { delay: '1h' });
    expect(await drain(tandem)).toEqual([]);
    await tandem.enqueue(pool, again, {});
    await expect(drain(tandem, { timeout: '300ms' })).rejects.toMatchObject({ code: 'TIMEOUT' });
    const { rows } = await pool.query(
      `select count(*)::int as n from tandem.tasks where state = 'running'`,
    );
    expect(rows).toEqual([{ n: 0 }]);
  });
});

describe('runTask', () => {
  it('gives the handler a real context without a database: attempt, key, signal, snooze', async () => {
    const seen: unknown[] = [];
    const probe = defineTask({
      name: 'probe',
      payload: z.object({ mode: z.enum(['ok', 'throw', 'snooze', 'hang']) }),
      maxAttempts: 5,
      timeout: '100ms',
      async handler({ mode }, ctx) {
        seen.push({ attempt: ctx.attempt, max: ctx.maxAttempts, key: ctx.key });
        if (mode === 'throw') throw new Error('nope');
        if (mode === 'snooze') ctx.snooze('1m');
        if (mode === 'hang') {
          await new Promise((_r, reject) =>
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
          );
        }
        return { mode };
      },
    });
    expect(await runTask(probe, { mode: 'ok' }, { key: 'k', attempt: 2 })).toMatchObject({
      state: 'succeeded',
      result: { mode: 'ok' },
      attempt: 2,
    });
    expect(seen[0]).toEqual({ attempt: 2, max: 5, key: 'k' });
    expect(await runTask(probe, { mode: 'throw' })).toMatchObject({ state: 'retrying' });
    expect(await runTask(probe, { mode: 'throw' }, { attempt: 5 })).toMatchObject({
      state: 'failed',
    });
    expect(await runTask(probe, { mode: 'snooze' })).toMatchObject({
      state: 'queued',
      snoozed: true,
    });
    const timedOut = await runTask(probe, { mode: 'hang' });
    expect(timedOut).toMatchObject({ state: 'retrying', error: { name: 'TimeoutError' } });
    await expect(runTask(probe, { mode: 'bad' } as never)).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
    });
  });

  it('needs { tandem } for ctx.db and transactional tasks, and with it writes the task row', async () => {
    const write = defineTask({
      name: 'write',
      payload: z.object({ note: z.string() }),
      transactional: true,
      async handler({ note }, ctx) {
        await ctx.trx.insertInto('effects').values({ note }).execute();
        if (note === 'fail') throw new Error('rolled back');
        return { wrote: note };
      },
    });
    const read = defineTask({
      name: 'read',
      payload: z.object({}),
      handler: (_p, ctx) => ctx.db.selectFrom('effects').selectAll().execute(),
    });
    await expect(runTask(write, { note: 'x' })).rejects.toThrow(/transactional.*pass \{ tandem \}/);
    expect((await runTask(read, {})).error?.message).toMatch(/uses ctx.db.*pass \{ tandem \}/);

    const tandem = tandemWith([write]);
    const ok = await runTask(write, { note: 'kept' }, { tandem });
    expect(ok).toMatchObject({ state: 'succeeded', result: { wrote: 'kept' } });
    const failed = await runTask(write, { note: 'fail' }, { tandem, attempt: 4, maxAttempts: 4 });
    expect(failed).toMatchObject({ state: 'failed', error: { message: 'rolled back' } });
    const { rows } = await pool.query('select note from effects');
    expect(rows).toEqual([{ note: 'kept' }]);
    const tasks = await pool.query(
      'select t.id::text, t.state, t.attempt, t.result from tandem.tasks t order by t.id',
    );
    expect(tasks.rows).toEqual([
      { id: ok.id, state: 'succeeded', attempt: 1, result: { wrote: 'kept' } },
      { id: failed.id, state: 'failed', attempt: 4, result: null },
    ]);
  });
});
