/** Statements on `tandem.operator_actions`, the audit of operator mutations. */

export const operatorActionInsert = `
insert into tandem.operator_actions (actor, action, target, task_ids, affected, request)
values ($1, $2, $3::jsonb, $4::bigint[], $5, $6::jsonb)
returning id::text as id, at`;

/**
 * Newest first, keyset on id ($1: exclusive upper id or null), optionally
 * of one actor ($2), one action ($3), or touching one task ($4, through the
 * GIN index on task_ids); $5 rows.
 */
export const operatorActionList = `
select id::text as id, at, actor, action, target, task_ids::text[] as task_ids, affected, request
  from tandem.operator_actions
 where ($1::bigint is null or id < $1::bigint)
   and ($2::text is null or actor = $2)
   and ($3::text is null or action = $3)
   and ($4::bigint is null or task_ids @> array[$4::bigint])
 order by id desc
 limit $5`;
