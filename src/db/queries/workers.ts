/** Statements on the worker registry and leadership. */

/** classid of Tandem's liveness advisory locks ('tand'). */
export const LOCK_NAMESPACE = 1_952_542_308;

/** How long a liveness lock must be seen free before its worker counts as dead. */
export const LOCK_GRACE_MS = 2_000;

export const workerNextLockKey = `select nextval('tandem.worker_lock_seq')::integer as key`;

/** Takes the liveness lock without waiting: false when another session holds it. */
export const workerTryLock = `select pg_try_advisory_lock(${LOCK_NAMESPACE}, $1::integer) as ok`;

export const workerUnlock = `select pg_advisory_unlock(${LOCK_NAMESPACE}, $1::integer)`;

/** The backends holding the liveness lock $1 (a half-open session of an earlier connection). */
export const workerLockHolders = `
select pid from pg_locks
 where locktype = 'advisory' and granted and classid = ${LOCK_NAMESPACE} and objid = $1::integer
   and objsubid = 2 and pid <> pg_backend_pid()
   and database = (select oid from pg_database where datname = current_database())`;

export const workerTerminate = `select pg_terminate_backend($1::integer)`;

/** Whether backend $1 is gone. */
export const workerBackendGone = `select not exists (select 1 from pg_stat_activity where pid = $1) as gone`;

export const workerRegister = `
insert into tandem.workers (id, host, pid, queues, lock_key, lease_ms) values ($1, $2, $3, $4, $5, $6)`;

/**
 * On the connection that just took the worker's lock (key $2, perhaps a
 * fresh one): records when, and returns no row when the worker was declared
 * dead and removed.
 */
export const workerReattach = `
update tandem.workers
   set heartbeat_at = now(), locked_at = now(), lock_lost_at = null, lock_key = $2
 where id = $1
returning id`;

/**
 * Returns no row when the worker was declared dead and removed; else the
 * queues paused right now, so claimed-ahead tasks of a paused queue are
 * given back even without LISTEN.
 */
export const workerHeartbeat = `
update tandem.workers set heartbeat_at = now(), lock_lost_at = null where id = $1
returning (select coalesce(array_agg(name), '{}') from tandem.queues where paused) as paused`;

export const workerDeregister = `delete from tandem.workers where id = $1`;

/**
 * Rescuer: notes when each worker's liveness lock is first seen free, and
 * forgets it when the lock is held again. Writes only rows whose state
 * changed.
 */
export const workerMarkLocks = `
with held as materialized (select tandem.held_worker_locks() as key)
update tandem.workers w
   set lock_lost_at = case when w.lock_lost_at is null then now() end
 where w.lock_key is not null
   and (w.lock_lost_at is null) = (w.lock_key not in (select key from held))`;

/** Dead workers other than $1 (a rescuer never judges itself). */
export const workerListDead = `
select id from tandem.dead_workers(${LOCK_GRACE_MS} * interval '1 millisecond') as d(id)
 where id <> $1`;

/** Take or renew the leader lease ($2 ms) for $1; true when $1 leads. */
export const leaderElect = `select tandem.elect($1, $2, ${LOCK_GRACE_MS} * interval '1 millisecond') as leads`;

export const leaderResign = `delete from tandem.leader where holder = $1`;

/** Of the dead workers $1, those that hold no running task any more. */
export const workerDeleteDead = `
delete from tandem.workers w
 where w.id = any($1::text[])
   and not exists (select 1 from tandem.tasks t where t.state = 'running' and t.owner = w.id)
returning w.id`;
