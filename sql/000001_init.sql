-- Tandem schema, version 1.
-- Forward-only: never edit a released migration, add a new numbered file.

create table tandem.queues (
  name       text primary key,
  paused     boolean not null default false,
  paused_at  timestamptz,
  created_at timestamptz not null default now()
);

-- Column types that carry their own rules. A domain's check is planned once
-- per session; a table CHECK constraint is re-read and planned by every
-- statement that writes the table, which made six of them cost more than the
-- rest of a single-row insert together.
create domain tandem.task_state as text
  check (value in ('queued', 'running', 'succeeded', 'retrying', 'failed', 'cancelled'));
create domain tandem.label as text check (length(value) between 1 and 200);
create domain tandem.attempt_limit as integer check (value >= 1);

-- One row per task, from enqueue until retention prunes it.
-- fillfactor 70 leaves room on each page so that updates which touch no
-- indexed column (heartbeats of the row itself, result writes on a page that
-- still has space) can be HOT and skip index maintenance.
-- Two rules tie columns together: finished_at is set exactly when the state
-- is terminal (succeeded, failed, cancelled), and owner exactly when it is
-- running. Only the statements in src/db/queries write these columns, and
-- the test suite checks both rules after its crash tests; they are not table
-- CHECKs, for the per-statement cost above.
create table tandem.tasks (
  id           bigint generated always as identity primary key,
  name         tandem.label not null,
  queue        tandem.label not null default 'default',
  payload      jsonb not null,
  key          text,
  priority     integer not null default 0,
  state        tandem.task_state not null default 'queued',
  attempt      integer not null default 0,
  max_attempts tandem.attempt_limit not null default 4,
  run_at       timestamptz not null default now(),
  created_at   timestamptz not null default now(),
  started_at   timestamptz,
  finished_at  timestamptz,
  result       jsonb,
  errors       jsonb not null default '[]',
  timeout_ms   integer,
  owner        text,
  metadata     jsonb
) with (fillfactor = 70);

-- Idempotency: one task per (name, key) for as long as the row exists.
-- key leads, so "everything for order:123" is an index scan too.
create unique index tasks_key_name_uidx on tandem.tasks (key, name) where key is not null;

-- The claim index: only runnable rows, so it stays as small as the backlog
-- however many finished rows are kept.
create index tasks_runnable_idx on tandem.tasks (queue, priority, run_at, id)
  where state in ('queued', 'retrying');

-- Running rows by owner: the rescuer's lookup when a worker dies.
create index tasks_running_idx on tandem.tasks (owner) where state = 'running';

-- Audit and retention by finishing time: a BRIN index, a few kilobytes
-- however many rows, and next to free to maintain. A B-tree here would cost
-- every task one more index insert when it finishes (measured: about a fifth
-- of the drain rate). Rows finish roughly in insertion order, so page ranges
-- summarise well; the pruner deletes "any 1,000 rows older than the cutoff".
create index tasks_finished_brin on tandem.tasks using brin (finished_at)
  with (autosummarize = on);

-- The single-task insert behind the TypeScript enqueue and SQL
-- tandem.enqueue: the same row as insert_tasks below, from plain arguments.
-- Returns the new id, or null when the (name, key) pair is taken. Wakes
-- `queue` at commit when `wake` is true (the caller debounces).
create function tandem.insert_task(
  name text, queue text, payload jsonb, key text, priority integer, max_attempts integer,
  run_at timestamptz, delay_ms bigint, timeout_ms integer, metadata jsonb, wake boolean
) returns bigint
language plpgsql
as $$
#variable_conflict use_column
declare
  task_id bigint;
begin
  insert into tandem.tasks as t
    (name, queue, payload, key, priority, max_attempts, run_at, timeout_ms, metadata)
  values (insert_task.name, insert_task.queue, insert_task.payload, insert_task.key,
          insert_task.priority, insert_task.max_attempts,
          coalesce(insert_task.run_at,
                   now() + coalesce(insert_task.delay_ms, 0) * interval '1 millisecond'),
          insert_task.timeout_ms, insert_task.metadata)
  on conflict (key, name) where key is not null do nothing
  returning t.id into task_id;
  if task_id is not null and wake then
    perform pg_notify('tandem_wake', insert_task.queue);
  end if;
  return task_id;
end;
$$;

-- SQL enqueue, in the caller's transaction. Idempotent on (name, key): when
-- the key already has a task, returns that task's id. Notifies waiting
-- workers at commit, at most once per queue per 2 ms per session so that a
-- busy session does not serialise its commits on the notification queue.
create function tandem.enqueue(
  name text,
  payload jsonb,
  key text default null,
  queue text default null,
  run_at timestamptz default null,
  priority integer default null,
  max_attempts integer default null
) returns bigint
language plpgsql
as $$
#variable_conflict use_column
declare
  task_id bigint;
  q text := coalesce(enqueue.queue, 'default');
  last_notify text;
