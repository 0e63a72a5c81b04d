/** Read-only views of the fleet for operators: workers and schedules. */

/**
 * Registered workers with their running count (through the running partial
 * index), whether each holds the leader lease, and whether it is alive (its
 * heartbeat within its own lease, its liveness lock not seen free past the
 * grace).
 */
export const workerList = `
with dead as (select tandem.dead_workers() as id),
running as (
  select owner, count(*)::int as n from tandem.tasks where state = 'running' group by owner
)
select w.id, w.host, w.pid, w.queues, w.started_at, w.heartbeat_at, w.lease_ms,
       coalesce(l.holder = w.id and l.expires_at > now(), false) as leader,
       coalesce(r.n, 0) as running,
       not exists (select 1 from dead where dead.id = w.id) as alive
  from tandem.workers w
  left join tandem.leader l on true
  left join running r on r.owner = w.id
 order by w.started_at, w.id`;

export const scheduleList = `
select name, cron, timezone, task, last_tick, defined_at
  from tandem.schedules order by name`;

/** A worker records a schedule's definition; a new one starts from now. */
export const scheduleDefine = `
insert into tandem.schedules (name, last_tick, cron, timezone, task, defined_at)
values ($1, now(), $2, $3, $4, now())
on conflict (name) do update
   set cron = excluded.cron, timezone = excluded.timezone, task = excluded.task,
       defined_at = excluded.defined_at`;
