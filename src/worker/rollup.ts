import type { Queryable } from '../db/executor.js';
import { rollupPrune, rollupWrite } from '../db/queries/rollup.js';
import { BUCKETS, bucketOf } from '../histogram.js';
import type { Logger, TaskState } from '../types.js';

/** Counts and histograms of one (queue, task name) over some span. */
export interface RollupCounts {
  succeeded: number;
  failed: number;
  retried: number;
  /** Handler run time, bucketed by src/histogram.ts. */
  run: number[];
  runSumMs: number;
  /** Time from run_at to the start of the attempt. */
  lag: number[];
  lagSumMs: number;
}

interface Span extends RollupCounts {
  /** Bumped by every record; compared with `flushed` to know what to write. */
  version: number;
  flushed: number;
}

interface Series {
  queue: string;
  name: string;
  /** Since this process started: what per-process metrics show. */
  total: RollupCounts;
  /** Minute start (ms) → counts, for the current and the previous hour. */
  minutes: Map<number, Span>;
  current: Span | null;
  currentMinute: number;
  /** Hour start (ms) → the version of its sum last written. */
  hoursFlushed: Map<number, number>;
}

/** What the claim statement hands over, as far as the rollup cares. */
interface Attempt {
  queue: string;
  name: string;
  /** Milliseconds from run_at to the claim. */
  lag_ms?: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const FLUSH_MS = 5_000;
const PRUNE_EVERY_MS = 10 * MINUTE;

const newCounts = (): RollupCounts => ({
  succeeded: 0,
  failed: 0,
  retried: 0,
  run: new Array(BUCKETS).fill(0),
  runSumMs: 0,
  lag: new Array(BUCKETS).fill(0),
  lagSumMs: 0,
});

/**
 * The stats rollup of one worker process. `record` counts each finished
 * attempt in memory (a few array increments: nothing on the claim path
 * waits for it); every 5 s `flush` writes this process's rows of
 * `tandem.task_stats`, one per (minute or hour, queue, task name), with
 * absolute values in one statement. Rows of one writer are written by no
 * other process, so there is no hot row however many workers run, and a
 * failed write is simply repaired by the next one.
 */
export class Rollup {
  private readonly series = new Map<string, Map<string, Series>>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private lastPrune = Date.now();
  private failing = false;

