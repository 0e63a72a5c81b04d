import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Queryable } from '../db/executor.js';
import {
  workerBackendGone,
  workerDeregister,
  workerHeartbeat,
  workerLockHolders,
  workerNextLockKey,
  workerReattach,
  workerRegister,
  workerTerminate,
  workerTryLock,
  workerUnlock,
} from '../db/queries/workers.js';

const newId = () => `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

/** How long to wait for a half-open old session to go after terminating it. */
const OLD_SESSION_WAIT_MS = 2_000;

/** What a heartbeat learnt. */
export interface Beat {
  /** False when this worker was declared dead (its row is gone). */
  alive: boolean;
  /** Queues paused fleet-wide right now. */
  paused: string[];
}

/**
 * This worker's entry in `tandem.workers` and its liveness lock. The lock is
 * taken before the row is written, so a row without a held lock always means
 * a dead worker (or one reconnecting, which the rescuer's grace covers).
 */
export class Registry {
  id = newId();
  private lockKey: number | null = null;
  private registered = false;

  /** @param locks whether this worker has a session to hold a liveness lock in. */
  constructor(
    private readonly queues: Record<string, number>,
    private readonly leaseMs: number,
    private readonly locks = true,
  ) {}

  /**
   * Called on each (re)connection of the control connection. Returns false
   * when this worker had been declared dead meanwhile: it then registers
   * under a new id, and the caller must drop everything it held.
   */
  async attach(conn: pg.ClientBase): Promise<boolean> {
    if (!this.registered) {
      await this.register(conn);
      return true;
    }
    const key = this.lockKey === null ? null : await this.retake(conn, this.lockKey);
    if ((await conn.query(workerReattach, [this.id, key])).rows.length > 0) {
      this.lockKey = key;
      return true;
    }
    await this.reregister(conn);
    return false;
  }

  /**
   * Takes the lock `key` again. Never waits on the lock itself: a previous
   * session may survive half-open (a dead NAT or proxy) and hold it until
   * TCP keepalive ends it, hours later. That session is this worker's own,
   * so it is terminated; if the lock is still taken, a fresh key is used.
   */
  private async retake(conn: pg.ClientBase, key: number): Promise<number> {
    if (await tryLock(conn, key)) return key;
    const { rows } = await conn.query<{ pid: number }>(workerLockHolders, [key]);
    for (const { pid } of rows) {
      await conn.query(workerTerminate, [pid]).catch(() => {});
      const deadline = Date.now() + OLD_SESSION_WAIT_MS;
      while (Date.now() < deadline) {
        const gone = (await conn.query<{ gone: boolean }>(workerBackendGone, [pid])).rows[0];
        if (gone?.gone) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    if (await tryLock(conn, key)) return key;
    const fresh = await nextKey(conn);
    if (!(await tryLock(conn, fresh)))
      throw new Error(`liveness lock ${fresh} is taken by another session`);
    return fresh;
  }

  /** After being declared dead: let go of the old identity and register anew. */
  async reregister(conn: pg.ClientBase): Promise<void> {
    if (this.lockKey !== null) await conn.query(workerUnlock, [this.lockKey]);
    this.id = newId();
    await this.register(conn);
  }

  private async register(conn: pg.ClientBase): Promise<void> {
    let key: number | null = null;
    if (this.locks) {
      key = await nextKey(conn);
      if (!(await tryLock(conn, key)))
        throw new Error(`liveness lock ${key} is taken by another session`);
    }
    this.lockKey = key;
    await conn.query(workerRegister, [
      this.id,
      hostname(),
      process.pid,
      JSON.stringify(this.queues),
      key,
      this.leaseMs,
    ]);
    this.registered = true;
  }

  /** Runs on the control connection, which holds the lock: handler load cannot starve it. */
  async heartbeat(conn: pg.ClientBase): Promise<Beat> {
    const { rows } = await conn.query<{ paused: string[] }>(workerHeartbeat, [this.id]);
    return rows.length > 0
      ? { alive: true, paused: rows[0]!.paused }
      : { alive: false, paused: [] };
  }

  async deregister(sql: Queryable): Promise<void> {
    await sql.query(workerDeregister, [this.id]);
  }
}

async function tryLock(conn: pg.ClientBase, key: number): Promise<boolean> {
  return (await conn.query<{ ok: boolean }>(workerTryLock, [key])).rows[0]!.ok;
}

async function nextKey(conn: pg.ClientBase): Promise<number> {
  return (await conn.query<{ key: number }>(workerNextLockKey)).rows[0]!.key;
}
