/**
 * The previous pg-boss major (10, the `pg-boss-10` alias) through its documented API: `insert()` for bulk, `send()` with
 * the `db` option to run on the caller's transaction, and `work()` workers.
 * pg-boss has no concurrency option in v10: each `work()` call adds one
 * polling worker, so a concurrency of N is N `work()` calls.
 */

import type pg from 'pg';
import PgBoss from 'pg-boss-10';
import { sleep } from '../log.js';
import { makePayload } from '../payload.js';
import type {
  Payload,
  PayloadShape,
  PreparedWorker,
  Producer,
  System,
  WorkerParams,
} from './types.js';

const QUEUE = 'noop';

/**
 * `default`: `work(name, handler)`, one job per fetch, pg-boss's 2 s polling.
 * `b50` / `b500`: `batchSize` 50 / 500 and the shortest polling interval pg-boss
 * accepts (0.5 s), its documented knobs for throughput. A worker waits out its
 * polling interval after every fetch, so these bound its rate.
 */
export function pgbossWorkOptions(variant: string): PgBoss.WorkOptions {
  if (variant === 'default') return {};
  const m = /^b(\d+)$/.exec(variant);
  if (m) return { batchSize: Number(m[1]), pollingIntervalSeconds: 0.5 };
  throw new Error(`unknown pg-boss variant ${variant}; use default, b50 or b500`);
}

function report(err: unknown) {
  process.stderr.write(`[pg-boss error] ${(err as Error)?.message ?? String(err)}\n`);
}

async function openBoss(url: string, options: PgBoss.ConstructorOptions = {}): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: url, ...options });
  boss.on('error', report);
  await boss.start();
  return boss;
}

class PgBossProducer implements Producer {
  constructor(private readonly boss: PgBoss) {}

  bulkInput(from: number, n: number, shape?: PayloadShape): PgBoss.JobInsert[] {
    const jobs: PgBoss.JobInsert[] = new Array(n);
    for (let k = 0; k < n; k++) jobs[k] = { name: QUEUE, data: makePayload(from + k, shape) };
    return jobs;
  }

  async enqueueBulk(input: unknown): Promise<void> {
    await this.boss.insert(input as PgBoss.JobInsert[]);
  }

  async enqueueInTx(client: pg.PoolClient, i: number): Promise<void> {
    await this.boss.send(
      QUEUE,
      { i },
      { db: { executeSql: (text, values) => client.query(text, values) } },
    );
  }

  async enqueueOne(i: number): Promise<void> {
    await this.boss.send(QUEUE, { i });
  }

  async unfinished(): Promise<number> {
    const db = this.boss.getDb();
    const { rows } = await db.executeSql(
      `select count(*)::int as n from pgboss.job where name = $1 and state < 'completed'`,
      [QUEUE],
    );
    return rows[0].n;
  }

  close(): Promise<void> {
    return this.boss.stop({ graceful: false, wait: true });
  }
}

export const pgboss10System: System = {
  name: 'pgboss10',
  label: 'pg-boss',
  packageName: 'pg-boss-10',
  minNodeMajor: 20,
  schema: 'pgboss',
  tables: ['pgboss.job'],

  async install(url) {
    const boss = await openBoss(url, { supervise: false, schedule: false });
    try {
      await boss.createQueue(QUEUE);
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
  },

  // The producer only enqueues and counts; maintenance is left to the workers' instances.
  async producer(url) {
    return new PgBossProducer(await openBoss(url, { supervise: false, schedule: false }));
  },

  async prepareWorker({
    url,
    variant,
    concurrency,
    handlerMs,
    onJobs,
  }: WorkerParams): Promise<PreparedWorker> {
    const options = pgbossWorkOptions(variant);
    const boss = await openBoss(url);
    return {
      async start() {
        for (let k = 0; k < concurrency; k++) {
          await boss.work<Payload>(QUEUE, options, async (jobs) => {
            onJobs(jobs.map((j) => j.data));
            if (handlerMs) await Promise.all(jobs.map(() => sleep(handlerMs)));
          });
        }
      },
      async stop() {
        await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
      },
    };
  },
};
