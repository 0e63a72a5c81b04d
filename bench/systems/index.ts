import type { System, SystemName, Tier, WorkerConfig } from './types.js';

/** Loads one system's module only, so a worker process does not import the other libraries. */
async function importSystem(name: SystemName): Promise<System> {
  switch (name) {
    case 'tandem':
      return (await import('./tandem.js')).tandemSystem;
    case 'graphile':
      return (await import('./graphile.js')).graphileCurrent;
    case 'graphile017':
      return (await import('./graphile.js')).graphile017;
    case 'pgboss':
      return (await import('./pgboss.js')).pgbossSystem;
    case 'pgboss10':
      return (await import('./pgboss10.js')).pgboss10System;
    case 'bullmq':
      return (await import('./bullmq.js')).bullmqRedisSystem;
    case 'bullmqpg':
      return (await import('./bullmq.js')).bullmqPostgresSystem;
    case 'floor':
      return (await import('./floor.js')).floorSystem;
  }
}

/** The minimum Node.js major of each system, known before its library is imported. */
export const MIN_NODE: Record<SystemName, number> = {
  tandem: 20,
  graphile: 22,
  graphile017: 18,
  pgboss: 22,
  pgboss10: 20,
  bullmq: 20,
  bullmqpg: 20,
  floor: 20,
};

export async function loadSystem(name: SystemName): Promise<System> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < MIN_NODE[name]) {
    throw new Error(
      `${name} needs Node.js ${MIN_NODE[name]} or newer and this is ${process.version}: run the bench with --node 24 (the default)`,
    );
  }
  return importSystem(name);
}

/** The column heading of each system (the version is added from its package.json). */
export const SYSTEM_LABELS: Record<SystemName, string> = {
  tandem: 'Tandem',
  graphile: 'graphile-worker',
  graphile017: 'graphile-worker',
  pgboss: 'pg-boss',
  pgboss10: 'pg-boss',
  bullmq: 'BullMQ (Redis)',
  bullmqpg: 'BullMQ (PostgreSQL)',
  floor: 'SQL floor',
};

/** The npm package (or alias) each system is measured from; null for Tandem and the floor. */
export const SYSTEM_PACKAGES: Record<SystemName, string | null> = {
  tandem: null,
  graphile: 'graphile-worker',
  graphile017: 'graphile-worker-017',
  pgboss: 'pg-boss',
  pgboss10: 'pg-boss-10',
  bullmq: 'bullmq',
  bullmqpg: 'bullmq',
  floor: null,
};

const cfg = (
  system: SystemName,
  variant: string,
  tier: Tier,
  label: string,
  settings: string,
): WorkerConfig => ({ system, variant, tier, label, settings });

const graphileConfigs = (system: 'graphile' | 'graphile017', v: string) => [
  cfg(
    system,
    'default',
    'default',
    `graphile-worker ${v} (defaults)`,
    'run({ concurrency: N }), all else default',
  ),
  cfg(
    system,
    'tuned',
    'tuned',
    `graphile-worker ${v} (tuned)`,
    'run({ concurrency: N }) with localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0, maxPoolSize max(10, N+2)',
  ),
];

/** Every worker configuration the drain scenario measures. */
export const DRAIN_CONFIGS: WorkerConfig[] = [
  cfg(
    'tandem',
    'default',
    'default',
    'Tandem',
    'tandem.worker({ queues: { default: N } }), all else default',
  ),
  ...graphileConfigs('graphile', '0.18'),
  ...graphileConfigs('graphile017', '0.17'),
  cfg(
    'pgboss',
    'b50',
    'default',
    'pg-boss 12 (batch 50)',
    'work(name, { localConcurrency: N, batchSize: 50, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }), useListenNotify, queue notify',
  ),
  cfg(
    'pgboss',
    'b500',
    'tuned',
    'pg-boss 12 (batch 500)',
    'work(name, { localConcurrency: N, batchSize: 500, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }), useListenNotify, queue notify',
  ),
  cfg(
    'pgboss10',
    'b50',
    'default',
    'pg-boss 10 (batch 50)',
    'N × work(name, { batchSize: 50, pollingIntervalSeconds: 0.5 })',
  ),
  cfg(
    'pgboss10',
    'b500',
    'tuned',
    'pg-boss 10 (batch 500)',
    'N × work(name, { batchSize: 500, pollingIntervalSeconds: 0.5 })',
  ),
  cfg(
    'bullmq',
    'default',
    'default',
    'BullMQ 6 on Redis (defaults)',
    'new Worker(name, processor, { concurrency: N }), all else default',
  ),
  cfg(
    'bullmq',
    'tuned',
    'tuned',
    'BullMQ 6 on Redis (tuned)',
    'new Worker(name, processor, { concurrency: N, removeOnComplete: { count: 0 } })',
  ),
  cfg(
    'bullmqpg',
    'default',
    'default',
    'BullMQ 6 on PostgreSQL (defaults)',
    'new Worker(name, processor, { concurrency: N }, createPostgresBackend), pool of 10',
  ),
  cfg(
    'bullmqpg',
    'tuned',
    'tuned',
    'BullMQ 6 on PostgreSQL (tuned)',
    "new Worker(name, processor, { concurrency: N, removeOnComplete: { count: 0 }, connection: { max: N + 2, options: '-c synchronous_commit=off' } }, createPostgresBackend)",
  ),
  cfg(
    'floor',
    'default',
    'floor',
    'SQL floor',
    'one prepared settle-and-claim statement, batches of 500, 2 connections per process, no handler',
  ),
];

/** The configuration the latency scenario uses: each system's defaults. */
export const LATENCY_CONFIGS: WorkerConfig[] = [
  cfg('tandem', 'default', 'default', 'Tandem', 'defaults, concurrency 10'),
  cfg('graphile', 'default', 'default', 'graphile-worker', 'defaults, concurrency 10'),
  cfg('graphile017', 'default', 'default', 'graphile-worker 0.17', 'defaults, concurrency 10'),
  cfg(
    'pgboss',
    'default',
    'default',
    'pg-boss',
    'defaults (batch 1, 2 s polling), localConcurrency 10',
  ),
  cfg(
    'pgboss10',
    'default',
    'default',
    'pg-boss 10',
    'defaults (batch 1, 2 s polling), 10 work() workers',
  ),
  cfg('bullmq', 'default', 'default', 'BullMQ (Redis)', 'defaults, concurrency 10'),
  cfg('bullmqpg', 'default', 'default', 'BullMQ (PostgreSQL)', 'defaults, concurrency 10'),
];

/** The best configuration of each system: Tandem's defaults, each peer's tuned one, the floor. */
export const BEST_CONFIGS: WorkerConfig[] = DRAIN_CONFIGS.filter(
  (c) => c.system === 'tandem' || c.tier !== 'default',
);
