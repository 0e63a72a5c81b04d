/**
 * The one place where the library's camelCase records become the API's
 * snake_case JSON. User data (payload, result, metadata) passes unchanged.
 */
import type { QueueSummary } from '../client/client.js';
import type { FailureGroup } from '../client/failures.js';
import type { ScheduleInfo, WorkerInfo } from '../client/fleet.js';
import type { OperatorAction } from '../client/operator-log.js';
import type { RelayStatus } from '../client/relay-status.js';
import type { Stats, StatsPoint } from '../client/stats.js';
import type { TaskFilter } from '../client/task-filter.js';
import type { TaskRecord } from '../types.js';

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

export function taskJson(t: TaskRecord) {
  const last = t.errors.length > 0 ? t.errors[t.errors.length - 1]! : null;
  return {
    id: t.id,
    name: t.name,
    queue: t.queue,
    status: t.state,
    payload: t.payload,
    result: t.result,
    error: t.state === 'failed' || t.state === 'retrying' ? last : null,
    errors: t.errors,
    attempt: t.attempt,
    max_attempts: t.maxAttempts,
    key: t.key,
    priority: t.priority,
    created_at: iso(t.createdAt)!,
    run_at: iso(t.runAt)!,
    started_at: iso(t.startedAt),
    finished_at: iso(t.finishedAt),
    timeout_ms: t.timeoutMs,
    worker: t.owner,
    metadata: t.metadata,
  };
}

export function queueJson(q: QueueSummary, now = Date.now()) {
  return {
    name: q.name,
    paused: q.paused,
    paused_at: iso(q.pausedAt),
    counts: { queued: q.queued, running: q.running, retrying: q.retrying },
    oldest_runnable_at: iso(q.oldestRunnableAt),
    oldest_runnable_age_ms: q.oldestRunnableAt
      ? Math.max(0, now - q.oldestRunnableAt.getTime())
      : null,
  };
}

export function workerJson(w: WorkerInfo) {
  return {
    id: w.id,
    host: w.host,
    pid: w.pid,
    queues: w.queues,
    started_at: iso(w.startedAt)!,
    heartbeat_at: iso(w.heartbeatAt)!,
    lease_ms: w.leaseMs,
    leader: w.leader,
    running: w.running,
    alive: w.alive,
  };
}

export function scheduleJson(s: ScheduleInfo) {
  return {
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    task: s.task,
    last_tick: iso(s.lastTick)!,
    next_tick: iso(s.nextTick),
    defined_at: iso(s.definedAt),
  };
}

function pointJson(p: StatsPoint) {
  return {
    at: iso(p.at)!,
    succeeded: p.succeeded,
    failed: p.failed,
    retried: p.retried,
    run_p50_ms: p.runP50Ms,
    run_p95_ms: p.runP95Ms,
    lag_p95_ms: p.lagP95Ms,
  };
}

export function statsJson(s: Stats) {
  return {
    from: iso(s.from)!,
    to: iso(s.to)!,
    step_ms: s.stepMs,
    window_ms: s.windowMs,
    series: s.series.map((x) => ({
      queue: x.queue,
      name: x.name,
      points: x.points.map(pointJson),
      totals: pointJson(x.totals),
    })),
    total: { points: s.total.points.map(pointJson), totals: pointJson(s.total.totals) },
    depth: s.depth.map((d) => ({
      queue: d.queue,
      queued: d.queued,
      retrying: d.retrying,
      running: d.running,
      oldest_runnable_at: iso(d.oldestRunnableAt),
    })),
  };
}

/** A library filter as the API's JSON filter (the inverse of filters.ts). */
export function filterJson(f: TaskFilter) {
  return {
    ...(f.states && { status: [...f.states] }),
    ...(f.name !== undefined && { name: f.name }),
    ...(f.queue !== undefined && { queue: f.queue }),
    ...(f.key !== undefined && { key: f.key }),
    ...(f.keyPrefix !== undefined && { key_prefix: f.keyPrefix }),
    ...(f.payloadContains !== undefined && { payload: f.payloadContains }),
    ...(f.error !== undefined && { error: f.error }),
    ...(f.lastError !== undefined && { last_error: f.lastError }),
    ...(f.createdAfter && { created_after: iso(f.createdAfter)! }),
    ...(f.createdBefore && { created_before: iso(f.createdBefore)! }),
    ...(f.finishedAfter && { finished_after: iso(f.finishedAfter)! }),
    ...(f.finishedBefore && { finished_before: iso(f.finishedBefore)! }),
  };
}

export function failureGroupJson(g: FailureGroup) {
  return {
    name: g.name,
    error_name: g.errorName,
    message: g.message,
    count: g.count,
    first_seen: iso(g.firstSeen)!,
    last_seen: iso(g.lastSeen)!,
    sample_id: g.sampleId,
    sample_payload: g.samplePayload,
    filter: filterJson(g.filter),
  };
}

export function operatorActionJson(a: OperatorAction) {
  return {
    id: a.id,
    at: iso(a.at)!,
    actor: a.actor,
    action: a.action,
    target: a.target,
    task_ids: a.taskIds,
    affected: a.affected,
    request: a.request,
  };
}

export function relayStatusJson(r: RelayStatus) {
  return {
    prefix: r.prefix,
    destinations: r.destinations.map((d) => ({
      destination: d.destination,
      backlog: d.backlog,
      oldest_at: iso(d.oldestAt),
      oldest_age_seconds: d.oldestAgeSeconds,
      head: d.head && {
        id: d.head.id,
        attempts: d.head.attempts,
        last_error: d.head.lastError,
        last_attempt_at: iso(d.head.lastAttemptAt),
      },
      holder: d.holder,
      held_since: iso(d.heldSince),
      published: d.published,
      published_at: iso(d.publishedAt),
    })),
  };
}
