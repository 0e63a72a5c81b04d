-- Schema 8: the task registry (docs/registry.md).
--
-- Workers, `tandem.register()` and `tandem migrate --tasks` record their task
-- definitions here, so that SQL `tandem.enqueue`, `tandem enqueue` and the
-- HTTP API apply the same queue, priority, attempts, timeout and concurrency
-- key as the TypeScript door, and so that a name nobody defined is visible.

-- The definition most recently registered for each task name.
create table tandem.task_types (
  name           tandem.label primary key,
  queue          tandem.label not null,
  priority       integer not null,
  max_attempts   tandem.attempt_limit not null,
  -- { base_ms, factor, max_ms, jitter }
  backoff        jsonb not null,
  timeout_ms     integer,
  transactional  boolean not null,
  -- How the concurrency key is made: none, a template of payload fields
  -- (key_template, expanded by tandem.concurrency_key), or a TypeScript
  -- function (SQL enqueue must then be given the key).
  key_kind       text not null check (key_kind in ('none', 'template', 'function')),
  key_template   text check ((key_kind = 'template') = (key_template is not null)),
  -- Limits as defined, for display: { concurrency, rate: { limit, per_ms } }
  -- and the key limits with their order. Enforced by the claim, not from here.
  limits         jsonb not null,
  key_limits     jsonb not null,
  -- The payload's JSON Schema when its validator provides one, else null.
  payload_schema jsonb,
  -- sha256 of the definition's options and payload schema (not its handler code).
  hash           text not null,
  registered_at  timestamptz not null default now(),
  -- When this hash became the current definition.
  changed_at     timestamptz not null default now(),
  last_seen_at   timestamptz not null default now(),
  last_seen_by   text
);

-- Every version (hash) of a definition that registered, with who registered
-- it lately: a fleet running two versions shows two rows for one name.
create table tandem.task_type_versions (
  name          tandem.label not null,
  hash          text not null,
  definition    jsonb not null,
  first_seen_at timestamptz not null default now(),
  last_seen_at  timestamptz not null default now(),
  -- Registrants (worker ids, or client:<host>-<pid>), most recent first, at most 20.
  seen_by       text[] not null default '{}',
  primary key (name, hash)
);

-- Which options of a task were left to a definition that was not registered
-- when it was enqueued ('queue', 'priority', 'max_attempts', 'timeout_ms',
-- 'concurrency_key'). Null for every other task: registration applies the
-- definition to these options of still-waiting tasks and clears it.
alter table tandem.tasks add column pending_defaults text[];

-- Small: only tasks enqueued under a name nobody had registered.
create index tasks_pending_defaults_idx on tandem.tasks (name)
  where pending_defaults is not null;

-- Expands a concurrency key template such as 'customer:{customerId}' or
-- 'region:{address.country}' from the payload. A field that is missing or
-- null, or that is an object or array, is an error naming it. Strings are
-- used as they are, numbers and booleans as their JSON text.
create function tandem.concurrency_key(template text, payload jsonb, task text default null)
returns text
language plpgsql immutable
as $$
declare
  m text[];
  v jsonb;
  rest text := template;
  result text := '';
  pos integer;
  placeholder text;
