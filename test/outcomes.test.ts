/**
 * No outcome a handler can produce jams a worker: values PostgreSQL cannot
 * store, values JSON cannot describe, handlers that ignore their signal,
 * cancels and pauses that reach tasks claimed ahead.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTandem, defineTask, SnoozeError, type Tandem, type Worker } from '../src/index.js';
import { freshDatabase, taskRuleViolations } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { sleep, waitFor } from './support/wait.js';

let url: string;
let pool: pg.Pool;
const workers: Worker[] = [];
const instances: Tandem[] = [];

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(instances.splice(0).map((t) => t.close()));
  expect(await taskRuleViolations(pool)).toEqual([]);
  await pool.query(`delete from tandem.tasks; delete from tandem.queues`);
});
afterAll(() => pool.end());

function setup(tasks: any[], options: Parameters<Tandem['worker']>[0] = {}) {
  const tandem = createTandem({ connectionString: url, tasks, logger: quietLogger });
  instances.push(tandem);
  const worker = tandem.worker({ pollInterval: 100, shutdownTimeout: 2_000, ...options });
  workers.push(worker);
  return { tandem, worker };
}

const row = (id: string) =>
  pool.query('select * from tandem.tasks where id = $1', [id]).then((r) => r.rows[0]);
const finished = (ids: string[]) =>
  waitFor(
    async () =>
      (
        await pool.query(
          `select count(*)::int n from tandem.tasks where id = any($1) and state in ('succeeded', 'failed')`,
          [ids],
        )
      ).rows[0].n === ids.length,
    10_000,
    `${ids.length} tasks to finish`,
  );

/** A lone UTF-16 surrogate: half of an emoji. */
const lone = '😀'.slice(0, 1);

describe('outcomes PostgreSQL cannot store', () => {
  const cases: [string, () => unknown][] = [
    ['an error message with U+0000', () => Promise.reject(new Error('x\u0000y'))],
    ['an error message with a lone surrogate', () => Promise.reject(new Error(`x${lone}`))],
    [
      'an error whose name is a BigInt',
      () => {
        const e = new Error('big name');
        (e as any).name = 10n;
        throw e;
      },
    ],
    ['a result with U+0000', () => ({ text: 'a\u0000b' })],
    ['a result with a lone surrogate', () => ({ text: `a${lone}` })],
    ['a result key with U+0000', () => ({ 'k\u0000': 1 })],
    ['a snooze of 1e20 ms', () => new SnoozeError(1e20)],
    ['ctx.snooze("300000y")', () => 'snooze-300000y'],
  ];

  for (const [label, produce] of cases) {
    it(`records ${label} as that task's own failure, and the batch around it settles`, async () => {
      const bad = defineTask({
        name: 'bad',
        payload: z.object({}),
        maxAttempts: 1,
        handler: async (_p, ctx) => {
          const v = produce();
          if (v instanceof SnoozeError) throw v;
          if (v === 'snooze-300000y') ctx.snooze('300000y');
          return v instanceof Promise ? await v : v;
        },
      });
      const good = defineTask({ name: 'good', payload: z.object({}), handler: () => 'fine' });
      const { tandem, worker } = setup([bad, good]);
      // Enqueued before the worker starts, so one statement settles them together.
      const goods = await tandem.enqueueMany(
        pool,
        Array.from({ length: 20 }, () => ({ task: good, payload: {} })),
      );
      const { id } = await tandem.enqueue(pool, bad, {});
      const later = await tandem.enqueueMany(
        pool,
        Array.from({ length: 20 }, () => ({ task: good, payload: {} })),
      );
      await worker.start();
      const all = [...goods, ...later].map((r) => r.id);
      await finished([...all, id]);
      const failed = await row(id);
      expect(failed.state).toBe('failed');
      expect(failed.errors).toHaveLength(1);
      expect(typeof failed.errors[0].message).toBe('string');
      expect(typeof failed.errors[0].name).toBe('string');
      const states = await pool.query(
        `select state, count(*)::int n from tandem.tasks where id = any($1) group by 1`,
        [all],
      );
      expect(states.rows).toEqual([{ state: 'succeeded', n: 40 }]);
      // The worker stops promptly: nothing is stuck in its outbox.
      const t0 = Date.now();
      await worker.stop();
      expect(Date.now() - t0).toBeLessThan(2_000);
    });
  }

  it('keeps the text of a message it had to clean: U+0000 and lone surrogates become U+FFFD', async () => {
    const bad = defineTask({
      name: 'bad',
      payload: z.object({}),
      maxAttempts: 1,
      handler: () => {
        throw new Error(`before\u0000after ${lone}!`);
      },
    });
    const { tandem, worker } = setup([bad]);
    await worker.start();
    const { id } = await tandem.enqueue(pool, bad, {});
    await finished([id]);
    expect((await row(id)).errors[0].message).toBe('before\ufffdafter \ufffd!');
  });
  it('writes a batch PostgreSQL refuses row by row: only the refused outcome becomes a failure', async () => {
    // A rule of the application's own (a trigger) that validation cannot foresee.
    await pool.query(`
      create function public.refuse_poison() returns trigger language plpgsql as $$
      begin
        if new.result = '"poison"' then raise exception 'poison refused' using errcode = '22023'; end if;
        return new;
      end $$;
      create trigger refuse_poison before update on tandem.tasks
        for each row execute function public.refuse_poison()`);
    try {
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      const task = defineTask({
        name: 'results',
        payload: z.object({ v: z.string() }),
        handler: async ({ v }) => {
          await gate; // every result lands in one batch
          return v;
        },
      });
      const { tandem, worker } = setup([task]);
      const items = ['a', 'poison', 'b'].map((v) => ({ task, payload: { v } }));
      const ids = (await tandem.enqueueMany(pool, items)).map((r) => r.id);
      await worker.start();
      await waitFor(() => worker.held === 3, 5_000, 'the three tasks to start');
      open();
      await finished(ids);
      const [a, poison, b] = await Promise.all(ids.map(row));
      expect([a.state, a.result, b.state, b.result]).toEqual(['succeeded', 'a', 'succeeded', 'b']);
      expect(poison.state).toBe('failed');
      expect(poison.errors.at(-1)).toMatchObject({ name: 'OutcomeNotStoredError' });
      expect(poison.errors.at(-1).message).toMatch(/22023 poison refused/);
    } finally {
      await pool.query(
        `drop trigger refuse_poison on tandem.tasks; drop function public.refuse_poison()`,
      );
    }
  });
});

