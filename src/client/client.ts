import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { type Queryable, toQueryable } from '../db/executor.js';
import { migrate } from '../db/migrate.js';
import { outboxInsert } from '../db/queries/outbox.js';
import { queueList, queuePause, queueResume } from '../db/queries/queues.js';
import {
  taskCancelRunning,
  taskCancelWaiting,
  taskDelete,
  taskGet,
  taskNotifyCancel,
  taskRetry,
} from '../db/queries/tasks.js';
import { type TaskRow, toTaskRecord } from '../db/rows.js';
import type { Destination, MessageOf } from '../destination.js';
import { TandemError } from '../errors.js';
import { defaultLogger } from '../logger.js';
import {
  EnqueueCall,
  executorKind,
  runEnqueueBatch,
  runEnqueueChain,
} from '../middleware/enqueue.js';
import { type MiddlewareOptions, MiddlewareStack } from '../middleware/stack.js';
import type { AnyTask, PayloadOf } from '../task.js';
import type { EnqueueOptions, EnqueueResult, Logger, TaskRecord, TaskState } from '../types.js';
import { type BulkOptions, type BulkResult, type BulkTarget, bulkAction } from './bulk.js';
import { enqueueByName } from './enqueue-by-name.js';
import { type FailureGroupOptions, failureGroups } from './failures.js';
import { listSchedules, listWorkers, type ScheduleInfo, type WorkerInfo } from './fleet.js';
import { type SchemaStatus, schemaStatus } from './health.js';
import { insertMany, insertOne } from './insert.js';
import {
  type LimitInfo,
  type LimitsUpdate,
  type LimitTarget,
  listLimits,
  resetLimits,
  setLimits,
} from './limits.js';
import { type ListOptions, listTasks, type TaskPage } from './list-tasks.js';
import {
  listOperatorActions,
  type NewOperatorAction,
  type OperatorActionQuery,
  recordOperatorAction,
} from './operator-log.js';
import { type PreparedTask, prepareTask } from './prepare.js';
import { type PublishOptions, type PublishResult, prepareMessage } from './publish.js';
import { type RelayStatus, relayStatus } from './relay-status.js';
import { type Stats, type StatsOptions, stats } from './stats.js';
import type { TaskFilter } from './task-filter.js';
import { toTaskId } from './task-id.js';
import {
  clientRegistrant,
  listTaskTypes,
  listUnregisteredTasks,
  type RegisteredTaskType,
  registerTaskTypes,
  type TaskType,
  type UnregisteredTasks,
} from './task-types.js';
import { TaskWaiters, type WaitOptions } from './wait-for.js';
import { WakeDebouncer } from './wake.js';

/** How Tandem reaches PostgreSQL: give one of `connectionString`, `pool` or `db`. */
export interface ClientOptions extends MiddlewareOptions {
  connectionString?: string;
  /**
   * A direct (or session-pooled) connection string for each worker's own
   * session (liveness lock, LISTEN, claims), when `connectionString` or
   * `pool` goes through a transaction pooler such as PgBouncer in
   * transaction mode. Default: `connectionString`.
   */
  sessionConnectionString?: string;
  /** A pg Pool Tandem may use (it is not closed by `close()`). */
  pool?: pg.Pool;
  /** A Kysely instance; without a pool or connection string, workers poll instead of listening. */
  db?: Kysely<any>;
  /** Task definitions this client enqueues and its workers run. */
  tasks?: readonly AnyTask[];
  /** Largest accepted payload, in bytes of JSON. Default 256 KiB. */
  maxPayloadBytes?: number;
  /** At most one wake-up notification per queue per this many ms from this process. Default 2. */
  wakeDebounceMs?: number;
  logger?: Logger;
}

/** One entry of `enqueueMany`. */
export interface EnqueueItem<T extends AnyTask = AnyTask> {
  task: T | string;
  payload: PayloadOf<T> | unknown;
  options?: EnqueueOptions;
}

/** Summary of one queue. */
export interface QueueSummary {
  name: string;
  paused: boolean;
  pausedAt: Date | null;
  queued: number;
  running: number;
  retrying: number;
  /** run_at of the oldest task that could run now (queued or retrying, due); null when none. */
  oldestRunnableAt: Date | null;
}

export { toTaskId };

/**
 * The enqueue and management side of Tandem. `createTandem` wraps it with
 * workers and the server.
 */
