/**
 * This process's worker metrics, from its rollup (counts since the process
 * started). Scrape each worker process for these; the server's /metrics
 * adds them when given the worker (`createApp(tandem, { worker })`).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Worker } from '../../worker/worker.js';
import { registerCumulativeHistogram } from './cumulative.js';

export function registerWorkerMetrics(registry: Registry, worker: Worker): void {
  const outcomes = [
    ['succeeded', 'succeeded'],
    ['failed', 'failed'],
    ['retried', 'retried'],
  ] as const;
  new Counter({
    name: 'tandem_worker_attempts_total',
    help: 'Attempts this worker process finished, by queue, task and outcome',
    labelNames: ['queue', 'name', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of worker.rollup.totals())
        for (const [outcome, field] of outcomes)
          this.inc({ queue: t.queue, name: t.name, outcome }, t.counts[field]);
    },
  });
  registerCumulativeHistogram(
    registry,
    'tandem_worker_run_seconds',
    'Handler run time of attempts this worker process finished',
    () =>
      [...worker.rollup.totals()].map((t) => ({
        labels: { queue: t.queue, name: t.name },
        buckets: t.counts.run,
        sumMs: t.counts.runSumMs,
      })),
  );
  registerCumulativeHistogram(
    registry,
    'tandem_worker_lag_seconds',
    'Time from run_at to the start of each attempt this worker process ran',
    () =>
      [...worker.rollup.totals()].map((t) => ({
        labels: { queue: t.queue, name: t.name },
        buckets: t.counts.lag,
        sumMs: t.counts.lagSumMs,
      })),
  );
  new Gauge({
    name: 'tandem_worker_held_tasks',
    help: 'Tasks this worker process runs or has claimed ahead',
    registers: [registry],
    collect() {
      this.set(worker.held);
    },
  });
  new Gauge({
    name: 'tandem_worker_leader',
    help: '1 while this worker process holds the leader lease',
    registers: [registry],
    collect() {
      this.set(worker.isLeader ? 1 : 0);
    },
  });
}
