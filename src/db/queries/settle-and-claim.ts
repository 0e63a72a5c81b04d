/**
 * The worker's settle-and-claim: one statement per round trip that writes
 * the outcomes of finished attempts and claims the next tasks. Its guards
 * and the error list it appends to are shared with the other statements on
 * `tandem.tasks` (tasks.ts).
 */
import { appendError, STILL_RUNNING } from './tasks.js';

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
 * Claiming: one scan per (queue $8[j], priority $9[j]) starting past the
 * key ($10[j], $11[j]) of the rows this worker already claimed there (see
 * src/worker/claim-bounds.ts): an index range that never reads the dead
 * entries earlier claims left behind, and ends at the first task not yet
 * due. What lands behind those keys is found by claimProbe, below. The
 * best $4[i] rows of each queue are claimed, lowest priority value first,
 * then run_at, then id. Locked rows are skipped; paused queues give
 * nothing; an owner no longer registered (it was declared dead) claims
 * nothing. Limited queues and task names (rows of tandem.flow_limits) are
 * left to tandem.claim_flow (src/worker/flow.ts).
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
  select q.queue, q.n
    from unnest($3::text[], $4::integer[]) as q(queue, n)
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
    from unnest($8::text[], $9::integer[], $10::text[], $11::bigint[])
           as b(queue, priority, after_run_at, after_id)
    join asked a on a.queue = b.queue
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

/** A row of claimProbe: run_key as ClaimKey.runAt (src/worker/claim-bounds.ts). */
export interface ProbeRow {
  queue: string;
  priority: number;
  run_key: string;
  id: string;
}

/**
 * The first runnable key of each priority of queues $1, among task names
 * $2 that have no limits: what the claim bounds may not pass (see
 * src/worker/claim-probe.ts). A loose index scan: each step reads the first
 * entry of the next priority (stepping over the dead entries at its head),
 * and from there the first task due of those names (the scan ends at the
 * first task not yet due). It reads the dead head of the claim index, so it
 * runs on a connection of its own, never in the claim's round trip.
 */
export const claimProbe = `
with recursive free_names as (
  select array(
    select n from unnest($2::text[]) as n
     where not exists (select 1 from tandem.flow_limits l where l.scope = 'task' and l.name = n)
  ) as names
),
heads(queue, priority, run_at, id) as (
  select q.queue, f.priority, f.run_at, f.id
    from unnest($1::text[]) as q(queue)
   cross join lateral (
     select t.priority, t.run_at, t.id from tandem.tasks t
      where t.queue = q.queue and t.state in ('queued', 'retrying')
      order by t.priority, t.run_at, t.id limit 1
   ) f
  union all
  select h.queue, f.priority, f.run_at, f.id
    from heads h
   cross join lateral (
     select t.priority, t.run_at, t.id from tandem.tasks t
      where t.queue = h.queue and t.state in ('queued', 'retrying') and t.priority > h.priority
      order by t.priority, t.run_at, t.id limit 1
   ) f
)
select h.queue, h.priority,
       to_char(k.run_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as run_key, k.id::text as id
  from heads h
 cross join lateral (
   select t.run_at, t.id from tandem.tasks t
    where t.queue = h.queue and t.state in ('queued', 'retrying') and t.priority = h.priority
      and (t.run_at, t.id) >= (h.run_at, h.id) and t.run_at <= now()
      and t.name = any((select names from free_names)::text[])
    order by t.run_at, t.id
    limit 1
 ) k`;
