/**
 * Limits: what flow control costs, and whether it holds. Tandem only; two
 * workers (two Tandem instances) in this process, queue 'bench' at
 * concurrency 10 each, no-op handlers, a fresh database per measurement.
 *
 * - Drain `limitsTasks` tasks of a name without limits, then of a name
 *   whose concurrency limit never binds (100,000), then of one that also
 *   has a rate limit that never binds (1,000,000/1s), so that every claim
 *   goes through tandem.claim_flow: the ratios are flow control's own cost.
 *   Alternated, `rounds` times each, medians reported.
 * - Claim cost with blocked keys: drain `limitsTasks` tasks spread over
 *   100 keys (key concurrency 1000), alone and then beside 10,000 keys at
 *   their limit (their slots marked taken, one task waiting each).
 * - Rate: `rateTasks` tasks of a name limited to 1,000 starts per second;
 *   the starts per second from started_at, over the whole seconds after the
 *   first second (at most ten) that the backlog lasts.
 */
import { z } from 'zod';
import { createTandem, defineTask, type Logger } from '../../src/index.js';
import { type BenchDatabases, inFreshDatabase, withClient } from '../db.js';
import { progress, sleep } from '../log.js';
import type { BenchOptions } from '../options.js';
import { fmt, median } from '../stats.js';

export interface LimitsResult {
  label: string;
  unit: string;
  value: number;
  /** What it is compared with (the unlimited drain, the setting), and the ratio. */
  baseline?: number;
  ratio?: number;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
const payload = z.object({ n: z.number() });
const plain = defineTask({ name: 'plain', queue: 'bench', payload, handler() {} });
const loose = defineTask({
  name: 'loose',
  queue: 'bench',
  payload,
  concurrency: 100_000,
  handler() {},
});
const looseRate = defineTask({
  name: 'loose-rate',
  queue: 'bench',
  payload,
  concurrency: 100_000,
  rateLimit: '1000000/1s',
  handler() {},
});
const keyed = defineTask({
  name: 'keyed',
  queue: 'bench',
  payload: z.object({ n: z.number(), k: z.string() }),
  concurrencyKey: '{k}',
  keyConcurrency: 1000,
  handler() {},
});
const rated = defineTask({
  name: 'rated',
  queue: 'bench',
  payload,
  rateLimit: '1000/1s',
  handler() {},
});
const tasks = [plain, loose, looseRate, keyed, rated];

/** Two workers on `url`; resolves with seconds until `name` has `n` finished tasks. */
async function drain(url: string, name: string, n: number): Promise<number> {
  const instances = [0, 1].map(() =>
    createTandem({ connectionString: url, tasks, logger: silent }),
  );
  const workers = instances.map((t) =>
    t.worker({ queues: { bench: 10 }, pollInterval: 200, logger: silent }),
  );
  const t0 = performance.now();
  await Promise.all(workers.map((w) => w.start()));
  await withClient(url, async (c) => {
    for (;;) {
      const { rows } = await c.query(
        `select count(*)::int as c from tandem.tasks where name = $1 and state = 'succeeded'`,
        [name],
      );
      if (rows[0].c >= n) return;
      await sleep(20);
    }
  });
  const s = (performance.now() - t0) / 1000;
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all(instances.map((t) => t.close()));
  return s;
}

async function fill(url: string, name: string, n: number, keys = 0): Promise<void> {
  await withClient(url, (c) =>
    c.query(
      `insert into tandem.tasks (name, queue, payload, concurrency_key)
       select $1, 'bench', jsonb_build_object('n', g, 'k', 'k' || (g % greatest($3, 1))),
              case when $3 > 0 then 'k' || (g % greatest($3, 1)) end
         from generate_series(1, $2::int) g`,
      [name, n, keys],
    ),
  );
  await withClient(url, (c) => c.query('vacuum analyze tandem.tasks'));
}

/** 10,000 keys of `keyed` at their limit: slots marked taken, one task waiting each. */
async function blockKeys(url: string): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(
      `insert into tandem.tasks (name, queue, payload, concurrency_key)
       select 'keyed', 'bench', jsonb_build_object('n', g, 'k', 'blocked' || g), 'blocked' || g
         from generate_series(1, 10000) g`,
    );
    await c.query(
      `update tandem.flow_keys set running = 1000, at_limit = true
        where name = 'keyed' and key like 'blocked%'`,
    );
    await c.query('vacuum analyze tandem.tasks, tandem.flow_keys');
  });
}

