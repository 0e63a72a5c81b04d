import type pg from 'pg';
import type { TandemClient } from '../client/client.js';
import { adoptPendingTasks, registerTaskTypes } from '../client/task-types.js';
import { TandemError } from '../errors.js';
import type { Logger } from '../types.js';
import { ClaimBounds } from './claim-bounds.js';
import { ClaimLoop } from './claim-loop.js';
import { ClaimProbe } from './claim-probe.js';
import { ControlConnection } from './control-connection.js';
import { CronScheduler } from './cron.js';
import { FlowClaims } from './flow.js';
import { Leader } from './leader.js';
import { type ResolvedWorkerOptions, resolveWorkerOptions, type WorkerOptions } from './options.js';
import { Pruner, saveRetention } from './pruner.js';
import { newQueue, prefetchOf, type QueueState } from './queues.js';
import { reconcile } from './reconcile.js';
import { Registry } from './registry.js';
import { ORPHANS_EVERY_MS, Rescuer } from './rescuer.js';
import { Rollup } from './rollup.js';
import { Slots, type WorkerStats } from './slots.js';
import { trapUnhandledRejections } from './unhandled.js';
import { Wakes } from './wakes.js';

export type { WorkerOptions } from './options.js';

/** Leader duties and elections are checked this often. */
const MAINTENANCE_EVERY_MS = 250;
const CRON_EVERY_MS = 500;

/**
 * Claims tasks with FOR UPDATE SKIP LOCKED, runs their handlers, and writes
 * outcomes back in batches. All database work of the hot path is one
 * statement per round trip (see round-trip.ts): settle what finished, claim
 * what fits. This file holds the lifecycle and the slots; the statement,
 * reconciliation after a reconnect, liveness and leader duties live in
 * files of their own.
 */
export class Worker {
  private readonly logger: Logger;
  private readonly opts: ResolvedWorkerOptions;
  private readonly registry: Registry;
  private readonly control: ControlConnection;
  private readonly leader: Leader;
  private readonly pruner: Pruner;
  private readonly cron: CronScheduler;
  private readonly timers: NodeJS.Timeout[] = [];
  private maintaining = false;
  private attachedOnce = false;
  private readonly queues = new Map<string, QueueState>();
  private readonly slots: Slots;
  private readonly loop: ClaimLoop;
  private readonly bounds: ClaimBounds;
  private readonly probe: ClaimProbe;
  private readonly wakes: Wakes;
  private readonly rescuer: Rescuer;
  private readonly flow: FlowClaims;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private releaseTrap: (() => void) | null = null;
  /** Counts and latencies for stats() and /metrics (rollup.ts). */
  readonly rollup: Rollup;
  /** Counts of outcomes since start, for progress displays and tests. */
  readonly stats: WorkerStats = {
    claimed: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    cancelled: 0,
    snoozed: 0,
  };

