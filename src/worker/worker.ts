import type pg from 'pg';
import type { TandemClient } from '../client/client.js';
import { taskReleaseLost, taskSettleAndClaim } from '../db/queries/tasks.js';
import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import type { AnyTask } from '../task.js';
import type { Duration, Logger } from '../types.js';
import { AttemptAbort, TaskAbortError } from './abort.js';
import { ControlConnection } from './control-connection.js';
import { CronScheduler, type Schedule } from './cron.js';
import { Leader } from './leader.js';
import {
  type ClaimedTask,
  type Outcome,
  type SettleRow,
  settleRow,
  toSettleParams,
} from './outcome.js';
import { prune, type RetentionOptions, resolveRetention } from './pruner.js';
import { Registry } from './registry.js';
import { rescue } from './rescuer.js';
import { Rollup } from './rollup.js';
import { runAttempt } from './runner.js';
import { trapUnhandledRejections } from './unhandled.js';

export interface WorkerOptions {
  /** Queue name → how many tasks of it run at once. Default: every registered task's queue, 10 each. */
  queues?: Record<string, number>;
  /** Poll fallback for delayed and retrying tasks and missed wake-ups. Default `'1s'`. */
  pollInterval?: Duration;
  /** Set false behind connection poolers that cannot LISTEN (transaction pooling): poll only. */
  listen?: boolean;
  /** How long `stop()` waits for running tasks before aborting them. Default `'30s'`. */
  shutdownTimeout?: Duration;
  /** Upper bound on tasks claimed ahead of free slots, per queue. Default 1000. */
  maxPrefetch?: number;
  /** How much work (in ms of handler time) a worker claims ahead of its slots. Default 100. */
  prefetchWindowMs?: number;
  /**
   * A worker whose heartbeat is older than this is presumed frozen or cut
   * off, and its tasks are rescued. Default `'30s'`. (A killed worker is
   * noticed within a second through its liveness lock, whatever the lease.)
   */
  lease?: Duration;
  /** Cron schedules this worker runs when it is the leader. */
  schedules?: readonly Schedule[];
  /** How long finished tasks are kept. Default: succeeded 7 days, failed and cancelled 30 days. */
  retention?: RetentionOptions;
  logger?: Logger;
}

interface QueueState {
  name: string;
  concurrency: number;
  running: number;
  buffer: ClaimedTask[];
  /** The last claim found fewer tasks than asked; wait for a wake-up. */
  exhausted: boolean;
  /** Bumped by every wake-up, so a claim that raced with one does not mark the queue exhausted. */
  wakes: number;
  /** Moving average of handler duration, ms. */
  avgMs: number;
  followUps: NodeJS.Timeout[];
}

interface Slot {
  task: ClaimedTask;
  def: AnyTask;
  queue: QueueState;
  abort: AttemptAbort;
  /** Its outcome was already queued for writing (timeout or cancel); ignore what the handler returns. */
  settled: boolean;
  started: number;
  timer: NodeJS.Timeout | null;
  done: Promise<void>;
}

/** Follow-up claims after a wake-up, for transactions whose notification the producer debounced away. */
const FOLLOW_UPS_MS = [5, 50];
/** Leader duties and elections are checked this often. */
const MAINTENANCE_EVERY_MS = 250;
interface Round {
  settle: SettleRow[];
  names: string[];
  counts: number[];
  asked: { q: QueueState; n: number; wakes: number }[];
}

/**
 * Claims tasks with FOR UPDATE SKIP LOCKED, runs their handlers, and writes
 * outcomes back in batches. All database work of the hot path is one
 * statement per round trip: settle what finished, claim what fits.
 */
