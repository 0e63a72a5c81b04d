/**
 * Every statement Tandem runs against `tandem.tasks`, named noun-first.
 * Hot paths are hand-written so they can be read and EXPLAINed as they are.
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
const appendError = (error: string) => `
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
const STILL_RUNNING = ` (t.state = 'running') is true`;

/**
 * The worker's one statement per round trip: settle the outcomes of finished
 * attempts ($2 their ids, $6 a JSON object from id to [claim token, state,
 * result, delay, error, undo]) and claim up to $4[i] runnable tasks from each
 * queue $3[i] for owner $1 under claim token $7, only of task names in $5 (a
 * worker leaves names it has no handler for to workers that do).
 *
 * Settling is guarded: only rows still running under this owner and claim
 * token change, so a worker that was declared dead, or a second copy of an
 * attempt, can never overwrite what happened after.
 *
 * Claiming: a queue with $8[i] set is scanned from the head of the claim
 * index (discovery); the others with one scan per (queue $9[j], priority
 * $10[j]) starting past the key ($11[j], $12[j]) of the rows this worker
 * already claimed there (see src/worker/claim-bounds.ts): an index range
 * that never reads the dead entries earlier claims left behind, and ends at
 * the first task not yet due. The best $4[i] rows of each queue are claimed,
 * lowest priority value first, then run_at, then id. Locked rows are
 * skipped; paused queues give nothing; an owner no longer registered (it
 * was declared dead) claims nothing. Limited queues and task names (rows
 * of tandem.flow_limits) are left to tandem.claim_flow (src/worker/flow.ts).
 * Neither update joins: the settle finds its rows by primary key and looks
 * each one's outcome up in the map (see STILL_RUNNING), the claim finds them
 * through `id = any(array)`. A join lets the planner, which expects one
 * running row of an owner, pick a nested loop that rescans one side for
 * every row of the other (150 ms for a batch of 500), or hash-join a
 * sequential scan of the whole table.
 *
 * The last row returned has a null id and carries the statement's snapshot
 * (xmin, xmax, transactions in progress), which decides when a claim bound
 * may move, the queues it scanned, and as run_key the key one second before
 * now(): a scanned queue that gave fewer rows than asked had none of this
 * worker's names up to there, so its bounds may move that far, past rows of
 * other names.
 */
// The parts of taskSettleAndClaimFlow that give slots of limits back.

const WAS_COUNTED = `was_counted as (
  -- Of the tasks to settle, those that held slots of limits, as this
  -- statement's snapshot shows them.
  select t.id from tandem.tasks t where t.id = any($2::bigint[]) and t.counted
),
`;

const FLOW_UNCOUNT = `,
    counted = t.counted and not t.id = any(array(select id from was_counted))`;

const FLOW_RELEASE = `released as (
  select t.queue, t.name, t.concurrency_key from tandem.tasks t
   where t.id = any(array(select id from was_counted)) and t.id in (select id from settled)
),
released_limits as (
  select l.scope, l.name, r.n
    from (select 'queue'::text as scope, queue::text as name, count(*)::int as n
            from released group by queue
          union all
          select 'task', name::text, count(*)::int from released group by name) r
    join tandem.flow_limits l on l.scope = r.scope and l.name = r.name
   order by l.scope, l.name
     for update of l
),
unslotted as (
  update tandem.flow_limits l set running = greatest(l.running - x.n, 0)
    from released_limits x
   where l.scope = x.scope and l.name = x.name
  returning l.scope, l.name, l.key_concurrency
),
unslotted_keys as (
  update tandem.flow_keys k
     set running = greatest(k.running - r.n, 0),
         at_limit = greatest(k.running - r.n, 0) >= coalesce(u.key_concurrency, 2147483647)
    from (select name::text as name, concurrency_key, count(*)::int as n
            from released where concurrency_key is not null group by 1, 2) r
    left join unslotted u on u.scope = 'task' and u.name = r.name
   where k.name = r.name and k.key = r.concurrency_key
  returning 1
),
woken as (
  -- Workers waiting for a slot of these queues' limits.
  select pg_notify('tandem_wake', d.queue) from (select distinct queue::text as queue from released) d
),
`;

/** Forces the CTEs above to run (a plain SELECT CTE that nothing reads does not). */
const FLOW_WHERE = `
 where (select count(*) from woken) + (select count(*) from unslotted_keys) >= 0`;

/** The outcome of task `t` in the settle's map ($6): [token, state, result, delay, error, undo]. */
const OUTCOME = `((select m from outcomes) -> t.id::text)`;
/** Element i of task t's outcome, as jsonb (`out`) or as text (`outText`). */
const out = (i: number) => `(${OUTCOME} -> ${i})`;
const outText = (i: number) => `(${OUTCOME} ->> ${i})`;

