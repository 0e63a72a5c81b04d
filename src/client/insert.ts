/**
 * The insert of prepared (validated) tasks, in the caller's executor: one
 * statement for one task or a batch, and the lookup of existing tasks for
 * keys that were taken already.
 */
import type { Queryable } from '../db/executor.js';
import { taskFindByKeys, taskInsert, taskInsertMany } from '../db/queries/tasks.js';
import { TandemError } from '../errors.js';
import type { EnqueueResult, TaskState } from '../types.js';
import { type PreparedTask, toInsertParams } from './prepare.js';

interface InsertedRow {
  id: string;
  key: string | null;
  name: string;
  state: TaskState;
}

/** Inserts one task; `wake` sends the queue's wake-up on commit. */
export async function insertOne(
  q: Queryable,
  p: PreparedTask,
  wake: boolean,
): Promise<EnqueueResult> {
  const [row] = await q.query<{ id: string | null }>(taskInsert, [
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
    wake,
    p.concurrencyKey,
  ]);
  if (row?.id) return { id: row.id, inserted: true, state: 'queued' };
  const [result] = await matchInserted(q, [p], [], []);
  return result!;
}

/** Inserts a batch in one round trip; results in input order. `wake`: queues to wake on commit. */
export async function insertMany(
  q: Queryable,
  prepared: PreparedTask[],
  wake: string[],
): Promise<EnqueueResult[]> {
  const { payloads, shared, arrays, metadata, concurrencyKeys } = toInsertParams(prepared);
  const [row] = await q.query<{
    first_id: string | null;
    inserted: number;
    ids: string | null;
    keyed: [string, string][] | null;
  }>(taskInsertMany, [payloads, wake, shared, ...arrays, metadata, concurrencyKeys]);
  return matchInserted(q, prepared, insertedIds(row), row?.keyed ?? []);
}

/**
 * Maps inserted ids back to inputs. Identity values follow insertion
 * order, which follows input order, so the sorted new ids line up with the
 * inputs that were not duplicates.
 */
async function matchInserted(
  q: Queryable,
  prepared: PreparedTask[],
  ids: string[],
  keyed: [string, string][],
): Promise<EnqueueResult[]> {
  const insertedKeys = new Set<string>();
  for (const [name, key] of keyed) insertedKeys.add(`${name}\u0000${key}`);
  const out: (EnqueueResult | null)[] = new Array(prepared.length);
  const seen = new Set<string>();
  const missing: number[] = [];
  let next = 0;
  for (let i = 0; i < prepared.length; i++) {
    const p = prepared[i]!;
    if (p.key !== null) {
      const k = `${p.name}\u0000${p.key}`;
      if (!insertedKeys.has(k) || seen.has(k)) {
        missing.push(i);
        out[i] = null;
        continue;
      }
      seen.add(k);
    }
    out[i] = { id: ids[next++]!, inserted: true, state: 'queued' };
  }
  if (missing.length > 0) {
    const keys = missing.map((i) => prepared[i]!.key);
    const names = missing.map((i) => prepared[i]!.name);
    const found = await q.query<InsertedRow>(taskFindByKeys, [keys, names]);
    const byKey = new Map(found.map((r) => [`${r.name}\u0000${r.key}`, r]));
    for (const i of missing) {
      const p = prepared[i]!;
      const r = byKey.get(`${p.name}\u0000${p.key}`);
      if (!r) {
        throw new TandemError(
          'INVALID_STATE',
          `task ${p.name} with key ${JSON.stringify(p.key)} conflicted but could not be found; it was deleted concurrently, enqueue again`,
        );
      }
      out[i] = { id: r.id, inserted: false, state: r.state };
    }
  }
  return out as EnqueueResult[];
}

/** The new ids of a batch insert, in order: listed, or consecutive from first_id. */
function insertedIds(
  row: { first_id: string | null; inserted: number; ids: string | null } | undefined,
): string[] {
  if (!row?.first_id) return [];
  if (row.ids) return row.ids.split(',');
  const out = new Array<string>(row.inserted);
  const first = BigInt(row.first_id);
  if (first + BigInt(row.inserted) <= BigInt(Number.MAX_SAFE_INTEGER)) {
    const f = Number(first);
    for (let i = 0; i < row.inserted; i++) out[i] = String(f + i);
  } else {
    for (let i = 0; i < row.inserted; i++) out[i] = String(first + BigInt(i));
  }
  return out;
}
