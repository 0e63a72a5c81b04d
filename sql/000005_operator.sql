-- Operator API: the audit of operator actions, the stats rollup that workers
-- write, cron definitions next to their last tick, and the index behind
-- listing failed and cancelled tasks.

-- Every mutation made through the HTTP API (and the CLI's bulk commands):
-- who (the label of the token used), what, on which ids or filter, how many
-- rows it changed. "Who retried task 42, and when":
--   select at, actor from tandem.operator_actions
--    where action = 'retry' and task_ids @> array[42::bigint];
create table tandem.operator_actions (
  id       bigint generated always as identity primary key,
  at       timestamptz not null default now(),
  actor    text not null,
  action   text not null,
  -- What was asked for: {"ids": [...]}, {"filter": {...}} or {"queue": "..."}.
  target   jsonb not null,
  -- The tasks it changed (the first 10,000 of a larger bulk action).
  task_ids bigint[],
  affected integer not null,
  -- Method, path, remote address and user agent of the request.
  request  jsonb
);
create index operator_actions_task_ids_idx on tandem.operator_actions using gin (task_ids);

-- Counts and latency histograms per (queue, task name), per minute and per
-- hour. Each worker process keeps its own in memory and writes its own rows
-- (writer) every few seconds with absolute values, so no two processes
-- update one row and a lost write is repaired by the next. Histogram bucket
-- i counts durations up to the i-th bound of src/histogram.ts (the last
-- bucket has no upper bound). Rows are pruned by the workers: minute rows
-- after 2 days, hour rows after 35 days.
create table tandem.task_stats (
  span_s     integer not null check (span_s in (60, 3600)),
  at         timestamptz not null,
  queue      text not null,
  name       text not null,
  writer     text not null,
  succeeded  integer not null,
  failed     integer not null,
  retried    integer not null,
  run_hist   integer[] not null,
  run_sum_ms double precision not null,
  lag_hist   integer[] not null,
  lag_sum_ms double precision not null,
  updated_at timestamptz not null default now(),
  primary key (span_s, at, queue, name, writer)
);

-- The leader writes each cron schedule's definition next to its last tick,
-- so operators (listSchedules, GET /api/schedules) see what runs when.
alter table tandem.schedules
  add column cron text,
  add column timezone text,
  add column task text,
  add column defined_at timestamptz;

-- Failed and cancelled tasks, newest first: the operator's most frequent
-- question, and rare rows among a large history. Only rows entering these
-- states add an entry; a task that succeeds pays a predicate check, and the
-- state column is already indexed (partial predicates), so no update that
-- was HOT becomes non-HOT. Measured in docs/http-api.md.
create index tasks_failed_idx on tandem.tasks (id) where state in ('failed', 'cancelled');
