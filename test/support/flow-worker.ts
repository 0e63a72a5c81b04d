/**
 * A worker process for the flow-control tests. Env: DATABASE_URL,
 * CONCURRENCY (slots of queue 'flow'). Every handler records its own start
 * and end (Date.now() in this process) in the `runs` table, then sleeps
 * the payload's `ms`. Prints a "ready" JSON line on stdout.
 */
import { pino } from 'pino';
import { z } from 'zod';
import { createTandem, defineTask, type Logger, type TaskContext } from '../../src/index.js';

const payload = z.object({ n: z.number(), ms: z.number(), tenant: z.string().optional() });

async function run(p: z.infer<typeof payload>, ctx: TaskContext): Promise<void> {
  const start = Date.now();
  await new Promise((r) => setTimeout(r, p.ms));
  await ctx.db
    .insertInto('runs')
    .values({
      task_id: ctx.id,
      name: ctx.name,
      tenant: p.tenant ?? null,
      n: p.n,
      start,
      end: Date.now(),
    })
    .execute();
}

/** At most 3 running fleet-wide. */
export const capped = defineTask({
  name: 'capped',
  queue: 'flow',
  payload,
  concurrency: 3,
  handler: run,
});

/** At most 20 starts in any 500 ms, fleet-wide. */
export const rated = defineTask({
  name: 'rated',
  queue: 'flow',
  payload,
  rateLimit: '20/500ms',
  handler: run,
});

/** One at a time per tenant, in enqueue order. */
export const serial = defineTask({
  name: 'serial',
  queue: 'flow',
  payload,
  concurrencyKey: 'tenant:{tenant}',
  keyConcurrency: 1,
  handler: run,
});

/** Round-robin across tenants, two at a time each. */
export const fair = defineTask({
  name: 'fair',
  queue: 'flow',
  payload,
  concurrencyKey: (p) => `tenant:${p.tenant}`,
  keyConcurrency: 2,
  handler: run,
});

const tandem = createTandem({
  connectionString: process.env.DATABASE_URL!,
  tasks: [capped, rated, serial, fair],
  logger: pino({ level: process.env.TANDEM_LOG_LEVEL ?? 'silent' }) as unknown as Logger,
});
const worker = tandem.worker({
  queues: { flow: Number(process.env.CONCURRENCY ?? 10) },
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
