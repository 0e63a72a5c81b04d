/**
 * Statements on the task registry (`tandem.task_types`,
 * `tandem.task_type_versions`, sql/000008_registry.sql).
 */

/**
 * Records definitions ($1, a JSON array built by src/client/task-types.ts)
 * for registrant $2 and adopts the waiting tasks of those names, in one
 * statement. One row per name: its hash, whether that hash is new as the
 * current definition, and how many waiting tasks took its defaults.
 */
export const taskTypesRegister =
  'select name, hash, changed, adopted from tandem.register_task_types($1::jsonb, $2)';

/**
 * Applies registered definitions to waiting tasks enqueued before their
 * name was registered (the leader runs it: closes the race of an enqueue
 * that committed just after the registration it did not see).
 */
export const taskTypesAdoptPending =
  'select name, adopted from tandem.adopt_pending_tasks() where adopted > 0';

/** Every registered task type with its versions and the live workers of each. */
export const taskTypesList = `
select tt.name, tt.queue, tt.priority, tt.max_attempts, tt.backoff, tt.timeout_ms,
       tt.transactional, tt.key_kind, tt.key_template, tt.limits, tt.key_limits,
       tt.payload_schema, tt.hash, tt.registered_at, tt.changed_at, tt.last_seen_at,
       tt.last_seen_by,
       coalesce((
         select json_agg(json_build_object(
                  'hash', v.hash, 'first_seen_at', v.first_seen_at, 'last_seen_at', v.last_seen_at,
                  'seen_by', v.seen_by,
                  'live_workers', coalesce((select json_agg(w.id order by w.id) from tandem.workers w
                                             where w.id = any(v.seen_by)), '[]'::json))
                  order by v.last_seen_at desc)
           from tandem.task_type_versions v where v.name = tt.name), '[]'::json) as versions
  from tandem.task_types tt
 order by tt.name`;

/** Waiting tasks of names nobody registered, per name and queue, most waiting first. */
export const taskTypesUnregistered = `
select name, queue, waiting::int as waiting, oldest_created_at
  from tandem.unregistered_tasks
 order by waiting desc, name, queue
 limit 1000`;

/**
 * SQL enqueue by name through the registry (tandem.enqueue_task): $1 name,
 * $2 payload, $3 key, $4 queue, $5 run_at, $6 delay ms (used without
 * run_at), $7 priority, $8 max attempts, $9 concurrency key, $10 metadata.
 */
export const taskEnqueueByName = `
select task_id::text as id, inserted, task_state as state
  from tandem.enqueue_task($1, $2::jsonb, key => $3, queue => $4,
         run_at => coalesce($5::timestamptz,
                            case when $6::bigint is null then null
                                 else now() + $6::bigint * interval '1 millisecond' end),
         priority => $7, max_attempts => $8, concurrency_key => $9, metadata => $10::jsonb)`;
