/** Statements on the worker registry and leadership. */

/** classid of Tandem's liveness advisory locks ('tand'). */
export const LOCK_NAMESPACE = 1_952_542_308;

export const workerNextLockKey = `select nextval('tandem.worker_lock_seq')::integer as key`;

export const workerLock = `select pg_advisory_lock(${LOCK_NAMESPACE}, $1::integer)`;

export const workerUnlock = `select pg_advisory_unlock(${LOCK_NAMESPACE}, $1::integer)`;

export const workerRegister = `
insert into tandem.workers (id, host, pid, queues, lock_key) values ($1, $2, $3, $4, $5)`;

/**
 * On the connection that just took the worker's lock again: records when,
 * and returns no row when the worker was declared dead and removed.
 */
export const workerReattach = `
update tandem.workers set heartbeat_at = now(), locked_at = now() where id = $1 returning id`;

/** Returns no row when the worker was declared dead and removed. */
export const workerHeartbeat = `
update tandem.workers set heartbeat_at = now() where id = $1 returning id`;

export const workerDeregister = `delete from tandem.workers where id = $1`;

/** Take or renew the leader lease ($2 ms) for $1; returns a row when $1 leads. */
export const leaderElect = `
insert into tandem.leader as l (id, holder, expires_at)
values (1, $1, now() + $2 * interval '1 millisecond')
on conflict (id) do update
   set holder = excluded.holder,
       expires_at = excluded.expires_at,
       elected_at = case when l.holder = excluded.holder then l.elected_at else now() end
 where l.holder = excluded.holder
    or l.expires_at < now()
    or not exists (select 1 from tandem.workers w where w.id = l.holder)
    or l.holder in (select tandem.dead_workers($3 * interval '1 millisecond'))
returning holder`;

export const leaderResign = `delete from tandem.leader where holder = $1`;

/** Dead workers that hold no running task any more. */
export const workerDeleteDead = `
delete from tandem.workers w
 where w.id in (select tandem.dead_workers($1 * interval '1 millisecond'))
   and not exists (select 1 from tandem.tasks t where t.state = 'running' and t.owner = w.id)
returning w.id`;