  constructor(
    private readonly client: TandemClient,
    options: WorkerOptions = {},
  ) {
    const defs = [...client.taskDefinitions.values()];
    const o = resolveWorkerOptions(options, defs, client.logger);
    this.logger = o.logger;
    this.opts = o;
    const taskNames = defs.map((d) => d.name);
    this.flow = new FlowClaims(taskNames);
    for (const [name, concurrency] of Object.entries(o.queues))
      this.queues.set(name, newQueue(name, concurrency));
    const known = new Map<string, number[]>();
    for (const d of defs)
      known.set(d.queue, [...new Set([...(known.get(d.queue) ?? []), d.priority])]);
    this.bounds = new ClaimBounds(known);
    this.probe = new ClaimProbe(
      client.sql,
      this.bounds,
      () => [...this.queues.values()].filter((q) => !q.paused).map((q) => q.name),
      taskNames,
      (queues) => this.wakes.behindBounds(queues),
      this.logger,
    );
    this.registry = new Registry(o.queues, this.opts.leaseMs, this.opts.session);
    this.rollup = new Rollup(client.sql, this.registry.id, this.logger);
    const worker = this;
    this.slots = new Slots(client, this.rollup, this.stats, this.logger, {
      get id() {
        return worker.id;
      },
      outcome: (row) => this.loop.push(row),
      settled: () => this.loop.kick(),
      freed: (q) => this.freed(q),
    });
    this.control = new ControlConnection(
      () => client.openConnection(),
      this.opts.listening,
      {
        wake: (q) => this.wakes.notified(q),
        cancel: (id) => this.cancelTask(id),
        paused: (q, paused) => this.wakes.paused(q, paused),
        limits: () => void this.refreshLimits(),
        connected: (conn) => this.connected(conn),
      },
      this.logger,
    );
    this.loop = new ClaimLoop(
      this.queues,
      this.control,
      this.flow,
      this.bounds,
      {
        taskNames,
        session: this.opts.session,
        windowMs: this.opts.windowMs,
        maxPrefetch: this.opts.maxPrefetch,
      },
      this.stats,
      this.logger,
      {
        get id() {
          return worker.id;
        },
        get claiming() {
          return worker.state === 'running';
        },
        dispatch: () => this.dispatch(),
      },
    );
    this.wakes = new Wakes(this.queues, {
      get claiming() {
        return worker.state === 'running';
      },
      launch: () => this.loop.launch(),
      kick: () => this.loop.kick(),
      release: (q) => this.loop.release(q),
    });
    this.cron = new CronScheduler(client, o.schedules, this.logger);
    this.pruner = new Pruner(client.sql, this.logger);
    const rescuer = new Rescuer(() => this.id, this.logger);
    this.rescuer = rescuer;
    this.leader = new Leader(
      (fn) => this.control.withClient(fn),
      () => this.id,
      [
        {
          name: 'rescuer',
          everyMs: MAINTENANCE_EVERY_MS,
          run: () => this.control.withClient((c) => rescuer.pass(c)),
        },
        {
          name: 'orphans',
          everyMs: ORPHANS_EVERY_MS,
          run: async () => rescuer.pokeOrphans(client.sql),
        },
        { name: 'pruner', everyMs: MAINTENANCE_EVERY_MS, run: async () => this.pruner.poke() },
        {
          // Catches the rare enqueue that raced a registration; an index
          // scan of an almost always empty partial index.
          name: 'adopter',
          everyMs: 5_000,
          run: async () => void (await adoptPendingTasks(client.sql)),
        },
      ],
      this.logger,
    );
  }

  /** This worker's id in `tandem.workers` and in `tasks.owner`. */
  get id(): string {
    return this.registry.id;
  }

  /** Whether this worker currently holds the leader lease. */
  get isLeader(): boolean {
    return this.leader.isLeader;
  }

  /** Number of tasks this worker holds (running or claimed ahead). */
  get held(): number {
    let n = this.slots.size;
    for (const q of this.queues.values()) n += q.buffer.length;
    return n;
  }

  /** Starts claiming. Resolves once the worker listens and has made its first claim. */
  start(): Promise<void> {
    if (this.state !== 'new')
      return Promise.reject(
        new TandemError('INVALID_STATE', `worker ${this.id} was already started`),
      );
    this.state = 'running';
    this.starting = this.boot();
    return this.starting;
  }

  private async boot(): Promise<void> {
    if (this.opts.trap) this.releaseTrap = trapUnhandledRejections(this.logger);
    // Before the first claim; a failure is logged and the probe tries again.
    await bounded(this.probe.start(), 5_000);
    try {
      await this.control.start();
    } catch (err) {
      this.state = 'stopped';
      await this.probe.stop();
      this.releaseTrap?.();
      throw err;
    }
    // stop() was called meanwhile: it finishes the job once this returns.
    if (this.state !== 'running') return;
    if (this.opts.retention.length > 0)
      await saveRetention(this.client.sql, this.opts.retention, this.id, this.logger).catch((err) =>
        this.logger.error({ err }, 'could not store the retention setting'),
      );
    this.timers.push(
      setInterval(() => this.wakes.all(), this.opts.pollMs),
      setInterval(() => void this.maintain(), MAINTENANCE_EVERY_MS),
      setInterval(
        () => void this.heartbeat(),
        Math.max(100, Math.min(5_000, Math.floor(this.opts.leaseMs / 6))),
      ),
    );
    if (this.cron.size > 0)
      this.timers.push(setInterval(() => void this.fireCron(), CRON_EVERY_MS));
    await this.registerDefinitions();
    this.rollup.start();
    this.logger.info(
      {
        worker: this.id,
        queues: Object.fromEntries([...this.queues].map(([n, q]) => [n, q.concurrency])),
      },
      'worker started',
    );
    this.loop.launch();
    await this.loop.firstRound;
    await this.maintain();
    await this.fireCron();
  }