export class TandemClient {
  readonly pool: pg.Pool | null;
  readonly db: Kysely<any>;
  readonly logger: Logger;
  readonly connectionString: string | null;
  /** Where workers open their own sessions. */
  readonly sessionConnectionString: string | null;
  /** Runs statements on Tandem's own connections. */
  readonly sql: Queryable;
  /** Task and enqueue middleware (src/middleware/), run by this client's enqueues and its workers. */
  readonly middleware: MiddlewareStack;
  private readonly tasks = new Map<string, AnyTask>();
  private readonly maxPayloadBytes: number;
  private readonly wake: WakeDebouncer;
  /** Wakes relays at commit, per destination (the outbox's own debouncer). */
  private readonly relayWake: WakeDebouncer;
  /** True when Tandem created the pool from a connection string (and must end it). */
  private readonly ownsPool: boolean;
  private closed = false;

  constructor(options: ClientOptions) {
    const { connectionString, pool, db } = options;
    if (!connectionString && !pool && !db) {
      throw new TandemError(
        'INVALID_OPTIONS',
        'createTandem needs one of connectionString, pool or db; for a local database try startEmbeddedPostgres() from tandem-queue/embedded',
      );
    }
    this.middleware = new MiddlewareStack(options);
    this.connectionString = connectionString ?? null;
    this.sessionConnectionString = options.sessionConnectionString ?? connectionString ?? null;
    this.pool = pool ?? (connectionString ? new pg.Pool({ connectionString, max: 10 }) : null);
    this.pool?.on('error', (err: Error & { code?: string }) =>
      this.logger.warn({ error: err.message, code: err.code }, 'idle PostgreSQL connection failed'),
    );
    // A checked-out connection that dies between statements (server restart)
    // emits 'error'; without a listener that would crash the process. The
    // failure still reaches whoever uses the connection next.
    if (!pool) this.pool?.on('connect', (c) => c.on('error', () => {}));
    this.ownsPool = !pool && !!connectionString;
    this.db = db ?? new Kysely({ dialect: new PostgresDialect({ pool: this.pool! }) });
    this.sql = toQueryable(this.pool ?? this.db);
    this.logger = options.logger ?? defaultLogger();
    this.maxPayloadBytes = options.maxPayloadBytes ?? 256 * 1024;
    this.wake = new WakeDebouncer(options.wakeDebounceMs ?? 2);
    this.relayWake = new WakeDebouncer(options.wakeDebounceMs ?? 2);
    for (const t of options.tasks ?? []) this.addTask(t);
  }

  /** Adds a task definition to this instance (not to the registry: see `register`). Names must be unique. */
  addTask(task: AnyTask): void {
    const prev = this.tasks.get(task.name);
    if (prev && prev !== task) {
      throw new TandemError(
        'INVALID_TASK_DEFINITION',
        `two different tasks are named ${JSON.stringify(task.name)}; task names must be unique`,
      );
    }
    this.tasks.set(task.name, task);
  }

  /** The task definitions of this instance. */
  get taskDefinitions(): ReadonlyMap<string, AnyTask> {
    return this.tasks;
  }

  /**
   * Records task definitions in the registry (`tandem.task_types`), so that
   * SQL `tandem.enqueue`, `tandem enqueue` and the HTTP API apply their
   * queue, priority, attempts, timeout and concurrency key; waiting tasks
   * enqueued before their name was registered take these defaults. Workers
   * do this on start; call it from a producer deployed without workers.
   * Adds them to this instance too. Default: this instance's definitions.
   *
   * @example
   * await tandem.register([chargeOrder, sendReceipt]);
   */
  async register(tasks?: AnyTask | readonly AnyTask[]): Promise<RegisteredTaskType[]> {
    this.assertOpen();
    const list = tasks === undefined ? [...this.tasks.values()] : [tasks].flat();
    for (const t of list) this.addTask(t);
    return registerTaskTypes(this.sql, list, clientRegistrant());
  }

  /**
   * The registered task types with their versions: a name whose versions
   * show live workers on more than one hash runs two definitions at once.
   *
   * @example
   * for (const t of await tandem.listTaskTypes()) console.log(t.name, t.queue, t.versions.length);
   */
  listTaskTypes(): Promise<TaskType[]> {
    return listTaskTypes(this.sql);
  }

  /**
   * Waiting tasks of names nobody has registered (a misspelt name, or a
   * producer deployed before its workers), per name and queue.
   *
   * @example
   * for (const u of await tandem.listUnregisteredTasks()) console.warn(u.name, u.waiting);
   */
  listUnregisteredTasks(): Promise<UnregisteredTasks[]> {
    return listUnregisteredTasks(this.sql);
  }