const settleAndClaim = (flow: boolean) => `
with outcomes as (select $6::jsonb as m),
${flow ? WAS_COUNTED : ''}settled as (
  update tandem.tasks t set
    state = ${outText(1)},
    result = nullif(${out(2)}, 'null'),
    attempt = t.attempt - (case when (${outText(5)})::boolean then 1 else 0 end),
    run_at = case when ${outText(3)} is null then t.run_at
                  else now() + (${outText(3)})::bigint * interval '1 millisecond' end,
    started_at = case when (${outText(5)})::boolean then null else t.started_at end,
    finished_at = case when ${outText(1)} in ('succeeded', 'failed', 'cancelled') then now() end,
    errors = case when ${out(4)} = 'null' then t.errors else${appendError(out(4))} end,
    owner = null,
    claim_token = null${flow ? FLOW_UNCOUNT : ''}
  where t.id = any($2::bigint[]) and t.owner = $1 and${STILL_RUNNING}
    and t.claim_token = (${outText(0)})::bigint
  returning t.id
),
${flow ? FLOW_RELEASE : ''}asked as (
  select q.queue, q.n, q.discover
    from unnest($3::text[], $4::integer[], $8::boolean[]) as q(queue, n, discover)
   where q.n > 0
     and not exists (select 1 from tandem.queues p where p.name = q.queue and p.paused)
     and not exists (select 1 from tandem.flow_limits l where l.scope = 'queue' and l.name = q.queue)
     and exists (select 1 from tandem.workers w where w.id = $1)
),
free_names as (
  select array(
    select n from unnest($5::text[]) as n
     where not exists (select 1 from tandem.flow_limits l where l.scope = 'task' and l.name = n)
  ) as names
),
candidates as (
  select a.queue, c.id, c.priority, c.run_at
    from asked a
   cross join lateral (
     select id, priority, run_at from tandem.tasks
      where queue = a.queue and state in ('queued', 'retrying') and run_at <= now()
        and name = any((select names from free_names)::text[])
      order by priority, run_at, id
      limit a.n
      for update skip locked
   ) c
   where a.discover
  union all
  select a.queue, c.id, c.priority, c.run_at
    from unnest($9::text[], $10::integer[], $11::text[], $12::bigint[])
           as b(queue, priority, after_run_at, after_id)
    join asked a on a.queue = b.queue and not a.discover
   cross join lateral (
     select id, priority, run_at from tandem.tasks
      where queue = b.queue and state in ('queued', 'retrying') and priority = b.priority
        and (run_at, id) > ((b.after_run_at || '+00')::timestamptz, b.after_id) and run_at <= now()
        and name = any((select names from free_names)::text[])
      order by run_at, id
      limit a.n
      for update skip locked
   ) c
),
chosen as (
  select r.id from (
    select c.id, c.queue, row_number() over (partition by c.queue order by c.priority, c.run_at, c.id) as rn
      from candidates c
  ) r
  join asked a on a.queue = r.queue
  where r.rn <= a.n
),
claimed as (
  update tandem.tasks t
     set state = 'running', attempt = t.attempt + 1, started_at = now(), owner = $1,
         claim_token = $7
   where t.id = any(array(select id from chosen))
  returning t.id, t.name, t.queue, t.payload, t.key, t.attempt, t.max_attempts,
            t.timeout_ms, t.metadata, t.priority, t.run_at
)
-- RETURNING has no order: hand tasks over in claim order.
select * from (
  select id::text as id, name, queue, payload, key, attempt, max_attempts, timeout_ms, metadata,
         priority, to_char(run_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as run_key,
         date_part('epoch', now() - run_at) * 1000 as lag_ms,
         null::text as xmin, null::text as xmax, null::text[] as xip, null::text[] as scanned
    from claimed
   order by priority, run_at, id
) tasks
union all
select null, null, null, null, null, null, null, null, null, null,
       to_char((now() - interval '1 second') at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), null,
       pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text,
       array(select x::text from pg_snapshot_xip(s) as x),
       array(select queue from asked)
  from pg_current_snapshot() as s${flow ? FLOW_WHERE : ''}`;

export const taskSettleAndClaim = settleAndClaim(false);

/**
 * The same statement for a worker with limited tasks (flow.ts): settled
 * tasks that held slots of limits give them back here, in one update per
 * limit and key, and clear `counted`. Any other counted task (one a new
 * limit counted after this statement's snapshot, or settled by a worker
 * that knows of no limits) is left to the trigger that covers every other
 * way a task stops.
 */
export const taskSettleAndClaimFlow = settleAndClaim(true);

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
