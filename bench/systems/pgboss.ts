/**
 * pg-boss 12 through its documented API: `insert(name, jobs)` for bulk,
 * `send()` with the `db` option to run on the caller's transaction, and
 * `work()` with `localConcurrency` workers. Completed jobs stay in the table
 * (pg-boss's default retention) and are counted as finished.
 */
import type pg from 'pg';
import { PgBoss } from 'pg-boss';
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

type JobInsert = Parameters<PgBoss['insert']>[1][number];
type WorkOptions = NonNullable<Parameters<PgBoss['work']>[1]> & object;

const QUEUE = 'noop';

/**
 * `default`: `work(name, { localConcurrency: N }, handler)`: one job per
 * fetch, pg-boss's 2 s polling.
 * `b50` / `b500`: its documented throughput knobs on top: `batchSize` 50 /
 * 500, `burstWhenBatchFull` (fetch again at once while batches come back
 * full), the shortest polling interval it accepts (0.5 s), and LISTEN/NOTIFY
 * wake-ups (`useListenNotify`; the queue is created with `notify: true`).
 */
export function pgbossWorkOptions(variant: string, concurrency: number): WorkOptions {
  if (variant === 'default') return { localConcurrency: concurrency };
  const m = /^b(\d+)$/.exec(variant);
  if (m) {
    return {
      localConcurrency: concurrency,
      batchSize: Number(m[1]),
      burstWhenBatchFull: true,
      pollingIntervalSeconds: 0.5,
    } as WorkOptions;
  }
  throw new Error(`unknown pg-boss variant ${variant}; use default, b50 or b500`);
}

function report(err: unknown) {
  process.stderr.write(`[pg-boss error] ${(err as Error)?.message ?? String(err)}\n`);
}

async function openBoss(
  url: string,
  options: Partial<ConstructorParameters<typeof PgBoss>[0] & object> = {},
): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: url, ...options });
  boss.on('error', report);
  await boss.start();
  return boss;
}

class PgBossProducer implements Producer {
  constructor(private readonly boss: PgBoss) {}

  bulkInput(from: number, n: number, shape?: PayloadShape): JobInsert[] {
    const jobs: JobInsert[] = new Array(n);
    for (let k = 0; k < n; k++) jobs[k] = { data: makePayload(from + k, shape) };
    return jobs;
  }

  async enqueueBulk(input: unknown): Promise<void> {
    await this.boss.insert(QUEUE, input as JobInsert[]);
  }

  async enqueueInTx(client: pg.PoolClient, i: number): Promise<void> {
    await this.boss.send(
      QUEUE,
      { i },
      { db: { executeSql: (text, values) => client.query(text, values as unknown[]) } },
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
    return (rows[0] as { n: number }).n;
  }

  close(): Promise<void> {
    return this.boss.stop({ graceful: false });
  }
}

export const pgbossSystem: System = {
  name: 'pgboss',
  label: 'pg-boss',
  packageName: 'pg-boss',
  minNodeMajor: 22,
  schema: 'pgboss',
  tables: ['pgboss.job'],

  async install(url) {
    const boss = await openBoss(url, { supervise: false, schedule: false });
    try {
      await boss.createQueue(QUEUE, { notify: true });
    } finally {
      await boss.stop({ graceful: false });
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
    const options = pgbossWorkOptions(variant, concurrency);
    const boss = await openBoss(url, { useListenNotify: variant !== 'default' });
    return {
      async start() {
        await boss.work<Payload>(QUEUE, options, async (jobs) => {
          onJobs(jobs.map((j) => j.data));
          if (handlerMs) await Promise.all(jobs.map(() => sleep(handlerMs)));
        });
      },
      async stop() {
        await boss.stop({ graceful: true, timeout: 10_000 });
      },
    };
  },
};