  /**
   * Records this worker's definitions in the task registry, in one
   * statement, before the first claim: tasks enqueued before their name was
   * registered move to the definition's queue now (docs/registry.md).
   */
  private async registerDefinitions(): Promise<void> {
    try {
      const done = await registerTaskTypes(
        this.client.sql,
        [...this.client.taskDefinitions.values()],
        this.id,
      );
      const adopted = done.filter((d) => d.adopted > 0);
      if (adopted.length > 0)
        this.logger.info(
          { adopted: Object.fromEntries(adopted.map((d) => [d.name, d.adopted])) },
          'waiting tasks enqueued before their task was registered took its definition',
        );
    } catch (err) {
      this.logger.error(
        { err },
        'could not record the task definitions in the registry; SQL enqueue will not apply them',
      );
    }
  }

  /** After every (re)connection, before the connection is published. */
  private async connected(conn: pg.ClientBase): Promise<void> {
    // Claims and outcomes go over this connection without waiting for the
    // WAL flush (see docs/design.md, "Durability of the claim path").
    // Every statement is planned for the table as it is now: a generic plan
    // cached while the table was small reads the whole table with every
    // claim once it has grown (docs/design.md, "Plans"). Neither through a
    // transaction pooler, where a session setting would stay on a server
    // connection that other clients use next (there, statements are unnamed
    // and so planned each time anyway).
    if (this.opts.session)
      await conn.query('set synchronous_commit = off; set plan_cache_mode = force_custom_plan');
    const { rows } = await conn.query<{ ms: string }>(
      `select setting::int * 3 + 500 as ms from pg_settings where name = 'wal_writer_delay'`,
    );
    this.loop.recent.keepMs = Number(rows[0]?.ms ?? 1_100);
    const reattached = this.attachedOnce;
    this.attachedOnce = true;
    if (reattached) await this.flow.refresh(conn);
    else await this.flow.sync(conn, [...this.client.taskDefinitions.values()]);
    if (!(await this.registry.attach(conn)))
      this.abandon('it was declared dead while disconnected');
    else if (reattached) {
      const again = await reconcile(
        conn,
        this.id,
        {
          running: this.slots.values(),
          queues: this.queues.values(),
          pending: () => this.loop.pending(),
          recent: this.loop.recent,
        },
        this.logger,
      );
      this.loop.writeAgain(again);
    }
    this.wakes.all();
  }

  private async maintain(): Promise<void> {
    if (this.maintaining || this.state !== 'running' || !this.control.connected) return;
    this.maintaining = true;
    try {
      await this.leader.tick();
    } finally {
      this.maintaining = false;
    }
  }

  private async fireCron(): Promise<void> {
    if (this.state !== 'running') return;
    await this.cron
      .tick()
      .catch((err) => this.logger.error({ err }, 'cron failed; trying again on the next tick'));
  }

  private async heartbeat(): Promise<void> {
    if (this.state !== 'running' || !this.control.connected) return;
    try {
      const beat = await this.control.withClient((c) => this.registry.heartbeat(c));
      // Without LISTEN, limit changes are read with each heartbeat.
      if (!this.opts.listening) await this.control.withClient((c) => this.flow.refresh(c));
      if (!beat.alive) {
        this.abandon('its heartbeat was too late');
        await this.control.withClient((conn) => this.registry.reregister(conn));
        return;
      }
      for (const q of this.queues.values()) {
        const paused = beat.paused.includes(q.name);
        if (paused !== q.paused) this.wakes.paused(q.name, paused);
      }
    } catch {
      // The control connection reports outages; the next beat tries again.
    }
  }

