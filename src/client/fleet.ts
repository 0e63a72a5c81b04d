import { Cron } from 'croner';
import type { Queryable } from '../db/executor.js';
import { scheduleList, workerList } from '../db/queries/fleet.js';

/** A worker process as `tandem.workers` records it. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  /** Queue name → concurrency. */
  queues: Record<string, number>;
  startedAt: Date;
  heartbeatAt: Date;
  /** Its heartbeat lease, ms: it counts as dead once its heartbeat is older. */
  leaseMs: number;
  /** Holds the leader lease (runs the rescuer and the pruner). */
  leader: boolean;
  /** Tasks it runs now. */
  running: number;
  /** Its heartbeat is within its lease and its liveness lock not lost past the grace; false: about to be rescued. */
  alive: boolean;
}

/** A cron schedule as the workers that fire it last recorded it. */
export interface ScheduleInfo {
  name: string;
  /** Null until a worker that has the schedule records its definition. */
  cron: string | null;
  timezone: string | null;
  task: string | null;
  /** The last tick that fired (or when the schedule was first seen). */
  lastTick: Date;
  /** The next tick after lastTick, from the pattern and time zone. */
  nextTick: Date | null;
  /** When a worker last recorded this definition (every minute while one runs). */
  definedAt: Date | null;
}

/** Registered workers, with what each runs and whether it is alive. */
export async function listWorkers(sql: Queryable): Promise<WorkerInfo[]> {
  const rows = await sql.query<any>(workerList);
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    pid: r.pid,
    queues: r.queues,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    leaseMs: r.lease_ms,
    leader: r.leader,
    running: r.running,
    alive: r.alive,
  }));
}

export async function listSchedules(sql: Queryable): Promise<ScheduleInfo[]> {
  const rows = await sql.query<any>(scheduleList);
  return rows.map((r) => ({
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    task: r.task,
    lastTick: r.last_tick,
    nextTick: nextTick(r.cron, r.timezone, r.last_tick),
    definedAt: r.defined_at,
  }));
}

function nextTick(cron: string | null, timezone: string | null, after: Date): Date | null {
  if (!cron) return null;
  try {
    return new Cron(cron, { timezone: timezone ?? 'UTC', paused: true }).nextRun(after) ?? null;
  } catch {
    return null;
  }
}
