/**
 * Chaos (Tandem only): three worker processes (defaults, concurrency 10)
 * drain transactional tasks whose handler inserts an effect row keyed by
 * task id in the task's transaction (bench/chaos-worker.ts), while a
 * producer keeps `chaosBacklog` tasks queued ahead of them. After
 * `chaosWarmupSeconds` of clean work (the clean rate), one disruption:
 *
 * - `kill-one`: SIGKILL one of the three workers (not restarted);
 * - `kill-loop`: every `chaosKillEverySeconds`, SIGKILL one worker and start
 *   a new one, for `chaosKillLoopSeconds`;
 * - `pg-restart`: PostgreSQL immediate shutdown (SIGQUIT to the postmaster:
 *   no checkpoint, crash recovery at start) and restart on the same port;
 * - `terminate-storm`: `pg_terminate_backend` on a random one of the
 *   workers' connections (found by application_name), `chaosStormPerSecond`
 *   times a second for `chaosStormSeconds`;
 * - `exhaust`: the bench opens connections until only two ordinary slots
 *   are left, holds them `chaosExhaustSeconds`, then closes them.
 *
 * Then `chaosSettleSeconds` more of work, the producer stops, and the
 * workers finish everything. Figures: tasks lost (enqueued but not
 * succeeded once all is done), duplicate effects (effect rows beyond one per
 * task), effects missing for succeeded tasks, and the time from the end of
 * each disruption until a one-second window runs at ≥ 0.8× the clean rate.
 *
 * Everything runs on a throwaway embedded PostgreSQL cluster that this
 * scenario starts in a temp dir (startEmbeddedPostgres), never on the
 * server the rest of the bench uses: it is shut down, restarted and
 * filled to its connection limit.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type EmbeddedPostgresServer, startEmbeddedPostgres } from '../../src/embedded.js';
import { ChaosWorkers, Feeder, Meter, Observer } from '../chaos-tools.js';
import { BenchDatabases, inFreshDatabase, withClient } from '../db.js';
import { progress, sleep } from '../log.js';
import type { BenchOptions, ChaosCase } from '../options.js';
import { fmt } from '../stats.js';
import { installTandem } from '../systems/tandem.js';

export interface ChaosResult {
  case: ChaosCase;
  /** Tasks the producer enqueued (and confirmed) during the case. */
  tasks: number;
  lost: number | null;
  failed: number | null;
  duplicateEffects: number | null;
  missingEffects: number | null;
  /** Effect inserts attempted (committed or rolled back): handler runs that got that far. */
  handlerRuns: number | null;
  cleanRatePerSecond: number | null;
  /** Lowest one-second rate between the first disruption and the end of the settle time. */
  lowestRatePerSecond: number | null;
  /** Seconds back to ≥ 0.8× the clean rate after each disruption ended (null: never). */
  recoverySeconds: number[] | null;
  /** Seconds from the producer's stop until every task had finished. */
  drainSeconds: number | null;
  /** Producer batches that failed and were sent again. */
  enqueueRetries: number;
  workersStarted: number;
  note: string;
  /** Completed-task count every 100 ms (seconds since the workers started). */
  timeline: { t: number; n: number }[];
  error?: string;
}

const PROCESSES = 3;
const CONCURRENCY = 10;
const RECOVERED = 0.8;
const SPARE_SLOTS = 2;

interface Cluster {
  pg: EmbeddedPostgresServer;
  dataDir: string;
}

/** PostgreSQL immediate shutdown of the cluster, then a start on the same port and data. */
async function restartImmediately(cluster: Cluster): Promise<void> {
  const pidFile = join(cluster.pg.dataDir, 'postmaster.pid');
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 300; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    await sleep(50);
  }
  cluster.pg = await startEmbeddedPostgres({ dataDir: cluster.dataDir, port: cluster.pg.port });
}

async function terminateStorm(url: string, db: string, seconds: number, perSecond: number) {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  let killed = 0;
  try {
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      const { rows } = await c.query(
        `select pg_terminate_backend(pid) as ok from pg_stat_activity
          where datname = $1 and application_name = 'tandem-chaos-worker' and pid <> pg_backend_pid()
          order by random() limit 1`,
        [db],
      );
      if (rows[0]?.ok) killed++;
      await sleep(1000 / perSecond);
    }
  } finally {
    await c.end().catch(() => {});
  }
  return killed;
}

