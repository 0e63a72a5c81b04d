/** Statements on `tandem.task_stats`, the stats rollup (src/worker/rollup.ts). */

/**
 * Writes one worker's rows ($1 = writer) with absolute values: parallel
 * arrays of span (60 or 3600 s), start (ms since the epoch), queue, name,
 * counts, and histograms as array literals.
 */
export const rollupWrite = `
insert into tandem.task_stats as s
  (span_s, at, queue, name, writer, succeeded, failed, retried,
   run_hist, run_sum_ms, lag_hist, lag_sum_ms)
select r.span_s, to_timestamp(r.at_ms / 1000.0), r.queue, r.name, $1,
       r.succeeded, r.failed, r.retried,
       r.run_hist::integer[], r.run_sum_ms, r.lag_hist::integer[], r.lag_sum_ms
  from unnest($2::integer[], $3::bigint[], $4::text[], $5::text[], $6::integer[], $7::integer[],
              $8::integer[], $9::text[], $10::float8[], $11::text[], $12::float8[])
       as r(span_s, at_ms, queue, name, succeeded, failed, retried,
            run_hist, run_sum_ms, lag_hist, lag_sum_ms)
on conflict (span_s, at, queue, name, writer) do update
   set succeeded = excluded.succeeded, failed = excluded.failed, retried = excluded.retried,
       run_hist = excluded.run_hist, run_sum_ms = excluded.run_sum_ms,
       lag_hist = excluded.lag_hist, lag_sum_ms = excluded.lag_sum_ms,
       updated_at = now()`;

/** Retention of the rollup: minute rows 2 days, hour rows 35 days; bounded per pass. */
export const rollupPrune = `
delete from tandem.task_stats
 where ctid = any(array(
   select ctid from tandem.task_stats
    where (span_s = 60 and at < now() - interval '2 days')
       or (span_s = 3600 and at < now() - interval '35 days')
    limit 10000))`;

/** Rows of span $1 from $2 (inclusive) to $3 (exclusive), ms since the epoch. */
export const rollupRead = `
select (extract(epoch from at) * 1000)::float8 as at_ms, queue, name,
       succeeded, failed, retried, run_hist, run_sum_ms, lag_hist, lag_sum_ms
  from tandem.task_stats
 where span_s = $1 and at >= to_timestamp($2 / 1000.0) and at < to_timestamp($3 / 1000.0)`;
