/** Statements of the testing helpers (`tandem-queue/testing`). */

/**
 * Claims one task by id for owner $2, as attempt $3 (what `runTask` was asked
 * to run). Only a task that waits (queued or retrying) can be claimed.
 */
export const taskClaimById = `
update tandem.tasks
   set state = 'running', attempt = $3, started_at = now(), owner = $2, claim_token = $4
 where id = $1 and state in ('queued', 'retrying')
returning id::text as id, name, queue, payload, key, attempt, max_attempts, timeout_ms, metadata,
          claim_token::text as token, priority, run_at::text as run_key`;

/** The tasks of one name (and key), newest first, through the caller's executor. */
export const taskFindForExpect = `
select * from tandem.tasks
 where name = $1 and ($2::text is null or key = $2) and ($3::text is null or queue = $3)
 order by id desc
 limit 1000`;
