-- Audit views: plain SQL over tandem.tasks for operators.

-- One row per attempt that has ended: every failed attempt from `errors`, and
-- the final attempt of a succeeded or cancelled task.
create view tandem.task_attempts as
select t.id as task_id, t.name, t.queue, t.key,
       (e->>'attempt')::integer as attempt,
       'failed'::text as outcome,
       (e->>'at')::timestamptz as at,
       e->>'name' as error_name,
       e->>'message' as error_message,
       e->>'worker' as worker
  from tandem.tasks t
 cross join lateral jsonb_array_elements(t.errors) as e
union all
select t.id, t.name, t.queue, t.key, t.attempt, t.state, t.finished_at, null, null, null
  from tandem.tasks t
 where t.state in ('succeeded', 'cancelled');

-- Live counts per queue and state (finished states over the last hour).
-- Each branch matches an index (the runnable and running partial indexes,
-- the BRIN index on finished_at), so the view stays cheap on large tables.
create view tandem.queue_stats as
select queue, state, count(*) as tasks, min(run_at) as oldest_run_at
  from tandem.tasks where state in ('queued', 'retrying')
 group by queue, state
union all
select queue, state, count(*), null
  from tandem.tasks where state = 'running'
 group by queue, state
union all
select queue, state, count(*), null
  from tandem.tasks where finished_at > now() - interval '1 hour'
 group by queue, state;
