/** Statements of flow control (sql/000009_flow_limits.sql). */

/**
 * Claims up to $4 tasks (free slots) and $5 more (to hold ahead) of queue $3
 * of names $6 for owner $1, token $2, obeying every limit.
 */
export const flowClaim = 'select * from tandem.claim_flow($1, $2, $3, $4, $5, $6)';

/** Which queues and task names have limits (or claim round-robin by key). */
export const flowLimited = 'select scope, name from tandem.flow_limits';

/**
 * Sets the limits of a queue or task name (all null and keyed false: none),
 * recounting what runs there. $11 is the source: a 'definition' does not
 * overwrite what an 'operator' set. Yields whether anything changed.
 */
export const flowSet =
  'select tandem.set_flow_limits($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) as changed';

/** Every limit, with what runs under it now. */
export const flowList = `
select l.scope, l.name, l.concurrency, l.rate_limit, l.rate_per_ms, l.keyed, l.key_concurrency,
       l.key_rate_limit, l.key_rate_per_ms, l.key_order, l.running, l.source, l.updated_at,
       case when l.rate_limit is null then null
            else tandem.flow_recent(l.starts_at, l.starts_n, l.rate_per_ms, now()) end as recent_starts,
       (select count(*) from tandem.flow_keys k where l.scope = 'task' and k.name = l.name)::int as keys,
       (select count(*) from tandem.flow_keys k
         where l.scope = 'task' and k.name = l.name and k.at_limit)::int as keys_at_limit
  from tandem.flow_limits l
 order by l.scope, l.name`;

/**
 * Removes what an operator set on a queue or name, and tells the workers,
 * which write their definitions' limits back.
 */
export const flowReset = `
with gone as (
  delete from tandem.flow_limits where scope = $1 and name = $2 and source = 'operator'
  returning 1
)
select pg_notify('tandem_limits', $1 || ':' || $2) from gone`;

/** Key rows idle for an hour: nothing of theirs runs or waits. */
export const flowKeysPrune = `
delete from tandem.flow_keys
 where not pending and running = 0 and last_claimed_at < now() - interval '1 hour'`;
