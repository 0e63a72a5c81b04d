import type { Queryable } from '../db/executor.js';
import { taskEnqueueByName } from '../db/queries/task-types.js';
import { taskFindByKeys, taskInsert } from '../db/queries/tasks.js';
import { TandemError } from '../errors.js';
import { NAME_RE } from '../limits.js';
import type { PayloadSchema } from '../schema.js';
import type { AnyTask } from '../task.js';
import type { EnqueueOptions, EnqueueResult, TaskState } from '../types.js';
import { prepareTask } from './prepare.js';

const DEFAULT_MAX_PAYLOAD = 256 * 1024;

/** Accepts any value; enqueue still checks that it is storable JSON. */
const ANY_JSON: PayloadSchema = {
  '~standard': { version: 1, vendor: 'tandem', validate: (value: unknown) => ({ value }) },
};

/**
 * What a task name stands for when this process has no definition for it:
 * any JSON payload; queue, priority, attempts, timeout and concurrency key
 * come from the registry, in SQL (tandem.enqueue_task).
 */
function unknownTask(name: string): AnyTask {
  return {
    name,
    schema: ANY_JSON,
    queue: 'default',
    priority: 0,
    maxAttempts: 4,
    timeoutMs: null,
    concurrencyKey: null,
  } as unknown as AnyTask;
}

/**
 * Enqueues by task name, as the HTTP API and other languages do: through
 * the definition's schema and defaults when `definitions` has the name,
 * otherwise with any JSON payload through SQL enqueue, which applies the
 * registered definition (docs/registry.md). Validates everything the
 * caller gave before the insert.
 */
export async function enqueueByName(
  sql: Queryable,
  definitions: ReadonlyMap<string, AnyTask>,
  name: unknown,
  payload: unknown,
  options: EnqueueOptions = {},
): Promise<EnqueueResult & { validated: boolean }> {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `task name must be 1-200 characters of letters, digits and _ . : - /, got ${JSON.stringify(name)}`,
    );
  }
  const def = definitions.get(name);
  if (!def)
    return { ...(await enqueueThroughRegistry(sql, name, payload, options)), validated: false };
  const p = prepareTask(def, payload, options, DEFAULT_MAX_PAYLOAD);
  const [row] = await sql.query<{ id: string | null }>(taskInsert, [
    p.name,
    p.queue,
    p.payloadJson,
    p.key,
    p.priority,
    p.maxAttempts,
    p.runAt,
    p.delayMs,
    p.timeoutMs,
    p.metadataJson,
    true,
    p.concurrencyKey,
  ]);
  if (row?.id) return { id: row.id, inserted: true, state: 'queued', validated: true };
  const [found] = await sql.query<{ id: string; state: TaskState }>(taskFindByKeys, [
    [p.key],
    [p.name],
  ]);
  if (!found) {
    throw new TandemError(
      'INVALID_STATE',
      `task ${p.name} with key ${JSON.stringify(p.key)} conflicted but could not be found; it was deleted concurrently, enqueue again`,
    );
  }
  return { id: found.id, inserted: false, state: found.state, validated: true };
}

/**
 * SQL enqueue's path: the options the caller left out stay null, so the
 * registered definition (or, for a name nobody registered, the defaults and
 * the mark that its definition fills them in later) decides them.
 */
async function enqueueThroughRegistry(
  sql: Queryable,
  name: string,
  payload: unknown,
  options: EnqueueOptions,
): Promise<EnqueueResult> {
  const p = prepareTask(unknownTask(name), payload, options, DEFAULT_MAX_PAYLOAD);
  try {
    const [row] = await sql.query<{ id: string; inserted: boolean; state: TaskState }>(
      taskEnqueueByName,
      [
        name,
        p.payloadJson,
        p.key,
        options.queue ?? null,
        p.runAt,
        p.delayMs,
        options.priority ?? null,
        options.maxAttempts ?? null,
        p.concurrencyKey,
        p.metadataJson,
      ],
    );
    return { id: row!.id, inserted: row!.inserted, state: row!.state };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    // The registry's verdicts (sql/000008_registry.sql) as Tandem's errors.
    if (e.code === '42704') throw new TandemError('UNKNOWN_TASK', e.message ?? '');
    if (e.code === '22023' && /concurrency/.test(e.message ?? ''))
      throw new TandemError('INVALID_CONCURRENCY_KEY', e.message ?? '');
    throw err;
  }
}
