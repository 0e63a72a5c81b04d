-- Worker registry, leadership and cron state.

-- Each live worker process holds a session-level advisory lock
-- (classid 1952542308 = 'tand', objid = lock_key) on its own connection. The
-- lock vanishes the moment that connection closes, so a killed worker is
-- visible to everyone at once. heartbeat_at covers the frozen worker whose
-- connection stays open.
create sequence tandem.worker_lock_seq as integer minvalue 1 cycle;

create table tandem.workers (
  id           text primary key,
  host         text not null,
  pid          integer not null,
  queues       jsonb not null,
  lock_key     integer not null unique,
  started_at   timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  -- When the worker last took its lock, on the connection that holds it.
  locked_at    timestamptz not null default now()
);

-- Workers that are gone: their heartbeat is older than the lease, or their
-- liveness lock is free. Right after the server itself restarted, every lock
-- is free, so a free lock counts only for a worker that took it since that
-- restart (locked_at), or once the server has been up 10 seconds: the time
-- survivors get to reconnect.
create function tandem.dead_workers(lease interval)
returns setof text
language sql stable
as $$
  select w.id from tandem.workers w
   where w.heartbeat_at < now() - lease
      or ((pg_postmaster_start_time() < now() - interval '10 seconds'
           or w.locked_at > pg_postmaster_start_time())
          and not exists (
            select 1 from pg_locks l
             where l.locktype = 'advisory' and l.granted
               and l.database = (select oid from pg_database where datname = current_database())
               and l.classid = 1952542308 and l.objid = w.lock_key and l.objsubid = 2))
$$;

-- One leader at a time: a lease that the holder renews. Another worker may
-- take it when it expires or when its holder is dead.
create table tandem.leader (
  id         integer primary key default 1 check (id = 1),
  holder     text not null,
  elected_at timestamptz not null default now(),
  expires_at timestamptz not null
);

-- The last tick each cron schedule fired, so a new leader continues from it.
create table tandem.schedules (
  name       text primary key,
  last_tick  timestamptz not null,
  updated_at timestamptz not null default now()
);
