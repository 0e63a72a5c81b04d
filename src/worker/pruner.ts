import type { Queryable } from '../db/executor.js';
import { retentionList, retentionSave, retentionSet, taskIdAt } from '../db/queries/retention.js';
import { taskPruneStep } from '../db/queries/tasks.js';
import { toMs } from '../duration.js';
import type { Duration, Logger } from '../types.js';

/** How long finished tasks are kept, per terminal state; `false` keeps them forever. */
export interface RetentionOptions {
  succeeded?: Duration | false;
  failed?: Duration | false;
  cancelled?: Duration | false;
}

const STATES = ['succeeded', 'failed', 'cancelled'] as const;
/** Rows read per step of the walk. */
const STEP = 5_000;
/** Work per pass; a pass that used it all is followed at once by the next. */
const BUDGET_MS = 1_000;
/** A caught-up pruner looks again this often. */
const IDLE_MS = 5_000;
/**
 * Each walk starts over from the lowest id this often, to reach rows that
 * were still running or retrying when it passed them.
 */
const RESWEEP_MS = 6 * 3_600_000;

/** The states of `r` that it sets, as keep times in ms (null: forever). */
export function resolveRetention(r: RetentionOptions): [state: string, ms: number | null][] {
  const out: [string, number | null][] = [];
  for (const state of STATES) {
    const v = r[state];
    if (v === undefined) continue;
    out.push([state, v === false ? null : toMs(v, `retention.${state}`)]);
  }
  return out;
}

/**
 * Makes `retention` the fleet's: written to `tandem.retention`, where the
 * leader's pruner reads it whoever leads. States it leaves out keep their
 * stored value (by default 7 days for succeeded, 30 for failed and
 * cancelled). Logs when it changes a value another deployment had set.
 */
export async function saveRetention(
  sql: Queryable,
  retention: [string, number | null][],
  by: string,
  logger: Logger,
): Promise<void> {
  for (const [state, ms] of retention) {
    const [row] = await sql.query<{ before: string | null; changed: boolean }>(retentionSet, [
      state,
      ms,
      by,
    ]);
    if (row?.changed)
      logger.info(
        {
          state,
          before: row.before === null ? 'forever' : `${row.before} ms`,
          now: ms ?? 'forever',
        },
        'retention changed for the fleet',
      );
  }
}

/**
 * One pass of retention pruning within `budgetMs`: for each state with a
 * retention, walk the table in id order from where the last pass stopped
 * up to the first id created within the retention period, deleting that
 * state's rows that finished before it. Returns how many rows went and
 * whether work is left. Walking the primary key keeps every step cheap
 * however the table's pages were reused; an index on finished_at would
 * cost every task's completion an index insert.
 */
export async function prunePass(
  sql: Queryable,
  logger: Logger,
  budgetMs = BUDGET_MS,
): Promise<{ deleted: number; more: boolean }> {
  const deadline = performance.now() + budgetMs;
  const rows = await sql.query<{
    state: string;
    keep_ms: string;
    swept_to: string;
    resweep: boolean;
  }>(retentionList, [RESWEEP_MS]);
  let deleted = 0;
  let more = false;
  for (const r of rows) {
    const [{ id: frontier }] = (await sql.query<{ id: string }>(taskIdAt, [r.keep_ms])) as [
      { id: string },
    ];
    let cursor = r.resweep ? '0' : r.swept_to;
    for (;;) {
      if (performance.now() > deadline) {
        more = true;
        break;
      }
      const [step] = await sql.query<{ last: string | null; scanned: number; deleted: number }>(
        taskPruneStep,
        [cursor, frontier, STEP, r.state, r.keep_ms],
      );
      if (!step || step.scanned === 0 || step.last === null) break;
      cursor = step.last;
      deleted += step.deleted;
    }
    await sql.query(retentionSave, [r.state, cursor, r.resweep]);
  }
  if (deleted > 0) logger.info({ deleted }, 'pruned finished tasks past retention');
  return { deleted, more };
}

/**
 * Leader duty, on its own schedule so that a long backlog never delays the
 * rescuer: `poke()` on every leader tick starts a pass in the background
 * when one is due; a pass that ran out of budget is followed by the next.
 */
export class Pruner {
  private busy = false;
  private nextAt = 0;

  constructor(
    private readonly sql: Queryable,
    private readonly logger: Logger,
  ) {}

  poke(now = Date.now()): void {
    if (this.busy || now < this.nextAt) return;
    this.busy = true;
    prunePass(this.sql, this.logger)
      .then(
        ({ more }) => {
          this.nextAt = Date.now() + (more ? 0 : IDLE_MS);
        },
        (err) => {
          this.logger.error({ err }, 'pruning failed; trying again later');
          this.nextAt = Date.now() + IDLE_MS;
        },
      )
      .finally(() => {
        this.busy = false;
      });
  }

  /** Resolves once no pass is running. */
  async idle(): Promise<void> {
    while (this.busy) await new Promise((r) => setTimeout(r, 10));
  }
}
