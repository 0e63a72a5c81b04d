/** Statements on `tandem.retention`: how long finished tasks are kept, fleet-wide. */

/**
 * The states with a retention, where their pruning walk stands, and
 * whether the walk is due to start over from the lowest id ($1 ms since the
 * last start).
 */
export const retentionList = `
select state, keep_ms::text, swept_to::text,
       (swept_at is null or swept_at < now() - $1 * interval '1 millisecond') as resweep
  from tandem.retention
 where keep_ms is not null
 order by state`;

/** Sets one state's retention ($2 ms, null forever); says whether it changed, and from what. */
export const retentionSet = `
with before as (select keep_ms from tandem.retention where state = $1)
update tandem.retention r
   set keep_ms = $2, updated_at = now(), updated_by = $3
 where r.state = $1
returning (select keep_ms::text from before) as before,
          (select keep_ms from before) is distinct from $2::bigint as changed`;

/** Records where a state's walk stopped; a walk that started over notes when. */
export const retentionSave = `
update tandem.retention
   set swept_to = $2, swept_at = case when $3 then now() else swept_at end
 where state = $1`;

/** The first task id created within the last $1 ms. */
export const taskIdAt = `select tandem.id_at(now() - $1::bigint * interval '1 millisecond')::text as id`;