  private resolve(task: AnyTask | string): AnyTask {
    if (typeof task === 'object' && task !== null && typeof task.name === 'string') {
      const known = this.tasks.get(task.name);
      if (!known) this.addTask(task);
      return task;
    }
    const found = typeof task === 'string' ? this.tasks.get(task) : undefined;
    if (!found) {
      const names = [...this.tasks.keys()];
      throw new TandemError(
        'UNKNOWN_TASK',
        `unknown task ${JSON.stringify(task)}; ${names.length ? `known tasks: ${names.join(', ')}` : 'no tasks are registered'} (pass it in createTandem({ tasks }))`,
      );
    }
    return found;
  }

  /** Applies pending schema migrations; safe to call from many processes at once. */
  async migrate(): Promise<{ applied: number[] }> {
    if (this.pool) {
      const client = await this.pool.connect();
      try {
        return await migrate(toQueryable(client));
      } finally {
        client.release();
      }
    }
    return this.db.connection().execute((conn) => migrate(toQueryable(conn)));
  }

  /**
   * Enqueues a task in the caller's transaction.
   *
   * @example
   * await db.transaction().execute(async (trx) => {
   *   const order = await trx.insertInto('orders').values(row).returning('id').executeTakeFirstOrThrow();
   *   await tandem.enqueue(trx, chargeOrder, { orderId: order.id, cents: 500 }, { key: `order:${order.id}` });
   * });
   */
  async enqueue<T extends AnyTask>(
    executor: unknown,
    task: T | string,
    payload: T extends AnyTask ? PayloadOf<T> : unknown,
    options?: EnqueueOptions,
  ): Promise<EnqueueResult> {
    this.assertOpen();
    const def = this.resolve(task as AnyTask | string);
    const chain = this.middleware.enqueueChain();
    if (chain === null) return this.insertOne(executor, def, payload, options);
    const kind = executorKind(executor);
    const call = new EnqueueCall(def.name, def, payload, options, 'enqueue', executor, kind);
    return runEnqueueChain(chain, call, () =>
      this.insertOne(executor, def, call.payload, call.finalOptions()),
    );
  }

  private async insertOne(
    executor: unknown,
    def: AnyTask,
    payload: unknown,
    options: EnqueueOptions | undefined,
  ): Promise<EnqueueResult> {
    const p = prepareTask(def, payload, options, this.maxPayloadBytes);
    return insertOne(toQueryable(executor), p, this.wake.pick([p.queue]).length > 0);
  }

  /**
   * Enqueues many tasks in one round trip, in the caller's transaction.
   * Results come back in input order; duplicates of an existing (name, key)
   * report that task with `inserted: false`.
   */
  async enqueueMany(executor: unknown, items: readonly EnqueueItem[]): Promise<EnqueueResult[]> {
    this.assertOpen();
    if (!Array.isArray(items)) {
      throw new TandemError(
        'INVALID_OPTIONS',
        'enqueueMany expects an array of { task, payload, options }',
      );
    }
    const chain = this.middleware.enqueueChain();
    if (chain === null || items.length === 0) return this.insertMany(executor, items);
    const kind = executorKind(executor);
    const calls = items.map((item, i) => {
      const def = this.resolve(checkItem(item, i).task as AnyTask | string);
      return new EnqueueCall(
        def.name,
        def,
        item.payload,
        item.options,
        'enqueueMany',
        executor,
        kind,
      );
    });
    return runEnqueueBatch(chain, calls, (go) =>
      this.insertMany(
        executor,
        go.map((c) => ({ task: c.task!, payload: c.payload, options: c.finalOptions() })),
      ),
    );
  }

  private async insertMany(
    executor: unknown,
    items: readonly EnqueueItem[],
  ): Promise<EnqueueResult[]> {
    const prepared: PreparedTask[] = new Array(items.length);
    const queues = new Set<string>();
    for (let i = 0; i < items.length; i++) {
      const item = checkItem(items[i], i);
      let p: PreparedTask;
      try {
        p = prepareTask(
          this.resolve(item.task as AnyTask | string),
          item.payload,
          item.options,
          this.maxPayloadBytes,
        );
      } catch (err) {
        if (!(err instanceof TandemError)) throw err;
        throw new TandemError(err.code, `enqueueMany item ${i}: ${err.message}`, err.details);
      }
      prepared[i] = p;
      queues.add(p.queue);
    }
    if (prepared.length === 0) return [];
    return insertMany(toQueryable(executor), prepared, this.wake.pick(queues));
  }

