/**
 * Pressure: a steady producer and one worker process while something holds
 * PostgreSQL's xmin horizon back, so vacuum cannot remove the dead tuples
 * that every claim and settle leaves. Three phases: clean → pinned →
 * recovery, of `pressurePhaseSeconds` each but the pinned one, which takes
 * `pressurePinSeconds`. The pin is one of:
 *
 * - `idle-tx`: `BEGIN; SELECT txid_current();` held open on a separate
 *   connection for the pinned phase;
 * - `readers`: `pressureReaders` REPEATABLE READ transactions scanning the
 *   system's job table back to back for the pinned phase;
 * - `overload`: no pin; the pinned phase offers `overloadFactor` × the
 *   worker's capacity, measured first by draining `overloadProbeTasks`.
 *
 * The producer (this process) calls the system's bulk enqueue every
 * `pressureTickMs` with as many tasks as keep the offered rate exact since
 * the phase began (one call in flight at a time, so a stalled database
 * lowers what is really offered; the table shows what was). Every payload
 * carries its enqueue time; the worker reports handler start minus that time
 * (pickup latency). Per phase: offered and completed rate, pickup p50/p99,
 * backlog at the end (enqueued minus started), dead tuples, table and index
 * sizes of the system's schema. A per-second timeline goes to the JSON.
 */
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { type ChildMessage, forkBenchScript, stopChild, waitFor } from '../children.js';
import { type BenchDatabases, inFreshDatabase, withClient } from '../db.js';
import { progress, sleep } from '../log.js';
import type { BenchOptions, PressureKind } from '../options.js';
import {
  activeReaders,
  idleInTransaction,
  type Pin,
  type TableStats,
  tableStats,
} from '../pins.js';
import { fmt, quantile } from '../stats.js';
import { BEST_CONFIGS, loadSystem } from '../systems/index.js';
import type { Producer, System, SystemName, WorkerConfig } from '../systems/types.js';

export type PhaseName = 'clean' | 'pinned' | 'recovery';

export interface PressurePhase extends TableStats {
  phase: PhaseName;
  seconds: number;
  offered: number;
  completed: number;
  offeredPerSecond: number;
  completedPerSecond: number;
  pickupSamples: number;
  pickupP50Ms: number | null;
  pickupP99Ms: number | null;
  pickupMaxMs: number | null;
  /** Enqueued but not yet started at the end of the phase. */
  backlogAtEnd: number;
  /** What the pin did (readers: scans completed). */
  pin?: { scans?: number };
}

export interface PressureResult {
  system: SystemName;
  label: string;
  settings: string;
  kind: PressureKind;
  concurrency: number;
  /** Offered tasks/s of the clean and recovery phases (and of the pinned one but for overload). */
  offeredRate: number;
  /** Overload: the measured drain capacity and the rate offered during the middle phase. */
  capacityPerSecond?: number;
  overloadRate?: number;
  phases: PressurePhase[];
  /** Backlog 30 s into the recovery phase (null when the phase is shorter). */
  backlog30sAfterPin: number | null;
  /** Every second: seconds since the clean phase began, tasks offered and started in total. */
  timeline: { t: number; phase: PhaseName; offered: number; started: number }[];
  error?: string;
}

/** Systems whose jobs live in PostgreSQL (the pressure acts on PostgreSQL). */
const ON_POSTGRES = new Set<SystemName>([
  'tandem',
  'graphile',
  'graphile017',
  'pgboss',
  'pgboss10',
  'bullmqpg',
]);

/**
 * Enqueues at `rate` tasks/s, one bulk call per tick, until stopped. Tasks
 * count as offered in the phase their call was made in, even when the call
 * returns in the next one.
 */
class SteadyProducer {
  rate = 0;
  offered = 0;
  /** Tasks offered in each phase, by the index `setRate` returned. */
  readonly offeredIn: number[] = [];
  private phase = -1;
  private phaseStart = 0;
  private stop = false;
  private readonly done: Promise<void>;
  private next = 0;

  constructor(
    private readonly producer: Producer,
    private readonly tickMs: number,
  ) {
    this.done = this.loop();
    this.done.catch(() => {});
  }

