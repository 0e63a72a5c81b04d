-- Flow control: fleet-wide concurrency and rate limits per queue and per
-- task name, per-key limits, and claiming round-robin across keys.
-- See docs/flow-control.md for the semantics and their cost.
--
-- Tasks subject to a limit are claimed by tandem.claim_flow() below, never
-- by the worker's batched claim (src/db/queries/tasks.ts), which leaves
-- limited queues and names alone. A claimer locks the limit rows it obeys,
-- so claims of one limited queue or name are serialised; each row carries
-- its own running count, kept by the claim and by a trigger when a counted
-- task stops running however that happens (outcome, rescue, cancel).

-- One row per limited queue ('queue') or task name ('task'). A 'task' row
-- also exists for a name with a concurrency key but no limit: its tasks are
-- claimed round-robin across keys.
create table tandem.flow_limits (
  scope           text not null check (scope in ('queue', 'task')),
  name            tandem.label not null,
  concurrency     integer check (concurrency >= 1),
  rate_limit      integer check (rate_limit >= 1),
  rate_per_ms     integer check (rate_per_ms >= 1),
  keyed           boolean not null default false,
  key_concurrency integer check (key_concurrency >= 1),
  key_rate_limit  integer check (key_rate_limit >= 1),
  key_rate_per_ms integer check (key_rate_per_ms >= 1),
  key_order       text not null default 'strict' check (key_order in ('strict', 'skip')),
  -- Counted tasks of this queue or name now running.
  running         integer not null default 0,
  -- Sliding-window log of recent starts: one (time, count) entry per claim.
  starts_at       timestamptz[] not null default '{}',
  starts_n        integer[] not null default '{}',
  -- 'definition': written by workers from defineTask; 'operator': set at run
  -- time (API, CLI, dashboard), which definitions no longer overwrite.
  source          text not null default 'definition' check (source in ('definition', 'operator')),
  updated_at      timestamptz not null default now(),
  primary key (scope, name),
  check ((rate_limit is null) = (rate_per_ms is null)),
  check ((key_rate_limit is null) = (key_rate_per_ms is null))
);

-- One row per (task name, concurrency key) seen: the key's running count,
-- whether it may have waiting tasks, and when it was last served.
create table tandem.flow_keys (
  name            text not null,
  key             text not null,
  running         integer not null default 0,
  -- At its concurrency limit.
  at_limit        boolean not null default false,
  -- May have waiting tasks: set by every task that starts waiting, cleared
  -- by a claim that finds none.
  pending         boolean not null default true,
  -- Nothing of this key can start before then (its next task's run_at, or
  -- when its rate window frees a start).
  ready_at        timestamptz not null default '-infinity',
  last_claimed_at timestamptz not null default '-infinity',
  starts_at       timestamptz[] not null default '{}',
  starts_n        integer[] not null default '{}',
  primary key (name, key)
);

-- The keys a claim can serve, least recently served first.
create index flow_keys_ready_idx on tandem.flow_keys (name, last_claimed_at)
  where pending and not at_limit;

-- Set on a task claimed through a limit: its stop gives the slots back.
alter table tandem.tasks add column counted boolean not null default false;

-- A key's waiting tasks in enqueue order: the head of each key.
create index tasks_key_waiting_idx on tandem.tasks (name, concurrency_key, id)
  where state in ('queued', 'retrying') and concurrency_key is not null;

-- Starts within the last per_ms before `at`, from a sliding-window log.
create function tandem.flow_recent(starts_at timestamptz[], starts_n integer[], per_ms integer,
                                   at timestamptz)
returns integer language plpgsql immutable as $$
begin
  return coalesce((select sum(l.n) from unnest(starts_at, starts_n) as l(t, n)
                    where l.t > at - per_ms * interval '1 millisecond'), 0)::int;
end $$;

-- A counted task stopped running: give back its slots, and wake the
-- workers of its queue, which may be waiting for one.
create function tandem.flow_release() returns trigger language plpgsql as $$
declare
  kc integer;