  /**
   * This worker was declared dead and its tasks were given to others: stop
   * them here without writing anything (the guarded settle would ignore it).
   */
  private abandon(why: string): void {
    let n = this.slots.drop(why);
    for (const q of this.queues.values()) {
      n += q.buffer.length;
      q.buffer = [];
    }
    this.loop.forget();
    this.logger.warn(
      { tasks: n },
      `this worker was declared dead (${why}); dropped its tasks and registered again`,
    );
    // Under its new id, so the registry lists it among the live workers of its versions.
    void this.registerDefinitions();
  }

  /**
   * Limits changed somewhere in the fleet: write this worker's definitions'
   * limits (a no-op unless an operator's setting was just dropped), then
   * read which queues and names have limits.
   */
  private async refreshLimits(): Promise<void> {
    if (this.state !== 'running' || !this.control.connected) return;
    try {
      await this.control.withClient((c) =>
        this.flow.sync(c, [...this.client.taskDefinitions.values()]),
      );
      this.probe.soon();
      this.wakes.all();
    } catch (err) {
      this.logger.warn({ err }, 'could not read the limits; using the ones known');
    }
  }

  /** Starts buffered tasks in free slots; never while the control connection is down. */
  private dispatch(): void {
    if (this.state !== 'running' || !this.control.connected) return;
    for (const q of this.queues.values()) {
      while (!q.paused && q.running < q.concurrency && q.buffer.length > 0)
        this.slots.start(q, q.buffer.shift()!);
    }
  }

  /** A task was cancelled: abort its running attempts, drop it if claimed ahead. */
  private cancelTask(id: string): void {
    this.slots.cancel(id);
    // The canceller marks it cancelled in the database; nothing to write here.
    for (const q of this.queues.values()) q.buffer = q.buffer.filter((t) => t.id !== id);
  }

  /** A handler returned: start the next task, and claim more at the low-water mark. */
  private freed(q: QueueState): void {
    this.dispatch();
    // At the low-water mark, start the next round trip now, not after this
    // burst of completions: the database settles and claims while this
    // process runs the rest of the buffer.
    if (q.buffer.length <= prefetchOf(q, this.opts.windowMs, this.opts.maxPrefetch) / 2)
      this.loop.launch();
    this.loop.kick();
  }

  /**
   * Graceful shutdown: stop claiming, give back claimed-ahead tasks at once,
   * wait up to `shutdownTimeout` for running ones, then abort them and give
   * them back without counting the attempt. Resolves when the worker holds
   * nothing, or, when PostgreSQL cannot be reached, shortly after the
   * timeout (what could not be written is rescued later).
   */
  stop(): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      return Promise.resolve();
    }
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    await this.starting?.catch(() => {});
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    const deadline = Date.now() + this.opts.shutdownMs;
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.flow.stop();
    const probed = this.probe.stop();
    this.wakes.stop();
    for (const q of this.queues.values()) this.loop.release(q);
    this.loop.stopWaiting();
    this.loop.kick();
    while (this.slots.size > 0 && Date.now() < deadline)
      await Promise.race([this.slots.allDone(), sleep(deadline - Date.now())]);
    if (this.slots.size > 0) {
      this.logger.warn(
        { running: this.slots.size },
        'shutdown timeout reached; aborting running tasks',
      );
      // Transactional ones roll back as soon as their handlers return.
      await this.slots.abortAll(5_000);
    }
    const written = await this.loop.flush(Math.max(deadline, Date.now()) + 2_000);
    if (!written)
      this.logger.warn(
        { outcomes: this.loop.waiting },
        'stopping without writing every outcome (PostgreSQL unreachable); those tasks are rescued once this worker is gone',
      );
    await bounded(this.leader.resign(this.client.sql), 1_000);
    await bounded(
      this.registry
        .deregister(this.client.sql)
        .catch((err) => this.logger.warn({ err }, 'could not deregister')),
      1_000,
    );
    await this.pruner.idle();
    await bounded(this.rescuer.idle(), 1_000);
    await bounded(probed, 1_000);
    await bounded(this.rollup.stop(), 1_000);
    await this.control.stop();
    this.releaseTrap?.();
    this.state = 'stopped';
    this.logger.info(this.stats, 'worker stopped');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** Waits for `p`, at most `ms`. */
async function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => {}), new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}
