import type pg from 'pg';
import { flowClaim, flowLimited, flowSet } from '../db/queries/flow.js';
import type { AnyTask } from '../task.js';
import type { ClaimedTask } from './outcome.js';
import type { QueueState } from './queues.js';

/** One queue's flow-controlled claim in a round. */
export interface FlowAsk {
  q: QueueState;
  /** Free slots. */
  n: number;
  /** How many more to hold ahead of them. */
  ahead: number;
  wakes: number;
}

/** What claim_flow gave one queue. */
export interface FlowResult {
  ask: FlowAsk;
  claimed: ClaimedTask[];
  /** When a rate limit lets the next start through, ms; null when none holds it back. */
  retryMs: number | null;
}

/** The limits of a definition as `tandem.set_flow_limits` takes them, after scope and name. */
export function definitionLimitParams(d: AnyTask): unknown[] {
  return [
    d.limits.concurrency,
    d.limits.rate?.limit ?? null,
    d.limits.rate?.perMs ?? null,
    d.concurrencyKey !== null,
    d.keyLimits.concurrency,
    d.keyLimits.rate?.limit ?? null,
    d.keyLimits.rate?.perMs ?? null,
    d.keyLimits.order,
  ];
}

/**
 * The worker's side of flow control (sql/000009_flow_limits.sql): which of
 * its queues and task names have limits, and their claims. Tasks under a
 * limit are claimed through `tandem.claim_flow`, one call per queue in the
 * same round trip as the batched statement, only for free slots (never
 * ahead: a task claimed ahead would hold a fleet-wide slot while it
 * waits here). A queue whose claim came back short waits for a wake-up
 * (a counted task stopping sends one) or for its rate window.
 */
export class FlowClaims {
  private queues = new Set<string>();
  private names = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly taskNames: string[]) {}

  /** Whether any of this worker's queues or names is limited. */
  get active(): boolean {
    return this.queues.size > 0 || this.taskNames.some((n) => this.names.has(n));
  }

  /** Whether the batched claim leaves this whole queue to claim_flow. */
  queueLimited(queue: string): boolean {
    return this.queues.has(queue);
  }

  /** Writes the limits of these definitions (operators' settings win), then reads every limit. */
  async sync(conn: pg.ClientBase, defs: readonly AnyTask[]): Promise<void> {
    for (const d of defs)
      await conn.query(flowSet, ['task', d.name, ...definitionLimitParams(d), 'definition']);
    await this.refresh(conn);
  }

  /** Reads which queues and names are limited. */
  async refresh(conn: pg.ClientBase): Promise<void> {
    const { rows } = await conn.query<{ scope: string; name: string }>(flowLimited);
    this.queues = new Set(rows.filter((r) => r.scope === 'queue').map((r) => r.name));
    this.names = new Set(rows.filter((r) => r.scope === 'task').map((r) => r.name));
  }

  /**
   * The flow-controlled claims a round should make: for each queue, its
   * free slots and `ahead(q)` more, less what it holds already.
   */
  asks(queues: Iterable<QueueState>, ahead: (q: QueueState) => number): FlowAsk[] {
    if (!this.active) return [];
    const out: FlowAsk[] = [];
    for (const q of queues) {
      if (q.paused || q.flowWaiting) continue;
      const held = q.running + q.buffer.length;
      const n = Math.max(0, q.concurrency - held);
      const more = Math.max(0, q.concurrency + ahead(q) - held - n);
      if (n + more > 0) out.push({ q, n, ahead: more, wakes: q.wakes });
    }
    return out;
  }

  /** Runs the asks on `conn`; a queue that got less than it asked waits for a wake-up. */
  async claim(
    conn: pg.ClientBase,
    owner: string,
    token: string,
    asks: FlowAsk[],
    onReady: () => void,
  ): Promise<FlowResult[]> {
    const out: FlowResult[] = [];
    for (const ask of asks) {
      const { rows } = await conn.query({
        name: 'tandem_claim_flow',
        text: flowClaim,
        values: [owner, token, ask.q.name, ask.n, ask.ahead, this.taskNames],
      });
      const meta = rows.pop() as { retry_ms: number | null };
      for (const t of rows) t.token = token;
      out.push({ ask, claimed: rows as ClaimedTask[], retryMs: meta.retry_ms });
      if (rows.length < ask.n + ask.ahead && ask.q.wakes === ask.wakes) {
        ask.q.flowWaiting = true;
        if (meta.retry_ms !== null) this.retryAt(ask.q, meta.retry_ms, onReady);
      }
    }
    return out;
  }

  private retryAt(q: QueueState, ms: number, onReady: () => void): void {
    clearTimeout(this.timers.get(q.name));
    const t = setTimeout(
      () => {
        this.timers.delete(q.name);
        q.flowWaiting = false;
        onReady();
      },
      Math.min(Math.max(1, Math.ceil(ms)), 60_000),
    );
    t.unref();
    this.timers.set(q.name, t);
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