  /**
   * A connection of its own, outside the pool's rotation: for LISTEN and for
   * session-level locks. Needs `sessionConnectionString`,
   * `connectionString` or `pool`.
   */
  async openConnection(): Promise<{ client: pg.ClientBase; close(): Promise<void> }> {
    if (this.sessionConnectionString) {
      // Keepalive probes after 10 s idle, so a session cut off by a dead NAT
      // or proxy is noticed in seconds rather than the OS default two hours.
      const client = new pg.Client({
        connectionString: this.sessionConnectionString,
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        connectionTimeoutMillis: 10_000,
      });
      await client.connect();
      return { client, close: () => client.end() };
    }
    if (this.pool) {
      const client = await this.pool.connect();
      return { client, close: async () => client.release(true) };
    }
    throw new TandemError(
      'INVALID_OPTIONS',
      'workers need their own connections: create Tandem with connectionString or pool, not db alone',
    );
  }

  /** One task by id, or null. */
  async getTask(id: string | number | bigint): Promise<TaskRecord | null> {
    const [row] = await this.sql.query<TaskRow>(taskGet, [toTaskId(id)]);
    return row ? toTaskRecord(row) : null;
  }

  /**
   * Cancels a task. A queued or retrying task becomes `cancelled` at once; a
   * running one has its `ctx.signal` aborted on whichever worker runs it and
   * ends `cancelled`. Returns the task's state afterwards.
   */
  async cancel(id: string | number | bigint): Promise<TaskState> {
    const taskId = toTaskId(id);
    if ((await this.sql.query(taskCancelWaiting, [taskId])).length > 0) return 'cancelled';
    const task = await this.getTask(taskId);
    if (!task) throw new TandemError('TASK_NOT_FOUND', `no task with id ${taskId}`);
    if (task.state !== 'running') return task.state;
    await this.sql.query(taskNotifyCancel, [taskId]);
    // Waits while a transactional handler holds the row; it sees the abort and ends soon.
    if ((await this.sql.query(taskCancelRunning, [taskId])).length > 0) return 'cancelled';
    return (await this.getTask(taskId))?.state ?? 'cancelled';
  }

  /** Runs a failed, cancelled or succeeded task again, with one more attempt. */
  async retry(id: string | number | bigint): Promise<TaskRecord> {
    const taskId = toTaskId(id);
    const rows = await this.sql.query<{ queue: string }>(taskRetry, [taskId]);
    const task = await this.getTask(taskId);
    if (!task) throw new TandemError('TASK_NOT_FOUND', `no task with id ${taskId}`);
    if (rows.length === 0) {
      throw new TandemError(
        'INVALID_STATE',
        `task ${taskId} is ${task.state}; only failed, cancelled or succeeded tasks can be retried`,
      );
    }
    await this.sql.query(`select pg_notify('tandem_wake', $1)`, [rows[0]!.queue]);
    return task;
  }

  /** Deletes a task that is not running. Returns whether a row was deleted. */
  async deleteTask(id: string | number | bigint): Promise<boolean> {
    return (await this.sql.query(taskDelete, [toTaskId(id)])).length > 0;
  }

  /**
   * Stops every worker from claiming and starting tasks of this queue until
   * resumed: workers give back what they had claimed ahead at once (through
   * a notification; within a heartbeat without LISTEN). Running tasks finish.
   */
  async pauseQueue(name: string): Promise<void> {
    await this.sql.query(queuePause, [checkQueueName(name)]);
  }

  /** Lets every worker claim tasks of this queue again. */
  async resumeQueue(name: string): Promise<void> {
    await this.sql.query(queueResume, [checkQueueName(name)]);
  }

  /** Queues with their pause state and live counts. */
  async listQueues(): Promise<QueueSummary[]> {
    const rows = await this.sql.query<any>(queueList);
    return rows.map((r) => ({
      name: r.name,
      paused: r.paused,
      pausedAt: r.paused_at,
      queued: Number(r.queued),
      running: Number(r.running),
      retrying: Number(r.retrying),
      oldestRunnableAt: r.oldest_runnable_at ?? null,
    }));
  }

  /**
   * Sets fleet-wide limits of a queue or task name at run time: a field left
   * out keeps its value, `null` removes it. Stays until `resetLimits`.
   *
   * @example
   * await tandem.setLimits({ queue: 'payments' }, { concurrency: 5, rateLimit: '100/1s' });
   * await tandem.setLimits({ task: 'sync-tenant' }, { keyConcurrency: 1 });
   */
  setLimits(target: LimitTarget, limits: LimitsUpdate): Promise<LimitInfo> {
    return setLimits(this.sql, target, limits);
  }