  /** Starts a new phase at `rate`; returns its index. */
  setRate(rate: number): number {
    this.rate = rate;
    this.phaseStart = performance.now();
    this.offeredIn.push(0);
    this.phase = this.offeredIn.length - 1;
    return this.phase;
  }

  private async loop() {
    let tick = performance.now();
    while (!this.stop) {
      const phase = this.phase;
      if (phase >= 0) {
        const due = Math.floor((this.rate * (performance.now() - this.phaseStart)) / 1000);
        const n = Math.min(50_000, due - this.offeredIn[phase]!);
        if (n > 0) {
          const input = this.producer.bulkInput(this.next, n, { stamp: true });
          this.next += n;
          this.offeredIn[phase]! += n;
          await this.producer.enqueueBulk(input);
          this.offered += n;
        }
      }
      tick += this.tickMs;
      const wait = tick - performance.now();
      if (wait > 0) await sleep(wait);
      else tick = performance.now();
    }
  }

  async close() {
    this.stop = true;
    await this.done;
  }
}

async function startPin(
  kind: PressureKind,
  url: string,
  system: System,
  options: BenchOptions,
): Promise<Pin | null> {
  if (kind === 'idle-tx') return idleInTransaction(url);
  if (kind === 'readers') return activeReaders(url, system.tables[0]!, options.pressureReaders);
  return null;
}

/** Drains `tasks` tasks with the (started) worker; returns tasks/s. */
async function probeCapacity(
  producer: Producer,
  started: () => number,
  tasks: number,
): Promise<number> {
  const base = started();
  for (let from = 0; from < tasks; from += 10_000) {
    await producer.enqueueBulk(
      producer.bulkInput(-1 - from - 10_000, Math.min(10_000, tasks - from)),
    );
  }
  const t0 = performance.now();
  while (started() - base < tasks) {
    if (performance.now() - t0 > 300_000) throw new Error('capacity probe did not finish in 300 s');
    await sleep(5);
  }
  const rate = tasks / ((performance.now() - t0) / 1000);
  while ((await producer.unfinished()) > 0) await sleep(20);
  return rate;
}

