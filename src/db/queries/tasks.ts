/**
 * Every statement Tandem runs against `tandem.tasks`, named noun-first.
 * Hot paths are hand-written so they can be read and EXPLAINed as they are.
 */

/**
 * Inserts one task through `tandem.insert_task` (sql/000001_init.sql):
 * name, queue, payload, key, priority, max_attempts, run_at, delay_ms,
 * timeout_ms, metadata, wake. Yields the new id, or null for a taken key.
 */
export const taskInsert =
  'select tandem.insert_task($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)::text as id';

/**
 * Inserts a batch in one round trip through `tandem.insert_tasks` (see
 * sql/000001_init.sql): $1 payloads as a JSON array, $2 queues to wake,
 * $3 the columns shared by the whole batch, then the other columns as
 * parallel arrays and $12 metadata as a JSON array.
 */
export const taskInsertMany =
  'select first_id::text, inserted, ids, keyed from tandem.insert_tasks($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)';

/** Existing tasks for (key, name) pairs: the duplicates of an insert. */
export const taskFindByKeys = `
select t.id::text as id, t.key, t.name, t.state
  from tandem.tasks t
  join unnest($1::text[], $2::text[]) as k(key, name) on t.key = k.key and t.name = k.name`;

export const taskGet = 'select * from tandem.tasks where id = $1';

/**
 * The worker's one statement per round trip: settle the outcomes of finished
 * attempts (parallel arrays $2, $6…$11: id, attempt, state, result JSON,
 * delay, error JSON, undo) and claim up to $4[i] runnable tasks from each
 * queue $3[i] for owner $1, only of task names in $5 (a worker leaves names
 * it has no handler for to workers that do). Settling is guarded: only rows still running
 * under this owner and attempt change, so a worker that was declared dead can
 * never overwrite what happened after. Claiming skips locked rows and paused
 * queues, lowest priority value first, then run_at, then id. Both updates
 * find their rows through `id = any(array)`: a join against the CTE would
 * let the planner hash-join a sequential scan of the whole table.
 */
export const taskSettleAndClaim = `
with settled as (
  update tandem.tasks t set
    state = s.state,
    result = nullif(s.result::jsonb, 'null'),
    attempt = t.attempt - (case when s.undo then 1 else 0 end),
    run_at = case when s.delay_ms is null then t.run_at
                  else now() + s.delay_ms * interval '1 millisecond' end,
    started_at = case when s.undo then null else t.started_at end,
    finished_at = case when s.state in ('succeeded', 'failed', 'cancelled') then now() end,
    errors = case when s.error::jsonb = 'null' then t.errors else t.errors || jsonb_build_array(s.error::jsonb) end,
    owner = null
  from rows from (
    unnest($2::bigint[]), unnest($6::integer[]), unnest($7::text[]), json_array_elements($8::json),
    unnest($9::bigint[]), json_array_elements($10::json), unnest($11::boolean[])
  ) as s(id, attempt, state, result, delay_ms, error, undo)
  where t.id = any($2::bigint[]) and t.id = s.id
    and t.attempt = s.attempt and t.owner = $1 and t.state = 'running'
  returning t.id
),
claimable as (
  select c.id
    from unnest($3::text[], $4::integer[]) as q(queue, n)
    cross join lateral (
      select id from tandem.tasks
       where queue = q.queue and state in ('queued', 'retrying') and run_at <= now()
         and name = any($5::text[])
       order by priority, run_at, id
       limit q.n
       for update skip locked
    ) c
   where q.n > 0
     and not exists (select 1 from tandem.queues p where p.name = q.queue and p.paused)
),
claimed as (
  update tandem.tasks t
     set state = 'running', attempt = t.attempt + 1, started_at = now(), owner = $1
   where t.id = any(array(select id from claimable))
  returning t.id, t.name, t.queue, t.payload, t.key, t.attempt, t.max_attempts,
            t.timeout_ms, t.metadata, t.priority, t.run_at
)
-- RETURNING has no order: hand tasks over in claim order.
select id::text as id, name, queue, payload, key, attempt, max_attempts, timeout_ms, metadata,
       date_part('epoch', now() - run_at) * 1000 as lag_ms
  from claimed
 order by priority, run_at, id`;

