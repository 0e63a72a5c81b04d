import type { System, SystemName, WorkerConfig } from './types.js';

/** Loads one system's module only, so a worker process does not import the other libraries. */
export async function loadSystem(name: SystemName): Promise<System> {
  switch (name) {
    case 'tandem':
      return (await import('./tandem.js')).tandemSystem;
    case 'graphile':
      return (await import('./graphile.js')).graphileSystem;
    case 'pgboss':
      return (await import('./pgboss.js')).pgbossSystem;
  }
}

export const SYSTEM_LABELS: Record<SystemName, string> = {
  tandem: 'Tandem',
  graphile: 'graphile-worker',
  pgboss: 'pg-boss',
};

/** Every worker configuration the drain scenario measures. */
export const DRAIN_CONFIGS: WorkerConfig[] = [
  {
    system: 'tandem',
    variant: 'default',
    label: 'Tandem',
    settings: 'tandem.worker({ queues: { default: N } }), all else default',
  },
  {
    system: 'graphile',
    variant: 'default',
    label: 'graphile-worker (defaults)',
    settings: 'run({ concurrency: N }), all else default',
  },
  {
    system: 'graphile',
    variant: 'tuned',
    label: 'graphile-worker (tuned)',
    settings:
      'run({ concurrency: N }) with localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0, maxPoolSize max(10, N+2)',
  },
  {
    system: 'pgboss',
    variant: 'b50',
    label: 'pg-boss (batch 50)',
    settings: 'N × work(name, { batchSize: 50, pollingIntervalSeconds: 0.5 })',
  },
  {
    system: 'pgboss',
    variant: 'b500',
    label: 'pg-boss (batch 500)',
    settings: 'N × work(name, { batchSize: 500, pollingIntervalSeconds: 0.5 })',
  },
];

/** The configuration the latency scenario uses: each system's defaults. */
export const LATENCY_CONFIGS: WorkerConfig[] = [
  { system: 'tandem', variant: 'default', label: 'Tandem', settings: 'defaults, concurrency 10' },
  {
    system: 'graphile',
    variant: 'default',
    label: 'graphile-worker',
    settings: 'defaults, concurrency 10',
  },
  {
    system: 'pgboss',
    variant: 'default',
    label: 'pg-boss',
    settings: 'defaults (batch 1, 2 s polling), 10 work() workers',
  },
];