begin
  update tandem.flow_limits set running = greatest(running - 1, 0)
   where scope = 'queue' and name = old.queue;
  update tandem.flow_limits set running = greatest(running - 1, 0)
   where scope = 'task' and name = old.name
  returning key_concurrency into kc;
  if old.concurrency_key is not null then
    update tandem.flow_keys
       set running = greatest(running - 1, 0),
           at_limit = greatest(running - 1, 0) >= coalesce(kc, 2147483647)
     where name = old.name and key = old.concurrency_key;
  end if;
  perform pg_notify('tandem_wake', old.queue);
  if tg_op = 'DELETE' then
    return old;
  end if;
  new.counted := false;
  return new;
end $$;

-- The worker's batched settle gives slots back itself, set-based, and
-- clears `counted` as it does (src/db/queries/tasks.ts).
create trigger tasks_flow_release_upd before update of state on tandem.tasks
  for each row when (old.counted and new.counted and new.state is distinct from 'running')
  execute function tandem.flow_release();
create trigger tasks_flow_release_del before delete on tandem.tasks
  for each row when (old.counted)
  execute function tandem.flow_release();

-- A task with a concurrency key starts waiting (enqueued, or back for a
-- retry): its key may be served again from its run_at. The lock this takes
-- on the key's row orders it with a claim that is clearing `pending`.
create function tandem.flow_key_waiting() returns trigger language plpgsql as $$
begin
  insert into tandem.flow_keys as k (name, key, ready_at)
  values (new.name, new.concurrency_key, new.run_at)
  on conflict (name, key) do update
     set pending = true, ready_at = least(k.ready_at, excluded.ready_at)
   where not k.pending or k.ready_at > excluded.ready_at;
  return null;
end $$;

create trigger tasks_flow_key_ins after insert on tandem.tasks
  for each row when (new.concurrency_key is not null)
  execute function tandem.flow_key_waiting();
create trigger tasks_flow_key_upd after update of state, run_at, concurrency_key on tandem.tasks
  for each row when (new.concurrency_key is not null and new.state in ('queued', 'retrying')
                     and (old.state is distinct from new.state or old.run_at is distinct from new.run_at
                          or old.concurrency_key is distinct from new.concurrency_key))
  execute function tandem.flow_key_waiting();

-- Sets the limits of a queue or task name (a definition with every limit
-- null and keyed false removes its row), and counts what already runs there so that the new
-- limit holds from the next claim. A definition does not overwrite what an
-- operator set.
create function tandem.set_flow_limits(
  p_scope text, p_name text, p_concurrency integer, p_rate_limit integer, p_rate_per_ms integer,
  p_keyed boolean, p_key_concurrency integer, p_key_rate_limit integer,
  p_key_rate_per_ms integer, p_key_order text, p_source text
) returns boolean language plpgsql as $$
declare
  cur tandem.flow_limits;
