/** Task and enqueue middleware, logTasks and onTaskFinished, on a real PostgreSQL. */
import { Writable } from 'node:stream';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createTandem,
  defineTask,
  type EnqueueInfo,
  type EnqueueMiddleware,
  type Logger,
  logTasks,
  onTaskFinished,
  type Tandem,
  type TandemOptions,
  type TaskFinished,
  type TaskMiddleware,
} from '../src/index.js';
import { drain } from '../src/testing/index.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';

let url: string;
let pool: pg.Pool;
const instances: Tandem[] = [];

beforeAll(async () => {
  url = await freshDatabase();
  pool = new pg.Pool({ connectionString: url });
  await pool.query('create table effects (note text not null)');
});
afterEach(async () => {
  await Promise.all(instances.splice(0).map((t) => t.close()));
  await pool.query('delete from tandem.tasks; delete from effects; delete from tandem.workers');
});
afterAll(() => pool.end());

function setup(options: Partial<TandemOptions>): Tandem {
  const tandem = createTandem({ pool, logger: quietLogger, ...options });
  instances.push(tandem);
  return tandem;
}

const echo = defineTask({
  name: 'echo',
  payload: z.object({ n: z.number() }),
  maxAttempts: 3,
  backoff: { base: 0, jitter: false },
  handler: (p) => ({ n: p.n }),
});

const rows = async () =>
  (
    await pool.query(
      'select id, name, payload, metadata, state, errors from tandem.tasks order by id',
    )
  ).rows;

describe('createTandem', () => {
  it('refuses middleware that is not a function, or not an array, naming the option and index', () => {
    const bad = (o: Record<string, unknown>) => () => createTandem({ pool, ...o } as never);
    expect(bad({ taskMiddleware: [async () => {}, 'log'] })).toThrow(
      /taskMiddleware\[1\] must be a function \(ctx, next\) => …, got string/,
    );
    expect(bad({ enqueueMiddleware: [null] })).toThrow(
      /enqueueMiddleware\[0\] must be a function \(info, next\) => …, got null/,
    );
    expect(bad({ taskMiddleware: async () => {} })).toThrow(
      /taskMiddleware must be an array of middleware functions, got function/,
    );
    expect(bad({ tracing: 'yes' })).toThrow(/tracing must be true or false, got "yes"/);
    try {
      bad({ taskMiddleware: [1] })();
    } catch (err) {
      expect((err as { code?: string }).code).toBe('INVALID_OPTIONS');
    }
  });
});