async function measure(
  dbs: BenchDatabases,
  cfg: WorkerConfig,
  kind: PressureKind,
  options: BenchOptions,
): Promise<PressureResult> {
  const result: PressureResult = {
    system: cfg.system,
    label: cfg.label,
    settings: cfg.settings,
    kind,
    concurrency: options.pressureConcurrency,
    offeredRate: options.pressureRate,
    phases: [],
    backlog30sAfterPin: null,
    timeline: [],
  };
  const what = `pressure ${kind} ${cfg.label}`;
  const child: ChildProcess = forkBenchScript('drain-worker.ts', [
    JSON.stringify({
      system: cfg.system,
      variant: cfg.variant,
      concurrency: options.pressureConcurrency,
      lags: true,
    }),
  ]);
  const loaded = waitFor(child, 'loaded', 120_000);
  loaded.catch(() => {});
  try {
    const system = await loadSystem(cfg.system);
    await inFreshDatabase(dbs, `pressure_${kind}_${cfg.system}`, async (url) => {
      await system.install(url);
      await loaded;
      const ready = waitFor(child, 'ready', 60_000);
      child.send({ type: 'prepare', url });
      await ready;
      const producer = await system.producer(url);
      const stats = new pg.Client({
        connectionString: url,
        application_name: 'tandem-bench-stats',
      });
      await stats.connect();
      let started = 0;
      let lags: number[] = [];
      const childDone = new Promise<never>((_, reject) => {
        child.on('message', (m: ChildMessage) => {
          if (m.type === 'failed') reject(new Error(`worker failed: ${m.error}`));
          if (m.type !== 'progress') return;
          started = m.handled ?? started;
          if (m.lags) for (const l of m.lags) lags.push(l);
        });
        child.once('exit', (code) => reject(new Error(`worker exited (code ${code})`)));
      });
      childDone.catch(() => {});
      let steady: SteadyProducer | null = null;
      try {
        child.send({ type: 'start' });
        if (kind === 'overload') {
          const capacity = await Promise.race([
            probeCapacity(producer, () => started, options.overloadProbeTasks),
            childDone,
          ]);
          result.capacityPerSecond = capacity;
          result.overloadRate = Math.round(capacity * options.overloadFactor);
          progress(
            `${what}: capacity ${fmt(capacity)} tasks/s; overload offers ${fmt(result.overloadRate)}/s`,
          );
          if (system.tables.length > 0)
            await withClient(url, (c) => c.query(`vacuum ${system.tables.join(', ')}`));
        }
        const t0 = performance.now();
        const offsetStarted = started;
        steady = new SteadyProducer(producer, options.pressureTickMs);
        const s = steady;
        for (const phase of ['clean', 'pinned', 'recovery'] as const) {
          const rate =
            kind === 'overload' && phase === 'pinned' ? result.overloadRate! : options.pressureRate;
          const pin = phase === 'pinned' ? await startPin(kind, url, system, options) : null;
          const index = s.setRate(rate);
          const p0 = performance.now();
          const started0 = started;
          lags = [];
          const phaseSeconds =
            phase === 'pinned' ? options.pressurePinSeconds : options.pressurePhaseSeconds;
          const end = p0 + phaseSeconds * 1000;
          while (performance.now() < end) {
            await Promise.race([sleep(Math.min(1_000, end - performance.now())), childDone]);
            const t = (performance.now() - t0) / 1000;
            result.timeline.push({
              t: Math.round(t * 10) / 10,
              phase,
              offered: s.offered,
              started: started - offsetStarted,
            });
            if (
              phase === 'recovery' &&
              result.backlog30sAfterPin === null &&
              performance.now() - p0 >= 30_000
            )
              result.backlog30sAfterPin = s.offered - (started - offsetStarted);
          }
          const seconds = (performance.now() - p0) / 1000;
          const phaseLags = lags;
          const pinInfo = pin ? await pin.end() : undefined;
          const table = await tableStats(stats, system.schema);
          const r: PressurePhase = {
            phase,
            seconds,
            offered: s.offeredIn[index]!,
            completed: started - started0,
            offeredPerSecond: s.offeredIn[index]! / seconds,
            completedPerSecond: (started - started0) / seconds,
            pickupSamples: phaseLags.length,
            pickupP50Ms: phaseLags.length ? quantile(phaseLags, 0.5) : null,
            pickupP99Ms: phaseLags.length ? quantile(phaseLags, 0.99) : null,
            pickupMaxMs: phaseLags.length ? quantile(phaseLags, 1) : null,
            backlogAtEnd: s.offered - (started - offsetStarted),
            ...table,
            ...(pinInfo ? { pin: pinInfo } : {}),
          };
          result.phases.push(r);
          progress(
            `${what} ${phase}: offered ${fmt(r.offeredPerSecond)}/s, done ${fmt(r.completedPerSecond)}/s, pickup p50 ${fmt(r.pickupP50Ms)} ms p99 ${fmt(r.pickupP99Ms)} ms, backlog ${fmt(r.backlogAtEnd)}, dead tuples ${fmt(r.deadTuples)}`,
          );
        }
      } finally {
        await steady?.close().catch(() => {});
        await stopChild(child, 10_000);
        await producer.close().catch(() => {});
        await stats.end().catch(() => {});
      }
    });
  } catch (err) {
    result.error = (err as Error)?.message ?? String(err);
    progress(`${what} FAILED: ${result.error}`);
  } finally {
    await stopChild(child, 1_000);
  }
  return result;
}

export async function runPressure(
  dbs: BenchDatabases,
  options: BenchOptions,
): Promise<PressureResult[]> {
  const configs = BEST_CONFIGS.filter(
    (c) => c.tier !== 'floor' && ON_POSTGRES.has(c.system) && options.systems.includes(c.system),
  );
  const out: PressureResult[] = [];
  for (const kind of options.pressureKinds) {
    for (const cfg of configs) out.push(await measure(dbs, cfg, kind, options));
  }
  return out;
}