begin
  select * into cur from tandem.flow_limits where scope = p_scope and name = p_name for update;
  if found and p_source = 'definition' and cur.source = 'operator' then
    return false;
  end if;
  if found and cur.concurrency is not distinct from p_concurrency
     and cur.rate_limit is not distinct from p_rate_limit
     and cur.rate_per_ms is not distinct from p_rate_per_ms and cur.keyed = p_keyed
     and cur.key_concurrency is not distinct from p_key_concurrency
     and cur.key_rate_limit is not distinct from p_key_rate_limit
     and cur.key_rate_per_ms is not distinct from p_key_rate_per_ms
     and cur.key_order = p_key_order and cur.source = p_source then
    return false;
  end if;
  -- An operator's "no limit" is kept (a definition must not bring one back).
  if p_concurrency is null and p_rate_limit is null and not p_keyed and p_source = 'definition' then
    delete from tandem.flow_limits where scope = p_scope and name = p_name;
    if not found then
      return false;
    end if;
    perform pg_notify('tandem_limits', p_scope || ':' || p_name);
    return true;
  end if;
  insert into tandem.flow_limits as l (scope, name, concurrency, rate_limit, rate_per_ms, keyed,
    key_concurrency, key_rate_limit, key_rate_per_ms, key_order, source)
  values (p_scope, p_name, p_concurrency, p_rate_limit, p_rate_per_ms, p_keyed,
    p_key_concurrency, p_key_rate_limit, p_key_rate_per_ms, p_key_order, p_source)
  on conflict (scope, name) do update set
    concurrency = excluded.concurrency, rate_limit = excluded.rate_limit,
    rate_per_ms = excluded.rate_per_ms, keyed = excluded.keyed,
    key_concurrency = excluded.key_concurrency, key_rate_limit = excluded.key_rate_limit,
    key_rate_per_ms = excluded.key_rate_per_ms, key_order = excluded.key_order,
    source = excluded.source, updated_at = now();
  -- Tasks of a name claimed by key need one: those waiting without (enqueued
  -- before the definition had a key) share the key ''.
  if p_keyed then
    update tandem.tasks set concurrency_key = ''
     where name = p_name and state in ('queued', 'retrying') and concurrency_key is null;
  end if;
  -- What runs there now counts against the limit, and gives back its slot when it stops.
  update tandem.tasks set counted = true
   where state = 'running' and not counted
     and ((p_scope = 'queue' and queue = p_name) or (p_scope = 'task' and name = p_name));
  update tandem.flow_limits set running = (
    select count(*) from tandem.tasks
     where state = 'running'
       and ((p_scope = 'queue' and queue = p_name) or (p_scope = 'task' and name = p_name)))
   where scope = p_scope and name = p_name;
  if p_scope = 'task' then
    update tandem.flow_keys k
       set running = coalesce(r.n, 0),
           at_limit = coalesce(r.n, 0) >= coalesce(p_key_concurrency, 2147483647)
      from tandem.flow_keys k2
      left join (select concurrency_key, count(*)::int as n from tandem.tasks
                  where state = 'running' and name = p_name and concurrency_key is not null
                  group by 1) r on r.concurrency_key = k2.key
     where k.name = p_name and k2.name = k.name and k2.key = k.key;
  end if;
  perform pg_notify('tandem_limits', p_scope || ':' || p_name);
  return true;
end $$;

-- claim_flow where only concurrency limits apply (no rate limit, no key):
-- the tasks are claimed first, from counts read without a lock, and the
-- counts are then checked and raised under the limit rows' locks, which
-- are held only for that; what the fresh counts do not allow is given back
-- at once, as it was. Claimers of one limit so overlap instead of waiting
-- for each other's whole claim.
create function tandem.claim_flow_concurrency(p_owner text, p_token bigint, p_queue text,
                                              p_n integer, p_ahead integer, p_names text[])
returns table (id text, name text, queue text, payload jsonb, key text, attempt integer,
               max_attempts integer, timeout_ms integer, metadata jsonb, priority integer,
               run_key text, lag_ms double precision, retry_ms double precision)
language plpgsql as $$
#variable_conflict use_column
declare
  ql tandem.flow_limits;
  tl tandem.flow_limits;
  v_now timestamptz := clock_timestamp();
  room integer := p_n + p_ahead;
  n_room integer;
  q_allow integer;
  keep integer;
  ids bigint[];
  taken bigint[] := '{}';
  kept bigint[] := '{}';
  back bigint[] := '{}';
  took_names text[] := '{}';
  names text[];
  first integer;
  nm text;
