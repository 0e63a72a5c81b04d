import type { Queryable } from '../db/executor.js';
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
 * any JSON payload, the defaults of `tandem.enqueue` (queue `default`,
 * priority 0, 4 attempts). A worker that has the definition runs it.
 */
function unknownTask(name: string): AnyTask {
  return {
    name,
    schema: ANY_JSON,
    queue: 'default',
    priority: 0,
    maxAttempts: 4,
    timeoutMs: null,
  } as unknown as AnyTask;
}

/**
 * Enqueues by task name, as the HTTP API and other languages do: through
 * the definition's schema and defaults when `definitions` has the name,
 * otherwise with any JSON payload and SQL enqueue's defaults. Validates
 * everything before the insert.
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
  const p = prepareTask(def ?? unknownTask(name), payload, options, DEFAULT_MAX_PAYLOAD);
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
  ]);
  if (row?.id) return { id: row.id, inserted: true, state: 'queued', validated: !!def };
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
  return { id: found.id, inserted: false, state: found.state, validated: !!def };
}