async function exhaustConnections(url: string, seconds: number): Promise<number> {
  const [s] = await withClient(
    url,
    async (c) =>
      (
        await c.query(
          `select current_setting('max_connections')::int as max,
                current_setting('superuser_reserved_connections')::int as reserved,
                (select count(*)::int from pg_stat_activity where backend_type = 'client backend') as used`,
        )
      ).rows,
  );
  const want = s.max - s.reserved - s.used - SPARE_SLOTS;
  const held: pg.Client[] = [];
  for (let k = 0; k < want; k++) {
    const c = new pg.Client({ connectionString: url, application_name: 'tandem-bench-exhaust' });
    c.on('error', () => {});
    try {
      await c.connect();
      held.push(c);
    } catch {
      break;
    }
  }
  await sleep(seconds * 1000);
  await Promise.all(held.map((c) => c.end().catch(() => {})));
  return held.length;
}

/** A case's result before anything is measured. */
function emptyResult(which: ChaosCase): ChaosResult {
  return {
    case: which,
    tasks: 0,
    lost: null,
    failed: null,
    duplicateEffects: null,
    missingEffects: null,
    handlerRuns: null,
    cleanRatePerSecond: null,
    lowestRatePerSecond: null,
    recoverySeconds: null,
    drainSeconds: null,
    enqueueRetries: 0,
    workersStarted: 0,
    note: '',
    timeline: [],
  };
}