/**
 * First statement of a transactional task's transaction: lock the task row
 * if this worker still holds this attempt. While the lock is held no rescuer
 * or second worker can touch the task, so the handler's writes and the
 * completion commit together or not at all.
 */
export const taskLockHeld = `
select 1 from tandem.tasks
 where id = $1 and attempt = $2 and owner = $3 and state = 'running'
   for update`;

/** Last statement of a transactional task's transaction. */
export const taskSucceedHeld = `
update tandem.tasks
   set state = 'succeeded', result = $4::jsonb, finished_at = now(), owner = null
 where id = $1 and attempt = $2 and owner = $3 and state = 'running'`;

/** Cancel a task that is not running. */
export const taskCancelWaiting = `
update tandem.tasks set state = 'cancelled', finished_at = now()
 where id = $1 and state in ('queued', 'retrying')
returning id`;

/** Cancel a running task (after its worker was told to abort it). */
export const taskCancelRunning = `
update tandem.tasks set state = 'cancelled', finished_at = now(), owner = null
 where id = $1 and state = 'running'
returning id`;

export const taskNotifyCancel = `select pg_notify('tandem_cancel', $1::text)`;

/** Run a finished task once more: one extra attempt, now. */
export const taskRetry = `
update tandem.tasks
   set state = 'queued', run_at = now(), finished_at = null, result = null,
       max_attempts = greatest(max_attempts, attempt + 1)
 where id = $1 and state in ('failed', 'cancelled', 'succeeded')
returning id, queue`;

export const taskDelete = `
delete from tandem.tasks where id = $1 and state <> 'running' returning id`;

/**
 * Ends a running attempt that was lost (its worker died, or its outcome
 * went with a dropped connection): counted against max_attempts, recorded
 * in `errors` as a WorkerLostError with `message` (an SQL expression), and
 * the task runnable again at once, or failed if that was its last attempt.
 */
const loseAttempt = (message: string) => `
  state = case when t.attempt >= t.max_attempts then 'failed' else 'retrying' end,
  finished_at = case when t.attempt >= t.max_attempts then now() end,
  run_at = now(),
  errors = t.errors || jsonb_build_array(jsonb_build_object(
    'attempt', t.attempt, 'at', now(), 'name', 'WorkerLostError', 'worker', t.owner,
    'message', ${message})),
  owner = null`;

/**
 * Rescue: running tasks whose worker is dead (or unknown) become runnable
 * at once. Rows locked by a live transaction are skipped and retried on the
 * next pass.
 */
export const taskRescue = `
with lost as (
  select t.id from tandem.tasks t
   where t.state = 'running'
     and (t.owner in (select tandem.dead_workers($1 * interval '1 millisecond'))
          or not exists (select 1 from tandem.workers w where w.id = t.owner))
   for update of t skip locked
)
update tandem.tasks t set${loseAttempt("'worker lost: ' || t.owner || ' died or stopped responding while running this attempt'")}
from lost where t.id = lost.id
returning t.id::text as id, t.queue`;

/** After a worker reconnects: its running tasks that it no longer holds ($2). */
export const taskReleaseLost = `
update tandem.tasks t set${loseAttempt("'the outcome of this attempt was lost with the database connection'")}
 where t.owner = $1 and t.state = 'running' and t.id <> all($2::bigint[])
returning t.id`;

/** One bounded batch of retention pruning for one terminal state. */
export const taskPrune = `
with gone as (
  delete from tandem.tasks
   where id in (select id from tandem.tasks
                 where finished_at < now() - $2 * interval '1 millisecond' and state = $1
                 limit $3)
  returning 1
)
select count(*)::int as n from gone`;