describe('thrown values JSON cannot describe', () => {
  const cyclic: any = { name: 'cyclic' };
  cyclic.self = cyclic;
  const throwingStack = new Error('stack getter throws');
  Object.defineProperty(throwingStack, 'stack', {
    get() {
      throw new Error('no stack for you');
    },
  });
  const throwingMessage = Object.create(Error.prototype, {
    message: {
      get() {
        throw new Error('no message');
      },
    },
  });
  const cases: [string, unknown, RegExp][] = [
    ['a cyclic object', cyclic, /object/],
    ['a BigInt', 12n, /12/],
    [
      'an object whose toJSON throws',
      {
        toJSON: () => {
          throw new Error('nope');
        },
      },
      /object/,
    ],
    ['an Error whose stack getter throws', throwingStack, /stack getter throws/],
    ['an Error whose message getter throws', throwingMessage, /Error/],
    ['undefined', undefined, /undefined/],
    ['a Symbol', Symbol('s'), /Symbol\(s\)/],
  ];
  for (const [label, value, message] of cases) {
    it(`records ${label} as a failed attempt`, async () => {
      const thrower = defineTask({
        name: 'thrower',
        payload: z.object({}),
        maxAttempts: 1,
        handler: () => {
          throw value;
        },
      });
      const { tandem, worker } = setup([thrower]);
      await worker.start();
      const { id } = await tandem.enqueue(pool, thrower, {});
      await finished([id]);
      const r = await row(id);
      expect(r.state).toBe('failed');
      expect(r.errors[0].message).toMatch(message);
      expect(r.owner).toBeNull();
    });
  }
});

