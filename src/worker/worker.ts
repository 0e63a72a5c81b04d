import type pg from 'pg';
import type { TandemClient } from '../client/client.js';
import { adoptPendingTasks, registerTaskTypes } from '../client/task-types.js';
import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import type { AnyTask } from '../task.js';
import type { Duration, Logger } from '../types.js';
import { AttemptAbort, TaskAbortError } from './abort.js';
import { ClaimBounds } from './claim-bounds.js';
import { ControlConnection } from './control-connection.js';
import { CronScheduler, type Schedule } from './cron.js';
import { type FlowAsk, FlowClaims, type FlowResult } from './flow.js';
import { Leader } from './leader.js';
import { type ClaimedTask, type Outcome, type SettleRow, settleRow } from './outcome.js';
import { Pruner, type RetentionOptions, resolveRetention, saveRetention } from './pruner.js';
import { newQueue, prefetchOf, type QueueState, recordDuration } from './queues.js';
import { reconcile } from './reconcile.js';
import { Registry } from './registry.js';
import { Rescuer } from './rescuer.js';
import { Rollup } from './rollup.js';
import { RecentOutcomes, type Round, type RoundResult, runRound } from './round-trip.js';
import { runAttempt } from './runner.js';
import { trapUnhandledRejections } from './unhandled.js';

export interface WorkerOptions {
  /** Queue name → how many tasks of it run at once. Default: every registered task's queue, 10 each. */
  queues?: Record<string, number>;
  /** Poll fallback for delayed and retrying tasks and missed wake-ups. Default `'1s'`. */
  pollInterval?: Duration;
  /** Set false to poll instead of LISTENing for wake-ups. Default true. */
  listen?: boolean;
  /**
   * Whether the worker's own connection is a session of its own. Default
   * true. Set false when the only way to PostgreSQL is a transaction pooler
   * (PgBouncer in transaction mode, with no `sessionConnectionString`):
   * the worker then holds no liveness lock (a killed worker is rescued
   * after its `lease`, not within seconds), polls instead of listening,
   * sends no prepared statements, and commits its claims synchronously.
   */
  session?: boolean;
  /** How long `stop()` waits for running tasks before aborting them. Default `'30s'`. */
  shutdownTimeout?: Duration;
  /** Upper bound on tasks claimed ahead of free slots, per queue. Default 1000. */
  maxPrefetch?: number;
  /** How much work (in ms of handler time) a worker claims ahead of its slots. Default 100. */
  prefetchWindowMs?: number;
  /**
   * A worker whose heartbeat is older than this is presumed frozen or cut
   * off, and its tasks are rescued. Default `'30s'`. Each worker is judged
   * by its own lease. (A killed worker is noticed within seconds through
   * its liveness lock, whatever the lease.)
   */
  lease?: Duration;
  /** Cron schedules this worker fires (every worker that has a schedule fires it). */
  schedules?: readonly Schedule[];
  /** How long finished tasks are kept, for the whole fleet (stored in `tandem.retention`). */
  retention?: RetentionOptions;
  /**
   * Log unhandled promise rejections instead of letting Node end the
   * process, while this worker runs. Process-wide, so off by default for
   * workers embedded in a host process; `tandem worker` turns it on.
   */
  trapUnhandledRejections?: boolean;
  logger?: Logger;
}

/** What a round asked of one queue. */
interface Asked {
  q: QueueState;
  n: number;
  wakes: number;
  /** Scanned from the head of the claim index. */
  discovered: boolean;
}

/** One running attempt. */
interface Slot {
  /** `id#token`: two attempts of one task on this worker never share a slot. */
  key: string;
  task: ClaimedTask;
  def: AnyTask;
  queue: QueueState;
  abort: AttemptAbort;
  /** Its outcome was already queued for writing (timeout or cancel), or must not be written. */
  settled: boolean;
  started: number;
  timer: NodeJS.Timeout | null;
  done: Promise<void>;
}

