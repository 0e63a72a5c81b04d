/**
 * BullMQ 6 through its documented API, on Redis (its default backend) and on
 * its PostgreSQL backend (`createPostgresBackend`, schema `bullmq`, migrated
 * with `runMigrations`): `Queue.addBulk` for bulk, `Queue.add` for one,
 * `Worker` with `concurrency`. BullMQ cannot enqueue inside a caller's
 * PostgreSQL transaction, so it has no transactional enqueue figure.
 *
 * On Redis every bench database gets its own key prefix (the database's
 * name), removed with the database (see bench/db.ts).
 */
import { createPostgresBackend, Queue, runMigrations, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
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

/** The Redis server BullMQ's Redis backend uses: $REDIS_URL, else 127.0.0.1:6379. */
export function redisConnection() {
  const u = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** The bench database's name: the Redis key prefix of its run. */
export const prefixOf = (url: string) => new URL(url).pathname.slice(1);

/** Deletes every Redis key under `prefix:` (the queue of a dropped bench database). */
export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis({ ...redisConnection(), lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

type Backend = 'redis' | 'postgres';

/**
 * `default`: `new Worker(name, processor, { concurrency: N })`, all else
 * default (completed jobs are kept; on PostgreSQL a pool of 10).
 * `tuned`: the tips of BullMQ's docs on top: `removeOnComplete: { count: 0 }`
 * (finished jobs are deleted, as graphile-worker does) and, on PostgreSQL, a
 * pool of N + 2 connections whose sessions run with `synchronous_commit =
 * off` (its PostgreSQL guide's tip; its backend commits once per job, and
 * Tandem's worker connection does the same for claims and outcomes).
 */
function workerOptions(backend: Backend, url: string, variant: string, concurrency: number) {
  if (variant !== 'default' && variant !== 'tuned')
    throw new Error(`unknown BullMQ variant ${variant}; use default or tuned`);
  const tuned = variant === 'tuned';
  const connection =
    backend === 'redis'
      ? redisConnection()
      : {
          connectionString: url,
          ...(tuned ? { max: concurrency + 2, options: '-c synchronous_commit=off' } : {}),
        };
  return {
    connection,
    concurrency,
    autorun: false,
    ...(backend === 'redis' ? { prefix: prefixOf(url) } : {}),
    ...(tuned ? { removeOnComplete: { count: 0 } } : {}),
  };
}

function openQueue(backend: Backend, url: string): Queue {
  if (backend === 'redis')
    return new Queue(QUEUE, { connection: redisConnection(), prefix: prefixOf(url) });
  return new Queue(
    QUEUE,
    { connection: { connectionString: url } },
    createPostgresBackend,
  ) as never;
}

class BullProducer implements Producer {
  constructor(private readonly queue: Queue) {}

  bulkInput(from: number, n: number, shape?: PayloadShape) {
    const jobs = new Array(n);
    for (let k = 0; k < n; k++) jobs[k] = { name: QUEUE, data: makePayload(from + k, shape) };
    return jobs;
  }

  async enqueueBulk(input: unknown): Promise<void> {
    await this.queue.addBulk(input as { name: string; data: Payload }[]);
  }

  async enqueueOne(i: number): Promise<void> {
    await this.queue.add(QUEUE, { i });
  }

  async unfinished(): Promise<number> {
    const counts = await this.queue.getJobCounts(
      'wait',
      'active',
      'delayed',
      'prioritized',
      'waiting-children',
    );
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

function bullSystem(backend: Backend): System {
  return {
    name: backend === 'redis' ? 'bullmq' : 'bullmqpg',
    label: backend === 'redis' ? 'BullMQ (Redis)' : 'BullMQ (PostgreSQL)',
    packageName: 'bullmq',
    minNodeMajor: 20,
    schema: backend === 'redis' ? null : 'bullmq',
    tables: backend === 'redis' ? [] : ['bullmq.job', 'bullmq.event'],

    async install(url) {
      if (backend === 'redis') return;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await runMigrations(client);
      } finally {
        await client.end();
      }
    },

    async producer(url) {
      const queue = openQueue(backend, url);
      await queue.waitUntilReady();
      return new BullProducer(queue);
    },

    async prepareWorker({
      url,
      variant,
      concurrency,
      handlerMs,
      onJobs,
    }: WorkerParams): Promise<PreparedWorker> {
      const processor = async (job: { data: Payload }) => {
        onJobs([job.data]);
        if (handlerMs) await sleep(handlerMs);
      };
      const opts = workerOptions(backend, url, variant, concurrency);
      const worker =
        backend === 'redis'
          ? new Worker(QUEUE, processor, opts as never)
          : (new Worker(QUEUE, processor, opts as never, createPostgresBackend) as never as Worker);
      worker.on('error', (err) => process.stderr.write(`[BullMQ error] ${err.message}\n`));
      await worker.waitUntilReady();
      let running: Promise<void> | null = null;
      return {
        async start() {
          running = worker.run();
          running.catch((err) => process.stderr.write(`[BullMQ run] ${err?.message ?? err}\n`));
        },
        async stop() {
          await worker.close();
          await running?.catch(() => {});
        },
      };
    },
  };
}

export const bullmqRedisSystem = bullSystem('redis');
export const bullmqPostgresSystem = bullSystem('postgres');
