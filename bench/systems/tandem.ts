/** Tandem, used exactly as its README shows, with default worker settings. */
import type pg from 'pg';
import { z } from 'zod';
import { createTandem, defineTask, type EnqueueItem, type Tandem } from '../../src/index.js';
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

// Bench runs keep Tandem's default pino logger but only print warnings.
process.env.TANDEM_LOG_LEVEL ??= 'warn';

const schema = z.object({
  i: z.number().int(),
  t: z.number().optional(),
  pad: z.string().optional(),
});

function noopTask(onJobs: (p: Payload[]) => void = () => {}, handlerMs = 0) {
  return defineTask({
    name: 'noop',
    payload: schema,
    handler: async (payload) => {
      onJobs([payload]);
      if (handlerMs > 0) await sleep(handlerMs);
    },
  });
}

export class TandemProducer implements Producer {
  private readonly task = noopTask();
  readonly tandem: Tandem;

  constructor(url: string) {
    this.tandem = createTandem({ connectionString: url, tasks: [this.task] });
  }

  bulkInput(from: number, n: number, shape?: PayloadShape): EnqueueItem[] {
    const items: EnqueueItem[] = new Array(n);
    for (let k = 0; k < n; k++)
      items[k] = { task: this.task, payload: makePayload(from + k, shape) };
    return items;
  }

  async enqueueBulk(input: unknown): Promise<void> {
    await this.tandem.enqueueMany(this.tandem.pool, input as EnqueueItem[]);
  }

  async enqueueInTx(client: pg.PoolClient, i: number): Promise<void> {
    await this.tandem.enqueue(client, this.task, { i });
  }

  async enqueueOne(i: number): Promise<void> {
    await this.tandem.enqueue(this.tandem.pool, this.task, { i });
  }

  async unfinished(): Promise<number> {
    const [row] = await this.tandem.sql.query<{ n: number }>(
      `select ((select count(*) from tandem.tasks where state in ('queued', 'retrying'))
               + (select count(*) from tandem.tasks where state = 'running'))::int as n`,
    );
    return row!.n;
  }

  close(): Promise<void> {
    return this.tandem.close();
  }
}

export async function installTandem(url: string): Promise<void> {
  const p = new TandemProducer(url);
  try {
    await p.tandem.migrate();
  } finally {
    await p.close();
  }
}

export const tandemSystem: System = {
  name: 'tandem',
  label: 'Tandem',
  packageName: null,
  minNodeMajor: 20,
  schema: 'tandem',
  tables: ['tandem.tasks'],
  install: installTandem,

  async producer(url) {
    return new TandemProducer(url);
  },

  async prepareWorker({
    url,
    concurrency,
    handlerMs,
    onJobs,
  }: WorkerParams): Promise<PreparedWorker> {
    const tandem = createTandem({ connectionString: url, tasks: [noopTask(onJobs, handlerMs)] });
    const worker = tandem.worker({ queues: { default: concurrency } });
    return {
      start: () => worker.start(),
      async stop() {
        await worker.stop();
        await tandem.close();
      },
    };
  },
};
