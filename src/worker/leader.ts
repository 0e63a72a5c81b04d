import type pg from 'pg';
import type { Queryable } from '../db/executor.js';
import { leaderElect, leaderResign } from '../db/queries/workers.js';
import type { Logger } from '../types.js';

/** A periodic job that only the leader runs. */
export interface Duty {
  name: string;
  everyMs: number;
  run(): Promise<unknown>;
}

/** How often workers try to take or renew the lease. */
const ELECT_EVERY_MS = 500;
/** A leader that stops renewing (frozen) loses the lease after this long. */
const LEASE_TTL_MS = 5_000;

/** Runs a statement on the worker's control connection (not the pool handlers share). */
export type OnControl = <T>(fn: (conn: pg.ClientBase) => Promise<T>) => Promise<T>;

/**
 * One leader among all workers: a lease row in `tandem.leader`, renewed every
 * half second, taken over when it expires or when its holder is dead (its
 * liveness lock seen free past the grace, or its heartbeat older than its
 * lease), handed over on stop. Elections read first (`tandem.elect`): a
 * follower writes nothing while a live leader holds the lease. They run on
 * the control connection, so a pool full of transactional handlers cannot
 * cost the leader its lease. The leader runs the duties: rescuer and pruner.
 */
export class Leader {
  private leading = false;
  private lastElect = 0;
  private readonly lastRun = new Map<string, number>();
  private readonly failing = new Set<string>();

  constructor(
    private readonly onControl: OnControl,
    private readonly id: () => string,
    private readonly duties: Duty[],
    private readonly logger: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  async tick(now = Date.now()): Promise<void> {
    if (now - this.lastElect >= ELECT_EVERY_MS) {
      this.lastElect = now;
      const was = this.leading;
      this.leading = await this.guard(
        'election',
        () =>
          this.onControl(
            async (c) =>
              (await c.query<{ leads: boolean }>(leaderElect, [this.id(), LEASE_TTL_MS])).rows[0]!
                .leads,
          ),
        false,
      );
      if (this.leading !== was)
        this.logger.info(this.leading ? 'became leader' : 'no longer leader');
    }
    if (!this.leading) return;
    for (const duty of this.duties) {
      if (now - (this.lastRun.get(duty.name) ?? 0) < duty.everyMs) continue;
      this.lastRun.set(duty.name, now);
      await this.guard(duty.name, duty.run, undefined);
    }
  }

  /** Runs `fn`; logs its failure once per streak instead of on every tick. */
  private async guard<T>(name: string, fn: () => Promise<T>, fallback: T): Promise<T> {
    try {
      const v = await fn();
      if (this.failing.delete(name)) this.logger.info(`leader ${name} works again`);
      return v;
    } catch (err) {
      if (!this.failing.has(name)) this.logger.error({ err }, `leader ${name} failed; retrying`);
      this.failing.add(name);
      return fallback;
    }
  }

  async resign(sql: Queryable): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    await sql.query(leaderResign, [this.id()]).catch(() => {});
  }
}
