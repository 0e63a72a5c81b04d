/** Command-line options of `npm run bench`. */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { SystemName } from './systems/types.js';

export const SCENARIOS = ['drain', 'bulk', 'tx', 'latency', 'scale', 'api'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface DrainShape {
  processes: number;
  concurrency: number;
}

export interface BenchOptions {
  only: Scenario[];
  systems: SystemName[];
  quick: boolean;
  databaseUrl: string | null;
  /** Runs of each drain and scale configuration; the median counts. */
  rounds: number;
  drainTasks: number;
  drainShapes: DrainShape[];
  bulkTasks: number;
  bulkRounds: number;
  txSeconds: number;
  txConnections: number[];
  latencySamples: number;
  latencyBudgetSeconds: number;
  latencyPauseMs: number;
  scaleTasks: number;
  scaleRows: number[];
  /** Finished tasks in the table for the api scenario. */
  apiRows: number;
  /** Timed requests per route in the api scenario. */
  apiRequests: number;
}

function list<T extends string>(allowed: readonly T[]) {
  return (value: string): T[] => {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) {
      if (!allowed.includes(item as T)) {
        throw new InvalidArgumentError(`"${item}" is not one of ${allowed.join(', ')}`);
      }
    }
    return items as T[];
  };
}

function positiveInt(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got ${value}`);
  return n;
}

function intList(value: string): number[] {
  return value.split(',').map((s) => {
    const n = Number(s.trim().replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`expected integers, got ${value}`);
    return n;
  });
}

function shapes(value: string): DrainShape[] {
  return value.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new InvalidArgumentError(`expected shapes like 1x10,2x24, got ${value}`);
    return { processes: Number(m[1]), concurrency: Number(m[2]) };
  });
}

export function parseOptions(argv: string[]): BenchOptions {
  const cmd = new Command('bench')
    .description(
      'Benchmarks Tandem against graphile-worker and pg-boss on one PostgreSQL server. Progress on stderr, the results table on stdout, JSON in bench/results/.',
    )
    .addOption(
      new Option('--only <scenarios>', `comma-separated: ${SCENARIOS.join(',')}`).argParser(
        list(SCENARIOS),
      ),
    )
    .addOption(
      new Option('--systems <systems>', 'comma-separated: tandem,graphile,pgboss').argParser(
        list(['tandem', 'graphile', 'pgboss'] as const),
      ),
    )
    .option('--quick', 'smaller sizes and shorter runs (about two minutes in all)', false)
    .option(
      '--database-url <url>',
      'server to create bench databases on (default: $DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres, else embedded PostgreSQL)',
    )
    .option(
      '--rounds <n>',
      'runs of each drain and scale configuration, median reported (default 3; quick 1)',
      positiveInt,
    )
    .option('--drain-tasks <n>', 'tasks per drain run (default 20000; quick 5000)', positiveInt)
    .option(
      '--drain-shapes <shapes>',
      'processes x concurrency per process (default 1x10,2x24)',
      shapes,
    )
    .option('--bulk-tasks <n>', 'tasks per bulk call (default 100000; quick 20000)', positiveInt)
    .option(
      '--bulk-rounds <n>',
      'timed bulk calls per system, median reported (default 3; quick 1)',
      positiveInt,
    )
    .option('--tx-seconds <s>', 'duration of each transactional run (default 5; quick 1.5)', Number)
    .option('--tx-connections <list>', 'connection counts (default 1,16)', intList)
    .option(
      '--latency-samples <n>',
      'sequential enqueues per system (default 300; quick 50)',
      positiveInt,
    )
    .option(
      '--latency-budget <s>',
      'stop sampling a system after this many seconds (default 45; quick 8)',
      Number,
    )
    .option(
      '--scale-tasks <n>',
      'tasks drained per scale run (default 20000; quick 5000)',
      positiveInt,
    )
    .option(
      '--scale-rows <list>',
      'finished rows already in the table (default 0,1000000; quick 0,200000)',
      intList,
    )
    .option(
      '--api-rows <n>',
      'finished tasks in the table for the api scenario (default 1000000; quick 200000)',
      positiveInt,
    )
    .option(
      '--api-requests <n>',
      'timed requests per API route (default 500; quick 100)',
      positiveInt,
    )
    .option('--scale-5m', 'also run the scale scenario with 5,000,000 finished rows', false)
    .helpOption('-h, --help', 'show this help')
    .showHelpAfterError();
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts();
  const quick = !!o.quick;
  const scaleRows: number[] = o.scaleRows ?? (quick ? [0, 200_000] : [0, 1_000_000]);
  if (o.scale5m && !scaleRows.includes(5_000_000)) scaleRows.push(5_000_000);
  return {
    only: o.only ?? [...SCENARIOS],
    systems: o.systems ?? ['tandem', 'graphile', 'pgboss'],
    quick,
    databaseUrl: o.databaseUrl ?? process.env.DATABASE_URL ?? null,
    rounds: o.rounds ?? (quick ? 1 : 3),
    drainTasks: o.drainTasks ?? (quick ? 5_000 : 20_000),
    drainShapes: o.drainShapes ?? [
      { processes: 1, concurrency: 10 },
      { processes: 2, concurrency: 24 },
    ],
    bulkTasks: o.bulkTasks ?? (quick ? 20_000 : 100_000),
    bulkRounds: o.bulkRounds ?? (quick ? 1 : 3),
    txSeconds: o.txSeconds ?? (quick ? 1.5 : 5),
    txConnections: o.txConnections ?? [1, 16],
    latencySamples: o.latencySamples ?? (quick ? 50 : 300),
    latencyBudgetSeconds: o.latencyBudget ?? (quick ? 8 : 45),
    latencyPauseMs: 10,
    scaleTasks: o.scaleTasks ?? (quick ? 5_000 : 20_000),
    scaleRows,
    apiRows: o.apiRows ?? (quick ? 200_000 : 1_000_000),
    apiRequests: o.apiRequests ?? (quick ? 100 : 500),
  };
}
