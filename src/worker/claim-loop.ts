import type pg from 'pg';
import type { Logger } from '../types.js';
import type { ClaimBounds } from './claim-bounds.js';
import type { ControlConnection } from './control-connection.js';
import type { FlowAsk, FlowClaims, FlowResult } from './flow.js';
import { type ClaimedTask, type SettleRow, settleRow } from './outcome.js';
import { prefetchOf, type QueueState } from './queues.js';
import { RecentOutcomes, type Round, type RoundResult, runRound } from './round-trip.js';
import type { WorkerStats } from './slots.js';

/** What a round asked of one queue. */
interface Asked {
  q: QueueState;
  n: number;
  wakes: number;
}

/** A round as planned: what it asks of each queue, and the bounds' generation it saw. */
type PlannedRound = Round & { asked: Asked[]; flow: FlowAsk[]; generation: number };

export interface ClaimLoopOptions {
  /** The task names this worker has handlers for. */
  taskNames: string[];
  /** A session of its own: prepared statements (see WorkerOptions.session). */
  session: boolean;
  windowMs: number;
  maxPrefetch: number;
}

/** What the loop needs of its worker. */
export interface ClaimLoopHost {
  /** The worker's id now (it changes when the worker registers again). */
  readonly id: string;
  /** Claiming: started and not stopping. */
  readonly claiming: boolean;
  /** Starts claimed tasks in free slots. */
  dispatch(): void;
}

/**
 * The worker's round trips: one settle-and-claim statement at a time
 * (round-trip.ts), carrying every outcome queued since the last one and
 * asking each queue for what fits its free slots and prefetch; the claimed
 * tasks go to the queues' buffers. A failed round keeps its outcomes for
 * the next one and backs off.
 */
export class ClaimLoop {
  /** Outcomes waiting for the next round trip. */
  private outcomes: SettleRow[] = [];
  /** The outcomes of the round trip in flight. */
  private settling: SettleRow[] = [];
  /** Outcomes written that a crash could still undo (written again after a reconnect). */
  readonly recent = new RecentOutcomes();
  /** A settle-and-claim statement is on its way. */
  private inFlight = false;
  private first: Promise<void> | null = null;
  private readonly idle: (() => void)[] = [];
  private kickScheduled = false;
  private dbFailures = 0;
  private claimToken = 0;
  private wakeBackoff: (() => void) | null = null;

  constructor(
    private readonly queues: ReadonlyMap<string, QueueState>,
    private readonly control: ControlConnection,
    private readonly flow: FlowClaims,
    private readonly bounds: ClaimBounds,
    private readonly options: ClaimLoopOptions,
    private readonly stats: WorkerStats,
    private readonly logger: Logger,
    private readonly host: ClaimLoopHost,
  ) {}

  /** The first round trip, once one was launched. */
  get firstRound(): Promise<void> | null {
    return this.first;
  }

  /** How many outcomes wait to be written. */
  get waiting(): number {
    return this.outcomes.length;
  }

  /** Queues an outcome for the next round trip. */
  push(row: SettleRow): void {
    this.outcomes.push(row);
  }

  /** Outcomes not yet known written: the waiting ones and those in flight. */
  pending(): SettleRow[] {
    return this.outcomes.concat(this.settling);
  }

  /** After a reconnect: outcomes to write again go first. */
  writeAgain(rows: SettleRow[]): void {
    this.outcomes = rows.concat(this.outcomes);
  }

  /** The worker lost its tasks: nothing it has is to be written. */
  forget(): void {
    this.outcomes = [];
    this.recent.clear();
  }

  /** Gives back a queue's claimed-ahead tasks without counting their attempt. */
  release(q: QueueState): void {
    for (const t of q.buffer) this.outcomes.push(this.released(t));
    q.buffer = [];
  }

  /** Ends a round trip's backoff early (shutdown). */
  stopWaiting(): void {
    this.wakeBackoff?.();
  }

