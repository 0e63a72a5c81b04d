/**
 * Failure groups: the latest $2 failed tasks (through the failed/cancelled
 * partial index, newest first), optionally of one task name $1, grouped by
 * task name and the last attempt's error; $3 groups, largest first, each
 * with the payload of its newest task as a sample.
 */
export const taskFailureGroups = `
with recent as (
  select id, name, finished_at, errors->-1 as last
    from tandem.tasks
   where state = 'failed' and ($1::text is null or name = $1)
   order by id desc
   limit $2
),
groups as (
  select name, last->>'name' as error_name, last->>'message' as message,
         count(*)::int as count, min(finished_at) as first_seen, max(finished_at) as last_seen,
         max(id) as sample_id
    from recent
   group by 1, 2, 3
   order by count desc, last_seen desc
   limit $3
)
select g.name, g.error_name, g.message, g.count, g.first_seen, g.last_seen,
       g.sample_id::text as sample_id, t.payload as sample_payload,
       (select count(*)::int from recent) as scanned
  from groups g
  join tandem.tasks t on t.id = g.sample_id
 order by g.count desc, g.last_seen desc`;
