-- Claim tokens, lost attempts, per-worker leases, liveness grace,
-- fleet-wide retention, read-first elections, the same input rules for the
-- SQL door as for TypeScript.

-- claim_token: which claim of its owner the running attempt is (the worker's
-- own counter). Every outcome is written only where owner and token still
-- match, so two executions of one attempt (a claim the database forgot in a
-- crash, then claimed again) can never settle each other.
-- lost: attempts that ended without an outcome (worker died, outcome lost
-- with a connection). They are not counted against max_attempts; the third
-- one fails the task as poison.
alter table tandem.tasks
  add column claim_token bigint,
  add column lost integer not null default 0;

-- Each worker is judged by its own lease, and a free liveness lock counts as
-- death only once a rescuer has seen it free for a grace period
-- (lock_lost_at), so a connection blip or a server crash-restart is not a
-- death.
-- A worker without a session of its own (behind a transaction pooler) holds
-- no liveness lock: lock_key is null, and only its heartbeat counts.
alter table tandem.workers
  add column lease_ms integer not null default 30000,
  add column lock_lost_at timestamptz,
  alter column lock_key drop not null;

drop function tandem.dead_workers(interval);

-- Workers that are gone: their heartbeat is older than their own lease, or
-- their liveness lock has been seen free for longer than `grace`.
create function tandem.dead_workers(grace interval default interval '2 seconds')
returns setof text
language sql stable
as $$
  select w.id from tandem.workers w
   where w.heartbeat_at < now() - w.lease_ms * interval '1 millisecond'
      or w.lock_lost_at < now() - grace
$$;

-- Granted liveness locks in this database.
create function tandem.held_worker_locks()
returns setof integer
language sql stable
as $$
  select l.objid::bigint::integer from pg_locks l
   where l.locktype = 'advisory' and l.granted and l.classid = 1952542308 and l.objsubid = 2
     and l.database = (select oid from pg_database where datname = current_database())
$$;

-- Takes or renews the leader lease for `candidate`. Reads first: while
-- another worker holds a valid lease and is alive, it writes nothing (no
-- transaction id, no row lock, no commit to flush). Notes when the holder's
-- lock is first seen free, so a dead leader is replaced after the grace.
create function tandem.elect(candidate text, ttl_ms integer, grace interval default interval '2 seconds')
returns boolean
language plpgsql
as $$
declare
  cur record;
  w record;
  held boolean;
  won text;
begin
  select holder, expires_at into cur from tandem.leader where id = 1;
  if found and cur.holder <> candidate and cur.expires_at > now() then
    select id, lock_key, lock_lost_at,
           heartbeat_at < now() - lease_ms * interval '1 millisecond' as stale
      into w from tandem.workers where id = cur.holder;
    if found and not w.stale and w.lock_key is null then
      return false;
    elsif found and not w.stale then
      held := w.lock_key in (select tandem.held_worker_locks());
      if held and w.lock_lost_at is null then
        return false;
      elsif held then
        update tandem.workers set lock_lost_at = null where id = w.id;
        return false;
      elsif w.lock_lost_at is null then
        update tandem.workers set lock_lost_at = now() where id = w.id and lock_lost_at is null;
        return false;
      elsif w.lock_lost_at > now() - grace then
        return false;
      end if;
    end if;
  end if;
  insert into tandem.leader as l (id, holder, expires_at)
  values (1, candidate, now() + ttl_ms * interval '1 millisecond')
  on conflict (id) do update
     set holder = excluded.holder,
         expires_at = excluded.expires_at,
         elected_at = case when l.holder = excluded.holder then l.elected_at else now() end
   where l.holder = excluded.holder
      or l.expires_at < now()
      or not exists (select 1 from tandem.workers x where x.id = l.holder)
      or l.holder in (select tandem.dead_workers(grace))
  returning holder into won;
  return won = candidate;
end;
$$;

-- How long finished tasks are kept, for the whole fleet. keep_ms null keeps
-- them forever. A worker started with a `retention` option writes it here;
-- the leader's pruner reads it. swept_to is the pruner's position in its
-- walk through the table in id order.
create table tandem.retention (
  state      text primary key check (state in ('succeeded', 'failed', 'cancelled')),
  keep_ms    bigint check (keep_ms >= 0),
  swept_to   bigint not null default 0,
  swept_at   timestamptz,
  updated_at timestamptz not null default now(),
  updated_by text
);
insert into tandem.retention (state, keep_ms) values
  ('succeeded', 7 * 86400000::bigint),
  ('failed', 30 * 86400000::bigint),
  ('cancelled', 30 * 86400000::bigint);

