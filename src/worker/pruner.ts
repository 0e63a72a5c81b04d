import type { Queryable } from '../db/executor.js';
import { taskPrune } from '../db/queries/tasks.js';
import { toMs } from '../duration.js';
import type { Duration, Logger } from '../types.js';

/** How long finished tasks are kept, per terminal state; `false` keeps them forever. */
export interface RetentionOptions {
  succeeded?: Duration | false;
  failed?: Duration | false;
  cancelled?: Duration | false;
}

const DEFAULTS = { succeeded: '7d', failed: '30d', cancelled: '30d' } as const;
const BATCH = 1_000;
/** Bounded work per pass, so one pass never holds the leader for long. */
const MAX_BATCHES = 20;

export function resolveRetention(r: RetentionOptions = {}): [state: string, ms: number][] {
  const out: [string, number][] = [];
  for (const state of ['succeeded', 'failed', 'cancelled'] as const) {
    const v = r[state] === undefined ? DEFAULTS[state] : r[state];
    if (v !== false) out.push([state, toMs(v, `retention.${state}`)]);
  }
  return out;
}

/** Leader duty: deletes finished tasks past their retention, in batches of 1,000. */
export async function prune(
  sql: Queryable,
  retention: [string, number][],
  logger: Logger,
): Promise<number> {
  let total = 0;
  for (const [state, ms] of retention) {
    for (let i = 0; i < MAX_BATCHES; i++) {
      const [row] = await sql.query<{ n: number }>(taskPrune, [state, ms, BATCH]);
      const deleted = row?.n ?? 0;
      total += deleted;
      if (deleted < BATCH) break;
    }
  }
  if (total > 0) logger.info({ deleted: total }, 'pruned finished tasks past retention');
  return total;
}
