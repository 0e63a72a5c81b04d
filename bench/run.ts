/**
 * `npm run bench`: Tandem against graphile-worker, pg-boss, BullMQ (on Redis
 * and on PostgreSQL) and a raw-SQL floor, same server, same machine, one
 * run, on Node 24 unless told otherwise (bench/runtime.ts). Progress goes to
 * stderr, the results tables to stdout, everything measured to
 * bench/results/<timestamp>.json. See docs/benchmarks.md.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { killAllChildren } from './children.js';
import { BenchDatabases, canConnect, withClient } from './db.js';
import { progress } from './log.js';
import { type BenchOptions, parseOptions } from './options.js';
import { type Results, resultsTable } from './report.js';
import { reexecUnder24 } from './runtime.js';
import { runApi } from './scenarios/api.js';
import { runBulk } from './scenarios/bulk.js';
import { runChaos } from './scenarios/chaos.js';
import { runDrain } from './scenarios/drain.js';
import { runLatency } from './scenarios/latency.js';
import { runLimits } from './scenarios/limits.js';
import { runPayload } from './scenarios/payload.js';
import { runPressure } from './scenarios/pressure.js';
import { runRelay } from './scenarios/relay.js';
import { runScale } from './scenarios/scale.js';
import { runTx } from './scenarios/tx.js';
import { DRAIN_CONFIGS, LATENCY_CONFIGS, SYSTEM_PACKAGES } from './systems/index.js';
import type { SystemName } from './systems/types.js';
import { checkTargets } from './targets.js';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

interface Server {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** The chosen server, or an embedded PostgreSQL in a temp dir when it does not answer. */
async function openServer(options: BenchOptions): Promise<Server> {
  const url = options.databaseUrl ?? DEFAULT_URL;
  if (await canConnect(url)) return { url, embedded: false, stop: async () => {} };
  progress(`no PostgreSQL answers at ${redact(url)}; starting an embedded one`);
  const { startEmbeddedPostgres } = await import('../src/embedded.js');
  const dataDir = await mkdtemp(join(os.tmpdir(), 'tandem-bench-pg-'));
  const pg = await startEmbeddedPostgres({ dataDir, ephemeral: true });
  return { url: pg.connectionString, embedded: true, stop: () => pg.stop() };
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

async function packageVersion(name: string): Promise<string> {
  const file = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(await readFile(file, 'utf8')).version;
}

/** The version measured of each system in this run (Tandem's from its package.json). */
async function systemVersions(systems: SystemName[]): Promise<Partial<Record<SystemName, string>>> {
  const out: Partial<Record<SystemName, string>> = {};
  for (const s of systems) {
    const pkg = SYSTEM_PACKAGES[s];
    if (s === 'tandem') {
      const file = new URL('../package.json', import.meta.url);
      out[s] = JSON.parse(await readFile(file, 'utf8')).version;
    } else if (pkg) out[s] = await packageVersion(pkg);
  }
  return out;
}

/** Every peer configuration this run can measure, for the JSON: what each variant means. */
function configurations(systems: SystemName[]) {
  return {
    drain: DRAIN_CONFIGS.filter((c) => systems.includes(c.system)),
    latency: LATENCY_CONFIGS.filter((c) => systems.includes(c.system)),
  };
}

/** A fingerprint of the Tandem code measured (src/ and sql/), for comparing runs. */
async function sourceHash(): Promise<string> {
  const root = new URL('../', import.meta.url);
  const hash = createHash('sha256');
  for (const dir of ['src', 'sql']) {
    const files = (await readdir(new URL(`${dir}/`, root), { recursive: true }))
      .filter((f) => /\.(ts|sql)$/.test(f))
      .sort();
    for (const f of files) hash.update(f).update(await readFile(new URL(`${dir}/${f}`, root)));
  }
  return hash.digest('hex').slice(0, 12);
}

async function environment(url: string, embedded: boolean, systems: SystemName[], relay: boolean) {
  const settings = await withClient(url, async (c) => {
    const names = [
      'server_version',
      'shared_buffers',
      'synchronous_commit',
      'fsync',
      'max_connections',
    ];
    const out: Record<string, string> = {};
    for (const n of names) out[n] = (await c.query(`show ${n}`)).rows[0][n];
    return out;
  });
  const cpus = os.cpus();
  return {
    machine: {
      cpuModel: cpus[0]?.model ?? 'unknown',
      cpuCount: cpus.length,
      totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      loadAvgAtStart: os.loadavg(),
    },
    node: process.version,
    tandemSourceHash: await sourceHash(),
    postgres: { version: settings.server_version, embedded, settings },
    systems: await systemVersions(systems),
    packages: {
      pg: await packageVersion('pg'),
      ...(systems.some((s) => s.startsWith('bullmq')) || relay
        ? { ioredis: await packageVersion('ioredis') }
        : {}),
      ...(relay
        ? {
            amqplib: await packageVersion('amqplib'),
            '@nats-io/jetstream': await packageVersion('@nats-io/jetstream'),
          }
        : {}),
    },
    configurations: configurations(systems),
  };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const rerun = await reexecUnder24(options.node);
  if (rerun !== null) return rerun;
  const startedAt = new Date();
  const server = await openServer(options);
  const usesRedis = options.systems.includes('bullmq');
  const dbs = new BenchDatabases(server.url, async (name) => {
    if (!usesRedis) return;
    const { deleteRedisPrefix } = await import('./systems/bullmq.js');
    await deleteRedisPrefix(name);
  });
  let cleaning: Promise<void> | null = null;
  const cleanup = () => {
    cleaning ??= (async () => {
      killAllChildren();
      await dbs.dropAll();
      await server.stop().catch(() => {});
    })();
    return cleaning;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`${signal}: cleaning up`);
      cleanup().finally(() => process.exit(130));
    });
  }

  const results: Results = {};
  let env: Awaited<ReturnType<typeof environment>>;
  try {
    env = await environment(
      server.url,
      server.embedded,
      options.systems,
      options.only.includes('relay'),
    );
    progress(
      `PostgreSQL ${env.postgres.version} at ${redact(server.url)}; ${env.machine.cpuCount} × ${env.machine.cpuModel}; Node ${env.node}; Tandem source ${env.tandemSourceHash}; scenarios ${options.only.join(',')}; systems ${options.systems.join(',')}${options.quick ? '; quick' : ''}`,
    );
    if (options.only.includes('drain')) results.drain = await runDrain(dbs, options);
    if (options.only.includes('bulk')) results.bulk = await runBulk(dbs, options);
    if (options.only.includes('tx')) results.tx = await runTx(dbs, options);
    if (options.only.includes('latency')) results.latency = await runLatency(dbs, options);
    if (options.only.includes('scale')) results.scale = await runScale(dbs, options);
    if (options.only.includes('api')) results.api = await runApi(dbs, options);
    if (options.only.includes('payload')) results.payload = await runPayload(dbs, options);
    if (options.only.includes('pressure')) results.pressure = await runPressure(dbs, options);
    if (options.only.includes('chaos')) results.chaos = await runChaos(dbs, options);
    if (options.only.includes('relay')) results.relay = await runRelay(dbs, options);
    if (options.only.includes('limits')) results.limits = await runLimits(dbs, options);
  } finally {
    await cleanup();
  }

  const targets = checkTargets(results);
  for (const t of targets) {
    progress(
      `target ${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'}  ${t.target}: ${t.measured}`,
    );
  }
  process.stdout.write(`${resultsTable(results, options.systems, env.systems)}\n`);

  const finishedAt = new Date();
  const dir = new URL('./results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const file = new URL(`${startedAt.toISOString().replace(/[:.]/g, '-')}.json`, dir);
  const { databaseUrl: _omit, ...shownOptions } = options;
  await writeFile(
    file,
    `${JSON.stringify({ startedAt, finishedAt, loadAvgAtEnd: os.loadavg(), ...env, options: shownOptions, results, targets }, null, 2)}\n`,
  );
  progress(`results written to ${file.pathname}`);
  const failed = Object.values(results).some((list) =>
    (list as { error?: string }[]).some((r) => r.error),
  );
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    killAllChildren();
    process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
