/**
 * Bulk operator actions on `tandem.tasks`, one batch of ids ($1) per
 * statement. Each re-checks the state, so a task that moved on since it was
 * listed is left alone.
 */

/** Run finished tasks once more (as taskRetry does for one). */
export const taskBulkRetry = `
update tandem.tasks
   set state = 'queued', run_at = now(), finished_at = null, result = null,
       max_attempts = greatest(max_attempts, attempt + 1)
 where id = any($1::bigint[]) and state in ('failed', 'cancelled', 'succeeded')
returning id::text as id, queue`;

/** Cancel tasks that are not running. */
export const taskBulkCancelWaiting = `
update tandem.tasks set state = 'cancelled', finished_at = now()
 where id = any($1::bigint[]) and state in ('queued', 'retrying')
returning id::text as id`;

export const taskBulkDelete = `
delete from tandem.tasks where id = any($1::bigint[]) and state <> 'running'
returning id::text as id`;
