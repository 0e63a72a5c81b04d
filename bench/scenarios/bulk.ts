/**
 * Bulk enqueue: one call of each system's bulk API with N tasks (Tandem
 * `enqueueMany`, graphile-worker `addJobs`, pg-boss `insert`). The input
 * array is built before the clock starts; validation, serialisation and the
 * round trip are timed. A 1,000-task call first warms the connection.
 */
import { type BenchDatabases, inFreshDatabase } from '../db.js';
import { progress } from '../log.js';
import type { BenchOptions } from '../options.js';
import { fmt, median } from '../stats.js';
import { loadSystem, SYSTEM_LABELS } from '../systems/index.js';
import type { SystemName } from '../systems/types.js';

export interface BulkResult {
  system: SystemName;
  label: string;
  tasks: number;
  /** Seconds of each timed call. */
  rounds: number[];
  tasksPerSecond: number | null;
  error?: string;
}

export async function runBulk(dbs: BenchDatabases, options: BenchOptions): Promise<BulkResult[]> {
  const results: BulkResult[] = [];
  for (const name of options.systems) {
    const label = SYSTEM_LABELS[name];
    const n = options.bulkTasks;
    try {
      const system = await loadSystem(name);
      const rounds = await inFreshDatabase(dbs, `bulk_${name}`, async (url) => {
        await system.install(url);
        const producer = await system.producer(url);
        try {
          await producer.enqueueBulk(producer.bulkInput(0, 1_000));
          const seconds: number[] = [];
          for (let r = 0; r < options.bulkRounds; r++) {
            const input = producer.bulkInput(1_000 + r * n, n);
            const t0 = performance.now();
            await producer.enqueueBulk(input);
            seconds.push((performance.now() - t0) / 1000);
          }
          return seconds;
        } finally {
          await producer.close();
        }
      });
      const rate = n / median(rounds);
      progress(
        `bulk ${label}: ${fmt(n)} tasks per call, median ${median(rounds).toFixed(3)} s = ${fmt(rate)} tasks/s`,
      );
      results.push({ system: name, label, tasks: n, rounds, tasksPerSecond: rate });
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      progress(`bulk ${label} FAILED: ${message}`);
      results.push({
        system: name,
        label,
        tasks: n,
        rounds: [],
        tasksPerSecond: null,
        error: message,
      });
    }
  }
  return results;
}
