/** Statements on `tandem.queues`. */

/** Pauses queue $1 and tells listening workers (at commit). */
export const queuePause = `
with paused as (
  insert into tandem.queues (name, paused, paused_at) values ($1, true, now())
  on conflict (name) do update set paused = true, paused_at = now()
  returning name
)
select pg_notify('tandem_pause', name) from paused`;

/** Resumes queue $1 and tells listening workers (at commit). */
export const queueResume = `
with resumed as (
  insert into tandem.queues (name, paused, paused_at) values ($1, false, null)
  on conflict (name) do update set paused = false, paused_at = null
  returning name
)
select pg_notify('tandem_resume', name), pg_notify('tandem_wake', name) from resumed`;

/**
 * Queues with live counts and the run_at of their oldest runnable task.
 * Everything comes from the runnable and running partial indexes only, so
 * this stays cheap however much history is kept.
 */
export const queueList = `
with live as (
  select queue, state, run_at from tandem.tasks where state in ('queued', 'retrying')
  union all
  select queue, state, null from tandem.tasks where state = 'running'
),
counts as (
  select queue,
         count(*) filter (where state = 'queued')   as queued,
         count(*) filter (where state = 'running')  as running,
         count(*) filter (where state = 'retrying') as retrying,
         min(run_at) filter (where run_at <= now()) as oldest_runnable_at
    from live group by queue
)
select coalesce(c.queue, p.name) as name, coalesce(p.paused, false) as paused, p.paused_at,
       coalesce(c.queued, 0) as queued, coalesce(c.running, 0) as running, coalesce(c.retrying, 0) as retrying,
       c.oldest_runnable_at
  from counts c
  full join tandem.queues p on p.name = c.queue
 order by 1`;
