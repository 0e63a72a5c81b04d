/**
 * Scale: Tandem's drain rate (1 process, concurrency 10) when the table
 * already holds many finished tasks, as it does when history is kept.
 * The finished rows are written with one INSERT … SELECT FROM
 * generate_series as `succeeded`, then VACUUM ANALYZE, then the drain runs
 * exactly as in the drain scenario. Each size runs `rounds` times,
 * alternating sizes, each time in a fresh database; the median counts.
 */
import { type BenchDatabases, withClient } from '../db.js';
import { progress } from '../log.js';
import type { BenchOptions } from '../options.js';
import { fmt, median } from '../stats.js';
import { DRAIN_CONFIGS } from '../systems/index.js';
import { type DrainResult, type DrainSummary, measureDrain, summarize } from './drain.js';

export interface ScaleResult extends DrainSummary {
  finishedRows: number;
  /** Seconds spent writing the finished rows and vacuuming (median; not part of the drain). */
  setupSeconds: number;
}

/** Rows per INSERT statement, so one statement never holds millions of rows in memory. */
const FILL_CHUNK = 1_000_000;

async function fillFinished(url: string, rows: number): Promise<void> {
  await withClient(url, async (c) => {
    for (let from = 1; from <= rows; from += FILL_CHUNK) {
      const to = Math.min(rows, from + FILL_CHUNK - 1);
      await c.query(
        `insert into tandem.tasks (name, queue, payload, state, attempt, run_at, created_at, started_at, finished_at)
         select 'noop', 'default', jsonb_build_object('i', -g), 'succeeded', 1,
                now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour', now()
           from generate_series($1::bigint, $2::bigint) g`,
        [from, to],
      );
    }
    await c.query('vacuum analyze tandem.tasks');
    // Flush the million rows just written, so the drain measures the cost of
    // keeping history, not the checkpoint I/O of having just written it.
    await c.query('checkpoint');
  });
}

export async function runScale(dbs: BenchDatabases, options: BenchOptions): Promise<ScaleResult[]> {
  if (!options.systems.includes('tandem')) return [];
  const cfg = DRAIN_CONFIGS.find((c) => c.system === 'tandem')!;
  const cells = options.scaleRows.map((rows) => ({
    rows,
    runs: [] as DrainResult[],
    setup: [] as number[],
  }));
  for (let round = 1; round <= options.rounds; round++) {
    if (options.rounds > 1) progress(`scale: round ${round} of ${options.rounds}`);
    for (const cell of cells) {
      const r = await measureDrain(
        dbs,
        cfg,
        { processes: 1, concurrency: 10 },
        {
          tasks: options.scaleTasks,
          dbLabel: `scale_${cell.rows}`,
          prepare: async (url) => {
            if (cell.rows === 0) return;
            const t0 = performance.now();
            await fillFinished(url, cell.rows);
            const s = (performance.now() - t0) / 1000;
            cell.setup.push(s);
            progress(
              `scale: ${fmt(cell.rows)} finished tasks written and vacuumed in ${s.toFixed(1)} s`,
            );
          },
        },
      );
      cell.runs.push(r);
    }
  }
  return cells.map((c) => {
    const s = summarize(c.runs);
    if (options.rounds > 1) {
      progress(
        `scale ${fmt(c.rows)} finished: median ${fmt(s.tasksPerSecond)} tasks/s of ${s.runs.map((x) => fmt(x.tasksPerSecond)).join(', ')}`,
      );
    }
    return { ...s, finishedRows: c.rows, setupSeconds: c.setup.length ? median(c.setup) : 0 };
  });
}
