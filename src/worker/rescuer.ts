import type pg from 'pg';
import { type Queryable, toQueryable } from '../db/executor.js';
import { taskOrphanOwners, taskRescue } from '../db/queries/tasks.js';
import { workerDeleteDead, workerListDead, workerMarkLocks } from '../db/queries/workers.js';
import type { Logger } from '../types.js';

/** Running tasks of unregistered owners are looked for this often (a full index scan). */
export const ORPHANS_EVERY_MS = 30_000;

/**
 * Leader duty: makes the running tasks of dead workers runnable again and
 * forgets those workers. A worker is dead when its liveness lock has been
 * seen free for the grace period (killed: noticed within seconds; a blip or
 * a server crash-restart that it survives is not a death) or its heartbeat
 * is older than its own lease (frozen or partitioned). A pass costs a look
 * at the lock table and the small workers table; the tasks table is read
 * only for workers found dead. The rescuer never judges its own worker.
 */
export class Rescuer {
  private orphaning: Promise<void> | null = null;

  constructor(
    private readonly self: () => string,
    private readonly logger: Logger,
  ) {}

  /** On the control connection: a pool full of handlers does not delay a rescue. */
  async pass(conn: pg.ClientBase): Promise<number> {
    await conn.query(workerMarkLocks);
    const dead = (await conn.query<{ id: string }>(workerListDead, [this.self()])).rows.map(
      (r) => r.id,
    );
    if (dead.length === 0) return 0;
    const rescued = await this.rescue(toQueryable(conn), dead);
    const gone = (await conn.query<{ id: string }>(workerDeleteDead, [dead])).rows.map((w) => w.id);
    if (rescued === 0 && gone.length > 0)
      this.logger.info({ workers: gone }, 'removed dead workers');
    return rescued;
  }

  /**
   * Running tasks of owners not registered at all (their row was removed by
   * hand, or by a rescuer that then lost its transaction). It reads every
   * entry of the running index, which under a pinned horizon holds one for
   * each claim since the pin began: so it runs on a pooled connection,
   * never between a worker's claims, and the leader's other duties do not
   * wait for it (`pokeOrphans`).
   */
  pokeOrphans(sql: Queryable): void {
    this.orphaning ??= this.orphans(sql)
      .then(() => {})
      .catch((err) => this.logger.error({ err }, 'orphan rescue failed; retrying later'))
      .finally(() => {
        this.orphaning = null;
      });
  }

  /** Resolves when no orphan rescue runs. */
  async idle(): Promise<void> {
    await this.orphaning;
  }

  async orphans(sql: Queryable): Promise<number> {
    const owners = (await sql.query<{ owner: string }>(taskOrphanOwners))
      .map((r) => r.owner)
      .filter((o) => o !== this.self());
    return owners.length === 0 ? 0 : this.rescue(sql, owners);
  }

  private async rescue(sql: Queryable, owners: string[]): Promise<number> {
    const rescued = await sql.query<{ id: string; queue: string }>(taskRescue, [owners]);
    if (rescued.length === 0) return 0;
    const queues = [...new Set(rescued.map((r) => r.queue))];
    await sql.query(`select pg_notify('tandem_wake', q) from unnest($1::text[]) q`, [queues]);
    this.logger.warn({ tasks: rescued.length, workers: owners }, 'rescued tasks of dead workers');
    return rescued.length;
  }
}
