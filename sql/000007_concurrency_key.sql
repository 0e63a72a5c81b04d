-- The concurrency key of a task (TaskOptions.concurrencyKey), such as its
-- tenant: per-key limits and fair claiming across keys apply to it.
-- Null for tasks of names without one. Distinct from `key`, the idempotency key.
alter table tandem.tasks add column concurrency_key text;
