import { Cron } from 'croner';
import type { TandemClient } from '../client/client.js';
import { toQueryable } from '../db/executor.js';
import { scheduleAdvance, scheduleGet } from '../db/queries/schedules.js';
import { TandemError } from '../errors.js';
import { formatIssues, validate } from '../schema.js';
import type { AnyTask } from '../task.js';
import type { EnqueueOptions, Logger } from '../types.js';

/** A periodic task. Each tick enqueues `task` once, however many workers run. */
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
  /** Enqueue every tick missed while no worker ran (up to 1,000). Default false: only ticks of the last minute. */
  catchUp?: boolean;
}

/** Without catch-up, ticks older than this are skipped; younger ones still fire after a leader change. */
const GRACE_MS = 60_000;
const MAX_TICKS = 1_000;

interface Compiled {
  schedule: Schedule;
  cron: Cron;
}

/**
 * Leader duty: fires due cron ticks. Each tick is enqueued with the key
 * `cron:<schedule>:<tick ISO time>`, so two leaders overlapping for a moment
 * still make one task; the last fired tick is kept in `tandem.schedules`, so
 * a new leader continues where the last stopped.
 */
export class CronScheduler {
  private readonly compiled: Compiled[];

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

  /** Fires every due tick. */
  async tick(now = new Date()): Promise<number> {
    if (this.compiled.length === 0) return 0;
    const rows = await this.client.sql.query<{ name: string; last_tick: Date }>(scheduleGet, [
      this.compiled.map((c) => c.schedule.name),
    ]);
    const last = new Map(rows.map((r) => [r.name, r.last_tick]));
    let fired = 0;
    for (const { schedule, cron } of this.compiled) {
      const from = last.get(schedule.name);
      if (!from) {
        // A new schedule starts now; it does not fire for the past.
        await this.client.sql.query(scheduleAdvance, [schedule.name, now]);
        continue;
      }
      const ticks: Date[] = [];
      for (
        let t = cron.nextRun(from);
        t && t <= now && ticks.length < MAX_TICKS;
        t = cron.nextRun(t)
      )
        ticks.push(t);
      if (ticks.length === 0) continue;
      const due = schedule.catchUp
        ? ticks
        : ticks.filter((t) => now.getTime() - t.getTime() <= GRACE_MS);
      await this.fire(schedule, due, ticks[ticks.length - 1]!);
      fired += due.length;
    }
    return fired;
  }

  private async fire(s: Schedule, ticks: Date[], upTo: Date): Promise<void> {
    const pool = this.client.pool;
    const run = async (exec: unknown) => {
      if (ticks.length > 0) {
        await this.client.enqueueMany(
          exec,
          ticks.map((t) => ({
            task: s.task,
            payload: s.payload ?? {},
            options: { ...s.options, key: `cron:${s.name}:${t.toISOString()}` },
          })),
        );
      }
      await toQueryable(exec).query(scheduleAdvance, [s.name, upTo]);
    };
    if (pool) {
      const conn = await pool.connect();
      try {
        await conn.query('begin');
        await run(conn);
        await conn.query('commit');
      } catch (err) {
        await conn.query('rollback').catch(() => {});
        throw err;
      } finally {
        conn.release();
      }
    } else {
      await this.client.db.transaction().execute((trx) => run(trx));
    }
    if (ticks.length > 0)
      this.logger.debug({ schedule: s.name, ticks: ticks.length }, 'cron fired');
  }
}