describe('task middleware', () => {
  it('runs first-registered outermost, around the handler, with ctx and the payload', async () => {
    const order: string[] = [];
    const mw =
      (name: string): TaskMiddleware =>
      async (ctx, next) => {
        order.push(`${name}> ${ctx.name}#${ctx.attempt} n=${(ctx.payload as { n: number }).n}`);
        const r = await next();
        order.push(`<${name} ${JSON.stringify(r)}`);
        return r;
      };
    const t = defineTask({
      name: 'ordered',
      payload: z.object({ n: z.number() }),
      handler: (p) => {
        order.push('handler');
        return p.n * 2;
      },
    });
    const tandem = setup({ tasks: [t], taskMiddleware: [mw('a'), mw('b')] });
    await tandem.enqueue(pool, t, { n: 21 });
    const [o] = await drain(tandem);
    expect(order).toEqual(['a> ordered#1 n=21', 'b> ordered#1 n=21', 'handler', '<b 42', '<a 42']);
    expect(o).toMatchObject({ state: 'succeeded', result: 42 });
  });

  it('may replace the result; what it returns is stored', async () => {
    const tandem = setup({
      tasks: [echo],
      taskMiddleware: [async (_ctx, next) => ({ wrapped: await next() })],
    });
    await tandem.enqueue(pool, echo, { n: 1 });
    await drain(tandem);
    expect((await pool.query('select result from tandem.tasks')).rows[0].result).toEqual({
      wrapped: { n: 1 },
    });
  });

  it('an error it throws fails the attempt like a handler error: recorded, retried, then the handler runs', async () => {
    let handled = 0;
    const t = defineTask({
      name: 'guarded',
      payload: z.object({}),
      maxAttempts: 3,
      backoff: { base: 0, jitter: false },
      handler: () => {
        handled++;
        return 'ok';
      },
    });
    const tandem = setup({
      tasks: [t],
      taskMiddleware: [
        async (ctx, next) => {
          if (ctx.attempt === 1) throw new Error('middleware says no');
          return next();
        },
      ],
    });
    await tandem.enqueue(pool, t, {});
    const outcomes = await drain(tandem);
    expect(outcomes.map((o) => [o.attempt, o.state])).toEqual([
      [1, 'retrying'],
      [2, 'succeeded'],
    ]);
    expect(handled).toBe(1);
    const [row] = await rows();
    expect(row.errors).toHaveLength(1);
    expect(row.errors[0]).toMatchObject({ attempt: 1, message: 'middleware says no' });
  });

  it('a middleware throwing on the last attempt fails the task', async () => {
    const t = defineTask({
      name: 'doomed',
      payload: z.object({}),
      maxAttempts: 1,
      handler: () => 1,
    });
    const tandem = setup({
      tasks: [t],
      taskMiddleware: [
        async () => {
          throw new TypeError('bad tenant');
        },
      ],
    });
    await tandem.enqueue(pool, t, {});
    const [o] = await drain(tandem);
    expect(o).toMatchObject({ state: 'failed' });
    expect(o!.error?.message).toBe('bad tenant');
  });

  it('calling next() twice is refused as the attempt error', async () => {
    const tandem = setup({
      tasks: [echo],
      taskMiddleware: [
        async (_ctx, next) => {
          await next();
          return next();
        },
      ],
    });
    await tandem.enqueue(pool, echo, { n: 1 }, { maxAttempts: 1 });
    const [o] = await drain(tandem);
    expect(o!.state).toBe('failed');
    expect(o!.error?.message).toMatch(/called next\(\) more than once/);
  });

  it('wraps a transactional task: ctx.trx is set inside next(), and its error rolls the writes back', async () => {
    const seen: string[] = [];
    const t = defineTask({
      name: 'tx-task',
      payload: z.object({ fail: z.boolean() }),
      transactional: true,
      maxAttempts: 1,
      handler: async (_p, ctx) => {
        await ctx.trx.insertInto('effects').values({ note: 'written' }).execute();
      },
    });
    const tandem = setup({
      tasks: [t],
      taskMiddleware: [
        async (ctx, next) => {
          seen.push(`before trx=${ctx.trx !== undefined}`);
          const r = await next();
          seen.push(`after trx=${ctx.trx !== undefined}`);
          if ((ctx.payload as { fail: boolean }).fail) throw new Error('after commit');
          return r;
        },
      ],
    });
    await tandem.enqueue(pool, t, { fail: false });
    const [o] = await drain(tandem);
    expect(o!.state).toBe('succeeded');
    expect(seen).toEqual(['before trx=false', 'after trx=true']);
    expect((await pool.query('select count(*)::int as n from effects')).rows[0].n).toBe(1);
  });
});

