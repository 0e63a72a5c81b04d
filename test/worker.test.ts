import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createTandem,
  defineTask,
  PermanentError,
  type Tandem,
  type Worker,
} from '../src/index.js';
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
  await pool.query('create table effects (task_id bigint not null, note text)');
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(instances.splice(0).map((t) => t.close()));
  expect(await taskRuleViolations(pool)).toEqual([]);
  await pool.query(`delete from tandem.tasks; delete from effects; delete from tandem.queues`);
});
afterAll(() => pool.end());

function setup(tasks: any[], options: Parameters<Tandem['worker']>[0] = {}) {
  const tandem = createTandem({ connectionString: url, tasks, logger: quietLogger });
  instances.push(tandem);
  const worker = tandem.worker({ pollInterval: 200, ...options });
  workers.push(worker);
  return { tandem, worker };
}

const task = (id: string) =>
  pool.query('select * from tandem.tasks where id = $1', [id]).then((r) => r.rows[0]);
const stateOf = async (id: string) => (await task(id))?.state;
const untilState = (id: string, state: string, ms = 10_000) =>
  waitFor(async () => (await stateOf(id)) === state, ms, `task ${id} to be ${state}`);

describe('running tasks', () => {
  it('runs a handler with a typed payload and context, and stores its result', async () => {
    let seen: any;
    const add = defineTask({
      name: 'add',
      payload: z.object({ a: z.number(), b: z.number() }),
      handler: (p, ctx) => {
        seen = {
          id: ctx.id,
          name: ctx.name,
          queue: ctx.queue,
          attempt: ctx.attempt,
          max: ctx.maxAttempts,
          key: ctx.key,
          aborted: ctx.signal.aborted,
        };
        return { sum: p.a + p.b };
      },
    });
    const { tandem, worker } = setup([add]);
    await worker.start();
    const { id } = await tandem.enqueue(pool, add, { a: 2, b: 3 }, { key: 'k1' });
    await untilState(id, 'succeeded');
    const row = await task(id);
    expect(row.result).toEqual({ sum: 5 });
    expect(row.attempt).toBe(1);
    expect(row.owner).toBeNull();
    expect(row.started_at.getTime()).toBeLessThanOrEqual(row.finished_at.getTime());
    expect(seen).toEqual({
      id,
      name: 'add',
      queue: 'default',
      attempt: 1,
      max: 4,
      key: 'k1',
      aborted: false,
    });
  });

  it('retries with backoff, records every failed attempt, then succeeds', async () => {
    const times: number[] = [];
    const flaky = defineTask({
      name: 'flaky',
      payload: z.object({}),
      backoff: { base: 300, factor: 2, jitter: false },
      handler: (_p, ctx) => {
        times.push(Date.now());
        if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
        return 'ok';
      },
    });
    const { tandem, worker } = setup([flaky], { pollInterval: 20 });
    await worker.start();
    const { id } = await tandem.enqueue(pool, flaky, {});
    await untilState(id, 'succeeded');
    const row = await task(id);
    expect(row.attempt).toBe(3);
    expect(row.errors.map((e: any) => [e.attempt, e.message, e.name, e.worker])).toEqual([
      [1, 'boom 1', 'Error', worker.id],
      [2, 'boom 2', 'Error', worker.id],
    ]);
    expect(row.errors[0].stack).toContain('boom 1');
    // Each error carries its attempt's start: the second began after the first ended.
    const [e1, e2] = row.errors.map((e: any) => [Date.parse(e.started_at), Date.parse(e.at)]);
    expect(e1[0]).toBeLessThanOrEqual(e1[1]);
    expect(e2[0]).toBeGreaterThanOrEqual(e1[1]);
    expect(e2[0]).toBeLessThanOrEqual(e2[1]);
    // 300 ms then 600 ms, within poll tolerance
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(290);
    expect(times[1]! - times[0]!).toBeLessThan(300 + 400);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(590);
    expect(times[2]! - times[1]!).toBeLessThan(600 + 400);
  });

  it('fails after maxAttempts, and at once on PermanentError', async () => {
    const always = defineTask({
      name: 'always',
      payload: z.object({}),
      maxAttempts: 2,
      backoff: { base: 10 },
      handler: () => Promise.reject(new Error('nope')),
    });
    const perm = defineTask({
      name: 'perm',
      payload: z.object({}),
      handler: () => {
        throw new PermanentError('card declined');
      },
    });
    const { tandem, worker } = setup([always, perm], { pollInterval: 20 });
    await worker.start();
    const a = await tandem.enqueue(pool, always, {});
    const p = await tandem.enqueue(pool, perm, {});
    await untilState(a.id, 'failed');
    await untilState(p.id, 'failed');
    expect((await task(a.id)).errors).toHaveLength(2);
    const pr = await task(p.id);
    expect(pr.attempt).toBe(1);
    expect(pr.errors[0]).toMatchObject({ name: 'PermanentError', message: 'card declined' });
    expect(pr.finished_at).not.toBeNull();
  });

  it('fails at once a payload that no longer matches the schema', async () => {
    const strict = defineTask({
      name: 'strict',
      payload: z.object({ n: z.number() }),
      handler: () => 'ran',
    });
    const { worker } = setup([strict]);
    await worker.start();
    const { rows } = await pool.query(`select tandem.enqueue('strict', '{"n":"seven"}') as id`);
    await untilState(rows[0].id, 'failed');
    const row = await task(rows[0].id);
    expect(row.attempt).toBe(1);
    expect(row.errors[0].message).toMatch(/no longer matches the schema of strict: n: /);
  });

  it('fails an attempt whose result does not serialise to JSON', async () => {
    const bad = defineTask({
      name: 'bad-result',
      payload: z.object({}),
      maxAttempts: 1,
      handler: () => ({ n: 1n }),
    });
    const { tandem, worker } = setup([bad]);
    await worker.start();
    const { id } = await tandem.enqueue(pool, bad, {});
    await untilState(id, 'failed');
    expect((await task(id)).errors[0].message).toMatch(/result of task bad-result .* BigInt at n/);
  });

  it('keeps running whatever handlers throw: sync throws, rejections, unhandled rejections', async () => {
    const chaos = defineTask({
      name: 'chaos',
      payload: z.object({ mode: z.enum(['sync', 'reject', 'unhandled', 'ok']) }),
      maxAttempts: 1,
      handler: async (p) => {
        if (p.mode === 'sync') throw new Error('sync');
        if (p.mode === 'reject') return Promise.reject(new Error('reject'));
        if (p.mode === 'unhandled') {
          void Promise.reject(new Error('nobody awaits me'));
          return 'returned';
        }
        return 'ok';
      },
    });
    // A forgotten promise is not tied to its attempt (it rejects after the
    // handler returned); the opt-in process-wide trap keeps it from ending the process.
    const { tandem, worker } = setup([chaos], { trapUnhandledRejections: true });
    await worker.start();
    const ids = [];
    for (const mode of ['sync', 'reject', 'unhandled', 'ok', 'sync', 'ok'] as const)
      ids.push((await tandem.enqueue(pool, chaos, { mode })).id);
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int n from tandem.tasks where finished_at is not null`))
          .rows[0].n === 6,
    );
    const states = await Promise.all(ids.map(stateOf));
    expect(states).toEqual(['failed', 'failed', 'succeeded', 'succeeded', 'failed', 'succeeded']);
  });

  it('installs no process-wide rejection handler unless asked to', async () => {
    const t = defineTask({ name: 'plain', payload: z.object({}), handler: () => 'ok' });
    const before = process.listenerCount('unhandledRejection');
    const { worker } = setup([t]);
    await worker.start();
    expect(process.listenerCount('unhandledRejection')).toBe(before);
    const trapping = setup([t], { trapUnhandledRejections: true });
    await trapping.worker.start();
    expect(process.listenerCount('unhandledRejection')).toBe(before + 1);
    await trapping.worker.stop();
    expect(process.listenerCount('unhandledRejection')).toBe(before);
  });

  it('leaves tasks it has no handler for to a worker that has one', async () => {
    const known = defineTask({ name: 'known', payload: z.object({}), handler: () => 'k' });
    const other = defineTask({ name: 'other', payload: z.object({}), handler: () => 'o' });
    const { tandem, worker } = setup([known]);
    await worker.start();
    const o = await tandem.enqueueMany(pool, [
      { task: other, payload: {} },
      { task: known, payload: {} },
    ]);
    await untilState(o[1]!.id, 'succeeded');
    await sleep(300);
    expect(await stateOf(o[0]!.id)).toBe('queued');
    const second = setup([other]);
    await second.worker.start();
    await untilState(o[0]!.id, 'succeeded');
  });

  it('snoozes without consuming an attempt', async () => {
    let runs = 0;
    const snoozy = defineTask({
      name: 'snoozy',
      payload: z.object({}),
      maxAttempts: 1,
      handler: (_p, ctx) => {
        runs++;
        if (runs < 3) ctx.snooze(100);
        return { runs, attempt: ctx.attempt };
      },
    });
    const { tandem, worker } = setup([snoozy], { pollInterval: 20 });
    await worker.start();
    const { id } = await tandem.enqueue(pool, snoozy, {});
    await untilState(id, 'succeeded');
    expect((await task(id)).result).toEqual({ runs: 3, attempt: 1 });
  });
});

describe('timeouts', () => {
  it('aborts ctx.signal, fails the attempt, and ignores a late result', async () => {
    let sawAbort = false;
    let lateSawAbort = false;
    const slow = defineTask({
      name: 'slow',
      payload: z.object({ obey: z.boolean() }),
      timeout: 150,
      maxAttempts: 1,
      handler: async (p, ctx) => {
        if (p.obey) {
          await new Promise((_, rej) =>
            ctx.signal.addEventListener('abort', () => {
              sawAbort = true;
              rej(ctx.signal.reason);
            }),
          );
        }
        await sleep(400); // ignores the signal
        // A signal first read after the timeout is already aborted, with the reason.
        if (ctx.signal.aborted && ctx.signal.reason?.name === 'TimeoutError') lateSawAbort = true;
        return 'late';
      },
    });
    const { tandem, worker } = setup([slow]);
    await worker.start();
    const a = await tandem.enqueue(pool, slow, { obey: true });
    const b = await tandem.enqueue(pool, slow, { obey: false });
    await untilState(a.id, 'failed');
    await untilState(b.id, 'failed');
    expect(sawAbort).toBe(true);
    await sleep(500);
    expect(lateSawAbort).toBe(true);
    const rb = await task(b.id);
    expect(rb.state).toBe('failed');
    expect(rb.result).toBeNull();
    expect(rb.errors[0]).toMatchObject({ name: 'TimeoutError' });
    expect(rb.errors[0].message).toMatch(/timed out after 150 ms/);
  });
});

describe('transactional tasks', () => {
  it('commits the handler writes with the completion, and rolls them back on failure', async () => {
    const tx = defineTask({
      name: 'tx',
      payload: z.object({ fail: z.boolean() }),
      transactional: true,
      maxAttempts: 2,
      backoff: { base: 10 },
      handler: async (p, ctx) => {
        await ctx.trx
          .insertInto('effects')
          .values({ task_id: ctx.id, note: `attempt ${ctx.attempt}` })
          .execute();
        if (p.fail && ctx.attempt === 1) throw new Error('after the write');
        return { wrote: true };
      },
    });
    const { tandem, worker } = setup([tx], { pollInterval: 20 });
    await worker.start();
    const ok = await tandem.enqueue(pool, tx, { fail: false });
    const retried = await tandem.enqueue(pool, tx, { fail: true });
    await untilState(ok.id, 'succeeded');
    await untilState(retried.id, 'succeeded');
    const effects = await pool.query('select task_id::text, note from effects order by task_id');
    expect(effects.rows).toEqual([
      { task_id: ok.id, note: 'attempt 1' },
      { task_id: retried.id, note: 'attempt 2' },
    ]);
    const r = await task(retried.id);
    expect(r.errors).toHaveLength(1);
    expect(r.result).toEqual({ wrote: true });
  });
});

describe('scheduling', () => {
  it('runs lower priority values first', async () => {
    const order: number[] = [];
    const p = defineTask({
      name: 'prio',
      payload: z.object({ p: z.number() }),
      handler: (x) => {
        order.push(x.p);
      },
    });
    const { tandem, worker } = setup([p], { queues: { default: 1 } });
    await tandem.enqueueMany(
      pool,
      [5, 1, 3, -2, 4, 0].map((n) => ({ task: p, payload: { p: n }, options: { priority: n } })),
    );
    await worker.start();
    await waitFor(() => order.length === 6);
    expect(order).toEqual([-2, 0, 1, 3, 4, 5]);
  });

  it('never runs a delayed task before its run_at', async () => {
    let ranAt = 0;
    const d = defineTask({
      name: 'delayed',
      payload: z.object({}),
      handler: () => {
        ranAt = Date.now();
      },
    });
    const { tandem, worker } = setup([d], { pollInterval: 20 });
    await worker.start();
    const { id } = await tandem.enqueue(pool, d, {}, { delay: 400 });
    const runAt = (await task(id)).run_at.getTime();
    await untilState(id, 'succeeded');
    expect(ranAt).toBeGreaterThanOrEqual(runAt);
    expect(ranAt - runAt).toBeLessThan(300);
  });

  it('polls without LISTEN when listen is false', async () => {
    const t = defineTask({ name: 'polled', payload: z.object({}), handler: () => 1 });
    const { tandem, worker } = setup([t], { listen: false, pollInterval: 50 });
    await worker.start();
    const { id } = await tandem.enqueue(pool, t, {});
    await untilState(id, 'succeeded', 2_000);
  });

  it('honours a paused queue until it is resumed', async () => {
    const t = defineTask({
      name: 'pausable',
      payload: z.object({}),
      queue: 'pq',
      handler: () => 1,
    });
    const { tandem, worker } = setup([t], { pollInterval: 50 });
    await tandem.pauseQueue('pq');
    await worker.start();
    const { id } = await tandem.enqueue(pool, t, {});
    await sleep(300);
    expect(await stateOf(id)).toBe('queued');
    expect((await tandem.listQueues()).find((q) => q.name === 'pq')).toMatchObject({
      paused: true,
      queued: 1,
    });
    await tandem.resumeQueue('pq');
    await untilState(id, 'succeeded', 2_000);
  });
});

describe('cancel and retry', () => {
  it('cancels a queued task and aborts a running one', async () => {
    let aborted = false;
    const long = defineTask({
      name: 'long',
      payload: z.object({}),
      handler: (_p, ctx) =>
        new Promise((_, rej) =>
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            rej(ctx.signal.reason);
          }),
        ),
    });
    const { tandem, worker } = setup([long]);
    const queued = await tandem.enqueue(pool, long, {}, { delay: '1h' });
    expect(await tandem.cancel(queued.id)).toBe('cancelled');
    await worker.start();
    const running = await tandem.enqueue(pool, long, {});
    await untilState(running.id, 'running');
    expect(await tandem.cancel(running.id)).toBe('cancelled');
    await waitFor(() => aborted, 2_000, 'the handler to see the abort');
    await sleep(100);
    const r = await task(running.id);
    expect(r.state).toBe('cancelled');
    expect(r.finished_at).not.toBeNull();
    // A cancelled task can be retried with one more attempt.
    expect(await tandem.cancel(running.id)).toBe('cancelled');
  });

  it('deletes a task that is not running, and refuses a running one', async () => {
    const hold = defineTask({
      name: 'hold',
      payload: z.object({}),
      handler: (_p, ctx) =>
        new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason))),
    });
    // The held task only ends when aborted: stop aborts it after 100 ms.
    const { tandem, worker } = setup([hold], { shutdownTimeout: '100ms' });
    const waiting = await tandem.enqueue(pool, hold, {}, { delay: '1h' });
    expect(await tandem.deleteTask(waiting.id)).toBe(true);
    expect(await tandem.getTask(waiting.id)).toBeNull();
    await worker.start();
    const running = await tandem.enqueue(pool, hold, {});
    await untilState(running.id, 'running');
    expect(await tandem.deleteTask(running.id)).toBe(false);
    expect(await stateOf(running.id)).toBe('running');
    await expect(tandem.deleteTask('abc')).rejects.toThrow(
      /task id must be a positive integer, got "abc"/,
    );
  });

  it('retries a failed task with one more attempt', async () => {
    let calls = 0;
    const once = defineTask({
      name: 'once',
      payload: z.object({}),
      maxAttempts: 1,
      handler: () => {
        if (++calls === 1) throw new Error('first');
        return calls;
      },
    });
    const { tandem, worker } = setup([once]);
    await worker.start();
    const { id } = await tandem.enqueue(pool, once, {});
    await untilState(id, 'failed');
    await expect(tandem.retry('999999999')).rejects.toThrow(/no task with id/);
    await tandem.retry(id);
    await untilState(id, 'succeeded');
    expect(await task(id)).toMatchObject({ attempt: 2, max_attempts: 2, result: 2 });
  });
});

describe('graceful shutdown', () => {
  it('finishes what it can, gives the rest back without counting the attempt, and loses nothing', async () => {
    const runs = new Map<string, number>();
    const job = defineTask({
      name: 'job',
      payload: z.object({ ms: z.number() }),
      handler: async (p, ctx) => {
        runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
        await new Promise<void>((res, rej) => {
          const t = setTimeout(res, p.ms);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(t);
            rej(ctx.signal.reason);
          });
        });
        await pool.query('insert into effects (task_id) values ($1)', [ctx.id]);
      },
    });
    const first = setup([job], { queues: { default: 4 }, shutdownTimeout: 300 });
    const items = [
      ...Array.from({ length: 8 }, () => ({ ms: 50 })),
      ...Array.from({ length: 4 }, () => ({ ms: 5_000 })),
    ];
    const ids = (
      await first.tandem.enqueueMany(
        pool,
        items.map((payload) => ({ task: job, payload })),
      )
    ).map((r) => r.id);
    await first.worker.start();
    await waitFor(() => runs.size >= 10, 5_000, 'the short tasks to run');
    await first.worker.stop();
    expect(first.worker.held).toBe(0);
    const after = await pool.query(
      `select state, attempt, owner from tandem.tasks where state not in ('succeeded')`,
    );
    for (const r of after.rows)
      expect(r).toMatchObject({ state: 'queued', attempt: 0, owner: null });
    const second = setup([job], { queues: { default: 8 } });
    await pool.query(`update tandem.tasks set payload = '{"ms": 10}' where state = 'queued'`);
    await second.worker.start();
    await waitFor(
      async () =>
        (await pool.query(`select count(*)::int n from tandem.tasks where state = 'succeeded'`))
          .rows[0].n === 12,
    );
    const effects = await pool.query(
      'select task_id::text id, count(*)::int n from effects group by 1',
    );
    expect(effects.rows).toHaveLength(12);
    for (const r of effects.rows) expect(r.n).toBe(1);
    expect(new Set(effects.rows.map((r) => r.id))).toEqual(new Set(ids));
  });
});