/** Installs the schema and writes the definitions' limits, as a worker does on start. */
async function register(url: string): Promise<void> {
  const t = createTandem({ connectionString: url, tasks, logger: silent });
  await t.migrate();
  const w = t.worker({ queues: { idle: 1 }, logger: silent });
  await w.start();
  await w.stop();
  await t.close();
}

export async function runLimits(
  dbs: BenchDatabases,
  options: BenchOptions,
): Promise<LimitsResult[]> {
  const n = options.limitsTasks;
  const out: LimitsResult[] = [];
  const runs: Record<string, number[]> = { plain: [], loose: [], 'loose-rate': [] };
  for (let r = 0; r < options.rounds; r++) {
    for (const name of ['plain', 'loose', 'loose-rate'] as const) {
      const s = await inFreshDatabase(dbs, `limits-${name}`, async (url) => {
        await register(url);
        await fill(url, name, n);
        return drain(url, name, n);
      });
      runs[name]!.push(n / s);
      progress(`limits: drain ${name} ${fmt(n / s)} tasks/s`);
    }
  }
  const base = median(runs.plain!);
  const limited = median(runs.loose!);
  const limitedRate = median(runs['loose-rate']!);
  out.push(
    { label: `Drain ${fmt(n)}, 2×10, no limits`, unit: 'tasks/s', value: base },
    {
      label: `Drain ${fmt(n)}, 2×10, a concurrency limit that never binds`,
      unit: 'tasks/s',
      value: limited,
      baseline: base,
      ratio: limited / base,
    },
    {
      label: `Drain ${fmt(n)}, 2×10, concurrency and rate limits that never bind`,
      unit: 'tasks/s',
      value: limitedRate,
      baseline: base,
      ratio: limitedRate / base,
    },
  );

  const keyedRuns: Record<string, number> = {};
  for (const blocked of [false, true]) {
    const s = await inFreshDatabase(dbs, `limits-keys-${blocked}`, async (url) => {
      await register(url);
      if (blocked) await blockKeys(url);
      await fill(url, 'keyed', n, 100);
      return drain(url, 'keyed', n);
    });
    keyedRuns[String(blocked)] = n / s;
    progress(
      `limits: keyed drain${blocked ? ' beside 10,000 blocked keys' : ''} ${fmt(n / s)} tasks/s`,
    );
  }
  out.push(
    { label: `Drain ${fmt(n)} over 100 keys, 2×10`, unit: 'tasks/s', value: keyedRuns.false! },
    {
      label: `Drain ${fmt(n)} over 100 keys beside 10,000 keys at their limit`,
      unit: 'tasks/s',
      value: keyedRuns.true!,
      baseline: keyedRuns.false!,
      ratio: keyedRuns.true! / keyedRuns.false!,
    },
  );

  const window = Math.max(1, Math.min(10, Math.floor(options.rateTasks / 1000) - 2));
  const rate = await inFreshDatabase(dbs, 'limits-rate', async (url) => {
    await register(url);
    await fill(url, 'rated', options.rateTasks);
    await drain(url, 'rated', options.rateTasks);
    return withClient(url, async (c) => {
      const { rows } = await c.query(
        `with t0 as (select min(started_at) as t from tandem.tasks where name = 'rated')
         select count(*)::int as c from tandem.tasks, t0
          where name = 'rated' and started_at >= t0.t + interval '1 second'
            and started_at < t0.t + (1 + $1) * interval '1 second'`,
        [window],
      );
      return rows[0].c / window;
    });
  });
  progress(`limits: rate 1000/s held at ${fmt(rate)} starts/s`);
  out.push({
    label: `Rate limit 1,000/s, 2×10: starts per second over ${window} s`,
    unit: 'starts/s',
    value: rate,
    baseline: 1000,
    ratio: rate / 1000,
  });
  return out;
}