  constructor(
    private readonly sql: Queryable,
    /** This process's rows; fixed for its lifetime (a worker that re-registers keeps its rows). */
    private readonly writer: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts one attempt that began at `started` (performance.now()): `row`
   * is what the worker writes for it (null: a transactional success that
   * committed itself), `outcome` how the handler ended. Succeeded, failed
   * and retried (a failure with another attempt to come) are counted;
   * cancelled, snoozed and released attempts are not.
   */
  record(
    task: Attempt,
    row: { state: TaskState } | null,
    result: { kind: string },
    started: number,
  ): void {
    const state = row?.state ?? 'succeeded';
    const kind = result.kind;
    const runMs = performance.now() - started;
    const outcome =
      state === 'succeeded'
        ? 0
        : state === 'failed'
          ? 1
          : state === 'retrying' && kind === 'failed'
            ? 2
            : -1;
    if (outcome < 0) return;
    let byName = this.series.get(task.queue);
    if (!byName) {
      byName = new Map();
      this.series.set(task.queue, byName);
    }
    let s = byName.get(task.name);
    if (!s) {
      s = {
        queue: task.queue,
        name: task.name,
        total: newCounts(),
        minutes: new Map(),
        current: null,
        currentMinute: -1,
        hoursFlushed: new Map(),
      };
      byName.set(task.name, s);
    }
    const now = this.now();
    const minute = now - (now % MINUTE);
    if (s.currentMinute !== minute || !s.current) {
      s.current = s.minutes.get(minute) ?? { ...newCounts(), version: 0, flushed: 0 };
      s.minutes.set(minute, s.current);
      s.currentMinute = minute;
    }
    const lag = task.lag_ms !== undefined && task.lag_ms > 0 ? task.lag_ms : 0;
    const runBucket = bucketOf(runMs);
    const lagBucket = bucketOf(lag);
    add(s.current, outcome, runMs, runBucket, lag, lagBucket);
    add(s.total, outcome, runMs, runBucket, lag, lagBucket);
    s.current.version++;
  }

  /** Every (queue, task name) seen, with its counts since this process started. */
  *totals(): Iterable<{ queue: string; name: string; counts: RollupCounts }> {
    for (const byName of this.series.values())
      for (const s of byName.values()) yield { queue: s.queue, name: s.name, counts: s.total };
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref?.();
  }

  /** Stops the timer and writes what is left. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** Writes every changed minute and hour row; one statement. Never throws. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    const rows = new RowBatch();
    const done: (() => void)[] = [];
    const thisHour = this.now() - (this.now() % HOUR);
    for (const byName of this.series.values()) {
      for (const s of byName.values()) {
        const hours = new Map<number, RollupCounts>();
        const hourVersions = new Map<number, number>();
        for (const [minute, span] of s.minutes) {
          const hour = minute - (minute % HOUR);
          // Minutes of finished hours that are written already are dropped.
          if (span.version === span.flushed && hour < thisHour - HOUR) {
            s.minutes.delete(minute);
            if (s.current === span) s.current = null;
            continue;
          }
          let sum = hours.get(hour);
          if (!sum) {
            sum = newCounts();
            hours.set(hour, sum);
          }
          addCounts(sum, span);
          hourVersions.set(hour, (hourVersions.get(hour) ?? 0) + span.version);
          if (span.version !== span.flushed) {
            const v = span.version;
            rows.push(60, minute, s, span);
            done.push(() => {
              span.flushed = v;
            });
          }
        }
        for (const [hour, sum] of hours) {
          const v = hourVersions.get(hour)!;
          if (s.hoursFlushed.get(hour) === v) continue;
          rows.push(3600, hour, s, sum);
          done.push(() => s.hoursFlushed.set(hour, v));
        }
        for (const hour of s.hoursFlushed.keys()) if (!hours.has(hour)) s.hoursFlushed.delete(hour);
      }
    }
    try {
      if (rows.size > 0) await this.sql.query(rollupWrite, [this.writer, ...rows.params()]);
      for (const f of done) f();
      if (this.now() - this.lastPrune >= PRUNE_EVERY_MS) {
        this.lastPrune = this.now();
        await this.sql.query(rollupPrune);
      }
      if (this.failing) this.logger.info('stats rollup written again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.logger.warn({ err }, 'could not write the stats rollup; will retry');
      this.failing = true;
    }
  }
}

function add(
  c: RollupCounts,
  outcome: number,
  runMs: number,
  runBucket: number,
  lagMs: number,
  lagBucket: number,
): void {
  if (outcome === 0) c.succeeded++;
  else if (outcome === 1) c.failed++;
  else c.retried++;
  c.run[runBucket]!++;
  c.runSumMs += runMs;
  c.lag[lagBucket]!++;
  c.lagSumMs += lagMs;
}

function addCounts(into: RollupCounts, from: RollupCounts): void {
  into.succeeded += from.succeeded;
  into.failed += from.failed;
  into.retried += from.retried;
  into.runSumMs += from.runSumMs;
  into.lagSumMs += from.lagSumMs;
  for (let i = 0; i < BUCKETS; i++) {
    into.run[i]! += from.run[i]!;
    into.lag[i]! += from.lag[i]!;
  }
}

/** The parallel arrays of `rollupWrite`. */
class RowBatch {
  private readonly cols: unknown[][] = Array.from({ length: 11 }, () => []);
  size = 0;

  push(spanS: number, atMs: number, s: Series, c: RollupCounts): void {
    const values = [
      spanS,
      atMs,
      s.queue,
      s.name,
      c.succeeded,
      c.failed,
      c.retried,
      `{${c.run.join(',')}}`,
      c.runSumMs,
      `{${c.lag.join(',')}}`,
      c.lagSumMs,
    ];
    for (let i = 0; i < values.length; i++) this.cols[i]!.push(values[i]);
    this.size++;
  }

  params(): unknown[][] {
    return this.cols;
  }
}