  /** Every queue and task name with limits, and what runs under them now. */
  listLimits(): Promise<LimitInfo[]> {
    return listLimits(this.sql);
  }

  /** Drops what an operator set: the task definitions' limits apply again. */
  resetLimits(target: LimitTarget): Promise<boolean> {
    return resetLimits(this.sql, target);
  }

  private assertOpen(): void {
    if (this.closed) throw new TandemError('CLOSED', 'this Tandem instance is closed');
  }

  /** Closes the connections Tandem opened itself. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Our Kysely holds nothing but this pool, so ending the pool is enough
    // (and db.destroy() would end it a second time).
    if (this.ownsPool) await this.pool!.end();
  }

  // Operator calls: each mechanism lives in its own file of src/client/;
  // the HTTP API, the CLI and the dashboard all go through these.

  private waiters: TaskWaiters | null = null;

  /**
   * One page of tasks matching `filter`, newest first (keyset pages, never OFFSET).
   *
   * @example
   * const page = await tandem.listTasks({ states: ['failed'], name: 'charge-order' }, { limit: 50 });
   * const next = page.nextCursor && (await tandem.listTasks(filter, { cursor: page.nextCursor }));
   */
  listTasks(filter?: TaskFilter, options?: ListOptions): Promise<TaskPage> {
    return listTasks(this.db, filter, options);
  }

  /**
   * Runs failed, cancelled or succeeded tasks again, by ids or filter, in batches.
   *
   * @example
   * const { affected } = await tandem.retryTasks({ filter: { states: ['failed'], name: 'charge-order' } });
   */
  retryTasks(target: BulkTarget, options?: BulkOptions): Promise<BulkResult> {
    return bulkAction(this.db, this.sql, 'retry', target, options);
  }

  /**
   * Cancels queued, retrying and running tasks, by ids or filter.
   *
   * @example
   * await tandem.cancelTasks({ filter: { queue: 'emails', states: ['queued'] } });
   */
  cancelTasks(target: BulkTarget, options?: BulkOptions): Promise<BulkResult> {
    return bulkAction(this.db, this.sql, 'cancel', target, options);
  }

  /**
   * Deletes tasks that are not running, by ids or filter (frees their keys).
   *
   * @example
   * await tandem.deleteTasks({ ids: ['41', '42'] });
   */
  deleteTasks(target: BulkTarget, options?: BulkOptions): Promise<BulkResult> {
    return bulkAction(this.db, this.sql, 'delete', target, options);
  }

  /**
   * Resolves with the task once it succeeded, failed or was cancelled. All
   * waits of this instance share one poll.
   *
   * @example
   * const { id } = await tandem.enqueue(pool, chargeOrder, { orderId: 1, cents: 500 });
   * const task = await tandem.waitFor(id, { timeout: '10s' });
   */
  waitFor(id: string | number | bigint, options?: WaitOptions): Promise<TaskRecord> {
    this.waiters ??= new TaskWaiters(this.sql);
    return this.waiters.wait(id, options);
  }

  /**
   * Registered workers with their running count and the leader.
   *
   * @example
   * for (const w of await tandem.listWorkers()) console.log(w.id, w.running, w.leader);
   */
  listWorkers(): Promise<WorkerInfo[]> {
    return listWorkers(this.sql);
  }

  /**
   * Cron schedules as the leader recorded them, with last and next tick.
   *
   * @example
   * for (const s of await tandem.listSchedules()) console.log(s.name, s.cron, s.nextTick);
   */
  listSchedules(): Promise<ScheduleInfo[]> {
    return listSchedules(this.sql);
  }

  /**
   * Throughput and latency per step, from the workers' rollup.
   *
   * @example
   * const s = await tandem.stats({ window: '1h', step: '1m' });
   * console.log(s.total.totals.succeeded, s.total.totals.runP95Ms);
   */
  stats(options?: StatsOptions): Promise<Stats> {
    return stats(this.sql, options);
  }

  /**
   * The latest failed tasks grouped by task name and last error.
   *
   * @example
   * const { groups } = await tandem.failureGroups();
   * await tandem.retryTasks({ filter: groups[0].filter });
   */
  failureGroups(options?: FailureGroupOptions): ReturnType<typeof failureGroups> {
    return failureGroups(this.sql, options);
  }

