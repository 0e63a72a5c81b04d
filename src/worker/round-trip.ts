import type pg from 'pg';
import { taskSettleAndClaim, taskSettleAndClaimFlow } from '../db/queries/settle-and-claim.js';
import { taskSettleOne } from '../db/queries/tasks.js';
import type { Logger } from '../types.js';
import type { RoundSnapshot } from './claim-bounds.js';
import { type ClaimedTask, type SettleRow, toSettleParams, unstorableRow } from './outcome.js';

/** What one round trip settles and asks for. */
export interface Round {
  settle: SettleRow[];
  /** Queues to claim from, and how many of each. */
  names: string[];
  counts: number[];
  /** Bounded scans of those queues (see claim-bounds.ts): parallel arrays. */
  boundQueues: string[];
  boundPriorities: number[];
  boundRunAts: string[];
  boundIds: string[];
  /** Some of the worker's tasks may hold slots of limits (flow.ts). */
  flowActive: boolean;
}

/** What a round trip brought back. */
export interface RoundResult {
  claimed: ClaimedTask[];
  snapshot: RoundSnapshot;
  /** The queues the claim scanned (not paused, not limited, the worker registered). */
  scanned: Set<string>;
  /** run_at one second before the statement's now(), as ClaimKey.runAt. */
  scannedTo: string;
}

/** SQLSTATE classes of errors a single bad row can cause: data exceptions, integrity, limits. */
function isRowError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    typeof code === 'string' && (code.startsWith('22') || code.startsWith('23') || code === '54000')
  );
}

/**
 * Outcomes already written, kept while a crash could still undo them: the
 * worker's statements do not wait for the WAL flush, and PostgreSQL flushes
 * asynchronous commits within three times `wal_writer_delay`. After a
 * reconnection they are written again (the settle is guarded, so outcomes
 * that did survive change nothing), so a crash never turns a finished
 * attempt into a lost one.
 */
export class RecentOutcomes {
  private readonly batches: { at: number; rows: SettleRow[] }[] = [];
  /** How long an asynchronous commit may stay unflushed, ms; learnt on connection. */
  keepMs = 1_000;

  add(rows: SettleRow[], now = performance.now()): void {
    if (rows.length > 0) this.batches.push({ at: now, rows });
    // Pruned only while round trips succeed, never during an outage.
    while (this.batches.length > 0 && now - this.batches[0]!.at > this.keepMs) this.batches.shift();
  }

  /** Everything kept, oldest first; empties the store. */
  take(): SettleRow[] {
    const out = this.batches.flatMap((b) => b.rows);
    this.batches.length = 0;
    return out;
  }

  clear(): void {
    this.batches.length = 0;
  }
}

/**
 * Runs one settle-and-claim statement. When it fails on a value PostgreSQL
 * refuses (a data error that validation did not foresee), the outcomes are
 * written one by one, the refused one replaced by a failure that says why,
 * and the claim runs again on its own: one row never blocks a batch.
 */
export async function runRound(
  conn: pg.ClientBase,
  owner: string,
  token: string,
  taskNames: string[],
  round: Round,
  logger: Logger,
  prepared = true,
): Promise<RoundResult> {
  // The batch holds one outcome per task: a second one (another claim of
  // the same task, written again after a reconnect) goes on its own first.
  let batch = round.settle;
  if (new Set(batch.map((r) => r.id)).size < batch.length) {
    const seen = new Set<string>();
    batch = [];
    for (const r of round.settle) {
      if (seen.has(r.id)) await settleAlone(conn, owner, r, logger);
      else {
        seen.add(r.id);
        batch.push(r);
      }
    }
  }
  try {
    return await settleAndClaim(conn, owner, token, taskNames, batch, round, prepared);
  } catch (err) {
    if (!isRowError(err) || batch.length === 0) throw err;
    logger.warn(
      { err: { code: (err as { code?: string }).code, message: (err as Error).message } },
      'a batch of outcomes was refused by PostgreSQL; writing them one by one',
    );
    for (const row of batch) await settleAlone(conn, owner, row, logger);
    return settleAndClaim(conn, owner, token, taskNames, [], round, prepared);
  }
}

async function settleAndClaim(
  conn: pg.ClientBase,
  owner: string,
  token: string,
  taskNames: string[],
  settle: SettleRow[],
  round: Round,
  prepared: boolean,
): Promise<RoundResult> {
  const { ids, rest } = toSettleParams(settle);
  const values = [
    owner,
    ids,
    round.names,
    round.counts,
    taskNames,
    ...rest,
    token,
    round.boundQueues,
    round.boundPriorities,
    round.boundRunAts,
    round.boundIds,
  ];
  const [name, text] = round.flowActive
    ? ['tandem_settle_and_claim_flow', taskSettleAndClaimFlow]
    : ['tandem_settle_and_claim', taskSettleAndClaim];
  // Prepared once per session; unnamed through a transaction pooler.
  const { rows } = await conn.query(prepared ? { name, text, values } : { text, values });
  // One row (the last) carries the statement's snapshot, not a task.
  const at = rows.findIndex((r) => r.id === null);
  const meta = rows.splice(at, 1)[0] as {
    xmin: string;
    xmax: string;
    xip: string[];
    scanned: string[];
    run_key: string;
  };
  for (const t of rows) t.token = token;
  return {
    claimed: rows as ClaimedTask[],
    snapshot: { xmin: BigInt(meta.xmin), xmax: BigInt(meta.xmax), xip: meta.xip.map(BigInt) },
    scanned: new Set(meta.scanned),
    scannedTo: meta.run_key,
  };
}

const settleOneParams = (owner: string, r: SettleRow) => [
  owner,
  r.id,
  r.token,
  r.state,
  r.resultJson ?? 'null',
  r.delay_ms,
  r.errorJson ?? 'null',
  r.undo,
];

async function settleAlone(
  conn: pg.ClientBase,
  owner: string,
  row: SettleRow,
  logger: Logger,
): Promise<void> {
  try {
    await conn.query(taskSettleOne, settleOneParams(owner, row));
    return;
  } catch (err) {
    if (!isRowError(err)) throw err;
    const reason = `${(err as { code?: string }).code} ${(err as Error).message}`;
    logger.warn({ taskId: row.id, reason }, 'outcome refused by PostgreSQL; recorded as a failure');
    await conn.query(taskSettleOne, settleOneParams(owner, unstorableRow(row, reason, owner)));
  }
}