begin
  if enqueue.name is null or enqueue.payload is null then
    raise exception 'tandem.enqueue: name and payload are required'
      using errcode = '22004';
  end if;
  if enqueue.max_attempts is not null and enqueue.max_attempts < 1 then
    raise exception 'tandem.enqueue: max_attempts must be at least 1, got %', enqueue.max_attempts
      using errcode = '22023';
  end if;
  task_id := tandem.insert_task(
    enqueue.name, q, enqueue.payload, enqueue.key, coalesce(enqueue.priority, 0),
    coalesce(enqueue.max_attempts, 4), enqueue.run_at, null, null, null, false);
  if task_id is null then
    -- Another transaction holds the key; ON CONFLICT waited for it to commit,
    -- and this new statement's snapshot sees its row.
    select t.id into task_id from tandem.tasks t
     where t.key = enqueue.key and t.name = enqueue.name;
    return task_id;
  end if;
  last_notify := current_setting('tandem.notified_' || md5(q), true);
  if last_notify is null or last_notify = ''
     or clock_timestamp() - last_notify::timestamptz > interval '2 milliseconds' then
    perform pg_notify('tandem_wake', q);
    perform set_config('tandem.notified_' || md5(q), clock_timestamp()::text, false);
  end if;
  return task_id;
end;
$$;

-- The batch insert behind the TypeScript enqueueMany. A plpgsql function,
-- because PL/pgSQL keeps the plan of its statement for the session: planning
-- it afresh costs more than running it for one task. A column that is the
-- same for the whole batch arrives once, in `shared` (keyed by column name),
-- with an empty array in its place; the others arrive as parallel arrays,
-- payloads and metadata as JSON arrays (json_array_elements splits text much
-- faster than jsonb parsing or json_to_recordset), zipped by ROWS FROM, which
-- pads the empty arrays with nulls. Idempotent on (key, name): rows whose key
-- is taken are skipped. Returns the first new id and how many rows were
-- inserted, and every id only when they are not consecutive (a concurrent
-- insert took some in between); plus the (name, key) pairs inserted. Wakes the
-- queues in `wake` at commit when anything was inserted (the caller debounces).
create function tandem.insert_tasks(
  payloads json, wake text[], shared jsonb, names text[], queues text[], keys text[],
  priorities integer[], max_attempts integer[], run_ats timestamptz[], delays_ms bigint[],
  timeouts_ms integer[], metadata json
) returns table (first_id bigint, inserted integer, ids text, keyed json)
language plpgsql
as $$
#variable_conflict use_column
declare
  s_name text := shared->>'name';
  s_queue text := shared->>'queue';
  s_key text := shared->>'key';
  s_priority integer := (shared->>'priority')::integer;
  s_max_attempts integer := (shared->>'max_attempts')::integer;
  s_run_at timestamptz := (shared->>'run_at')::timestamptz;
  s_delay_ms bigint := (shared->>'delay_ms')::bigint;
  s_timeout_ms integer := (shared->>'timeout_ms')::integer;
  s_metadata jsonb := shared->'metadata';
begin
  return query
  with ins as (
    insert into tandem.tasks
      (name, queue, payload, key, priority, max_attempts, run_at, timeout_ms, metadata)
    select coalesce(r.name, s_name), coalesce(r.queue, s_queue), r.payload::jsonb,
           coalesce(r.key, s_key), coalesce(r.priority, s_priority),
           coalesce(r.max_attempts, s_max_attempts),
           coalesce(r.run_at, s_run_at,
                    now() + coalesce(r.delay_ms, s_delay_ms, 0) * interval '1 millisecond'),
           coalesce(r.timeout_ms, s_timeout_ms),
           coalesce(nullif(r.metadata::jsonb, 'null'::jsonb), s_metadata)
      from rows from (
        json_array_elements(payloads), unnest(names), unnest(queues), unnest(keys),
        unnest(priorities), unnest(max_attempts), unnest(run_ats), unnest(delays_ms),
        unnest(timeouts_ms), json_array_elements(metadata)
      ) as r(payload, name, queue, key, priority, max_attempts, run_at, delay_ms, timeout_ms, metadata)
    on conflict (key, name) where key is not null do nothing
    returning tasks.id, tasks.key, tasks.name
  ),
  summary as (
    select min(ins.id) as first_id, max(ins.id) as last_id, count(*)::integer as n,
           json_agg(json_build_array(ins.name, ins.key) order by ins.id)
             filter (where ins.key is not null) as keyed
      from ins
  ),
  woken as (
    select count(pg_notify('tandem_wake', q)) as n from unnest(wake) as q
     where exists (select 1 from summary where summary.n > 0)
  )
  select summary.first_id, summary.n,
         case when summary.last_id - summary.first_id + 1 <> summary.n
              then (select string_agg(ins.id::text, ',' order by ins.id) from ins) end,
         summary.keyed
    from summary, woken;
end;
$$;
