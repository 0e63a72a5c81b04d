/**
 * graphile-worker 0.17 through its documented library API: WorkerUtils for
 * enqueueing, `graphile_worker.add_job()` in the caller's transaction, and
 * `run()` for workers.
 */
import { Logger, makeWorkerUtils, type Runner, run, type WorkerUtils } from 'graphile-worker';
import type pg from 'pg';
import type { Payload, PreparedWorker, Producer, System, WorkerParams } from './types.js';

/** graphile-worker logs errors and warnings to stderr; info and debug are dropped. */
const logger = new Logger((scope) => (level, message) => {
  if (level === 'error' || level === 'warning') {
    process.stderr.write(`[graphile-worker ${level}] ${JSON.stringify(scope)} ${message}\n`);
  }
});

/**
 * `tuned` is the configuration of graphile-worker's own performance page
 * (https://worker.graphile.org/docs/performance): a local queue of 500 jobs,
 * batched completion and failure (delay 0), and a pool of concurrency + 2
 * connections (at least 10), as its `maxPoolSize` docs recommend.
 * `default` changes nothing but the concurrency.
 */
export function graphilePreset(variant: string, concurrency: number): GraphileConfig.Preset {
  if (variant === 'default') return {};
  if (variant === 'tuned') {
    return {
      worker: {
        localQueue: { size: 500 },
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
        maxPoolSize: Math.max(10, concurrency + 2),
      },
    };
  }
  throw new Error(`unknown graphile-worker variant ${variant}; use default or tuned`);
}

class GraphileProducer implements Producer {
  constructor(private readonly utils: WorkerUtils) {}

  bulkInput(from: number, n: number) {
    const specs = new Array(n);
    for (let k = 0; k < n; k++) specs[k] = { identifier: 'noop', payload: { i: from + k } };
    return specs;
  }

  async enqueueBulk(input: unknown): Promise<void> {
    await this.utils.addJobs(input as Parameters<WorkerUtils['addJobs']>[0]);
  }

  async enqueueInTx(client: pg.PoolClient, i: number): Promise<void> {
    await client.query('select graphile_worker.add_job($1, $2::json)', [
      'noop',
      JSON.stringify({ i }),
    ]);
  }

  async enqueueOne(i: number): Promise<void> {
    await this.utils.addJob('noop', { i });
  }

  async unfinished(): Promise<number> {
    // Completed jobs are deleted; everything still in the table is unfinished.
    return this.utils.withPgClient(async (c) => {
      const { rows } = await c.query(
        'select count(*)::int as n from graphile_worker._private_jobs',
      );
      return rows[0].n as number;
    });
  }

  close(): Promise<void> {
    return Promise.resolve(this.utils.release());
  }
}

export const graphileSystem: System = {
  name: 'graphile',
  tables: ['graphile_worker._private_jobs'],

  async install(url) {
    const utils = await makeWorkerUtils({ connectionString: url, logger });
    try {
      await utils.migrate();
    } finally {
      await utils.release();
    }
  },

  async producer(url) {
    return new GraphileProducer(await makeWorkerUtils({ connectionString: url, logger }));
  },

  async prepareWorker({
    url,
    variant,
    concurrency,
    onJobs,
  }: WorkerParams): Promise<PreparedWorker> {
    const preset = graphilePreset(variant, concurrency);
    let runner: Runner | null = null;
    return {
      async start() {
        runner = await run({
          connectionString: url,
          concurrency,
          noHandleSignals: true,
          logger,
          preset,
          taskList: {
            noop: async (payload) => {
              onJobs([payload as Payload]);
            },
          },
        });
      },
      async stop() {
        await runner?.stop();
      },
    };
  },
};