begin
  for m in
    select regexp_matches(template, '\{([A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*)\}', 'g')
  loop
    placeholder := '{' || m[1] || '}';
    v := payload #> string_to_array(m[1], '.');
    if v is null or jsonb_typeof(v) = 'null' then
      raise exception 'tandem.enqueue: task % makes its concurrency key from %, but the payload has no field %; add it to the payload, or pass concurrency_key => ''…''',
        coalesce(quote_literal(task), '(unnamed)'), quote_literal(template), quote_literal(m[1])
        using errcode = '22023';
    end if;
    if jsonb_typeof(v) in ('object', 'array') then
      raise exception 'tandem.enqueue: task % makes its concurrency key from %, but payload field % is an %, not a string, number or boolean',
        coalesce(quote_literal(task), '(unnamed)'), quote_literal(template), quote_literal(m[1]), jsonb_typeof(v)
        using errcode = '22023';
    end if;
    pos := strpos(rest, placeholder);
    result := result || substr(rest, 1, pos - 1) || (v #>> '{}');
    rest := substr(rest, pos + length(placeholder));
  end loop;
  result := result || rest;
  if length(result) not between 1 and 500 then
    raise exception 'tandem.enqueue: the concurrency key of task % must be 1-500 characters, got % characters',
      coalesce(quote_literal(task), '(unnamed)'), length(result)
      using errcode = '22023';
  end if;
  return result;
end;
$$;

-- The single-task insert, now with the concurrency key and the options left
-- to a missing definition. The 11-argument insert_task stays for processes
-- of the previous version during a rolling upgrade.
create function tandem.insert_task(
  name text, queue text, payload jsonb, key text, priority integer, max_attempts integer,
  run_at timestamptz, delay_ms bigint, timeout_ms integer, metadata jsonb, wake boolean,
  concurrency_key text, pending_defaults text[]
) returns bigint
language plpgsql
as $$
#variable_conflict use_column
declare
  task_id bigint;
begin
  insert into tandem.tasks as t
    (name, queue, payload, key, priority, max_attempts, run_at, timeout_ms, metadata,
     concurrency_key, pending_defaults)
  values (insert_task.name, insert_task.queue, insert_task.payload, insert_task.key,
          insert_task.priority, insert_task.max_attempts,
          coalesce(insert_task.run_at,
                   now() + coalesce(insert_task.delay_ms, 0) * interval '1 millisecond'),
          insert_task.timeout_ms, insert_task.metadata, insert_task.concurrency_key,
          insert_task.pending_defaults)
  on conflict (key, name) where key is not null do nothing
  returning t.id into task_id;
  if task_id is not null and wake then
    perform pg_notify('tandem_wake', insert_task.queue);
  end if;
  return task_id;
end;
$$;

-- The batch insert (see 000001_init.sql) with one more column: the
-- concurrency keys, shared (`shared->>'concurrency_key'`) or per row.
create function tandem.insert_tasks(
  payloads json, wake text[], shared jsonb, names text[], queues text[], keys text[],
  priorities integer[], max_attempts integer[], run_ats timestamptz[], delays_ms bigint[],
  timeouts_ms integer[], metadata json, concurrency_keys text[]
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
  s_concurrency_key text := shared->>'concurrency_key';
begin
  return query
  with ins as (
    insert into tandem.tasks
      (name, queue, payload, key, priority, max_attempts, run_at, timeout_ms, metadata,
       concurrency_key)
    select coalesce(r.name, s_name), coalesce(r.queue, s_queue), r.payload::jsonb,
           coalesce(r.key, s_key), coalesce(r.priority, s_priority),
           coalesce(r.max_attempts, s_max_attempts),
           coalesce(r.run_at, s_run_at,
                    now() + coalesce(r.delay_ms, s_delay_ms, 0) * interval '1 millisecond'),
           coalesce(r.timeout_ms, s_timeout_ms),
           coalesce(nullif(r.metadata::jsonb, 'null'::jsonb), s_metadata),
           coalesce(r.concurrency_key, s_concurrency_key)
      from rows from (
        json_array_elements(payloads), unnest(names), unnest(queues), unnest(keys),
        unnest(priorities), unnest(max_attempts), unnest(run_ats), unnest(delays_ms),
        unnest(timeouts_ms), json_array_elements(metadata), unnest(concurrency_keys)
      ) as r(payload, name, queue, key, priority, max_attempts, run_at, delay_ms, timeout_ms,
             metadata, concurrency_key)
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

-- Applies registered definitions to waiting tasks that were enqueued before
-- their name was registered (pending_defaults), for the names in `names`
-- (all registered names when null): each option the caller left out takes
-- the definition's value, the queue first, so that nothing waits where no
-- worker looks. A template key that cannot be made from a task's payload,
-- or a key computed by a function, stays null. Wakes the queues that gained
-- tasks. Returns how many tasks each name adopted.
create function tandem.adopt_pending_tasks(names text[] default null)
returns table (name text, adopted integer)
language plpgsql
as $$
#variable_conflict use_column
declare
  r record;
begin
  for r in
    with moved as (
      update tandem.tasks t set
        queue = case when 'queue' = any(t.pending_defaults) then tt.queue else t.queue end,
        priority = case when 'priority' = any(t.pending_defaults) then tt.priority else t.priority end,
        max_attempts = case when 'max_attempts' = any(t.pending_defaults)
                            then greatest(tt.max_attempts, t.attempt + 1) else t.max_attempts end,
        timeout_ms = case when 'timeout_ms' = any(t.pending_defaults) then tt.timeout_ms else t.timeout_ms end,
        concurrency_key = case when 'concurrency_key' = any(t.pending_defaults) and tt.key_kind = 'template'
                               then tandem.try_concurrency_key(tt.key_template, t.payload)
                               else t.concurrency_key end,
        pending_defaults = null
        from tandem.task_types tt
       where t.pending_defaults is not null and t.name = tt.name
         and t.state in ('queued', 'retrying')
         and (adopt_pending_tasks.names is null or tt.name = any(adopt_pending_tasks.names))
      returning t.name, t.queue
    )
    select m.name, count(*)::integer as n,
           array_agg(distinct m.queue) as queues
      from moved m group by m.name
  loop
    perform pg_notify('tandem_wake', q) from unnest(r.queues) q;
    name := r.name;
    adopted := r.n;
    return next;
  end loop;
end;
$$;

-- tandem.concurrency_key, or null where it would raise (adoption must not fail).
create function tandem.try_concurrency_key(template text, payload jsonb)
returns text
language plpgsql immutable
as $$
begin
  return tandem.concurrency_key(template, payload);
exception when invalid_parameter_value then
  return null;
end;
$$;

-- Records definitions (a JSON array of task_types rows without the
-- timestamps, as src/client/task-types.ts builds them) for registrant
-- `seen_by`, in one statement: upserts the current definition and its
-- version, then adopts the waiting tasks of those names.
create function tandem.register_task_types(defs jsonb, seen_by text)
returns table (name text, hash text, changed boolean, adopted integer)
language plpgsql
as $$
#variable_conflict use_column
declare
  d record;
  was text;
begin
  for d in
    select * from jsonb_to_recordset(defs) as x(
      name text, queue text, priority integer, max_attempts integer, backoff jsonb,
      timeout_ms integer, transactional boolean, key_kind text, key_template text,
      limits jsonb, key_limits jsonb, payload_schema jsonb, hash text, definition jsonb)
     order by x.name
  loop
    select t.hash into was from tandem.task_types t where t.name = d.name for update;
    insert into tandem.task_types as t
      (name, queue, priority, max_attempts, backoff, timeout_ms, transactional, key_kind,
       key_template, limits, key_limits, payload_schema, hash, last_seen_by)
    values (d.name, d.queue, d.priority, d.max_attempts, d.backoff, d.timeout_ms,
            d.transactional, d.key_kind, d.key_template, d.limits, d.key_limits,
            d.payload_schema, d.hash, register_task_types.seen_by)
    on conflict (name) do update set
      queue = excluded.queue, priority = excluded.priority,
      max_attempts = excluded.max_attempts, backoff = excluded.backoff,
      timeout_ms = excluded.timeout_ms, transactional = excluded.transactional,
      key_kind = excluded.key_kind, key_template = excluded.key_template,
      limits = excluded.limits, key_limits = excluded.key_limits,
      payload_schema = excluded.payload_schema, hash = excluded.hash,
      changed_at = case when t.hash = excluded.hash then t.changed_at else now() end,
      last_seen_at = now(), last_seen_by = excluded.last_seen_by;
    insert into tandem.task_type_versions as v (name, hash, definition, seen_by)
    values (d.name, d.hash, d.definition, array[register_task_types.seen_by])
    on conflict on constraint task_type_versions_pkey do update set
      last_seen_at = now(),
      seen_by = (array_prepend(excluded.seen_by[1], array_remove(v.seen_by, excluded.seen_by[1])))[1:20];
    name := d.name;
    hash := d.hash;
    changed := was is distinct from d.hash;
    adopted := coalesce((select a.adopted from tandem.adopt_pending_tasks(array[d.name]) a), 0);
    return next;
  end loop;
end;
$$;

-- Waiting tasks of names nobody has registered: misspelt names, or a
-- producer deployed before its workers. Registration adopts them.
create view tandem.unregistered_tasks as
select t.name, t.queue, count(*) as waiting, min(t.created_at) as oldest_created_at
  from tandem.tasks t
 where t.pending_defaults is not null and t.state in ('queued', 'retrying')
   and not exists (select 1 from tandem.task_types tt where tt.name = t.name)
 group by t.name, t.queue;

-- SQL enqueue applies the registered definition: queue, priority, max
-- attempts and timeout when the caller did not give them, and the
-- concurrency key from the definition's template. A name nobody registered
-- is accepted into the given queue (or 'default') and marked with the
-- options it left out, which its definition fills in once registered;
-- with the setting tandem.unregistered_tasks = 'reject' it raises instead.
-- tandem.enqueue_task does the work and also says whether the task is new
-- and its state (for callers that report them, such as the HTTP API);
-- tandem.enqueue, below, returns just the id.
create function tandem.enqueue_task(
  name text,
  payload jsonb,
  key text default null,
  queue text default null,
  run_at timestamptz default null,
  priority integer default null,
  max_attempts integer default null,
  concurrency_key text default null,
  metadata jsonb default null,
  out task_id bigint,
  out inserted boolean,
  out task_state text
)
language plpgsql
as $$
#variable_conflict use_column
declare
  tt tandem.task_types;
  q text := enqueue_task.queue;
  pri integer := enqueue_task.priority;
  att integer := enqueue_task.max_attempts;
  tmo integer;
  ck text := enqueue_task.concurrency_key;
  pending text[];
  last_notify text;
begin
  if enqueue_task.name is null or enqueue_task.payload is null then
    raise exception 'tandem.enqueue: name and payload are required'
      using errcode = '22004';
  end if;
  if enqueue_task.name !~ '^[A-Za-z0-9_.:/-]{1,200}$' then
    raise exception 'tandem.enqueue: name must be 1-200 characters of letters, digits and _ . : - /, got %', quote_literal(enqueue_task.name)
      using errcode = '22023';
  end if;
  select * into tt from tandem.task_types t where t.name = enqueue_task.name;
  if found then
    q := coalesce(q, tt.queue);
    pri := coalesce(pri, tt.priority);
    att := coalesce(att, tt.max_attempts);
    tmo := tt.timeout_ms;
    if ck is null and tt.key_kind = 'function' then
      raise exception 'tandem.enqueue: task % computes its concurrency key with a TypeScript function, which SQL cannot run; pass concurrency_key => ''…'', or enqueue it from TypeScript', quote_literal(enqueue_task.name)
        using errcode = '22023';
    end if;
    if ck is null and tt.key_kind = 'template' then
      ck := tandem.concurrency_key(tt.key_template, enqueue_task.payload, enqueue_task.name);
    end if;
  else
    if current_setting('tandem.unregistered_tasks', true) = 'reject' then
      raise exception 'tandem.enqueue: no task named % is registered, and tandem.unregistered_tasks is ''reject''; check the name, or register it first (start a worker that defines it, call tandem.register(), or run tandem migrate --tasks)', quote_literal(enqueue_task.name)
        using errcode = '42704';
    end if;
    pending := array_remove(array[
      case when q is null then 'queue' end,
      case when pri is null then 'priority' end,
      case when att is null then 'max_attempts' end,
      'timeout_ms',
      case when ck is null then 'concurrency_key' end], null);
    q := coalesce(q, 'default');
    pri := coalesce(pri, 0);
    att := coalesce(att, 4);
  end if;
  if q !~ '^[A-Za-z0-9_.:/-]{1,200}$' then
    raise exception 'tandem.enqueue: queue must be 1-200 characters of letters, digits and _ . : - /, got %', quote_literal(q)
      using errcode = '22023';
  end if;
  if enqueue_task.key is not null and length(enqueue_task.key) not between 1 and 500 then
    raise exception 'tandem.enqueue: key must be 1-500 characters, got % characters', length(enqueue_task.key)
      using errcode = '22023';
  end if;
  if ck is not null and length(ck) not between 1 and 500 then
    raise exception 'tandem.enqueue: concurrency_key must be 1-500 characters, got % characters', length(ck)
      using errcode = '22023';
  end if;
  if enqueue_task.run_at is not null and (not isfinite(enqueue_task.run_at)
      or enqueue_task.run_at < '1970-01-01 00:00:00+00' or enqueue_task.run_at >= '10000-01-01 00:00:00+00') then
    raise exception 'tandem.enqueue: run_at must be a finite time between 1970 and 9999, got %', enqueue_task.run_at
      using errcode = '22023';
  end if;
  if att < 1 then
    raise exception 'tandem.enqueue: max_attempts must be at least 1, got %', att
      using errcode = '22023';
  end if;
  if att > 1000000 then
    raise exception 'tandem.enqueue: max_attempts must be from 1 to 1000000, got %', att
      using errcode = '22023';
  end if;
  if enqueue_task.metadata is not null and jsonb_typeof(enqueue_task.metadata) <> 'object' then
    raise exception 'tandem.enqueue: metadata must be a JSON object, got %', jsonb_typeof(enqueue_task.metadata)
      using errcode = '22023';
  end if;
  task_id := tandem.insert_task(
    enqueue_task.name, q, enqueue_task.payload, enqueue_task.key, pri, att, enqueue_task.run_at,
    null, tmo, enqueue_task.metadata, false, ck, pending);
  if task_id is null then
    -- Another transaction holds the key; ON CONFLICT waited for it to commit,
    -- and this new statement's snapshot sees its row.
    select t.id, t.state::text into task_id, task_state from tandem.tasks t
     where t.key = enqueue_task.key and t.name = enqueue_task.name;
    inserted := false;
    return;
  end if;
  inserted := true;
  task_state := 'queued';
  -- One notification per queue per transaction (a setting local to the
  -- transaction: nothing stays behind on a pooled server connection).
  last_notify := current_setting('tandem.notified_' || md5(q), true);
  if last_notify is null or last_notify = '' then
    perform pg_notify('tandem_wake', q);
    perform set_config('tandem.notified_' || md5(q), 'yes', true);
  end if;
end;
$$;

-- The signature is 000004's plus concurrency_key and metadata.
drop function tandem.enqueue(text, jsonb, text, text, timestamptz, integer, integer);

create function tandem.enqueue(
  name text,
  payload jsonb,
  key text default null,
  queue text default null,
  run_at timestamptz default null,
  priority integer default null,
  max_attempts integer default null,
  concurrency_key text default null,
  metadata jsonb default null
) returns bigint
language sql
as $$
  select e.task_id from tandem.enqueue_task(
    enqueue.name, enqueue.payload, enqueue.key, enqueue.queue, enqueue.run_at,
    enqueue.priority, enqueue.max_attempts, enqueue.concurrency_key, enqueue.metadata) e
$$;
