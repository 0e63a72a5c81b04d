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
  /** Holds the leader lease (runs the rescuer, cron and the pruner). */
  leader: boolean;
  /** Tasks it runs now. */
  running: number;
  /** Its liveness lock is held and its heartbeat within the lease; false: about to be rescued. */
  alive: boolean;
}

/** A cron schedule as the leader last recorded it. */
export interface ScheduleInfo {
  name: string;
  /** Null for a schedule whose leader ran a Tandem version that did not record definitions. */
  cron: string | null;
  timezone: string | null;
  task: string | null;
  /** The last tick that fired (or when the schedule was first seen). */
  lastTick: Date;
  /** The next tick after lastTick, from the pattern and time zone. */
  nextTick: Date | null;
  /** When a leader last recorded this definition. */
  definedAt: Date | null;
}

/** Lease used to judge heartbeats when listing workers (the workers' default). */
const DEFAULT_LEASE_MS = 30_000;

export async function listWorkers(
  sql: Queryable,
  leaseMs = DEFAULT_LEASE_MS,
): Promise<WorkerInfo[]> {
  const rows = await sql.query<any>(workerList, [leaseMs]);
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    pid: r.pid,
    queues: r.queues,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
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
