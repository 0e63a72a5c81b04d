import { AssertionError } from 'node:assert';
import { toQueryable } from '../db/executor.js';
import { taskFindForExpect } from '../db/queries/testing.js';
import { type TaskRow, toTaskRecord } from '../db/rows.js';
import type { AnyTask, PayloadOf } from '../task.js';
import type { TaskRecord } from '../types.js';

/** A partial payload: objects match when every given field matches, recursively. */
export type PayloadMatch<P> = P extends readonly unknown[]
  ? P
  : P extends object
    ? { [K in keyof P]?: PayloadMatch<P[K]> }
    : P;

export interface ExpectEnqueuedOptions {
  /** Only the task with this key. */
  key?: string;
  /** Only tasks on this queue. */
  queue?: string;
  /** Exactly this many matching tasks. Default: at least one. */
  count?: number;
}

/** Whether `actual` has everything `expected` has (extra fields in objects are fine). */
function matches(actual: unknown, expected: unknown): boolean {
  if (expected === null || typeof expected !== 'object') return Object.is(actual, expected);
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((e, i) => matches(actual[i], e))
    );
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  return Object.entries(expected).every(([k, v]) =>
    v === undefined ? true : matches((actual as Record<string, unknown>)[k], v),
  );
}

/**
 * Asserts that tasks of `task` are in `tandem.tasks` as `executor` sees
 * them: pass the transaction your code enqueued in, and its uncommitted
 * tasks count. The payload matches when it has every field of `payload`
 * (JSON values, so bigint ids are the strings they are in the payload).
 * Returns the matching tasks, newest first; throws an AssertionError that
 * lists what was found otherwise. Any state counts, so a task a worker
 * already ran still shows it was enqueued.
 *
 * @example
 * // vitest or node:test
 * await db.transaction().execute(async (trx) => {
 *   await placeOrder(trx, { email: 'ada@example.com', cents: 500 });
 *   await expectEnqueued(trx, chargeOrder, { cents: 500 }, { key: 'charge:1' });
 * });
 */
export async function expectEnqueued<T extends AnyTask>(
  executor: unknown,
  task: T | string,
  payload?: PayloadMatch<PayloadOf<T>>,
  options: ExpectEnqueuedOptions = {},
): Promise<TaskRecord<PayloadOf<T>>[]> {
  const name = typeof task === 'string' ? task : task.name;
  const rows = await toQueryable(executor).query<TaskRow>(taskFindForExpect, [
    name,
    options.key ?? null,
    options.queue ?? null,
  ]);
  const found = rows.map(toTaskRecord);
  const hits = found.filter((t) => payload === undefined || matches(t.payload, payload));
  const wanted = options.count;
  if (wanted === undefined ? hits.length > 0 : hits.length === wanted) {
    return hits as TaskRecord<PayloadOf<T>>[];
  }
  const what = [
    `task ${JSON.stringify(name)}`,
    options.key !== undefined && `key ${JSON.stringify(options.key)}`,
    options.queue !== undefined && `queue ${JSON.stringify(options.queue)}`,
    payload !== undefined && `payload matching ${JSON.stringify(payload)}`,
  ]
    .filter(Boolean)
    .join(', ');
  const seen = found.length
    ? `; found ${found.length} of that name and key: ${found
        .slice(0, 5)
        .map((t) => `#${t.id} ${t.state} ${JSON.stringify(t.payload)}`)
        .join('; ')}`
    : '; found none of that name and key';
  throw new AssertionError({
    message: `expected ${wanted === undefined ? 'a' : wanted} ${what} to be enqueued, got ${hits.length}${seen}`,
    actual: hits.map((t) => t.payload),
    expected: payload,
    operator: 'expectEnqueued',
  });
}