/** Follow-up claims after a wake-up, for transactions whose notification the producer debounced away. */
const FOLLOW_UPS_MS = [5, 50];
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
  private readonly registry: Registry;
  private readonly control: ControlConnection;
  private readonly leader: Leader;
  private readonly pruner: Pruner;
  private readonly cron: CronScheduler;
  private readonly retention: [string, number | null][];
  private readonly leaseMs: number;
  private readonly timers: NodeJS.Timeout[] = [];
  private maintaining = false;
  private attachedOnce = false;
  private readonly queues = new Map<string, QueueState>();
  private readonly slots = new Map<string, Slot>();
  private outcomes: SettleRow[] = [];
  /** The outcomes of the round trip in flight. */
  private settling: SettleRow[] = [];
  private readonly recent = new RecentOutcomes();
  private readonly bounds: ClaimBounds;
  private readonly flow: FlowClaims;
  private readonly taskNames: string[];
  private readonly pollMs: number;
  private readonly shutdownMs: number;
  private readonly maxPrefetch: number;
  private readonly windowMs: number;
  private readonly trap: boolean;
  private readonly session: boolean;
  /** LISTENs for notifications (wake-ups, cancels, limit changes); else polls. */
  private readonly listening: boolean;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  /** A settle-and-claim statement is on its way. */
  private inFlight = false;
  private firstRound: Promise<void> | null = null;
  private readonly idle: (() => void)[] = [];
  private kickScheduled = false;
  private dbFailures = 0;
  private claimToken = 0;
  private wakeBackoff: (() => void) | null = null;
  private releaseTrap: (() => void) | null = null;
  /** Counts and latencies for stats() and /metrics (rollup.ts). */
  readonly rollup: Rollup;
  /** Counts of outcomes since start, for progress displays and tests. */
  readonly stats = { claimed: 0, succeeded: 0, failed: 0, retried: 0, cancelled: 0, snoozed: 0 };

  constructor(
    private readonly client: TandemClient,
    options: WorkerOptions = {},
  ) {
    this.logger = options.logger ?? client.logger;
    const defs = [...client.taskDefinitions.values()];
    if (defs.length === 0) {
      throw new TandemError(
        'INVALID_OPTIONS',
        'a worker needs task definitions: pass them in createTandem({ tasks: [...] })',
      );
    }
    this.taskNames = defs.map((d) => d.name);
    this.flow = new FlowClaims(this.taskNames);
    const queues = options.queues ?? Object.fromEntries(defs.map((d) => [d.queue, 10]));
    for (const [name, concurrency] of Object.entries(queues)) {
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        throw new TandemError(
          'INVALID_OPTIONS',
          `concurrency of queue ${JSON.stringify(name)} must be a positive integer, got ${concurrency}`,
        );
      }
      this.queues.set(name, newQueue(name, concurrency));
    }
    const known = new Map<string, number[]>();
    for (const d of defs)
      known.set(d.queue, [...new Set([...(known.get(d.queue) ?? []), d.priority])]);
    this.bounds = new ClaimBounds(known);
    this.pollMs = toMs(options.pollInterval ?? '1s', 'pollInterval');
    this.shutdownMs = toMs(options.shutdownTimeout ?? '30s', 'shutdownTimeout');
    this.maxPrefetch = options.maxPrefetch ?? 1000;
    this.windowMs = options.prefetchWindowMs ?? 100;
    this.leaseMs = toMs(options.lease ?? '30s', 'lease', 2_147_483_647);
    this.trap = options.trapUnhandledRejections ?? false;
    this.session = options.session ?? true;
    this.listening = this.session && (options.listen ?? true);
    this.retention = resolveRetention(options.retention ?? {});
    this.registry = new Registry(queues, this.leaseMs, this.session);
    this.rollup = new Rollup(client.sql, this.registry.id, this.logger);
    this.control = new ControlConnection(
      () => client.openConnection(),
      this.listening,
      {
        wake: (q) => this.wake(q),
        cancel: (id) => this.cancelTask(id),
        paused: (q, paused) => this.setPaused(q, paused),
        limits: () => void this.refreshLimits(),
        connected: (conn) => this.connected(conn),
      },
      this.logger,
    );
    this.cron = new CronScheduler(client, options.schedules ?? [], this.logger);
    this.pruner = new Pruner(client.sql, this.logger);
    const rescuer = new Rescuer(() => this.id, this.logger);
    this.leader = new Leader(
      (fn) => this.control.withClient(fn),
      () => this.id,
      [
        {
          name: 'rescuer',
          everyMs: MAINTENANCE_EVERY_MS,
          run: () => this.control.withClient((c) => rescuer.pass(c)),
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
    if (this.trap) this.releaseTrap = trapUnhandledRejections(this.logger);
    try {
      await this.control.start();
    } catch (err) {
      this.state = 'stopped';
      this.releaseTrap?.();
      throw err;
    }
    // stop() was called meanwhile: it finishes the job once this returns.
    if (this.state !== 'running') return;
    if (this.retention.length > 0)
      await saveRetention(this.client.sql, this.retention, this.id, this.logger).catch((err) =>
        this.logger.error({ err }, 'could not store the retention setting'),
      );
    this.timers.push(
      setInterval(() => this.wakeAll(), this.pollMs),
      setInterval(() => void this.maintain(), MAINTENANCE_EVERY_MS),
      setInterval(
        () => void this.heartbeat(),
        Math.max(100, Math.min(5_000, Math.floor(this.leaseMs / 6))),
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
    this.launch();
    await this.firstRound;
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
    // WAL flush (see docs/design.md, "Durability of the claim path"); not
    // through a transaction pooler, where a session setting would stay on a
    // server connection that other clients use next.
    if (this.session) await conn.query('set synchronous_commit = off');
    const { rows } = await conn.query<{ ms: string }>(
      `select setting::int * 3 + 500 as ms from pg_settings where name = 'wal_writer_delay'`,
    );
    this.recent.keepMs = Number(rows[0]?.ms ?? 1_100);
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
          // A round trip still failing on the old connection puts its rows back here.
          pending: () => this.outcomes.concat(this.settling),
          recent: this.recent,
        },
        this.logger,
      );
      this.outcomes = again.concat(this.outcomes);
    }
    this.wakeAll();
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
      if (!this.listening) await this.control.withClient((c) => this.flow.refresh(c));
      if (!beat.alive) {
        this.abandon('its heartbeat was too late');
        await this.control.withClient((conn) => this.registry.reregister(conn));
        return;
      }
      for (const q of this.queues.values()) {
        const paused = beat.paused.includes(q.name);
        if (paused !== q.paused) this.setPaused(q.name, paused);
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
    let n = 0;
    for (const slot of this.slots.values()) {
      if (slot.settled) continue;
      slot.settled = true;
      slot.abort.abort(new TaskAbortError('lost', `worker ${this.id} lost this task: ${why}`));
      n++;
    }
    for (const q of this.queues.values()) {
      n += q.buffer.length;
      q.buffer = [];
    }
    this.outcomes = [];
    this.recent.clear();
    this.logger.warn(
      { tasks: n },
      `this worker was declared dead (${why}); dropped its tasks and registered again`,
    );
    // Under its new id, so the registry lists it among the live workers of its versions.
    void this.registerDefinitions();
  }

  private wakeAll(): void {
    for (const q of this.queues.values()) {
      q.exhausted = false;
      q.flowWaiting = false;
      q.wakes++;
    }
    this.kick();
  }

  private wake(queue: string): void {
    const q = this.queues.get(queue);
    if (!q || this.state !== 'running') return;
    q.exhausted = false;
    q.flowWaiting = false;
    q.wakes++;
    // A wake-up is latency-critical: claim now rather than on the next tick.
    this.launch();
    if (q.followUps.length === 0) {
      q.followUps = FOLLOW_UPS_MS.map((ms, i) =>
        setTimeout(() => {
          if (i === FOLLOW_UPS_MS.length - 1) q.followUps = [];
          q.exhausted = false;
          q.wakes++;
          this.kick();
        }, ms),
      );
    }
  }

  /** A queue paused: give back what was claimed ahead; resumed: claim again. */
  private setPaused(queue: string, paused: boolean): void {
    const q = this.queues.get(queue);
    if (!q || q.paused === paused) return;
    q.paused = paused;
    if (paused) this.release(q);
    else {
      q.exhausted = false;
      q.wakes++;
    }
    this.kick();
  }

  /** Gives back a queue's claimed-ahead tasks without counting their attempt. */
  private release(q: QueueState): void {
    for (const t of q.buffer)
      this.outcomes.push(settleRow(t, undefined, { kind: 'released' }, this.id)!);
    q.buffer = [];
  }

  /** Coalesces everything that happened in this tick into the next round trip. */
  private kick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.launch();
    });
  }

  /**
   * Starts a round trip when none is in flight, the control connection is
   * up, and there is something to settle or room to claim. One at a time:
   * two in flight were measured no faster, and whatever finishes meanwhile
   * joins the next, larger batch.
   */
  private launch(): void {
    if (this.inFlight || !this.control.connected) return;
    const round = this.nextRound();
    if (!round) return;
    this.inFlight = true;
    this.settling = round.settle;
    const done = this.roundTrip(round).finally(() => {
      this.inFlight = false;
      this.settling = [];
      for (const resolve of this.idle.splice(0)) resolve();
      this.kick();
    });
    if (this.firstRound === null) this.firstRound = done;
  }

  private nextRound(): (Round & { asked: Asked[]; flow: FlowAsk[] }) | null {
    const settle = this.outcomes;
    const names: string[] = [];
    const counts: number[] = [];
    const asked: Asked[] = [];
    const discover: boolean[] = [];
    const boundQueues: string[] = [];
    const boundPriorities: number[] = [];
    const boundRunAts: string[] = [];
    const boundIds: string[] = [];
    if (this.state === 'running') {
      for (const q of this.queues.values()) {
        if (q.exhausted || q.paused || this.flow.queueLimited(q.name)) continue;
        const pre = prefetchOf(q, this.windowMs, this.maxPrefetch);
        const want = q.concurrency + pre - q.running - q.buffer.length;
        if (want <= 0) continue;
        // Refill at the low-water mark, or alongside outcomes that go anyway.
        if (settle.length === 0 && q.buffer.length > pre / 2) continue;
        names.push(q.name);
        counts.push(want);
        const d = this.bounds.discovers(q.name);
        discover.push(d);
        asked.push({ q, n: want, wakes: q.wakes, discovered: d });
        if (d) continue;
        for (const b of this.bounds.bounds(q.name)) {
          boundQueues.push(q.name);
          boundPriorities.push(b.priority);
          boundRunAts.push(b.runAt);
          boundIds.push(b.id);
        }
      }
    }
    const flow =
      this.state === 'running'
        ? this.flow.asks(this.queues.values(), (q) =>
            prefetchOf(q, this.windowMs, this.maxPrefetch),
          )
        : [];
    if (settle.length === 0 && names.length === 0 && flow.length === 0) return null;
    this.outcomes = [];
    return {
      settle,
      flow,
      flowActive: this.flow.active,
      names,
      counts,
      asked,
      discover,
      boundQueues,
      boundPriorities,
      boundRunAts,
      boundIds,
    };
  }

  private async roundTrip(round: NonNullable<ReturnType<Worker['nextRound']>>): Promise<void> {
    let result: RoundResult;
    let flowed: FlowResult[] = [];
    const token = String(++this.claimToken);
    const began = performance.now();
    try {
      result = await this.control.withClient(async (c) => {
        const main = await runRound(
          c,
          this.id,
          token,
          this.taskNames,
          round,
          this.logger,
          this.session,
        );
        flowed = await this.claimFlow(c, round.flow);
        return main;
      });
      if (this.dbFailures > 0) this.logger.info('database reachable again');
      this.dbFailures = 0;
    } catch (err) {
      this.outcomes = round.settle.concat(this.outcomes);
      if (this.dbFailures === 0)
        this.logger.error({ err }, 'claim/settle failed; retrying with backoff');
      this.dbFailures++;
      // Still counted as in flight while it waits, so nothing else starts.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(5_000, 50 * 2 ** Math.min(this.dbFailures, 7)));
        this.wakeBackoff = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeBackoff = null;
      return;
    }
    const tookMs = performance.now() - began;
    const { claimed, snapshot, scanned, scannedTo } = result;
    this.recent.add(round.settle);
    this.stats.claimed += claimed.length;
    const got = new Map<string, number>();
    const byQueue = new Map<string, ClaimedTask[]>();
    for (const t of claimed) {
      const list = byQueue.get(t.queue);
      if (list) list.push(t);
      else byQueue.set(t.queue, [t]);
    }
    this.bounds.snapshotSeen(snapshot);
    for (const a of round.asked) {
      // A paused or limited queue was not scanned: nothing to learn from it.
      if (!scanned.has(a.q.name)) continue;
      const mine = byQueue.get(a.q.name) ?? [];
      const keys = mine.map((t) => ({ priority: t.priority, runAt: t.run_key, id: t.id }));
      const exhausted = mine.length < a.n ? scannedTo : null;
      this.bounds.observe(a.q.name, keys, exhausted, a.discovered, tookMs);
    }
    for (const t of claimed) {
      const q = this.queues.get(t.queue)!;
      if (this.state !== 'running' || q.paused) {
        this.outcomes.push(settleRow(t, undefined, { kind: 'released' }, this.id)!);
        continue;
      }
      q.buffer.push(t);
      got.set(t.queue, (got.get(t.queue) ?? 0) + 1);
    }
    for (const a of round.asked) {
      if ((got.get(a.q.name) ?? 0) < a.n && a.q.wakes === a.wakes) a.q.exhausted = true;
    }
    this.stats.claimed += flowed.reduce((n, f) => n + f.claimed.length, 0);
    for (const f of flowed) {
      for (const t of f.claimed) {
        if (this.state !== 'running' || f.ask.q.paused)
          this.outcomes.push(settleRow(t, undefined, { kind: 'released' }, this.id)!);
        else f.ask.q.buffer.push(t);
      }
    }
    this.dispatch();
  }

  /**
   * The claims of limited queues and names, after the batched statement on
   * the same connection. A failure claims nothing (one statement each) and
   * is retried on the next round.
   */
  private async claimFlow(conn: pg.ClientBase, asks: FlowAsk[]): Promise<FlowResult[]> {
    if (asks.length === 0) return [];
    try {
      return await this.flow.claim(conn, this.id, String(++this.claimToken), asks, () =>
        this.kick(),
      );
    } catch (err) {
      this.logger.error({ err }, 'claim of limited tasks failed; retrying on the next round');
      return [];
    }
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
      this.bounds.discoverNext();
      this.wakeAll();
    } catch (err) {
      this.logger.warn({ err }, 'could not read the limits; using the ones known');
    }
  }

  /** Starts buffered tasks in free slots; never while the control connection is down. */
  private dispatch(): void {
    if (this.state !== 'running' || !this.control.connected) return;
    for (const q of this.queues.values()) {
      while (!q.paused && q.running < q.concurrency && q.buffer.length > 0)
        this.run(q, q.buffer.shift()!);
    }
  }

  private run(q: QueueState, task: ClaimedTask): void {
    const def = this.client.taskDefinitions.get(task.name)!;
    const abort = new AttemptAbort();
    const slot: Slot = {
      key: `${task.id}#${task.token}`,
      task,
      def,
      queue: q,
      abort,
      settled: false,
      started: performance.now(),
      timer: null,
      done: Promise.resolve(),
    };
    q.running++;
    this.slots.set(slot.key, slot);
    const timeoutMs = task.timeout_ms ?? def.timeoutMs;
    if (timeoutMs) slot.timer = setTimeout(() => this.timeOut(slot, timeoutMs), timeoutMs);
    slot.done = runAttempt(task, def, abort, {
      db: this.client.db,
      workerId: this.id,
      logger: this.logger,
      middleware: this.client.middleware,
    }).then((outcome) => this.finish(slot, outcome));
  }

  private timeOut(slot: Slot, ms: number): void {
    slot.timer = null;
    const reason = new TaskAbortError(
      'timeout',
      `task ${slot.task.name} (id ${slot.task.id}) timed out after ${ms} ms`,
    );
    slot.abort.abort(reason);
    // A transactional task still holds its row lock: its failure is written once its transaction ends.
    if (!slot.def.transactional)
      this.settleNow(slot, { kind: 'failed', error: reason, permanent: false });
    const warn = setTimeout(() => {
      if (this.slots.get(slot.key) === slot) {
        this.logger.warn(
          { taskId: slot.task.id, task: slot.task.name },
          'handler ignores ctx.signal: still running after its timeout; its slot stays taken until it returns',
        );
      }
    }, 5_000);
    warn.unref?.();
  }

  /** A task was cancelled: abort its running attempts, drop it if claimed ahead. */
  private cancelTask(id: string): void {
    for (const slot of this.slots.values()) {
      if (slot.task.id !== id || slot.abort.reason) continue;
      slot.abort.abort(
        new TaskAbortError('cancel', `task ${slot.task.name} (id ${id}) was cancelled`),
      );
      if (!slot.def.transactional) this.settleNow(slot, { kind: 'cancelled' });
    }
    // The canceller marks it cancelled in the database; nothing to write here.
    for (const q of this.queues.values()) q.buffer = q.buffer.filter((t) => t.id !== id);
  }

  private settleNow(slot: Slot, outcome: Outcome): void {
    if (slot.settled) return;
    slot.settled = true;
    this.record(slot, outcome);
    this.kick();
  }

  private record(slot: Slot, outcome: Outcome): void {
    const row = settleRow(slot.task, slot.def, outcome, this.id);
    if (row) this.outcomes.push(row);
    this.rollup.record(slot.task, row, outcome, slot.started);
    const s = this.stats;
    if (outcome.kind === 'committed' || row?.state === 'succeeded') s.succeeded++;
    else if (row?.state === 'failed') s.failed++;
    else if (row?.state === 'cancelled') s.cancelled++;
    else if (outcome.kind === 'failed') s.retried++;
    else if (outcome.kind === 'snoozed') s.snoozed++;
    if (outcome.kind === 'failed') {
      const err = outcome.error as Error;
      this.logger.warn(
        {
          taskId: slot.task.id,
          task: slot.task.name,
          attempt: slot.task.attempt,
          next: row?.state,
          err: { name: safe(() => err?.name), message: safe(() => err?.message) },
        },
        'task attempt failed',
      );
    }
  }

  private finish(slot: Slot, outcome: Outcome): void {
    if (slot.timer) clearTimeout(slot.timer);
    const q = slot.queue;
    q.running--;
    this.slots.delete(slot.key);
    recordDuration(q, performance.now() - slot.started);
    if (!slot.settled) {
      slot.settled = true;
      this.record(slot, outcome);
    }
    this.dispatch();
    // At the low-water mark, start the next round trip now, not after this
    // burst of completions: the database settles and claims while this
    // process runs the rest of the buffer.
    if (q.buffer.length <= prefetchOf(q, this.windowMs, this.maxPrefetch) / 2) this.launch();
    this.kick();
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
    const deadline = Date.now() + this.shutdownMs;
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.flow.stop();
    for (const q of this.queues.values()) {
      for (const t of q.followUps) clearTimeout(t);
      this.release(q);
    }
    this.wakeBackoff?.();
    this.kick();
    while (this.slots.size > 0 && Date.now() < deadline) {
      await Promise.race([
        Promise.all([...this.slots.values()].map((s) => s.done)),
        sleep(deadline - Date.now()),
      ]);
    }
    if (this.slots.size > 0) {
      this.logger.warn(
        { running: this.slots.size },
        'shutdown timeout reached; aborting running tasks',
      );
      const transactional: Promise<void>[] = [];
      for (const slot of this.slots.values()) {
        slot.abort.abort(new TaskAbortError('shutdown', 'worker is shutting down'));
        if (slot.def.transactional) transactional.push(slot.done);
        else this.settleNow(slot, { kind: 'released' });
      }
      // Their transactions roll back as soon as the handlers return.
      await Promise.race([Promise.all(transactional), sleep(5_000)]);
    }
    const written = await this.flush(Math.max(deadline, Date.now()) + 2_000);
    if (!written)
      this.logger.warn(
        { outcomes: this.outcomes.length },
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
    await bounded(this.rollup.stop(), 1_000);
    await this.control.stop();
    this.releaseTrap?.();
    this.state = 'stopped';
    this.logger.info(this.stats, 'worker stopped');
  }

  /** Waits until every queued outcome is written, or `until`; true when all were. */
  private async flush(until: number): Promise<boolean> {
    while (this.inFlight || this.outcomes.length > 0 || this.kickScheduled) {
      if (Date.now() > until) return false;
      if (this.inFlight)
        await Promise.race([
          new Promise<void>((r) => this.idle.push(r)),
          sleep(until - Date.now()),
        ]);
      else if (this.control.connected) this.launch();
      else await sleep(Math.min(50, until - Date.now()));
      await new Promise((r) => setImmediate(r));
    }
    return true;
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

function safe<T>(fn: () => T): T | string {
  try {
    return fn();
  } catch {
    return '(unreadable)';
  }
}