describe('enqueue middleware', () => {
  it('runs first-registered outermost for every door, with the executor kind, and its metadata is stored', async () => {
    const seen: string[] = [];
    const mw =
      (name: string): EnqueueMiddleware =>
      async (info, next) => {
        seen.push(`${name}> ${info.door} ${info.executorKind} ${info.name}@${info.queue}`);
        info.metadata[name] = true;
        const r = await next();
        seen.push(`<${name} ${r.inserted}`);
        return r;
      };
    let handlerMeta: unknown;
    const t = defineTask({
      name: 'meta',
      payload: z.object({ n: z.number() }),
      queue: 'q1',
      handler: (_p, ctx) => {
        handlerMeta = ctx.metadata;
      },
    });
    const tandem = setup({ tasks: [t], enqueueMiddleware: [mw('a'), mw('b')] });
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    await db
      .transaction()
      .execute((trx) => tandem.enqueue(trx, t, { n: 1 }, { metadata: { x: 1 } }));
    await tandem.enqueueMany(pool, [
      { task: t, payload: { n: 2 } },
      { task: 'meta', payload: { n: 3 }, options: { queue: 'q2' } },
    ]);
    await tandem.enqueueByName('meta', { n: 4 });
    expect(seen).toEqual([
      'a> enqueue kysely meta@q1',
      'b> enqueue kysely meta@q1',
      '<b true',
      '<a true',
      // Each item's chain runs on its own; the batch is inserted once both reached next().
      'a> enqueueMany pg meta@q1',
      'b> enqueueMany pg meta@q1',
      'a> enqueueMany pg meta@q2',
      'b> enqueueMany pg meta@q2',
      '<b true',
      '<b true',
      '<a true',
      '<a true',
      'a> enqueueByName tandem meta@q1',
      'b> enqueueByName tandem meta@q1',
      '<b true',
      '<a true',
    ]);
    const stored = await rows();
    expect(stored.map((r) => [r.payload.n, r.metadata])).toEqual([
      [1, { x: 1, a: true, b: true }],
      [2, { a: true, b: true }],
      [3, { a: true, b: true }],
      [4, { a: true, b: true }],
    ]);
    await drain(tandem, { queues: ['q1'] });
    expect(handlerMeta).toEqual({ a: true, b: true });
  });

  it("does not change the caller's options object", async () => {
    const tandem = setup({
      tasks: [echo],
      enqueueMiddleware: [
        (info, next) => {
          info.metadata.added = 1;
          return next();
        },
      ],
    });
    const options = { metadata: { mine: true } };
    await tandem.enqueue(pool, echo, { n: 1 }, options);
    expect(options).toEqual({ metadata: { mine: true } });
  });

  it('may change the payload and options before the insert, which validates them', async () => {
    const tandem = setup({
      tasks: [echo],
      enqueueMiddleware: [
        (info, next) => {
          info.payload = { n: (info.payload as { n: number }).n + 100 };
          (info.options as { priority?: number }).priority = 7;
          return next();
        },
      ],
    });
    await tandem.enqueue(pool, echo, { n: 1 });
    const { rows: r } = await pool.query('select payload, priority from tandem.tasks');
    expect(r).toEqual([{ payload: { n: 101 }, priority: 7 }]);
    const broken = setup({
      tasks: [echo],
      enqueueMiddleware: [
        (info, next) => {
          info.payload = { n: 'not a number' };
          return next();
        },
      ],
    });
    await expect(broken.enqueue(pool, echo, { n: 1 })).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
    });
  });

  it("an error it throws rejects before any SQL: the caller's transaction stays usable, nothing is inserted", async () => {
    const refuse: EnqueueMiddleware = async (info, next) => {
      if ((info.payload as { n: number }).n < 0) throw new Error('negative');
      return next();
    };
    const tandem = setup({ tasks: [echo], enqueueMiddleware: [refuse] });
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`insert into effects values ('before')`);
      await expect(tandem.enqueue(client, echo, { n: -1 })).rejects.toThrow('negative');
      await expect(
        tandem.enqueueMany(client, [
          { task: echo, payload: { n: 1 } },
          { task: echo, payload: { n: -2 } },
        ]),
      ).rejects.toThrow('negative');
      // Still usable: a failed statement would have aborted the transaction.
      await client.query(`insert into effects values ('after')`);
      await client.query('commit');
    } finally {
      client.release();
    }
    expect((await pool.query('select note from effects order by note')).rows).toEqual([
      { note: 'after' },
      { note: 'before' },
    ]);
    expect(await rows()).toEqual([]);
  });

  it('a middleware may answer without next(): that item is not inserted, the others are', async () => {
    const tandem = setup({
      tasks: [echo],
      enqueueMiddleware: [
        async (info, next) =>
          (info.payload as { n: number }).n === 2
            ? { id: 'skipped', inserted: false, state: 'queued' as const }
            : next(),
      ],
    });
    const out = await tandem.enqueueMany(pool, [
      { task: echo, payload: { n: 1 } },
      { task: echo, payload: { n: 2 } },
      { task: echo, payload: { n: 3 } },
    ]);
    const stored = await rows();
    expect(stored.map((r) => r.payload.n)).toEqual([1, 3]);
    expect(out.map((r) => r.id)).toEqual([stored[0].id, 'skipped', stored[1].id]);
  });

  it('each item of enqueueMany sees its own info and its own result', async () => {
    const results: [number, string][] = [];
    const tandem = setup({
      tasks: [echo],
      enqueueMiddleware: [
        async (info: EnqueueInfo, next) => {
          const r = await next();
          results.push([(info.payload as { n: number }).n, r.id]);
          return r;
        },
      ],
    });
    const out = await tandem.enqueueMany(pool, [
      { task: echo, payload: { n: 1 } },
      { task: echo, payload: { n: 2 }, options: { key: 'k' } },
      { task: echo, payload: { n: 3 }, options: { key: 'k' } },
    ]);
    expect(out.map((r) => r.inserted)).toEqual([true, true, false]);
    expect(results.sort()).toEqual([
      [1, out[0]!.id],
      [2, out[1]!.id],
      [3, out[1]!.id],
    ]);
  });
});