async function runCase(
  cluster: Cluster,
  dbs: BenchDatabases,
  which: ChaosCase,
  options: BenchOptions,
): Promise<ChaosResult> {
  const result = emptyResult(which);
  await inFreshDatabase(dbs, `chaos_${which}`, async (url) => {
    await installTandem(url);
    await withClient(url, (c) =>
      c.query(
        `create table bench_effects (id bigserial primary key, task_id bigint not null, i int not null,
                                     pid int not null, at timestamptz not null default now());
         create index on bench_effects (task_id)`,
      ),
    );
    const db = new URL(url).pathname.slice(1);
    const workers = new ChaosWorkers(url, CONCURRENCY);
    const observer = new Observer(url);
    let meter: Meter | null = null;
    let feeder: Feeder | null = null;
    try {
      await Promise.all(Array.from({ length: PROCESSES }, () => workers.add()));
      meter = new Meter(observer, performance.now());
      feeder = new Feeder(url, meter, options.chaosBacklog);
      const now = () => (performance.now() - meter!.t0) / 1000;
      await sleep(options.chaosWarmupSeconds * 1000);
      // The second half of the warm-up: the first second or two are start-up.
      result.cleanRatePerSecond = meter.rate(now() / 2, now());
      const clean = result.cleanRatePerSecond ?? 0;
      const firstAt = now();
      const ends: number[] = [];
      if (which === 'kill-one') {
        await workers.kill();
        ends.push(now());
        result.note = 'one of three workers SIGKILLed, not restarted';
      } else if (which === 'kill-loop') {
        const stop = performance.now() + options.chaosKillLoopSeconds * 1000;
        let kills = 0;
        let next = performance.now();
        while (performance.now() < stop) {
          next += options.chaosKillEverySeconds * 1000;
          await workers.kill();
          ends.push(now());
          kills++;
          await workers.add();
          await sleep(Math.max(0, next - performance.now()));
        }
        result.note = `${kills} SIGKILLs, each followed by a new worker`;
      } else if (which === 'pg-restart') {
        const t = performance.now();
        await restartImmediately(cluster);
        ends.push(now());
        result.note = `immediate shutdown to ready again in ${fmt((performance.now() - t) / 1000, 1)} s`;
      } else if (which === 'terminate-storm') {
        const killed = await terminateStorm(
          url,
          db,
          options.chaosStormSeconds,
          options.chaosStormPerSecond,
        );
        ends.push(now());
        result.note = `${killed} worker backends terminated in ${options.chaosStormSeconds} s`;
      } else {
        const held = await exhaustConnections(url, options.chaosExhaustSeconds);
        ends.push(now());
        result.note = `${held} connections held for ${options.chaosExhaustSeconds} s (${SPARE_SLOTS} ordinary slots left)`;
      }
      await sleep(options.chaosSettleSeconds * 1000);
      const lastAt = now();
      result.recoverySeconds = ends.map(
        (at) => meter!.recovery(at, RECOVERED * clean) ?? Number.NaN,
      );
      let lowest: number | null = null;
      for (const s of meter.samples.filter((x) => x.t >= firstAt && x.t + 1 <= lastAt)) {
        const r = meter.rate(s.t, s.t + 1);
        if (r !== null && (lowest === null || r < lowest)) lowest = r;
      }
      result.lowestRatePerSecond = lowest;

      await feeder.close();
      result.tasks = feeder.enqueued;
      result.enqueueRetries = feeder.failures;
      const t0 = performance.now();
      for (;;) {
        const rows = await observer.query<{ n: number }>(
          `select count(*)::int as n from tandem.tasks where state in ('queued', 'retrying', 'running')`,
        );
        if (rows && rows[0]!.n === 0) break;
        if (performance.now() - t0 > 180_000) {
          const stuck = await observer.query(
            `select id, state, attempt, lost, owner, claim_token, run_at,
                    (select count(*)::int from tandem.workers w where w.id = t.owner) as owner_registered
               from tandem.tasks t where state in ('queued', 'retrying', 'running') order by id limit 5`,
          );
          result.note += `; tasks still unfinished 180 s after the producer stopped: ${JSON.stringify(stuck)}`;
          break;
        }
        await sleep(200);
      }
      result.drainSeconds = (performance.now() - t0) / 1000;
      await meter.close();
      const [v] = (await observer.query<Record<string, number>>(
        `select
           (select count(*)::int from generate_series(0, $1::int - 1) g
             where not exists (select 1 from tandem.tasks t
                                where t.key = 'chaos:' || g and t.name = 'effect'
                                  and t.state = 'succeeded')) as lost,
           (select count(*)::int from tandem.tasks where state = 'failed') as failed,
           (select (count(*) - count(distinct task_id))::int from bench_effects) as duplicates,
           (select count(*)::int from tandem.tasks t where t.state = 'succeeded'
               and not exists (select 1 from bench_effects e where e.task_id = t.id)) as missing,
           (select last_value::int from bench_effects_id_seq) as runs`,
        [result.tasks],
      )) ?? [{}];
      result.lost = v?.lost ?? null;
      result.failed = v?.failed ?? null;
      result.duplicateEffects = v?.duplicates ?? null;
      result.missingEffects = v?.missing ?? null;
      result.handlerRuns = v?.runs ?? null;
      result.timeline = meter.samples.map((s) => ({ t: Math.round(s.t * 10) / 10, n: s.n }));
    } finally {
      await feeder?.close().catch(() => {});
      await meter?.close().catch(() => {});
      result.workersStarted = workers.started;
      await workers.stopAll();
      await observer.close();
    }
  });
  progress(
    `chaos ${which}: ${fmt(result.tasks)} tasks, lost ${fmt(result.lost)}, failed ${fmt(result.failed)}, duplicate effects ${fmt(result.duplicateEffects)}, missing effects ${fmt(result.missingEffects)}; clean ${fmt(result.cleanRatePerSecond)}/s, lowest ${fmt(result.lowestRatePerSecond)}/s, back to ${RECOVERED}× after ${result.recoverySeconds?.map((s) => `${fmt(s, 1)} s`).join(', ')}; ${result.note}`,
  );
  return result;
}

export async function runChaos(
  _dbs: BenchDatabases,
  options: BenchOptions,
): Promise<ChaosResult[]> {
  if (!options.systems.includes('tandem')) return [];
  const dataDir = await mkdtemp(join(os.tmpdir(), 'tandem-bench-chaos-pg-'));
  progress(`chaos: starting a throwaway PostgreSQL cluster in ${dataDir}`);
  const cluster: Cluster = { pg: await startEmbeddedPostgres({ dataDir }), dataDir };
  const results: ChaosResult[] = [];
  try {
    for (const which of options.chaosCases) {
      const dbs = new BenchDatabases(cluster.pg.connectionString);
      try {
        results.push(await runCase(cluster, dbs, which, options));
      } catch (err) {
        const message = (err as Error)?.message ?? String(err);
        progress(`chaos ${which} FAILED: ${message}`);
        results.push({ ...emptyResult(which), error: message });
      } finally {
        await dbs.dropAll();
      }
    }
  } finally {
    await cluster.pg.stop().catch(() => {});
    if (existsSync(dataDir)) await rm(dataDir, { recursive: true, force: true });
  }
  return results;
}