export class Worker {
  private readonly logger: Logger;
  private readonly registry: Registry;
  private readonly control: ControlConnection;
  private readonly leader: Leader;
  private readonly leaseMs: number;
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private maintaining = false;
  private attachedOnce = false;
  private readonly queues = new Map<string, QueueState>();
  private readonly running = new Map<string, Slot>();
  private outcomes: SettleRow[] = [];
  private readonly taskNames: string[];
  private readonly pollMs: number;
  private readonly shutdownMs: number;
  private readonly maxPrefetch: number;
  private readonly windowMs: number;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  /** A settle-and-claim statement is on its way. */
  private inFlight = false;
  private firstRound: Promise<void> | null = null;
  private readonly idle: (() => void)[] = [];
  private kickScheduled = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private dbFailures = 0;
  private releaseTrap: (() => void) | null = null;
  readonly rollup: Rollup; // counts and latencies for stats() and /metrics (rollup.ts)
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
    const queues = options.queues ?? Object.fromEntries(defs.map((d) => [d.queue, 10]));
    for (const [name, concurrency] of Object.entries(queues)) {
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        throw new TandemError(
          'INVALID_OPTIONS',
          `concurrency of queue ${JSON.stringify(name)} must be a positive integer, got ${concurrency}`,
        );
      }
      this.queues.set(name, {
        name,
        concurrency,
        running: 0,
        buffer: [],
        exhausted: false,
        wakes: 0,
        avgMs: Number.NaN,
        followUps: [],
      });
    }
    this.pollMs = toMs(options.pollInterval ?? '1s', 'pollInterval');
    this.shutdownMs = toMs(options.shutdownTimeout ?? '30s', 'shutdownTimeout');
    this.maxPrefetch = options.maxPrefetch ?? 1000;
    this.windowMs = options.prefetchWindowMs ?? 100;
    this.leaseMs = toMs(options.lease ?? '30s', 'lease');
    this.registry = new Registry(queues);
    this.rollup = new Rollup(client.sql, this.registry.id, this.logger);
    this.control = new ControlConnection(
      () => client.openConnection(),
      options.listen ?? true,
      {
        wake: (q) => this.wake(q),
        cancel: (id) => this.cancelRunning(id),
        connected: async (conn) => {
          // Claims and outcomes go over this connection without waiting for
          // the WAL flush (see docs/design.md, "Durability of the claim path").
          await conn.query('set synchronous_commit = off');
          const reattached = this.attachedOnce;
          this.attachedOnce = true;
          if (!(await this.registry.attach(conn)))
            this.abandon('it was declared dead while disconnected');
          else if (reattached) await this.releaseLost(conn);
          this.wakeAll();
        },
      },
      this.logger,
    );
    const cron = new CronScheduler(client, options.schedules ?? [], this.logger);
    const retention = resolveRetention(options.retention);
    this.leader = new Leader(
      client.sql,
      () => this.id,
      this.leaseMs,
      [
        {
          name: 'rescuer',
          everyMs: MAINTENANCE_EVERY_MS,
          run: () => rescue(client.sql, this.leaseMs, this.logger),
        },
        { name: 'cron', everyMs: 500, run: () => cron.tick() },
        { name: 'pruner', everyMs: 60_000, run: () => prune(client.sql, retention, this.logger) },
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

  /** Starts claiming. Resolves once the worker listens and has made its first claim. */
  async start(): Promise<void> {
    if (this.state !== 'new')
      throw new TandemError('INVALID_STATE', `worker ${this.id} was already started`);
    this.state = 'running';
    this.releaseTrap = trapUnhandledRejections(this.logger);
    try {
      await this.control.start();
    } catch (err) {
      this.state = 'stopped';
      this.releaseTrap();
      throw err;
    }
    this.pollTimer = setInterval(() => this.wakeAll(), this.pollMs);
    this.maintenanceTimer = setInterval(() => void this.maintain(), MAINTENANCE_EVERY_MS);
    const beatMs = Math.max(100, Math.min(5_000, Math.floor(this.leaseMs / 6)));
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), beatMs);
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
  }

  private async maintain(): Promise<void> {
    if (this.maintaining || this.state !== 'running') return;
    this.maintaining = true;
    try {
      await this.leader.tick();
    } finally {
      this.maintaining = false;
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.state !== 'running' || !this.control.connected) return;
    try {
      if (!(await this.registry.heartbeat(this.client.sql))) {
        this.abandon('its heartbeat was too late');
        await this.control.withClient((conn) => this.registry.reregister(conn));
      }
    } catch {
      // The control connection reports outages; the next beat tries again.
    }
  }

  /**
   * After a reconnection: tasks the database still shows as running here but
   * that this worker no longer holds had their claim or outcome lost with the
   * old connection (a database crash can lose the last unflushed commits).
   * They become runnable again, the attempt recorded as lost.
   */
  private async releaseLost(conn: pg.ClientBase): Promise<void> {
    const held = [...this.running.keys(), ...this.outcomes.map((o) => o.id)];
    for (const q of this.queues.values()) for (const t of q.buffer) held.push(t.id);
    const { rows } = await conn.query(taskReleaseLost, [this.id, held]);
    if (rows.length > 0)
      this.logger.warn(
        { tasks: rows.length },
        'made runnable again tasks whose claim or outcome was lost with the connection',
      );
  }

  /**
   * This worker was declared dead and its tasks were given to others: stop
   * them here without writing anything (the guarded settle would ignore it).
   */
  private abandon(why: string): void {
    let n = 0;
    for (const slot of this.running.values()) {
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
    this.logger.warn(
      { tasks: n },
      `this worker was declared dead (${why}); dropped its tasks and registered again`,
    );
  }

  private wakeAll(): void {
    for (const q of this.queues.values()) this.wakeQueue(q);
    this.kick();
  }

  private wakeQueue(q: QueueState): void {
    q.exhausted = false;
    q.wakes++;
  }

  private wake(queue: string): void {
    const q = this.queues.get(queue);
    if (!q || this.state !== 'running') return;
    this.wakeQueue(q);
    // A wake-up is latency-critical: claim now rather than on the next tick.
    this.launch();
    if (q.followUps.length === 0) {
      q.followUps = FOLLOW_UPS_MS.map((ms, i) =>
        setTimeout(() => {
          if (i === FOLLOW_UPS_MS.length - 1) q.followUps = [];
          this.wakeQueue(q);
          this.kick();
        }, ms),
      );
    }
  }

  private prefetch(q: QueueState): number {
    if (Number.isNaN(q.avgMs)) return q.concurrency;
    const ahead = Math.round((q.concurrency * this.windowMs) / Math.max(q.avgMs, 0.01));
    return Math.max(1, Math.min(this.maxPrefetch, ahead));
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
   * Starts a round trip when none is in flight and there is something to
   * settle or room to claim. One at a time: two in flight were measured no
   * faster (they compete for the same index pages and cores), and whatever
   * finishes meanwhile simply joins the next, larger batch.
   */
  private launch(): void {
    if (this.inFlight) return;
    const round = this.nextRound();
    if (!round) return;
    this.inFlight = true;
    const done = this.roundTrip(round).finally(() => {
      this.inFlight = false;
      for (const resolve of this.idle.splice(0)) resolve();
      this.kick();
    });
    if (this.firstRound === null) this.firstRound = done;
  }

  private nextRound(): Round | null {
    const settle = this.outcomes;
    const names: string[] = [];
    const counts: number[] = [];
    const asked: Round['asked'] = [];
    if (this.state === 'running') {
      for (const q of this.queues.values()) {
        if (q.exhausted) continue;
        const pre = this.prefetch(q);
        const want = q.concurrency + pre - q.running - q.buffer.length;
        if (want <= 0) continue;
        // Refill at the low-water mark, or alongside outcomes that go anyway.
        if (settle.length === 0 && q.buffer.length > pre / 2) continue;
        names.push(q.name);
        counts.push(want);
        asked.push({ q, n: want, wakes: q.wakes });
      }
    }
    if (settle.length === 0 && names.length === 0) return null;
    this.outcomes = [];
    return { settle, names, counts, asked };
  }

  private async roundTrip(round: Round): Promise<void> {
    let claimed: ClaimedTask[];
    try {
      const { ids, rest } = toSettleParams(round.settle);
      const values = [this.id, ids, round.names, round.counts, this.taskNames, ...rest];
      claimed = await this.control.withClient(
        async (c) =>
          (await c.query({ name: 'tandem_settle_and_claim', text: taskSettleAndClaim, values }))
            .rows,
      );
      if (this.dbFailures > 0) this.logger.info('database reachable again');
      this.dbFailures = 0;
    } catch (err) {
      this.outcomes = round.settle.concat(this.outcomes);
      if (this.dbFailures === 0)
        this.logger.error({ err }, 'claim/settle failed; retrying with backoff');
      this.dbFailures++;
      // Still counted as in flight while it waits, so nothing else starts.
      await sleep(Math.min(5_000, 50 * 2 ** Math.min(this.dbFailures, 7)));
      return;
    }
    this.stats.claimed += claimed.length;
    const got = new Map<string, number>();
    for (const t of claimed) {
      if (this.state !== 'running') {
        this.outcomes.push(settleRow(t, undefined, { kind: 'released' }, this.id)!);
        continue;
      }
      this.queues.get(t.queue)!.buffer.push(t);
      got.set(t.queue, (got.get(t.queue) ?? 0) + 1);
    }
    for (const a of round.asked) {
      if ((got.get(a.q.name) ?? 0) < a.n && a.q.wakes === a.wakes) a.q.exhausted = true;
    }
    this.dispatch();
  }

  private dispatch(): void {
    if (this.state !== 'running') return;
    for (const q of this.queues.values()) {
      while (q.running < q.concurrency && q.buffer.length > 0) this.run(q, q.buffer.shift()!);
    }
  }

  private run(q: QueueState, task: ClaimedTask): void {
    const def = this.client.taskDefinitions.get(task.name)!;
    const abort = new AttemptAbort();
    const slot: Slot = {
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
    this.running.set(task.id, slot);
    const timeoutMs = task.timeout_ms ?? def.timeoutMs;
    if (timeoutMs) slot.timer = setTimeout(() => this.timeOut(slot, timeoutMs), timeoutMs);
    slot.done = runAttempt(task, def, abort, {
      db: this.client.db,
      workerId: this.id,
      logger: this.logger,
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
      if (this.running.get(slot.task.id) === slot) {
        this.logger.warn(
          { taskId: slot.task.id, task: slot.task.name },
          'handler ignores ctx.signal: still running after its timeout; its slot stays taken until it returns',
        );
      }
    }, 5_000);
    warn.unref?.();
  }

  private cancelRunning(id: string): void {
    const slot = this.running.get(id);
    if (!slot || slot.abort.reason) return;
    slot.abort.abort(
      new TaskAbortError('cancel', `task ${slot.task.name} (id ${id}) was cancelled`),
    );
    if (!slot.def.transactional) this.settleNow(slot, { kind: 'cancelled' });
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
    switch (row?.state ?? 'succeeded') {
      case 'succeeded':
        this.stats.succeeded++;
        break;
      case 'failed':
        this.stats.failed++;
        break;
      case 'retrying':
        if (outcome.kind === 'failed') this.stats.retried++;
        else this.stats.snoozed++;
        break;
      case 'cancelled':
        this.stats.cancelled++;
        break;
      default:
        if (outcome.kind === 'snoozed') this.stats.snoozed++;
    }
    if (outcome.kind === 'failed') {
      const err = outcome.error as Error;
      this.logger.warn(
        {
          taskId: slot.task.id,
          task: slot.task.name,
          attempt: slot.task.attempt,
          next: row?.state,
          err: { name: err?.name, message: err?.message },
        },
        'task attempt failed',
      );
    }
  }

  private finish(slot: Slot, outcome: Outcome): void {
    if (slot.timer) clearTimeout(slot.timer);
    const q = slot.queue;
    q.running--;
    this.running.delete(slot.task.id);
    const ms = performance.now() - slot.started;
    q.avgMs = Number.isNaN(q.avgMs) ? ms : q.avgMs * 0.9 + ms * 0.1;
    if (!slot.settled) {
      slot.settled = true;
      this.record(slot, outcome);
    }
    this.dispatch();
    // At the low-water mark, start the next round trip now, not after this
    // burst of completions: the database settles and claims while this
    // process runs the rest of the buffer.
    if (q.buffer.length <= this.prefetch(q) / 2) this.launch();
    this.kick();
  }

  /** Number of tasks this worker holds (running or claimed ahead). */
  get held(): number {
    let n = this.running.size;
    for (const q of this.queues.values()) n += q.buffer.length;
    return n;
  }

  /**
   * Graceful shutdown: stop claiming, give back claimed-ahead tasks at once,
   * wait up to `shutdownTimeout` for running ones, then abort them and give
   * them back without counting the attempt. Resolves when the worker holds
   * nothing.
   */
  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const q of this.queues.values()) {
      for (const t of q.followUps) clearTimeout(t);
      for (const t of q.buffer)
        this.outcomes.push(settleRow(t, undefined, { kind: 'released' }, this.id)!);
      q.buffer = [];
    }
    this.kick();
    const deadline = Date.now() + this.shutdownMs;
    while (this.running.size > 0 && Date.now() < deadline) {
      await Promise.race([
        Promise.all([...this.running.values()].map((s) => s.done)),
        sleep(deadline - Date.now()),
      ]);
    }
    if (this.running.size > 0) {
      this.logger.warn(
        { running: this.running.size },
        'shutdown timeout reached; aborting running tasks',
      );
      const transactional: Promise<void>[] = [];
      for (const slot of this.running.values()) {
        slot.abort.abort(new TaskAbortError('shutdown', 'worker is shutting down'));
        if (slot.def.transactional) transactional.push(slot.done);
        else this.settleNow(slot, { kind: 'released' });
      }
      // Their transactions roll back as soon as the handlers return.
      await Promise.race([Promise.all(transactional), sleep(5_000)]);
    }
    await this.flush();
    await this.rollup.stop();
    await this.leader.resign();
    await this.registry
      .deregister(this.client.sql)
      .catch((err) => this.logger.warn({ err }, 'could not deregister'));
    await this.control.stop();
    this.releaseTrap?.();
    this.state = 'stopped';
    this.logger.info(this.stats, 'worker stopped');
  }

  /** Waits until every queued outcome is written. */
  private async flush(): Promise<void> {
    for (
      let i = 0;
      i < 1000 && (this.inFlight || this.outcomes.length > 0 || this.kickScheduled);
      i++
    ) {
      if (this.inFlight) await new Promise<void>((r) => this.idle.push(r));
      else this.launch();
      await new Promise((r) => setImmediate(r));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}
