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

/**
 * One leader among all workers: a lease row in `tandem.leader`, renewed every
 * half second, taken over when it expires or when its holder is dead (its
 * liveness lock gone: a killed leader is replaced within a second), handed
 * over on stop. The leader runs the duties: rescuer, cron, pruner.
 */
export class Leader {
  private leading = false;
  private lastElect = 0;
  private readonly lastRun = new Map<string, number>();
  private readonly failing = new Set<string>();

  constructor(
    private readonly sql: Queryable,
    private readonly id: () => string,
    private readonly workerLeaseMs: number,
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
        async () => {
          const rows = await this.sql.query(leaderElect, [
            this.id(),
            LEASE_TTL_MS,
            this.workerLeaseMs,
          ]);
          return rows.length > 0;
        },
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

  async resign(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    await this.sql.query(leaderResign, [this.id()]).catch(() => {});
  }
}
