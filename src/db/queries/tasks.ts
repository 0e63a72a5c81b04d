/**
 * Every statement Tandem runs against `tandem.tasks`, named noun-first, but
 * the worker's settle-and-claim, which has a file of its own
 * (settle-and-claim.ts). Hot paths are hand-written so they can be read and
 * EXPLAINed as they are.
 */

/**
 * Inserts one task through `tandem.insert_task` (sql/000008_registry.sql):
 * name, queue, payload, key, priority, max_attempts, run_at, delay_ms,
 * timeout_ms, metadata, wake, concurrency_key, and null for the options left
 * to a missing definition (the TypeScript door always has the definition).
 * Yields the new id, or null for a taken key.
 */
export const taskInsert =
  'select tandem.insert_task($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, null)::text as id';

/**
 * Inserts a batch in one round trip through `tandem.insert_tasks` (see
 * sql/000001_init.sql and sql/000008_registry.sql): $1 payloads as a JSON
 * array, $2 queues to wake, $3 the columns shared by the whole batch, then
 * the other columns as parallel arrays, $12 metadata as a JSON array and
 * $13 the concurrency keys.
 */
export const taskInsertMany =
  'select first_id::text, inserted, ids, keyed from tandem.insert_tasks($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)';

/** Existing tasks for (key, name) pairs: the duplicates of an insert. */
export const taskFindByKeys = `
select t.id::text as id, t.key, t.name, t.state
  from tandem.tasks t
  join unnest($1::text[], $2::text[]) as k(key, name) on t.key = k.key and t.name = k.name`;

export const taskGet = 'select * from tandem.tasks where id = $1';

/** At most this many attempt errors are kept on a task: the first and the latest. */
export const ERRORS_KEPT = 25;

/**
 * Appends one attempt error (the SQL expression `error`, an object) to
 * `t.errors` with the attempt's start (`t.started_at`, set by the claim),
 * keeping the first error and the latest ones, ERRORS_KEPT in all.
 */
export const appendError = (error: string) => `
  (case when jsonb_array_length(t.errors) >= ${ERRORS_KEPT} then t.errors - 1 else t.errors end)
    || jsonb_build_array(jsonb_build_object('started_at', t.started_at) || ${error})`;

/**
 * The guard of every statement that writes a task its worker holds, found
 * by id: `state = 'running'` written so that the planner cannot use the
 * running partial index (on owner) for it. That index holds an entry for
 * every claim of the worker that vacuum has not yet removed: while a long
 * transaction pins the xmin horizon, hundreds of thousands, which a lookup
 * by owner reads in full, where one primary-key probe per id reads a few.
 * The planner, whose statistics show few running rows, would pick it.
 */
export const STILL_RUNNING = ` (t.state = 'running') is true`;

/**
 * The settle half of taskSettleAndClaim alone, for one row at a time: when
 * a batch fails on a value PostgreSQL rejects, each row is written on its
 * own so that only the bad one needs replacing. Parameters as there: $1
 * owner, then id, token, state, result JSON, delay, error JSON, undo.
 */
export const taskSettleOne = `
update tandem.tasks t set
  state = $4::text,
  result = nullif($5::jsonb, 'null'),
  attempt = t.attempt - (case when $8 then 1 else 0 end),
  run_at = case when $6::bigint is null then t.run_at
                else now() + $6::bigint * interval '1 millisecond' end,
  started_at = case when $8 then null else t.started_at end,
  finished_at = case when $4::text in ('succeeded', 'failed', 'cancelled') then now() end,
  errors = case when $7::jsonb = 'null' then t.errors else${appendError('$7::jsonb')} end,
  owner = null,
  claim_token = null
where t.id = $2 and t.owner = $1 and t.claim_token = $3 and${STILL_RUNNING}
returning t.id`;

/**
 * Of the tasks a worker holds (ids $2 with claim tokens $3), those the
 * database still shows running under it with that token. After a
 * reconnection, the others' claims were lost (a crash-restart forgets the
 * last claims written without waiting for the WAL flush) or taken from it.
 */
export const taskHeldConfirm = `
select t.id::text as id, t.claim_token::text as token
  from tandem.tasks t
  join unnest($2::bigint[], $3::bigint[]) as h(id, token) on t.id = h.id
 where t.owner = $1 and t.claim_token = h.token and${STILL_RUNNING}`;

/**
 * First statement of a transactional task's transaction: lock the task row
 * if this worker still holds this attempt. While the lock is held no rescuer
 * or second worker can touch the task, so the handler's writes and the
 * completion commit together or not at all.
 */
export const taskLockHeld = `
select 1 from tandem.tasks t
 where t.id = $1 and t.claim_token = $2 and t.owner = $3 and${STILL_RUNNING}
   for update`;

/** Last statement of a transactional task's transaction. */
export const taskSucceedHeld = `
update tandem.tasks t
   set state = 'succeeded', result = $4::jsonb, finished_at = now(), owner = null,
       claim_token = null
 where t.id = $1 and t.claim_token = $2 and t.owner = $3 and${STILL_RUNNING}`;