  /** Coalesces everything that happened in this tick into the next round trip. */
  kick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.launch();
    });
  }

  /**
   * Starts a round trip when none is in flight, the control connection is
   * up, and there is something to settle or room to claim. One at a time:
   * two in flight were measured no faster, and whatever finishes meanwhile
   * joins the next, larger batch.
   */
  launch(): void {
    if (!this.control.connected) return;
    // Tasks claimed while the connection was down (their round trip ended
    // just as it went) wait in the buffers: start them now. Nothing else
    // would: with full buffers and nothing to settle, no round trip goes out.
    this.host.dispatch();
    if (this.inFlight) return;
    const round = this.nextRound();
    if (!round) return;
    this.inFlight = true;
    this.settling = round.settle;
    const done = this.roundTrip(round).finally(() => {
      this.inFlight = false;
      this.settling = [];
      for (const resolve of this.idle.splice(0)) resolve();
      this.kick();
    });
    this.first ??= done;
  }

  /** Waits until every queued outcome is written, or `until`; true when all were. */
  async flush(until: number): Promise<boolean> {
    while (this.inFlight || this.outcomes.length > 0 || this.kickScheduled) {
      if (Date.now() > until) return false;
      if (this.inFlight)
        await Promise.race([
          new Promise<void>((r) => this.idle.push(r)),
          sleep(until - Date.now()),
        ]);
      else if (this.control.connected) this.launch();
      else await sleep(Math.min(50, until - Date.now()));
      await new Promise((r) => setImmediate(r));
    }
    return true;
  }

  private released(t: ClaimedTask): SettleRow {
    return settleRow(t, undefined, { kind: 'released' }, this.host.id)!;
  }

  private nextRound(): PlannedRound | null {
    const settle = this.outcomes;
    const { windowMs, maxPrefetch } = this.options;
    const names: string[] = [];
    const counts: number[] = [];
    const asked: Asked[] = [];
    const boundQueues: string[] = [];
    const boundPriorities: number[] = [];
    const boundRunAts: string[] = [];
    const boundIds: string[] = [];
    const claiming = this.host.claiming;
    if (claiming) {
      for (const q of this.queues.values()) {
        if (q.exhausted || q.paused || this.flow.queueLimited(q.name)) continue;
        const pre = prefetchOf(q, windowMs, maxPrefetch);
        const want = q.concurrency + pre - q.running - q.buffer.length;
        if (want <= 0) continue;
        // Refill at the low-water mark, or alongside outcomes that go anyway.
        if (settle.length === 0 && q.buffer.length > pre / 2) continue;
        names.push(q.name);
        counts.push(want);
        asked.push({ q, n: want, wakes: q.wakes });
        for (const b of this.bounds.bounds(q.name)) {
          boundQueues.push(q.name);
          boundPriorities.push(b.priority);
          boundRunAts.push(b.runAt);
          boundIds.push(b.id);
        }
      }
    }
    const flow = claiming
      ? this.flow.asks(this.queues.values(), (q) => prefetchOf(q, windowMs, maxPrefetch))
      : [];
    if (settle.length === 0 && names.length === 0 && flow.length === 0) return null;
    this.outcomes = [];
    return {
      settle,
      flow,
      flowActive: this.flow.active,
      names,
      counts,
      asked,
      generation: this.bounds.generation,
      boundQueues,
      boundPriorities,
      boundRunAts,
      boundIds,
    };
  }

  private async roundTrip(round: PlannedRound): Promise<void> {
    let result: RoundResult;
    let flowed: FlowResult[] = [];
    const token = String(++this.claimToken);
    try {
      result = await this.control.withClient(async (c) => {
        const main = await runRound(
          c,
          this.host.id,
          token,
          this.options.taskNames,
          round,
          this.logger,
          this.options.session,
        );
        flowed = await this.claimFlow(c, round.flow);
        return main;
      });
      if (this.dbFailures > 0) this.logger.info('database reachable again');
      this.dbFailures = 0;
    } catch (err) {
      this.outcomes = round.settle.concat(this.outcomes);
      if (this.dbFailures === 0)
        this.logger.error({ err }, 'claim/settle failed; retrying with backoff');
      this.dbFailures++;
      // Still counted as in flight while it waits, so nothing else starts.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(5_000, 50 * 2 ** Math.min(this.dbFailures, 7)));
        this.wakeBackoff = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeBackoff = null;
      return;
    }
    this.accept(round, result, flowed);
    this.host.dispatch();
  }

  /** Hands a round's claimed tasks to their queues and learns from what came back. */
  private accept(round: PlannedRound, result: RoundResult, flowed: FlowResult[]): void {
    const { claimed, snapshot, scanned, scannedTo } = result;
    this.recent.add(round.settle);
    this.stats.claimed += claimed.length;
    const byQueue = new Map<string, ClaimedTask[]>();
    for (const t of claimed) {
      const list = byQueue.get(t.queue);
      if (list) list.push(t);
      else byQueue.set(t.queue, [t]);
    }
    this.bounds.snapshotSeen(snapshot);
    for (const a of round.asked) {
      // A paused or limited queue was not scanned: nothing to learn from it.
      if (!scanned.has(a.q.name)) continue;
      const mine = byQueue.get(a.q.name) ?? [];
      const keys = mine.map((t) => ({ priority: t.priority, runAt: t.run_key, id: t.id }));
      const exhausted = mine.length < a.n ? scannedTo : null;
      this.bounds.observe(a.q.name, keys, exhausted, round.generation);
    }
    const claiming = this.host.claiming;
    const got = new Map<string, number>();
    for (const t of claimed) {
      const q = this.queues.get(t.queue)!;
      if (!claiming || q.paused) {
        this.outcomes.push(this.released(t));
        continue;
      }
      q.buffer.push(t);
      got.set(t.queue, (got.get(t.queue) ?? 0) + 1);
    }
    for (const a of round.asked) {
      if ((got.get(a.q.name) ?? 0) < a.n && a.q.wakes === a.wakes) a.q.exhausted = true;
    }
    for (const f of flowed) {
      this.stats.claimed += f.claimed.length;
      for (const t of f.claimed) {
        if (!claiming || f.ask.q.paused) this.outcomes.push(this.released(t));
        else f.ask.q.buffer.push(t);
      }
    }
  }

  /**
   * The claims of limited queues and names, after the batched statement on
   * the same connection. A failure claims nothing (one statement each) and
   * is retried on the next round.
   */
  private async claimFlow(conn: pg.ClientBase, asks: FlowAsk[]): Promise<FlowResult[]> {
    if (asks.length === 0) return [];
    try {
      return await this.flow.claim(conn, this.host.id, String(++this.claimToken), asks, () =>
        this.kick(),
      );
    } catch (err) {
      this.logger.error({ err }, 'claim of limited tasks failed; retrying on the next round');
      return [];
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}
