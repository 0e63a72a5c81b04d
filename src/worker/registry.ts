import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Queryable } from '../db/executor.js';
import {
  workerDeregister,
  workerHeartbeat,
  workerLock,
  workerNextLockKey,
  workerReattach,
  workerRegister,
  workerUnlock,
} from '../db/queries/workers.js';

const newId = () => `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

/**
 * This worker's entry in `tandem.workers` and its liveness lock. The lock is
 * taken before the row is written, so a row without a held lock always means
 * a dead worker.
 */
export class Registry {
  id = newId();
  private lockKey: number | null = null;

  constructor(private readonly queues: Record<string, number>) {}

  /**
   * Called on each (re)connection of the control connection. Returns false
   * when this worker had been declared dead meanwhile: it then registers
   * under a new id, and the caller must drop everything it held.
   */
  async attach(conn: pg.ClientBase): Promise<boolean> {
    if (this.lockKey === null) {
      await this.register(conn);
      return true;
    }
    await conn.query(workerLock, [this.lockKey]);
    if ((await conn.query(workerReattach, [this.id])).rows.length > 0) return true;
    await this.reregister(conn);
    return false;
  }

  /** After being declared dead: let go of the old identity and register anew. */
  async reregister(conn: pg.ClientBase): Promise<void> {
    if (this.lockKey !== null) await conn.query(workerUnlock, [this.lockKey]);
    this.id = newId();
    await this.register(conn);
  }

  private async register(conn: pg.ClientBase): Promise<void> {
    const { rows } = await conn.query<{ key: number }>(workerNextLockKey);
    this.lockKey = rows[0]!.key;
    await conn.query(workerLock, [this.lockKey]);
    await conn.query(workerRegister, [
      this.id,
      hostname(),
      process.pid,
      JSON.stringify(this.queues),
      this.lockKey,
    ]);
  }

  /** False when this worker was declared dead (its row is gone). */
  async heartbeat(sql: Queryable): Promise<boolean> {
    return (await sql.query(workerHeartbeat, [this.id])).length > 0;
  }

  async deregister(sql: Queryable): Promise<void> {
    await sql.query(workerDeregister, [this.id]);
  }
}
