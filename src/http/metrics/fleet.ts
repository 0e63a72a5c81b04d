/**
 * The fleet as the database sees it, for the server's /metrics: live task
 * counts per queue and state (partial indexes only), queue depth and the
 * age of the oldest runnable task, workers and the leader, and attempts and
 * latencies of the last 5 minutes from the rollup. Three cheap queries per
 * scrape, shared by every gauge (a scrape collects them concurrently).
 */
import { Gauge, type Registry } from 'prom-client';
import type { QueueSummary, TandemClient } from '../../client/client.js';
import type { WorkerInfo } from '../../client/fleet.js';
import { rollupRead } from '../../db/queries/rollup.js';
import { addInto, BUCKETS, quantile } from '../../histogram.js';

const RECENT_MS = 5 * 60_000;

interface Recent {
  queue: string;
  name: string;
  succeeded: number;
  failed: number;
  retried: number;
  run: number[];
  lag: number[];
}

interface Snapshot {
  queues: QueueSummary[];
  workers: WorkerInfo[];
  recent: Recent[];
  at: number;
}

async function readRecent(tandem: TandemClient): Promise<Recent[]> {
  const now = Date.now();
  const rows = await tandem.sql.query<any>(rollupRead, [60, now - RECENT_MS, now + 60_000]);
  const by = new Map<string, Recent>();
  for (const r of rows) {
    const k = `${r.queue}\u0000${r.name}`;
    let s = by.get(k);
    if (!s) {
      s = {
        queue: r.queue,
        name: r.name,
        succeeded: 0,
        failed: 0,
        retried: 0,
        run: new Array(BUCKETS).fill(0),
        lag: new Array(BUCKETS).fill(0),
      };
      by.set(k, s);
    }
    s.succeeded += r.succeeded;
    s.failed += r.failed;
    s.retried += r.retried;
    addInto(s.run, r.run_hist);
    addInto(s.lag, r.lag_hist);
  }
  return [...by.values()];
}

export function registerFleetMetrics(registry: Registry, tandem: TandemClient): void {
  let pending: Promise<Snapshot> | null = null;
  const snapshot = () => {
    if (pending) return pending;
    const p = Promise.all([tandem.listQueues(), tandem.listWorkers(), readRecent(tandem)]).then(
      ([queues, workers, recent]) => ({ queues, workers, recent, at: Date.now() }),
    );
    pending = p;
    // The gauges of one scrape call collect() together, before this settles;
    // the next scrape reads afresh.
    const release = () => {
      if (pending === p) pending = null;
    };
    p.then(release, release);
    return p;
  };
  const gauge = (
    name: string,
    help: string,
    labelNames: string[],
    fill: (g: Gauge, s: Snapshot) => void,
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const s = await snapshot();
        this.reset();
        fill(this as unknown as Gauge, s);
      },
    });

  gauge(
    'tandem_tasks',
    'Tasks waiting or running, by queue and state',
    ['queue', 'state'],
    (g, s) => {
      for (const q of s.queues) {
        g.set({ queue: q.name, state: 'queued' }, q.queued);
        g.set({ queue: q.name, state: 'retrying' }, q.retrying);
        g.set({ queue: q.name, state: 'running' }, q.running);
      }
    },
  );
  gauge(
    'tandem_queue_depth',
    'Tasks waiting in the queue (queued + retrying)',
    ['queue'],
    (g, s) => {
      for (const q of s.queues) g.set({ queue: q.name }, q.queued + q.retrying);
    },
  );
  gauge(
    'tandem_queue_oldest_runnable_age_seconds',
    'How long the oldest task that could run now has waited (0 when none)',
    ['queue'],
    (g, s) => {
      for (const q of s.queues)
        g.set(
          { queue: q.name },
          q.oldestRunnableAt ? Math.max(0, (s.at - q.oldestRunnableAt.getTime()) / 1000) : 0,
        );
    },
  );
  gauge('tandem_queue_paused', '1 while the queue is paused', ['queue'], (g, s) => {
    for (const q of s.queues) g.set({ queue: q.name }, q.paused ? 1 : 0);
  });
  gauge('tandem_workers_alive', 'Registered worker processes that are alive', [], (g, s) => {
    g.set(s.workers.filter((w) => w.alive).length);
  });
  gauge('tandem_leader', '1 for the worker that holds the leader lease', ['worker'], (g, s) => {
    for (const w of s.workers) if (w.leader) g.set({ worker: w.id }, 1);
  });
  gauge('tandem_worker_running_tasks', 'Tasks each worker runs now', ['worker'], (g, s) => {
    for (const w of s.workers) g.set({ worker: w.id }, w.running);
  });
  gauge(
    'tandem_recent_attempts',
    'Attempts finished by the whole fleet in the last 5 minutes, by outcome',
    ['queue', 'name', 'outcome'],
    (g, s) => {
      for (const r of s.recent)
        for (const outcome of ['succeeded', 'failed', 'retried'] as const)
          g.set({ queue: r.queue, name: r.name, outcome }, r[outcome]);
    },
  );
  gauge(
    'tandem_recent_run_seconds',
    'Handler run time over the last 5 minutes, whole fleet (quantiles from the rollup)',
    ['queue', 'name', 'quantile'],
    (g, s) => {
      for (const r of s.recent)
        for (const q of [0.5, 0.95]) {
          const v = quantile(r.run, q);
          if (v !== null) g.set({ queue: r.queue, name: r.name, quantile: String(q) }, v / 1000);
        }
    },
  );
  gauge(
    'tandem_recent_lag_seconds',
    'Time from run_at to start over the last 5 minutes, whole fleet (quantiles from the rollup)',
    ['queue', 'name', 'quantile'],
    (g, s) => {
      for (const r of s.recent)
        for (const q of [0.5, 0.95]) {
          const v = quantile(r.lag, q);
          if (v !== null) g.set({ queue: r.queue, name: r.name, quantile: String(q) }, v / 1000);
        }
    },
  );
}
