import type { Queryable } from '../db/executor.js';
import { taskRescue } from '../db/queries/tasks.js';
import { workerDeleteDead } from '../db/queries/workers.js';
import type { Logger } from '../types.js';

/**
 * Leader duty: makes the running tasks of dead workers runnable again and
 * forgets those workers. A worker is dead when its liveness lock is free
 * (killed: noticed on the next pass, a fraction of a second) or its
 * heartbeat is older than the lease (frozen or partitioned).
 */
export async function rescue(sql: Queryable, leaseMs: number, logger: Logger): Promise<number> {
  const rescued = await sql.query<{ id: string; queue: string }>(taskRescue, [leaseMs]);
  const gone = await sql.query<{ id: string }>(workerDeleteDead, [leaseMs]);
  if (rescued.length > 0) {
    const queues = [...new Set(rescued.map((r) => r.queue))];
    await sql.query(`select pg_notify('tandem_wake', q) from unnest($1::text[]) q`, [queues]);
    logger.warn(
      { tasks: rescued.length, workers: gone.map((w) => w.id) },
      'rescued tasks of dead workers',
    );
  } else if (gone.length > 0) {
    logger.info({ workers: gone.map((w) => w.id) }, 'removed dead workers');
  }
  return rescued.length;
}
