/**
 * A worker process of the chaos scenario: Tandem with its defaults and one
 * transactional task, `effect`, whose handler inserts a row keyed by its
 * task id into `bench_effects` in `ctx.trx`, so the row commits exactly when
 * the task's completion does. The table has no unique constraint: a second
 * row for one task would be a duplicated effect, and the scenario counts
 * them. Every connection carries application_name `tandem-chaos-worker`, so
 * the terminate storm can find them.
 *
 * argv[2]: JSON { url, concurrency }. Says `ready` once the worker runs;
 * `stop` stops it gracefully and says `stopped`. SIGKILL is the other way out.
 */
import { z } from 'zod';
import { createTandem, defineTask } from '../src/index.js';

// Every failed attempt is a warning; under chaos there are thousands.
process.env.TANDEM_LOG_LEVEL = 'error';

export const CHAOS_APPLICATION_NAME = 'tandem-chaos-worker';

const { url, concurrency } = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  concurrency: number;
};
const send = (m: object) => {
  if (process.connected) process.send?.(m);
};
process.on('disconnect', () => process.exit(1));

const effect = defineTask({
  name: 'effect',
  payload: z.object({ i: z.number().int() }),
  transactional: true,
  async handler(payload, ctx) {
    await ctx.trx
      .insertInto('bench_effects')
      .values({ task_id: ctx.id, i: payload.i, pid: process.pid })
      .execute();
  },
});

async function main() {
  const u = new URL(url);
  u.searchParams.set('application_name', CHAOS_APPLICATION_NAME);
  const tandem = createTandem({ connectionString: u.toString(), tasks: [effect] });
  const worker = tandem.worker({ queues: { default: concurrency } });
  await worker.start();
  send({ type: 'ready' });
  process.on('message', async (m: { type: string }) => {
    if (m.type !== 'stop') return;
    await worker.stop().catch(() => {});
    await tandem.close().catch(() => {});
    send({ type: 'stopped' });
    process.disconnect?.();
    setTimeout(() => process.exit(0), 50).unref();
  });
}

main().catch((err) => {
  send({ type: 'failed', error: String(err?.stack ?? err) });
  setTimeout(() => process.exit(1), 50);
});