/** Cancel a task that is not running. */
export const taskCancelWaiting = `
update tandem.tasks set state = 'cancelled', finished_at = now()
 where id = $1 and state in ('queued', 'retrying')
returning id`;

/** Cancel a running task (after its worker was told to abort it). */
export const taskCancelRunning = `
update tandem.tasks set state = 'cancelled', finished_at = now(), owner = null, claim_token = null
 where id = $1 and state = 'running'
returning id`;

export const taskNotifyCancel = `select pg_notify('tandem_cancel', $1::text)`;

/** Run a finished task once more: one extra attempt, now. */
export const taskRetry = `
update tandem.tasks
   set state = 'queued', run_at = now(), finished_at = null, result = null, lost = 0,
       max_attempts = greatest(max_attempts, attempt + 1)
 where id = $1 and state in ('failed', 'cancelled', 'succeeded')
returning id, queue`;

export const taskDelete = `
delete from tandem.tasks where id = $1 and state <> 'running' returning id`;

/** A task lost this many times (its worker died while holding it) fails as poison. */
export const POISON_LOSSES = 3;

/**
 * Ends a running attempt that was lost (its worker died, or its outcome went
 * with a dropped connection). The attempt is given back: no one can tell
 * whether a claimed task had started, so a loss never uses up an attempt.
 * It is counted in `lost` and recorded in `errors` as a WorkerLostError with
 * `message` (an SQL expression); the task is runnable again at once after a
 * first loss, 10 s later after a second, and fails as poison (a task that
 * keeps taking its workers down) on the POISON_LOSSES-th.
 */
const loseAttempt = (message: string) => `
  state = case when t.lost + 1 >= ${POISON_LOSSES} then 'failed'
               when t.attempt > 1 then 'retrying' else 'queued' end,
  attempt = case when t.lost + 1 >= ${POISON_LOSSES} then t.attempt else t.attempt - 1 end,
  lost = t.lost + 1,
  finished_at = case when t.lost + 1 >= ${POISON_LOSSES} then now() end,
  run_at = now() + t.lost * interval '10 seconds',
  errors =${appendError(`jsonb_build_object(
    'attempt', t.attempt, 'at', now(), 'name', 'WorkerLostError', 'worker', t.owner,
    'message', ${message} || case when t.lost + 1 >= ${POISON_LOSSES}
      then '; lost ${POISON_LOSSES} times, so failed as poison'
      else '; not counted as an attempt (loss ' || (t.lost + 1) || ' of ${POISON_LOSSES})' end)`)},
  owner = null,
  claim_token = null`;

/**
 * Rescue: the running tasks of the dead workers $1 become runnable again.
 * Found through the running index by owner, so a pass costs nothing while
 * no worker is dead. Rows locked by a live transaction are skipped and
 * retried on the next pass.
 */
export const taskRescue = `
with lost as (
  select t.id from tandem.tasks t
   where t.state = 'running' and t.owner = any($1::text[])
   for update of t skip locked
)
update tandem.tasks t set${loseAttempt("'worker lost: ' || t.owner || ' died or stopped responding while running this attempt'")}
from lost where t.id = lost.id
returning t.id::text as id, t.queue`;

/** Owners of running tasks that are not registered workers (checked now and then). */
export const taskOrphanOwners = `
select distinct t.owner from tandem.tasks t
 where t.state = 'running'
   and not exists (select 1 from tandem.workers w where w.id = t.owner)`;

/**
 * After a worker reconnects: its running tasks whose claim it neither holds
 * nor has an outcome for (pairs of ids $2 and claim tokens $3) had their
 * claim or outcome lost with the old connection. Matched by id and token: an
 * outcome of an earlier claim of the same task does not cover a later one.
 */
export const taskReleaseLost = `
update tandem.tasks t set${loseAttempt("'the outcome of this attempt was lost with the database connection'")}
 where t.owner = $1 and t.state = 'running'
   and not exists (
     select 1 from unnest($2::bigint[], $3::bigint[]) as k(id, token)
      where k.id = t.id and k.token = t.claim_token)
returning t.id`;

/**
 * One step of the pruner's walk through the table in id order: of the next
 * $3 rows after id $1 and before id $2 (the first id created within the
 * retention period), delete those in state $4 that finished more than $5 ms
 * ago. Rows are locked with SKIP LOCKED and the conditions checked again on
 * delete, so a task that a retry is bringing back is never deleted.
 */
export const taskPruneStep = `
with scan as (
  select id from tandem.tasks where id > $1 and id < $2 order by id limit $3
),
doomed as (
  select t.id from tandem.tasks t
   where t.id = any(array(select id from scan))
     and t.state = $4 and t.finished_at < now() - $5 * interval '1 millisecond'
   for update skip locked
),
gone as (
  delete from tandem.tasks t
   where t.id = any(array(select id from doomed))
     and t.state = $4 and t.finished_at < now() - $5 * interval '1 millisecond'
  returning 1
)
select (select max(id) from scan)::text as last,
       (select count(*) from scan)::int as scanned,
       (select count(*) from gone)::int as deleted`;
