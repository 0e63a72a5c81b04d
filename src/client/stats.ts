import type { Queryable } from '../db/executor.js';
import { queueList } from '../db/queries/queues.js';
import { rollupRead } from '../db/queries/rollup.js';
import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import { addInto, BUCKETS, quantile } from '../histogram.js';
import type { Duration } from '../types.js';

export interface StatsOptions {
  /** How far back. Default `'1h'`; at most 2 days with steps under an hour, 35 days otherwise. */
  window?: Duration;
  /** Width of each point: whole minutes. Default `'1m'`. At most 1,440 points. */
  step?: Duration;
}

/** One step of one series. Latencies in ms; null when nothing ran in the step. */
export interface StatsPoint {
  at: Date;
  succeeded: number;
  failed: number;
  retried: number;
  runP50Ms: number | null;
  runP95Ms: number | null;
  lagP95Ms: number | null;
}

export interface StatsSeries {
  queue: string;
  name: string;
  points: StatsPoint[];
  /** The whole window as one point (at = its start). */
  totals: StatsPoint;
}

/** Live depth of one queue, from the partial indexes. */
export interface QueueDepth {
  queue: string;
  queued: number;
  retrying: number;
  running: number;
  oldestRunnableAt: Date | null;
}

export interface Stats {
  from: Date;
  to: Date;
  stepMs: number;
  windowMs: number;
  /** Per (queue, task name), only those with attempts in the window. */
  series: StatsSeries[];
  /** Everything together. */
  total: { points: StatsPoint[]; totals: StatsPoint };
  depth: QueueDepth[];
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const MAX_POINTS = 1_440;

interface Acc {
  succeeded: number;
  failed: number;
  retried: number;
  run: number[];
  lag: number[];
}

const newAcc = (): Acc => ({
  succeeded: 0,
  failed: 0,
  retried: 0,
  run: new Array(BUCKETS).fill(0),
  lag: new Array(BUCKETS).fill(0),
});

function addAcc(into: Acc, from: Acc): void {
  into.succeeded += from.succeeded;
  into.failed += from.failed;
  into.retried += from.retried;
  addInto(into.run, from.run);
  addInto(into.lag, from.lag);
}

function toPoint(at: number, a: Acc): StatsPoint {
  return {
    at: new Date(at),
    succeeded: a.succeeded,
    failed: a.failed,
    retried: a.retried,
    runP50Ms: quantile(a.run, 0.5),
    runP95Ms: quantile(a.run, 0.95),
    lagP95Ms: quantile(a.lag, 0.95),
  };
}

function bad(msg: string): TandemError {
  return new TandemError('INVALID_OPTIONS', msg);
}

/** Checks window and step; returns them in ms with the rollup span to read. */
export function resolveStatsOptions(o: StatsOptions = {}): {
  windowMs: number;
  stepMs: number;
  spanS: 60 | 3600;
} {
  const windowMs = toMs(o.window ?? '1h', 'stats window');
  const stepMs = toMs(o.step ?? '1m', 'stats step');
  if (stepMs < MINUTE || stepMs % MINUTE !== 0)
    throw bad(`stats step must be a whole number of minutes (1m, 5m, 1h…), got ${stepMs} ms`);
  if (windowMs < stepMs || windowMs % stepMs !== 0)
    throw bad(`stats window must be a multiple of the step (${stepMs} ms), got ${windowMs} ms`);
  if (windowMs / stepMs > MAX_POINTS)
    throw bad(
      `stats window / step gives ${windowMs / stepMs} points; at most ${MAX_POINTS}: widen the step`,
    );
  const spanS = stepMs % HOUR === 0 ? 3600 : 60;
  const maxWindow = spanS === 60 ? 2 * 24 * HOUR : 35 * 24 * HOUR;
  if (windowMs > maxWindow)
    throw bad(
      spanS === 60
        ? 'stats windows over 2 days need a step of whole hours (minute rows are kept 2 days)'
        : 'stats windows are at most 35 days (hour rows are kept 35 days)',
    );
  return { windowMs, stepMs, spanS };
}

/**
 * Throughput and latency per step from the rollup that workers write
 * (`tandem.task_stats`): rows of the window only, through its primary key,
 * so the cost depends on workers × task names × steps, never on the number
 * of tasks kept. Steps of whole hours read the hour rows.
 */
export async function stats(sql: Queryable, options: StatsOptions = {}): Promise<Stats> {
  const { windowMs, stepMs, spanS } = resolveStatsOptions(options);
  const now = Date.now();
  const to = now - (now % stepMs) + stepMs;
  const from = to - windowMs;
  const [rows, depth] = await Promise.all([
    sql.query<any>(rollupRead, [spanS, from, to]),
    sql.query<any>(queueList),
  ]);
  const n = windowMs / stepMs;
  const series = new Map<string, { queue: string; name: string; steps: Acc[]; all: Acc }>();
  const totalSteps = Array.from({ length: n }, newAcc);
  const total = newAcc();
  for (const r of rows) {
    const i = Math.floor((r.at_ms - from) / stepMs);
    if (i < 0 || i >= n) continue;
    const k = `${r.queue}\u0000${r.name}`;
    let s = series.get(k);
    if (!s) {
      s = { queue: r.queue, name: r.name, steps: Array.from({ length: n }, newAcc), all: newAcc() };
      series.set(k, s);
    }
    const acc: Acc = {
      succeeded: r.succeeded,
      failed: r.failed,
      retried: r.retried,
      run: r.run_hist,
      lag: r.lag_hist,
    };
    addAcc(s.steps[i]!, acc);
    addAcc(s.all, acc);
    addAcc(totalSteps[i]!, acc);
    addAcc(total, acc);
  }
  const points = (steps: Acc[]) => steps.map((a, i) => toPoint(from + i * stepMs, a));
  return {
    from: new Date(from),
    to: new Date(to),
    stepMs,
    windowMs,
    series: [...series.values()]
      .sort((a, b) => a.queue.localeCompare(b.queue) || a.name.localeCompare(b.name))
      .map((s) => ({
        queue: s.queue,
        name: s.name,
        points: points(s.steps),
        totals: toPoint(from, s.all),
      })),
    total: { points: points(totalSteps), totals: toPoint(from, total) },
    depth: depth.map((r) => ({
      queue: r.name,
      queued: Number(r.queued),
      retrying: Number(r.retrying),
      running: Number(r.running),
      oldestRunnableAt: r.oldest_runnable_at ?? null,
    })),
  };
}
