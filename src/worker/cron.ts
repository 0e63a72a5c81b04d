import { Cron } from 'croner';
import type { TandemClient } from '../client/client.js';
import { toQueryable } from '../db/executor.js';
import { scheduleDefine } from '../db/queries/fleet.js';
import {
  scheduleAdvance,
  scheduleGet,
  scheduleGetForUpdate,
  scheduleLock,
} from '../db/queries/schedules.js';
import { TandemError } from '../errors.js';
import { formatIssues, validate } from '../schema.js';
import type { AnyTask } from '../task.js';
import type { EnqueueOptions, Logger } from '../types.js';

/**
 * A periodic task. Each tick enqueues `task` once, however many workers run.
 * Every worker that has the schedule fires it (the leader is not needed):
 * a deployment that defines a schedule runs it, whoever leads.
 */
export interface Schedule {
  /** Unique schedule name; also part of each tick's idempotency key. */
  name: string;
  /** Cron pattern (5 fields, or 6 with seconds), e.g. `'0 * * * *'`. */
  cron: string;
  /** IANA time zone the pattern is read in. Default UTC. */
  timezone?: string;
  task: AnyTask | string;
  payload?: unknown;
  options?: Omit<EnqueueOptions, 'key' | 'runAt' | 'delay'>;
  /** Enqueue the ticks missed while no worker ran (the newest 1,000 at most). Default false: only ticks of the last minute. */
  catchUp?: boolean;
}

/** Without catch-up, ticks older than this are skipped; younger ones still fire after a leader change. */
const GRACE_MS = 60_000;
const MAX_TICKS = 1_000;
/** How often each worker records its schedules' definitions, for operators to list. */
const DEFINE_EVERY_MS = 60_000;

interface Compiled {
  schedule: Schedule;
  cron: Cron;
}

/**
 * Fires due cron ticks of one worker's schedules. Each tick is enqueued with
 * the key `cron:<schedule>:<tick ISO time>`, so two workers firing at once
 * still make one task; the last fired tick is kept in `tandem.schedules`, so
 * a restarted fleet continues where it stopped.
 */
export class CronScheduler {
  private readonly compiled: Compiled[];
  private definedAt = 0;

  constructor(
    private readonly client: TandemClient,
    schedules: readonly Schedule[],
    private readonly logger: Logger,
  ) {
    const names = new Set<string>();
    this.compiled = schedules.map((s) => {
      const fail = (msg: string) =>
        new TandemError('INVALID_OPTIONS', `schedule ${JSON.stringify(s.name)}: ${msg}`);
      if (typeof s.name !== 'string' || s.name.length === 0)
        throw fail('name must be a non-empty string');
      if (names.has(s.name)) throw fail('two schedules have this name; names must be unique');
      names.add(s.name);
      let cron: Cron;
      try {
        cron = new Cron(s.cron, { timezone: s.timezone ?? 'UTC', paused: true });
      } catch (err) {
        throw fail(`invalid cron pattern ${JSON.stringify(s.cron)}: ${(err as Error).message}`);
      }
      const taskName = typeof s.task === 'string' ? s.task : s.task?.name;
      const def = client.taskDefinitions.get(taskName);
      if (!def)
        throw fail(
          `unknown task ${JSON.stringify(taskName)}; register it in createTandem({ tasks })`,
        );
      const parsed = validate(def.schema, s.payload ?? {});
      if (!parsed.ok)
        throw fail(
          `payload does not match the schema of ${def.name}: ${formatIssues(parsed.issues)}`,
        );
      return { schedule: s, cron };
    });
  }

  get size(): number {
    return this.compiled.length;
  }

  /**
   * Fires every due tick of this worker's schedules. Reads first; when a
   * tick is due, fires inside one transaction that holds Tandem's cron lock,
   * so that workers sharing these schedules do the work once (the tick's
   * key would make a second enqueue a no-op anyway).
   */
  async tick(now = new Date()): Promise<number> {
    if (this.compiled.length === 0) return 0;
    if (Date.now() - this.definedAt >= DEFINE_EVERY_MS) await this.define();
    const names = this.compiled.map((c) => c.schedule.name);
    const rows = await this.client.sql.query<{ name: string; last_tick: Date }>(scheduleGet, [
      names,
    ]);
    const last = new Map(rows.map((r) => [r.name, r.last_tick]));
    const due = this.compiled.filter(({ schedule, cron }) => {
      const from = last.get(schedule.name);
      if (!from) return true;
      const next = cron.nextRun(from);
      return next !== null && next <= now;
    });
    if (due.length === 0) return 0;
    return this.inTransaction(async (exec) => {
      const q = toQueryable(exec);
      const [lock] = await q.query<{ ok: boolean }>(scheduleLock);
      if (!lock?.ok) return 0;
      const fresh = new Map(
        (await q.query<{ name: string; last_tick: Date }>(scheduleGetForUpdate, [names])).map(
          (r) => [r.name, r.last_tick],
        ),
      );
      let fired = 0;
      for (const { schedule, cron } of due) {
        const from = fresh.get(schedule.name);
        if (!from) {
          // A new schedule starts now; it does not fire for the past.
          await q.query(scheduleAdvance, [schedule.name, now]);
          continue;
        }
        const ticks = dueTicks(cron, from, now, schedule.catchUp === true);
        if (ticks.length === 0) continue;
        await this.client.enqueueMany(
          exec,
          ticks.map((t) => ({
            task: schedule.task,
            payload: schedule.payload ?? {},
            options: { ...schedule.options, key: `cron:${schedule.name}:${t.toISOString()}` },
          })),
        );
        await q.query(scheduleAdvance, [schedule.name, ticks[ticks.length - 1]]);
        fired += ticks.length;
        this.logger.debug({ schedule: schedule.name, ticks: ticks.length }, 'cron fired');
      }
      return fired;
    });
  }

  /** Records each schedule's pattern, time zone and task, so operators can list them. */
  private async define(): Promise<void> {
    for (const { schedule: s } of this.compiled) {
      const task = typeof s.task === 'string' ? s.task : s.task.name;
      await this.client.sql.query(scheduleDefine, [s.name, s.cron, s.timezone ?? 'UTC', task]);
    }
    this.definedAt = Date.now();
  }

  private async inTransaction<T>(fn: (exec: unknown) => Promise<T>): Promise<T> {
    const pool = this.client.pool;
    if (!pool) return this.client.db.transaction().execute((trx) => fn(trx));
    const conn = await pool.connect();
    try {
      await conn.query('begin');
      const out = await fn(conn);
      await conn.query('commit');
      return out;
    } catch (err) {
      await conn.query('rollback').catch(() => {});
      throw err;
    } finally {
      conn.release();
    }
  }
}

/**
 * The ticks to fire after `from`, up to `now`, oldest first. Without
 * catch-up only those of the last minute; with it at most the newest
 * MAX_TICKS, found without walking every tick of a long outage.
 */
export function dueTicks(cron: Cron, from: Date, now: Date, catchUp: boolean): Date[] {
  const lower = catchUp ? from : new Date(Math.max(from.getTime(), now.getTime() - GRACE_MS));
  const ticks: Date[] = [];
  for (let t = cron.nextRun(lower); t && t <= now; t = cron.nextRun(t)) {
    if (ticks.length === MAX_TICKS) {
      // More were missed than catch-up fires: the newest MAX_TICKS.
      return cron
        .previousRuns(MAX_TICKS, new Date(now.getTime() + 1))
        .filter((p) => p > from)
        .reverse();
    }
    ticks.push(t);
  }
  return ticks;
}