describe('logTasks and onTaskFinished', () => {
  it('logTasks logs each attempt on the task child logger with its fields, outcome and duration', async () => {
    const lines: any[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    const logger = pino({ level: 'debug' }, sink) as unknown as Logger;
    const t = defineTask({
      name: 'logged',
      payload: z.object({}),
      queue: 'logs',
      maxAttempts: 2,
      backoff: { base: 0, jitter: false },
      handler: (_p, ctx) => {
        if (ctx.attempt === 1) throw new Error('first try fails');
      },
    });
    const tandem = createTandem({ pool, logger, tasks: [t], taskMiddleware: [logTasks()] });
    instances.push(tandem);
    const { id } = await tandem.enqueue(pool, t, {});
    await drain(tandem);
    const mine = lines.filter((l) => l.msg === 'task started' || l.msg === 'task finished');
    expect(mine.map((l) => [l.msg, l.taskId, l.task, l.queue, l.attempt, l.outcome])).toEqual([
      ['task started', id, 'logged', 'logs', 1, undefined],
      ['task finished', id, 'logged', 'logs', 1, 'retrying'],
      ['task started', id, 'logged', 'logs', 2, undefined],
      ['task finished', id, 'logged', 'logs', 2, 'succeeded'],
    ]);
    expect(mine[1].error).toBe('first try fails');
    expect(mine[1].level).toBe(30);
    expect(typeof mine[3].durationMs).toBe('number');
  });

  it('onTaskFinished reports each attempt with its outcome and duration; a throwing callback changes nothing', async () => {
    const finished: TaskFinished[] = [];
    const snoozed = new Set<string>();
    const t = defineTask({
      name: 'measured',
      payload: z.object({ mode: z.enum(['ok', 'snooze', 'fail', 'slow']) }),
      maxAttempts: 2,
      backoff: { base: 0, jitter: false },
      handler: async (p, ctx) => {
        if (p.mode === 'snooze' && !snoozed.has(ctx.id)) {
          snoozed.add(ctx.id);
          ctx.snooze(0);
        }
        if (p.mode === 'fail') throw new Error('always');
        if (p.mode === 'slow') await new Promise((r) => setTimeout(r, 60));
      },
    });
    const tandem = setup({
      tasks: [t],
      taskMiddleware: [
        onTaskFinished((f) => finished.push(f)),
        onTaskFinished(() => {
          throw new Error('metrics backend down');
        }),
      ],
    });
    const ids = new Map<string, string>();
    for (const mode of ['ok', 'fail', 'slow', 'snooze'] as const)
      ids.set(mode, (await tandem.enqueue(pool, t, { mode })).id);
    await drain(tandem);
    const of = (mode: string) => finished.filter((f) => f.id === ids.get(mode));
    expect(of('ok').map((f) => [f.attempt, f.outcome, f.error])).toEqual([[1, 'succeeded', null]]);
    expect(of('fail').map((f) => [f.attempt, f.maxAttempts, f.outcome])).toEqual([
      [1, 2, 'retrying'],
      [2, 2, 'failed'],
    ]);
    expect((of('fail')[1]!.error as Error).message).toBe('always');
    expect(of('slow')[0]!.durationMs).toBeGreaterThanOrEqual(55);
    expect(of('ok')[0]!.durationMs).toBeLessThan(55);
    expect(of('snooze').map((f) => f.outcome)).toEqual(['snoozed', 'succeeded']);
    expect(of('ok')[0]).toMatchObject({ name: 'measured', queue: 'default' });
    const states = (await rows()).map((r) => [String(r.id), r.state] as [string, string]);
    expect(new Map(states).get(ids.get('ok')!)).toBe('succeeded');
  });
});
