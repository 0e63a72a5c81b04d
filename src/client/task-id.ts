import { TandemError } from '../errors.js';

const ID_RE = /^[1-9][0-9]{0,18}$/;
/** Largest bigint: a longer id would make PostgreSQL fail with "out of range". */
const MAX_ID = 9_223_372_036_854_775_807n;

/** Checks and normalises a task id before it reaches SQL. */
export function toTaskId(id: unknown): string {
  const s = typeof id === 'number' || typeof id === 'bigint' ? String(id) : id;
  if (typeof s !== 'string' || !ID_RE.test(s) || BigInt(s) > MAX_ID) {
    throw new TandemError(
      'INVALID_ID',
      `task id must be a positive integer, got ${JSON.stringify(String(id))} (ids are at most ${MAX_ID})`,
    );
  }
  return s;
}
