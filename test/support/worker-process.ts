/**
 * A real worker process for the multi-process tests. Configured by env:
 * DATABASE_URL, CONCURRENCY, LEASE_MS, SCHEDULE (a cron pattern), TASK_SLEEP_MS.
 * Prints one JSON line per event on stdout: ready (with its worker id).
 */
import { pino } from 'pino';
import { z } from 'zod';
import { createTandem, defineTask, type Logger } from '../../src/index.js';

const sleepMs = Number(process.env.TASK_SLEEP_MS ?? 0);
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((res, rej) => {
    if (ms <= 0) return res();
    const t = setTimeout(res, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      rej(signal.reason);
    });
  });

/** Non-transactional: one row per execution. */
export const record = defineTask({
  name: 'record',
  payload: z.object({ n: z.number() }),
  async handler(_p, ctx) {
    await pause(sleepMs, ctx.signal);
    await ctx.db.insertInto('runs').values({ task_id: ctx.id, worker: process.pid }).execute();
  },
});

/** Transactional: the effect row commits with the task's completion. */
export const effect = defineTask({
  name: 'effect',
  payload: z.object({ n: z.number() }),
  transactional: true,
  async handler(_p, ctx) {
    await ctx.trx.insertInto('effects').values({ task_id: ctx.id, worker: process.pid }).execute();
    await pause(sleepMs, ctx.signal);
  },
});

/** Waits until aborted, then notes it. */
export const wait = defineTask({
  name: 'wait',
  payload: z.object({}),
  async handler(_p, ctx) {
    await new Promise<void>((_res, rej) =>
      ctx.signal.addEventListener('abort', async () => {
        await ctx.db.insertInto('runs').values({ task_id: ctx.id, worker: -1 }).execute();
        rej(ctx.signal.reason);
      }),
    );
  },
});

export const tick = defineTask({ name: 'tick', payload: z.object({}), handler: () => process.pid });

const tandem = createTandem({
  connectionString: process.env.DATABASE_URL!,
  tasks: [record, effect, wait, tick],
  logger: pino({ level: process.env.TANDEM_LOG_LEVEL ?? 'silent' }) as unknown as Logger,
  schedules: process.env.SCHEDULE
    ? [{ name: 'every-second', cron: process.env.SCHEDULE, task: tick }]
    : [],
});
const worker = tandem.worker({
  queues: { default: Number(process.env.CONCURRENCY ?? 10) },
  lease: Number(process.env.LEASE_MS ?? 30_000),
  pollInterval: 200,
  shutdownTimeout: 2_000,
});
await worker.start();
process.stdout.write(`${JSON.stringify({ event: 'ready', id: worker.id, pid: process.pid })}\n`);
const shutdown = async () => {
  await worker.stop();
  await tandem.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
