/**
 * Drain: bulk-enqueue N no-op tasks, then time worker processes from the
 * moment they are told to start until every task is recorded as finished in
 * the database. Workers run in forked processes (bench/drain-worker.ts),
 * fully constructed before the clock starts; the parent only enqueues,
 * signals and measures.
 *
 * The end is detected in two steps so that measuring costs the database
 * almost nothing: first the children's handler counters (sent over IPC
 * every 10 ms) must reach N, then the parent polls the system's own table
 * every 5 ms until no task is left unfinished (batched completions land).
 */
import type { ChildProcess } from 'node:child_process';
import { type ChildMessage, forkBenchScript, stopChild, waitFor } from '../children.js';
import { type BenchDatabases, inFreshDatabase, withClient } from '../db.js';
import { progress, sleep } from '../log.js';
import type { BenchOptions, DrainShape } from '../options.js';
import { fmt, median } from '../stats.js';
import { DRAIN_CONFIGS, loadSystem } from '../systems/index.js';
import type { PayloadShape, Producer, SystemName, Tier, WorkerConfig } from '../systems/types.js';

export interface DrainResult {
  label: string;
  system: SystemName;
  variant: string;
  tier: Tier;
  settings: string;
  processes: number;
  concurrency: number;
  tasks: number;
  seconds: number | null;
  tasksPerSecond: number | null;
  /** From the start signal to the first handler run reported (start-up cost). */
  firstTaskSeconds: number | null;
  /** Handler runs counted by the workers (more than `tasks` would mean duplicates). */
  handled: number | null;
  /** Bytes of each payload's JSON, when the run pads payloads (payload scenario). */
  payloadBytes?: number;
  /** Handler duration, when not zero. */
  handlerMs?: number;
  error?: string;
}

/** Largest single bulk call used to fill the queue, in tasks and in payload bytes. */
const ENQUEUE_CHUNK = 50_000;
const ENQUEUE_CHUNK_BYTES = 40 * 2 ** 20;

export interface DrainRunOptions {
  tasks: number;
  /** What each payload carries (default: only its number). */
  payload?: PayloadShape;
  /** Approximate JSON size of a payload, for the results and the fill's chunk size. */
  payloadBytes?: number;
  handlerMs?: number;
  /** Runs on the installed database before the tasks are enqueued. */
  prepare?: (url: string) => Promise<void>;
  dbLabel?: string;
}