  /**
   * Records an operator action in `tandem.operator_actions`.
   *
   * @example
   * await tandem.recordOperatorAction({ actor: 'ops', action: 'retry', target: { ids: ['42'] }, taskIds: ['42'], affected: 1, request: null });
   */
  recordOperatorAction(action: NewOperatorAction): Promise<{ id: string; at: Date }> {
    return recordOperatorAction(this.sql, action);
  }

  /**
   * Recorded operator actions, newest first.
   *
   * @example
   * const { actions } = await tandem.listOperatorActions({ taskId: '42' }); // who touched task 42
   */
  listOperatorActions(query?: OperatorActionQuery): ReturnType<typeof listOperatorActions> {
    return listOperatorActions(this.sql, query);
  }

  /**
   * Whether the database answers and has the schema this version expects.
   *
   * @example
   * const { ok, version, expected } = await tandem.schemaStatus();
   */
  schemaStatus(): Promise<SchemaStatus> {
    return schemaStatus(this.sql);
  }

  // The outbox: publishing inside the caller's transaction, and the relay's
  // status (src/client/publish.ts, src/client/relay-status.ts; the relay
  // process itself is src/relay/).

  /**
   * Publishes a message to a destination inside the caller's transaction:
   * it is stored in the outbox and exists if and only if that transaction
   * commits; a relay then delivers it to the broker (at least once, with the
   * stable id `<prefix>-<id>`). Everything is validated before any SQL runs.
   *
   * @example
   * await db.transaction().execute(async (trx) => {
   *   const order = await trx.insertInto('orders').values(row).returning('id').executeTakeFirstOrThrow();
   *   await tandem.publish(trx, orderEvents, { orderId: order.id, status: 'created' }, { key: `order:${order.id}` });
   * });
   */
  async publish<D extends Destination<any, any>>(
    executor: unknown,
    destination: D,
    message: MessageOf<D>,
    options?: PublishOptions,
  ): Promise<PublishResult> {
    this.assertOpen();
    const m = prepareMessage(destination, message, options, this.maxPayloadBytes);
    const q = toQueryable(executor);
    const wake = this.relayWake.pick([m.destination]).length > 0;
    const [row] = await q.query<{ id: string }>(outboxInsert, [
      m.destination,
      m.key,
      m.route,
      m.payloadJson,
      m.headersJson,
      wake,
    ]);
    return { id: row!.id };
  }

  /**
   * The relay's backlog per destination: how many messages wait, how old the
   * oldest is, the head's failed attempts, and which process relays it.
   *
   * @example
   * for (const d of (await tandem.relayStatus()).destinations)
   *   console.log(d.destination, d.backlog, d.oldestAgeSeconds, d.holder);
   */
  relayStatus(): Promise<RelayStatus> {
    return relayStatus(this.sql);
  }

  /**
   * Enqueues by name on Tandem's own pool: validated by the definition when
   * this instance has it, otherwise any JSON payload with SQL enqueue's defaults.
   *
   * @example
   * await tandem.enqueueByName('send-receipt', { orderId: 1 }, { key: 'receipt:1' });
   */
  async enqueueByName(
    name: string,
    payload: unknown,
    options?: EnqueueOptions,
  ): ReturnType<typeof enqueueByName> {
    this.assertOpen();
    const chain = this.middleware.enqueueChain();
    if (chain === null || typeof name !== 'string')
      return enqueueByName(this.sql, this.tasks, name, payload, options);
    const def = this.tasks.get(name) ?? null;
    const call = new EnqueueCall(name, def, payload, options, 'enqueueByName', this.sql, 'tandem');
    let validated = !!def;
    const r = await runEnqueueChain(chain, call, async () => {
      const inner = await enqueueByName(
        this.sql,
        this.tasks,
        name,
        call.payload,
        call.finalOptions(),
      );
      validated = inner.validated;
      return { id: inner.id, inserted: inner.inserted, state: inner.state };
    });
    return { ...r, validated };
  }
}

function checkItem(item: EnqueueItem | undefined, i: number): EnqueueItem {
  if (typeof item !== 'object' || item === null) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `enqueueMany: item ${i} is ${item === null ? 'null' : typeof item}; each item must be an object like { task, payload, options }`,
    );
  }
  return item;
}

function checkQueueName(name: unknown): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:\-/]{1,200}$/.test(name)) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `queue name must be 1-200 characters of letters, digits and _ . : - /, got ${JSON.stringify(name)}`,
    );
  }
  return name;
}
