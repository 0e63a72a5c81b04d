import type pg from 'pg';
import { taskOrphanOwners, taskRescue } from '../db/queries/tasks.js';
import { workerDeleteDead, workerListDead, workerMarkLocks } from '../db/queries/workers.js';
import type { Logger } from '../types.js';

/** Running tasks of unregistered owners are looked for this often (a full index scan). */
const ORPHANS_EVERY_MS = 30_000;

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
  private lastOrphans = 0;

  constructor(
    private readonly self: () => string,
    private readonly logger: Logger,
  ) {}

  async pass(conn: pg.ClientBase, now = Date.now()): Promise<number> {
    await conn.query(workerMarkLocks);
    const dead = (await conn.query<{ id: string }>(workerListDead, [this.self()])).rows.map(
      (r) => r.id,
    );
    const owners = [...dead];
    if (now - this.lastOrphans >= ORPHANS_EVERY_MS) {
      this.lastOrphans = now;
      for (const r of (await conn.query<{ owner: string }>(taskOrphanOwners)).rows)
        if (r.owner !== this.self()) owners.push(r.owner);
    }
    if (owners.length === 0) return 0;
    const rescued = (await conn.query<{ id: string; queue: string }>(taskRescue, [owners])).rows;
    const gone = dead.length
      ? (await conn.query<{ id: string }>(workerDeleteDead, [dead])).rows.map((w) => w.id)
      : [];
    if (rescued.length > 0) {
      const queues = [...new Set(rescued.map((r) => r.queue))];
      await conn.query(`select pg_notify('tandem_wake', q) from unnest($1::text[]) q`, [queues]);
      this.logger.warn({ tasks: rescued.length, workers: owners }, 'rescued tasks of dead workers');
    } else if (gone.length > 0) {
      this.logger.info({ workers: gone }, 'removed dead workers');
    }
    return rescued.length;
  }
}