begin
  if p_n > 0
     and not exists (select 1 from tandem.queues qu where qu.name = p_queue and qu.paused)
     and exists (select 1 from tandem.workers w where w.id = p_owner) then
    select * into ql from tandem.flow_limits l where l.scope = 'queue' and l.name = p_queue;
    if ql.concurrency is not null then
      room := least(room, tandem.flow_share(ql.concurrency - ql.running, p_n, p_ahead));
    end if;
    names := array(select n from unnest(p_names) as n order by n);
    first := floor(random() * greatest(cardinality(names), 1))::int;
    for i in 0 .. cardinality(names) - 1 loop
      exit when room <= 0;
      nm := names[1 + (first + i) % cardinality(names)];
      tl := null;
      select * into tl from tandem.flow_limits l where l.scope = 'task' and l.name = nm;
      continue when tl.name is null and ql.name is null;
      n_room := room;
      if tl.concurrency is not null then
        n_room := least(n_room, tandem.flow_share(tl.concurrency - tl.running, p_n, p_ahead));
      end if;
      continue when n_room <= 0;
      ids := array(
        select t.id from tandem.tasks t
         where t.queue = p_queue and t.state in ('queued', 'retrying') and t.run_at <= now()
           and t.name = nm
         order by t.priority, t.run_at, t.id
         limit n_room
           for update skip locked);
      if cardinality(ids) > 0 then
        perform tandem.flow_take(ids, p_owner, p_token, v_now);
        taken := taken || ids;
        took_names := took_names || nm;
        room := room - cardinality(ids);
      end if;
    end loop;
    if cardinality(taken) > 0 then
      -- Lock order everywhere: the queue's row, then names in order.
      select * into ql from tandem.flow_limits l where l.scope = 'queue' and l.name = p_queue
         for update;
      q_allow := coalesce(ql.concurrency - ql.running, 2147483647);
      foreach nm in array (select array(select n from unnest(took_names) as n order by n)) loop
        tl := null;
        select * into tl from tandem.flow_limits l where l.scope = 'task' and l.name = nm
           for update;
        ids := array(select t.id from tandem.tasks t where t.id = any(taken) and t.name = nm
                      order by t.priority, t.run_at, t.id);
        keep := greatest(0, least(cardinality(ids), q_allow,
                                  coalesce(tl.concurrency - tl.running, 2147483647)));
        kept := kept || ids[1:keep];
        back := back || ids[keep + 1:];
        q_allow := q_allow - keep;
        if tl.name is not null and keep > 0 then
          update tandem.flow_limits l set running = l.running + keep
           where l.scope = 'task' and l.name = nm;
        end if;
      end loop;
      if ql.name is not null and cardinality(kept) > 0 then
        update tandem.flow_limits l set running = l.running + cardinality(kept)
         where l.scope = 'queue' and l.name = p_queue;
      end if;
      if cardinality(back) > 0 then
        -- Not allowed after all: as it was before this claim.
        update tandem.tasks t
           set state = case when t.attempt > 1 then 'retrying' else 'queued' end,
               attempt = t.attempt - 1, started_at = null, owner = null, claim_token = null,
               counted = false
         where t.id = any(back);
      end if;
    end if;
    return query
      select t.id::text, t.name::text, t.queue::text, t.payload, t.key, t.attempt,
             t.max_attempts::int, t.timeout_ms, t.metadata, t.priority,
             to_char(t.run_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
             date_part('epoch', v_now - t.run_at) * 1000, null::float8
        from tandem.tasks t
       where t.id = any(kept)
       order by t.priority, t.run_at, t.id;
  end if;
  return query select null::text, null::text, null::text, null::jsonb, null::text, null::int,
    null::int, null::int, null::jsonb, null::int, null::text, null::float8, null::float8;
end $$;

-- Claims up to p_n tasks (the worker's free slots) and up to p_ahead more
-- (to hold ahead of them) of queue p_queue, of the task names p_names, for
-- owner p_owner under claim token p_token, obeying every limit of the
-- queue and of each name. Tasks held ahead take slots of a limit too, so
-- they are only claimed out of a limit's headroom: at most half of what is
-- left once the free slots are served. Returns the claimed tasks, then one row with a
-- null id whose retry_ms says when a rate limit lets the next start
-- through (null: no rate limit is what holds these tasks back).
create function tandem.claim_flow(p_owner text, p_token bigint, p_queue text, p_n integer,
                                  p_ahead integer, p_names text[])
returns table (id text, name text, queue text, payload jsonb, key text, attempt integer,
               max_attempts integer, timeout_ms integer, metadata jsonb, priority integer,
               run_key text, lag_ms double precision, retry_ms double precision)
language plpgsql as $$
#variable_conflict use_column
declare
  ql tandem.flow_limits;
  tl tandem.flow_limits;
  v_now timestamptz;
  room integer := p_n + p_ahead;
  n_room integer;
  got integer;
  seen integer;
  probes integer;
  rate_room integer;
  taken bigint[] := '{}';
  ids bigint[];
  retry double precision;
  k record;
  names text[];
  first integer;
  nm text;
begin
  -- Concurrency limits alone: claim first, then count under the locks.
  if not exists (select 1 from tandem.flow_limits l
                  where ((l.scope = 'queue' and l.name = p_queue)
                         or (l.scope = 'task' and l.name = any(p_names)))
                    and (l.rate_limit is not null or l.keyed)) then
    return query select * from tandem.claim_flow_concurrency(p_owner, p_token, p_queue, p_n,
                                                             p_ahead, p_names);
    return;
  end if;
  if p_n > 0
     and not exists (select 1 from tandem.queues qu where qu.name = p_queue and qu.paused)
     and exists (select 1 from tandem.workers w where w.id = p_owner) then
    -- Lock order everywhere: the queue's row, then names in order, then keys.
    select * into ql from tandem.flow_limits l where l.scope = 'queue' and l.name = p_queue
       for update;
    perform 1 from tandem.flow_limits l where l.scope = 'task' and l.name = any(p_names)
     order by l.name for update;
    -- After the locks: every claim under these limits is ordered in time.
    v_now := clock_timestamp();
    if ql.name is not null then
      if ql.concurrency is not null then
        room := least(room, tandem.flow_share(ql.concurrency - ql.running, p_n, p_ahead));
      end if;
      if ql.rate_limit is not null then
        rate_room := ql.rate_limit - tandem.flow_recent(ql.starts_at, ql.starts_n, ql.rate_per_ms, v_now);
        if rate_room <= 0 then
          retry := tandem.flow_retry_ms(ql.starts_at, ql.starts_n, ql.rate_limit, ql.rate_per_ms, v_now);
        end if;
        room := least(room, tandem.flow_share(rate_room, p_n, p_ahead));
      end if;
    end if;
    -- Names take turns from a random start, so that none always comes first.
    names := array(select n from unnest(p_names) as n order by n);
    first := floor(random() * greatest(cardinality(names), 1))::int;
    for i in 0 .. cardinality(names) - 1 loop
      exit when room <= 0;
      nm := names[1 + (first + i) % cardinality(names)];
      tl := null;
      select * into tl from tandem.flow_limits l where l.scope = 'task' and l.name = nm;
      -- Neither this queue nor this name is limited: the batched claim takes it.
      continue when tl.name is null and ql.name is null;
      n_room := room;
      if tl.name is not null then
        if tl.concurrency is not null then
          n_room := least(n_room, tandem.flow_share(tl.concurrency - tl.running, p_n, p_ahead));
        end if;
        if tl.rate_limit is not null then
          rate_room := tl.rate_limit - tandem.flow_recent(tl.starts_at, tl.starts_n, tl.rate_per_ms, v_now);
          if rate_room <= 0 then
            retry := least(retry, tandem.flow_retry_ms(tl.starts_at, tl.starts_n, tl.rate_limit,
                                                        tl.rate_per_ms, v_now));
          end if;
          n_room := least(n_room, tandem.flow_share(rate_room, p_n, p_ahead));
        end if;
      end if;
      continue when n_room <= 0;
      got := 0;
      if tl.name is not null and tl.keyed then
        -- Round-robin over the keys that may have a task to start: one task
        -- per key per pass, least recently served key first.
        probes := 0;
        loop
          seen := 0;
          for k in
            select fk.key, fk.running, fk.starts_at, fk.starts_n from tandem.flow_keys fk
             where fk.name = nm and fk.pending and not fk.at_limit and fk.ready_at <= v_now
             order by fk.last_claimed_at, fk.key
             limit n_room - got
               for update
          loop
            seen := seen + 1;
            probes := probes + 1;
            if tl.key_concurrency is not null and k.running >= tl.key_concurrency then
              continue;
            end if;
            if tl.key_rate_limit is not null and tl.key_rate_limit
                 - tandem.flow_recent(k.starts_at, k.starts_n, tl.key_rate_per_ms, v_now) <= 0 then
              update tandem.flow_keys fk
                 set ready_at = v_now + tandem.flow_retry_ms(k.starts_at, k.starts_n,
                       tl.key_rate_limit, tl.key_rate_per_ms, v_now) * interval '1 millisecond'
               where fk.name = nm and fk.key = k.key;
              continue;
            end if;
            ids := tandem.flow_key_head(nm, k.key, tl.key_order, v_now);
            if ids is null then
              -- Nothing of this key waits: leave it out until a task does.
              update tandem.flow_keys fk set pending = false where fk.name = nm and fk.key = k.key;
              continue;
            end if;
            continue when cardinality(ids) = 0;  -- not due yet, or locked
            perform tandem.flow_take(ids, p_owner, p_token, v_now);
            taken := taken || ids;
            got := got + 1;
            update tandem.flow_keys fk
               set running = fk.running + 1,
                   at_limit = fk.running + 1 >= coalesce(tl.key_concurrency, 2147483647),
                   last_claimed_at = v_now,
                   starts_at = case when tl.key_rate_limit is null then '{}'
                     else tandem.flow_log_at(fk.starts_at, fk.starts_n, tl.key_rate_per_ms, v_now) end,
                   starts_n = case when tl.key_rate_limit is null then '{}'
                     else tandem.flow_log_n(fk.starts_at, fk.starts_n, tl.key_rate_per_ms, v_now, 1) end
             where fk.name = nm and fk.key = k.key;
          end loop;
          exit when seen = 0 or got >= n_room or probes > 4 * n_room + 64;
        end loop;
      else
        ids := array(
          select t.id from tandem.tasks t
           where t.queue = p_queue and t.state in ('queued', 'retrying') and t.run_at <= now()
             and t.name = nm
           order by t.priority, t.run_at, t.id
           limit n_room
             for update skip locked);
        got := cardinality(ids);
        if got > 0 then
          perform tandem.flow_take(ids, p_owner, p_token, v_now);
          taken := taken || ids;
        end if;
      end if;
      if got > 0 and tl.name is not null then
        update tandem.flow_limits l
           set running = l.running + got,
               starts_at = case when l.rate_limit is null then '{}'
                 else tandem.flow_log_at(l.starts_at, l.starts_n, l.rate_per_ms, v_now) end,
               starts_n = case when l.rate_limit is null then '{}'
                 else tandem.flow_log_n(l.starts_at, l.starts_n, l.rate_per_ms, v_now, got) end
         where l.scope = 'task' and l.name = nm;
      end if;
      room := room - got;
    end loop;
    if cardinality(taken) > 0 and ql.name is not null then
      update tandem.flow_limits l
         set running = l.running + cardinality(taken),
             starts_at = case when l.rate_limit is null then '{}'
               else tandem.flow_log_at(l.starts_at, l.starts_n, l.rate_per_ms, v_now) end,
             starts_n = case when l.rate_limit is null then '{}'
               else tandem.flow_log_n(l.starts_at, l.starts_n, l.rate_per_ms, v_now,
                                      cardinality(taken)) end
       where l.scope = 'queue' and l.name = p_queue;
    end if;
    return query
      select t.id::text, t.name::text, t.queue::text, t.payload, t.key, t.attempt,
             t.max_attempts::int, t.timeout_ms, t.metadata, t.priority,
             to_char(t.run_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
             date_part('epoch', v_now - t.run_at) * 1000, null::float8
        from tandem.tasks t
       where t.id = any(taken)
       order by t.priority, t.run_at, t.id;
  end if;
  return query select null::text, null::text, null::text, null::jsonb, null::text, null::int,
    null::int, null::int, null::jsonb, null::int, null::text, null::float8, retry;
end $$;

-- Of a limit's room r, what a claim for n free slots and `ahead` more may
-- take: the free slots first, then at most half of the headroom left.
create function tandem.flow_share(r integer, n integer, ahead integer)
returns integer language plpgsql immutable as $$
begin
  return case when r <= n then r else n + least(ahead, (r - n) / 2) end;
end $$;

-- Marks tasks ids as claimed by p_owner: running, counted, started at p_at.
create function tandem.flow_take(ids bigint[], p_owner text, p_token bigint, p_at timestamptz)
returns void language plpgsql as $$
begin
  update tandem.tasks t
     set state = 'running', attempt = t.attempt + 1, started_at = p_at, owner = p_owner,
         claim_token = p_token, counted = true
   where t.id = any(ids) and t.state in ('queued', 'retrying');
end $$;

-- The task of key p_key to start next: an array of its id, an empty array
-- when the key's next task is not due yet (its ready_at is moved to then),
-- or null when nothing of the key waits. With 'strict' order that is the
-- key's oldest waiting task, due or not; with 'skip', its oldest due one.
create function tandem.flow_key_head(p_name text, p_key text, p_order text, p_now timestamptz)
returns bigint[] language plpgsql as $$
declare
  h record;
begin
  if p_order = 'strict' then
    select t.id, t.run_at into h from tandem.tasks t
     where t.name = p_name and t.concurrency_key = p_key and t.state in ('queued', 'retrying')
     order by t.id limit 1;
  else
    select t.id, t.run_at into h from tandem.tasks t
     where t.name = p_name and t.concurrency_key = p_key and t.state in ('queued', 'retrying')
       and t.run_at <= p_now
     order by t.id limit 1;
    if h.id is null then
      select min(t.id) as id, min(t.run_at) as run_at into h from tandem.tasks t
       where t.name = p_name and t.concurrency_key = p_key and t.state in ('queued', 'retrying');
    end if;
  end if;
  if h.id is null then
    return null;
  end if;
  if h.run_at > p_now then
    update tandem.flow_keys set ready_at = h.run_at where name = p_name and key = p_key;
    return '{}';
  end if;
  perform 1 from tandem.tasks t where t.id = h.id and t.state in ('queued', 'retrying')
     for update skip locked;
  if not found then
    return '{}';
  end if;
  return array[h.id];
end $$;

-- The sliding-window log after a claim of n starts at p_at: entries older
-- than the window dropped, (p_at, n) appended.
create function tandem.flow_log_at(starts_at timestamptz[], starts_n integer[], per_ms integer,
                                   p_at timestamptz)
returns timestamptz[] language plpgsql immutable as $$
begin
  return array(select l.t from unnest(starts_at, starts_n) with ordinality as l(t, n, o)
                where l.t > p_at - per_ms * interval '1 millisecond' order by l.o) || p_at;
end $$;

create function tandem.flow_log_n(starts_at timestamptz[], starts_n integer[], per_ms integer,
                                  p_at timestamptz, n integer)
returns integer[] language plpgsql immutable as $$
begin
  return array(select l.n from unnest(starts_at, starts_n) with ordinality as l(t, n, o)
                where l.t > p_at - per_ms * interval '1 millisecond' order by l.o) || n;
end $$;

-- Milliseconds from p_at until the window holds fewer than p_limit starts.
create function tandem.flow_retry_ms(starts_at timestamptz[], starts_n integer[], p_limit integer,
                                     per_ms integer, p_at timestamptz)
returns double precision language plpgsql immutable as $$
begin
  -- Walking from the newest entry back, the first entry at which the
  -- starts counted reach p_limit must leave the window first.
  return (select greatest(1, date_part('epoch', max(w.t) + per_ms * interval '1 millisecond' - p_at) * 1000)
    from (
      select l.t, sum(l.n) over (order by l.o desc) as upto
        from unnest(starts_at, starts_n) with ordinality as l(t, n, o)
       where l.t > p_at - per_ms * interval '1 millisecond'
    ) w
   where w.upto >= p_limit);
end $$;