-- The first id of tasks created at or after `t` (approximately: ids follow
-- insertion order, created_at is the enqueuing transaction's start). A binary
-- search over the primary key: about forty index probes, however large the
-- table, where an index on created_at would cost every write.
create function tandem.id_at(t timestamptz)
returns bigint
language plpgsql stable
as $$
declare
  lo bigint;
  hi bigint;
  mid bigint;
  probe record;
begin
  select min(id), max(id) into lo, hi from tandem.tasks;
  if lo is null then
    return 1;
  end if;
  hi := hi + 1;
  while lo < hi loop
    mid := lo + (hi - lo) / 2;
    select id, created_at into probe from tandem.tasks where id >= mid order by id limit 1;
    if probe.id is null or probe.created_at >= t then
      hi := mid;
    else
      lo := probe.id + 1;
    end if;
  end loop;
  return lo;
end;
$$;

-- The BRIN index stops narrowing once pruned pages are reused (their ranges
-- keep the old rows' times and widen with the new ones); the pruner walks the
-- primary key instead.
drop index tandem.tasks_finished_brin;

-- Live counts per queue and state, and tasks finished in the last hour among
-- those created in the last hour (bounded through the primary key).
create or replace view tandem.queue_stats as
select queue, state, count(*) as tasks, min(run_at) as oldest_run_at
  from tandem.tasks where state in ('queued', 'retrying')
 group by queue, state
union all
select queue, state, count(*), null
  from tandem.tasks where state = 'running'
 group by queue, state
union all
select queue, state, count(*), null
  from tandem.tasks
 where id >= tandem.id_at(now() - interval '1 hour')
   and finished_at > now() - interval '1 hour'
 group by queue, state;

-- SQL enqueue applies the same rules as TypeScript: names and queues of
-- 1-200 letters, digits and _ . : - /, keys of 1-500 characters, a finite
-- run_at within four-digit years, max_attempts from 1 to 1,000,000.
create or replace function tandem.enqueue(
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
  if enqueue.name !~ '^[A-Za-z0-9_.:/-]{1,200}$' then
    raise exception 'tandem.enqueue: name must be 1-200 characters of letters, digits and _ . : - /, got %', quote_literal(enqueue.name)
      using errcode = '22023';
  end if;
  if q !~ '^[A-Za-z0-9_.:/-]{1,200}$' then
    raise exception 'tandem.enqueue: queue must be 1-200 characters of letters, digits and _ . : - /, got %', quote_literal(q)
      using errcode = '22023';
  end if;
  if enqueue.key is not null and length(enqueue.key) not between 1 and 500 then
    raise exception 'tandem.enqueue: key must be 1-500 characters, got % characters', length(enqueue.key)
      using errcode = '22023';
  end if;
  if enqueue.run_at is not null and (not isfinite(enqueue.run_at)
      or enqueue.run_at < '1970-01-01 00:00:00+00' or enqueue.run_at >= '10000-01-01 00:00:00+00') then
    raise exception 'tandem.enqueue: run_at must be a finite time between 1970 and 9999, got %', enqueue.run_at
      using errcode = '22023';
  end if;
  if enqueue.max_attempts is not null and enqueue.max_attempts < 1 then
    raise exception 'tandem.enqueue: max_attempts must be at least 1, got %', enqueue.max_attempts
      using errcode = '22023';
  end if;
  if enqueue.max_attempts > 1000000 then
    raise exception 'tandem.enqueue: max_attempts must be from 1 to 1000000, got %', enqueue.max_attempts
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
  -- One notification per queue per transaction (a setting local to the
  -- transaction: nothing stays behind on a pooled server connection).
  last_notify := current_setting('tandem.notified_' || md5(q), true);
  if last_notify is null or last_notify = '' then
    perform pg_notify('tandem_wake', q);
    perform set_config('tandem.notified_' || md5(q), 'yes', true);
  end if;
  return task_id;
end;
$$;

-- The tasks table is a queue: every task is updated twice and deleted once.
-- Vacuum it after 2 % of its rows changed, not the default 20 %, so dead
-- entries do not pile up in its indexes between passes.
alter table tandem.tasks set (
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.02,
  autovacuum_analyze_scale_factor = 0.05
);
