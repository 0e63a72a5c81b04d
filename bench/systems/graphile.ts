/**
 * graphile-worker through its documented library API: WorkerUtils for
 * enqueueing, `graphile_worker.add_job()` in the caller's transaction, and
 * `run()` for workers. The same adapter drives the current release
 * (`graphile-worker`, 0.18) and the previous one (the `graphile-worker-017`
 * alias), whose APIs are the same.
 */
import type { Runner, WorkerUtils } from 'graphile-worker';
import type pg from 'pg';
import { sleep } from '../log.js';
import { makePayload } from '../payload.js';
import type {
  Payload,
  PayloadShape,
  PreparedWorker,
  Producer,
  System,
  SystemName,
  WorkerParams,
} from './types.js';

type GraphileModule = typeof import('graphile-worker');

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

  bulkInput(from: number, n: number, shape?: PayloadShape) {
    const specs = new Array(n);
    for (let k = 0; k < n; k++)
      specs[k] = { identifier: 'noop', payload: makePayload(from + k, shape) };
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

function graphileSystem(
  name: SystemName,
  moduleName: string,
  label: string,
  minNodeMajor: number,
): System {
  let loaded: Promise<{ gw: GraphileModule; logger: InstanceType<GraphileModule['Logger']> }>;
  const load = () => {
    loaded ??= (import(moduleName) as Promise<GraphileModule>).then((gw) => ({
      gw,
      // Errors and warnings to stderr; info and debug are dropped.
      logger: new gw.Logger((scope) => (level, message) => {
        if (level === 'error' || level === 'warning') {
          process.stderr.write(`[${label} ${level}] ${JSON.stringify(scope)} ${message}\n`);
        }
      }),
    }));
    return loaded;
  };
  return {
    name,
    label,
    packageName: moduleName,
    minNodeMajor,
    schema: 'graphile_worker',
    tables: ['graphile_worker._private_jobs'],

    async install(url) {
      const { gw, logger } = await load();
      const utils = await gw.makeWorkerUtils({ connectionString: url, logger });
      try {
        await utils.migrate();
      } finally {
        await utils.release();
      }
    },

    async producer(url) {
      const { gw, logger } = await load();
      return new GraphileProducer(await gw.makeWorkerUtils({ connectionString: url, logger }));
    },

    async prepareWorker({
      url,
      variant,
      concurrency,
      handlerMs,
      onJobs,
    }: WorkerParams): Promise<PreparedWorker> {
      const { gw, logger } = await load();
      const preset = graphilePreset(variant, concurrency);
      let runner: Runner | null = null;
      return {
        async start() {
          runner = await gw.run({
            connectionString: url,
            concurrency,
            noHandleSignals: true,
            logger,
            preset,
            taskList: {
              noop: async (payload) => {
                onJobs([payload as Payload]);
                if (handlerMs) await sleep(handlerMs);
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
}

export const graphileCurrent = graphileSystem('graphile', 'graphile-worker', 'graphile-worker', 22);
export const graphile017 = graphileSystem(
  'graphile017',
  'graphile-worker-017',
  'graphile-worker 0.17',
  18,
);