describe('bookkeeping of attempts', () => {
  it('tells apart two attempts of one task running at once on the same worker', async () => {
    // The first attempt times out but ignores its signal; the retry starts on
    // the same worker while the first still runs.
    const events: string[] = [];
    const stubborn = defineTask({
      name: 'stubborn',
      payload: z.object({}),
      timeout: 100,
      maxAttempts: 2,
      backoff: { base: 0, jitter: false },
      handler: async (_p, ctx) => {
        events.push(`start ${ctx.attempt}`);
        await sleep(ctx.attempt === 1 ? 600 : 1_200);
        events.push(`end ${ctx.attempt}`);
      },
    });
    const { tandem, worker } = setup([stubborn], { pollInterval: 20, shutdownTimeout: 5_000 });
    await worker.start();
    await tandem.enqueue(pool, stubborn, {});
    await waitFor(() => events.includes('end 1'), 5_000, 'the first attempt to return');
    expect(events).toContain('start 2');
    expect(worker.held).toBe(1);
    await worker.stop();
    // stop() waited for the second attempt, which was still running.
    expect(events).toContain('end 2');
  });

  it('does not run a claimed-ahead task that was cancelled before it started', async () => {
    const ran: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const job = defineTask({
      name: 'job',
      payload: z.object({ n: z.number() }),
      handler: async (p, ctx) => {
        ran.push(ctx.id);
        if (p.n === 0) await gate;
      },
    });
    const { tandem, worker } = setup([job], { queues: { default: 1 } });
    const ids = (
      await tandem.enqueueMany(
        pool,
        [0, 1].map((n) => ({ task: job, payload: { n } })),
      )
    ).map((r) => r.id);
    await worker.start();
    await waitFor(() => ran.length === 1 && worker.held === 2, 5_000, 'one running, one ahead');
    expect(await tandem.cancel(ids[1]!)).toBe('cancelled');
    await sleep(200);
    release();
    await waitFor(async () => (await row(ids[0]!)).state === 'succeeded');
    await sleep(300);
    expect(ran).toEqual([ids[0]]);
    expect((await row(ids[1]!)).state).toBe('cancelled');
  });

  it('does not run claimed-ahead tasks of a queue paused meanwhile', async () => {
    const ran: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const job = defineTask({
      name: 'job',
      payload: z.object({ n: z.number() }),
      handler: async (p) => {
        ran.push(p.n);
        if (p.n === 0) await gate;
      },
    });
    const { tandem, worker } = setup([job], { queues: { default: 1 } });
    await tandem.enqueueMany(
      pool,
      [0, 1].map((n) => ({ task: job, payload: { n } })),
    );
    await worker.start();
    await waitFor(() => ran.length === 1 && worker.held === 2, 5_000, 'one running, one ahead');
    await tandem.pauseQueue('default');
    await sleep(300);
    release();
    await sleep(500);
    expect(ran).toEqual([0]);
    const waiting = await pool.query(
      `select state, owner from tandem.tasks where payload->>'n' = '1'`,
    );
    expect(waiting.rows[0]).toEqual({ state: 'queued', owner: null });
    await tandem.resumeQueue('default');
    await waitFor(() => ran.length === 2, 5_000, 'the paused task to run after resume');
  });

  it('counts the first claim against maxPrefetch', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const job = defineTask({ name: 'job', payload: z.object({}), handler: () => gate });
    const { tandem, worker } = setup([job], { queues: { default: 5 }, maxPrefetch: 1 });
    await tandem.enqueueMany(
      pool,
      Array.from({ length: 30 }, () => ({ task: job, payload: {} })),
    );
    await worker.start();
    await sleep(300);
    expect(worker.held).toBeLessThanOrEqual(6);
    release();
  });
});

describe('what is kept of failed attempts', () => {
  it('records a transactional handler that swallowed its own SQL error as such', async () => {
    await pool.query('create table if not exists uniq (v int primary key)');
    await pool.query('insert into uniq values (1) on conflict do nothing');
    const swallow = defineTask({
      name: 'swallow',
      payload: z.object({}),
      maxAttempts: 1,
      transactional: true,
      async handler(_p, ctx) {
        try {
          await ctx.trx.insertInto('uniq').values({ v: 1 }).execute();
        } catch {
          // ignored, and the transaction is now aborted
        }
        return 'done';
      },
    });
    const { tandem, worker } = setup([swallow]);
    await worker.start();
    const { id } = await tandem.enqueue(pool, swallow, {});
    await finished([id]);
    const r = await row(id);
    expect(r.state).toBe('failed');
    expect(r.errors[0]).toMatchObject({ name: 'TransactionAbortedError' });
    expect(r.errors[0].message).toMatch(/caught the error/);
  });

  it('keeps the first error and the latest ones, 25 in all, with messages clipped', async () => {
    const flaky = defineTask({
      name: 'flaky',
      payload: z.object({}),
      maxAttempts: 40,
      backoff: { base: 0, jitter: false },
      handler: (_p, ctx) => {
        throw new Error(`attempt ${ctx.attempt} ${'x'.repeat(20_000)}`);
      },
    });
    const { tandem, worker } = setup([flaky], { pollInterval: 20 });
    await worker.start();
    const { id } = await tandem.enqueue(pool, flaky, {});
    await finished([id]);
    const r = await row(id);
    expect(r.attempt).toBe(40);
    expect(r.errors).toHaveLength(25);
    expect(r.errors.map((e: any) => e.attempt)).toEqual([
      1,
      ...Array.from({ length: 24 }, (_, i) => 17 + i),
    ]);
    expect(r.errors[0].message.length).toBeLessThan(8_300);
  });
});
