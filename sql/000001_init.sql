-- Tandem schema, version 1.
-- Forward-only: never edit a released migration, add a new numbered file.

create table tandem.queues (
  name       text primary key,
  paused     boolean not null default false,
  paused_at  timestamptz,
  created_at timestamptz not null default now()
);

-- One row per task, from enqueue until retention prunes it.
-- fillfactor 70 leaves room on each page so that updates which touch no
-- indexed column (heartbeats of the row itself, result writes on a page that
-- still has space) can be HOT and skip index maintenance.
create table tandem.tasks (
  id           bigint generated always as identity primary key,
  name         text not null,
  queue        text not null default 'default',
  payload      jsonb not null,
  key          text,
  priority     integer not null default 0,
  state        text not null default 'queued',
  attempt      integer not null default 0,
  max_attempts integer not null default 4,
  run_at       timestamptz not null default now(),
  created_at   timestamptz not null default now(),
  started_at   timestamptz,
  finished_at  timestamptz,
  result       jsonb,
  errors       jsonb not null default '[]',
  timeout_ms   integer,
  owner        text,
  metadata     jsonb,
  constraint tasks_state_check
    check (state in ('queued', 'running', 'succeeded', 'retrying', 'failed', 'cancelled')),
  constraint tasks_finished_at_check
    check ((finished_at is not null) = (state in ('succeeded', 'failed', 'cancelled'))),
  constraint tasks_owner_check check ((owner is not null) = (state = 'running')),
  constraint tasks_attempt_check check (attempt >= 0 and max_attempts >= 1),
  constraint tasks_name_check check (length(name) between 1 and 200),
  constraint tasks_queue_check check (length(queue) between 1 and 200)
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
  insert into tandem.tasks as t (name, queue, payload, key, priority, max_attempts, run_at)
  values (enqueue.name, q, enqueue.payload, enqueue.key,
          coalesce(enqueue.priority, 0), coalesce(enqueue.max_attempts, 4),
          coalesce(enqueue.run_at, now()))
  on conflict (key, name) where key is not null do nothing
  returning t.id into task_id;
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

-- The batch insert behind the TypeScript enqueue/enqueueMany. A plpgsql
-- function, because PL/pgSQL keeps the plan of its statement for the
-- session: planning this statement afresh costs more than running it for one
-- task. Columns arrive as parallel arrays, payloads and metadata as JSON
-- arrays (json_array_elements splits text much faster than jsonb parsing or
-- json_to_recordset), zipped by ROWS FROM. Idempotent on (key, name): rows
-- whose key is taken are skipped. Returns the new ids in insertion order and
-- the (name, key) pairs that were inserted. Wakes the queues in `wake` at
-- commit when anything was inserted (the caller debounces which queues).
create function tandem.insert_tasks(
  payloads json, wake text[], names text[], queues text[], keys text[], priorities integer[],
  max_attempts integer[], run_ats timestamptz[], delays_ms bigint[], timeouts_ms integer[],
  metadata json
) returns table (ids text, keyed json)
language plpgsql
as $$
#variable_conflict use_column
begin
  return query
  with ins as (
    insert into tandem.tasks
      (name, queue, payload, key, priority, max_attempts, run_at, timeout_ms, metadata)
    select r.name, r.queue, r.payload::jsonb, r.key, r.priority, r.max_attempts,
           coalesce(r.run_at, now() + coalesce(r.delay_ms, 0) * interval '1 millisecond'),
           r.timeout_ms, nullif(r.metadata::jsonb, 'null'::jsonb)
      from rows from (
        unnest(names), unnest(queues), json_array_elements(payloads), unnest(keys),
        unnest(priorities), unnest(max_attempts), unnest(run_ats), unnest(delays_ms),
        unnest(timeouts_ms), json_array_elements(metadata)
      ) as r(name, queue, payload, key, priority, max_attempts, run_at, delay_ms, timeout_ms, metadata)
    on conflict (key, name) where key is not null do nothing
    returning tasks.id, tasks.key, tasks.name
  ),
  woken as (
    select count(pg_notify('tandem_wake', q)) as n from unnest(wake) as q
  )
  select string_agg(ins.id::text, ',' order by ins.id),
         json_agg(json_build_array(ins.name, ins.key) order by ins.id) filter (where ins.key is not null)
    from ins, woken;
end;
$$;