/** Sends `start` to every child and resolves once their handlers ran `tasks` times in all. */
function startAndCount(children: ChildProcess[], tasks: number, timeoutMs: number) {
  const handled = new Map<ChildProcess, number>();
  let total = 0;
  let first: number | null = null;
  let timer: NodeJS.Timeout | undefined;
  const t0 = performance.now();
  const done = new Promise<void>((resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`only ${total} of ${tasks} tasks handled after ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    for (const child of children) {
      child.on('message', (m: ChildMessage) => {
        if (m.type === 'failed') reject(new Error(`worker ${child.pid} failed: ${m.error}`));
        if (m.type !== 'progress') return;
        first ??= performance.now();
        total += (m.handled ?? 0) - (handled.get(child) ?? 0);
        handled.set(child, m.handled ?? 0);
        if (total >= tasks) resolve();
      });
      child.once('exit', (code) =>
        reject(new Error(`worker ${child.pid} exited (code ${code}) during the drain`)),
      );
    }
  }).finally(() => clearTimeout(timer));
  for (const child of children) child.send({ type: 'start' });
  return { t0, done, handled, firstAt: () => first };
}

async function waitUntilFinished(producer: Producer, deadline: number): Promise<void> {
  while ((await producer.unfinished()) > 0) {
    if (performance.now() > deadline) throw new Error('tasks still unfinished at the time limit');
    await sleep(5);
  }
}

export async function measureDrain(
  dbs: BenchDatabases,
  cfg: WorkerConfig,
  shape: DrainShape,
  run: DrainRunOptions,
): Promise<DrainResult> {
  const { tasks } = run;
  const what = `drain ${cfg.label} ${shape.processes}×${shape.concurrency}`;
  const base: DrainResult = {
    label: cfg.label,
    system: cfg.system,
    variant: cfg.variant,
    tier: cfg.tier,
    settings: cfg.settings,
    processes: shape.processes,
    concurrency: shape.concurrency,
    tasks,
    seconds: null,
    tasksPerSecond: null,
    firstTaskSeconds: null,
    handled: null,
    ...(run.payloadBytes ? { payloadBytes: run.payloadBytes } : {}),
    ...(run.handlerMs ? { handlerMs: run.handlerMs } : {}),
  };
  const dbLabel =
    run.dbLabel ?? `drain_${cfg.system}_${cfg.variant}_${shape.processes}x${shape.concurrency}`;
  const config = JSON.stringify({
    system: cfg.system,
    variant: cfg.variant,
    concurrency: shape.concurrency,
    handlerMs: run.handlerMs ?? 0,
  });
  // Forked first: importing a library under tsx takes seconds on a busy machine.
  const children: ChildProcess[] = [];
  for (let p = 0; p < shape.processes; p++)
    children.push(forkBenchScript('drain-worker.ts', [config]));
  const loaded = Promise.all(children.map((c) => waitFor(c, 'loaded', 120_000)));
  loaded.catch(() => {}); // awaited below
  try {
    const system = await loadSystem(cfg.system);
    return await inFreshDatabase(dbs, dbLabel, async (url) => {
      await system.install(url);
      if (run.prepare) await run.prepare(url);
      await loaded;
      const ready = Promise.all(children.map((c) => waitFor(c, 'ready', 60_000)));
      ready.catch(() => {}); // awaited below, after the enqueue
      for (const child of children) child.send({ type: 'prepare', url });
      const producer = await system.producer(url);
      try {
        const chunk = Math.max(
          1_000,
          Math.min(ENQUEUE_CHUNK, Math.floor(ENQUEUE_CHUNK_BYTES / (run.payloadBytes ?? 1))),
        );
        for (let from = 0; from < tasks; from += chunk) {
          await producer.enqueueBulk(
            producer.bulkInput(from, Math.min(chunk, tasks - from), run.payload),
          );
        }
        if (system.tables.length > 0)
          await withClient(url, (c) => c.query(`vacuum analyze ${system.tables.join(', ')}`));
        await ready;

        const timeoutMs = Math.max(120_000, tasks * 5);
        const timed = startAndCount(children, tasks, timeoutMs);
        await timed.done;
        await waitUntilFinished(producer, timed.t0 + timeoutMs);
        const seconds = (performance.now() - timed.t0) / 1000;
        const first = timed.firstAt();
        let counted = 0;
        for (const child of children)
          counted += (await stopChild(child)) ?? timed.handled.get(child) ?? 0;
        const result: DrainResult = {
          ...base,
          seconds,
          tasksPerSecond: tasks / seconds,
          firstTaskSeconds: first === null ? null : (first - timed.t0) / 1000,
          handled: counted,
        };
        progress(
          `${what}: ${fmt(tasks)} tasks in ${seconds.toFixed(2)} s = ${fmt(result.tasksPerSecond)} tasks/s (first task after ${fmt((result.firstTaskSeconds ?? Number.NaN) * 1000)} ms)${counted !== tasks ? `; handlers ran ${counted} times!` : ''}`,
        );
        return result;
      } finally {
        await Promise.all(children.map((c) => stopChild(c, 5_000)));
        await producer.close().catch(() => {});
      }
    });
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    progress(`${what} FAILED: ${message}`);
    return { ...base, error: message };
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 1_000)));
  }
}

/** One configuration over several rounds: the median run counts, every run is kept. */
export interface DrainSummary extends DrainResult {
  runs: Pick<
    DrainResult,
    'seconds' | 'tasksPerSecond' | 'firstTaskSeconds' | 'handled' | 'error'
  >[];
}

export function summarize(runs: DrainResult[]): DrainSummary {
  const first = runs[0]!;
  const ok = runs.filter((r) => !r.error && r.tasksPerSecond !== null);
  const pick = (f: (r: DrainResult) => number | null) => {
    const xs = ok.map(f).filter((x): x is number => x !== null);
    return xs.length ? median(xs) : null;
  };
  const { runs: _r, error: _e, ...shape } = first as DrainSummary;
  return {
    ...shape,
    seconds: pick((r) => r.seconds),
    tasksPerSecond: pick((r) => r.tasksPerSecond),
    firstTaskSeconds: pick((r) => r.firstTaskSeconds),
    handled: ok.length ? Math.max(...ok.map((r) => r.handled ?? 0)) : null,
    ...(ok.length === 0 ? { error: first.error ?? 'no successful run' } : {}),
    runs: runs.map(({ seconds, tasksPerSecond, firstTaskSeconds, handled, error }) => ({
      seconds,
      tasksPerSecond,
      firstTaskSeconds,
      handled,
      ...(error ? { error } : {}),
    })),
  };
}

/**
 * Every configuration and shape, `rounds` times, round-robin, so that a slow
 * spell of the shared machine spreads over all systems instead of hitting one.
 */
export async function runDrain(
  dbs: BenchDatabases,
  options: BenchOptions,
): Promise<DrainSummary[]> {
  const configs = DRAIN_CONFIGS.filter(
    (c) => options.systems.includes(c.system) && c.tier !== 'floor',
  );
  const cells = options.drainShapes.flatMap((shape) =>
    configs.map((cfg) => ({ shape, cfg, runs: [] as DrainResult[] })),
  );
  // The floor does not depend on the shape: one process, two connections.
  const floor = DRAIN_CONFIGS.find((c) => c.tier === 'floor');
  if (floor && options.systems.includes('floor'))
    cells.push({ shape: { processes: 1, concurrency: 2 }, cfg: floor, runs: [] });
  for (let round = 1; round <= options.rounds; round++) {
    if (options.rounds > 1) progress(`drain: round ${round} of ${options.rounds}`);
    for (const cell of cells) {
      cell.runs.push(await measureDrain(dbs, cell.cfg, cell.shape, { tasks: options.drainTasks }));
    }
  }
  const out = cells.map((c) => summarize(c.runs));
  if (options.rounds > 1) {
    for (const r of out) {
      progress(
        `drain ${r.label} ${r.processes}×${r.concurrency}: median ${fmt(r.tasksPerSecond)} tasks/s of ${r.runs.map((x) => fmt(x.tasksPerSecond)).join(', ')}`,
      );
    }
  }
  return out;
}
