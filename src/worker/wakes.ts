import type { QueueState } from './queues.js';

/** Follow-up claims after a wake-up, for transactions whose notification the producer debounced away. */
const FOLLOW_UPS_MS = [5, 50];

/** What wake-ups need of the worker. */
export interface WakesHost {
  /** Claiming: started and not stopping. */
  readonly claiming: boolean;
  /** Starts a round trip now (latency-critical). */
  launch(): void;
  /** Starts one with what else happens in this tick. */
  kick(): void;
  /** Gives back a queue's claimed-ahead tasks. */
  release(q: QueueState): void;
}

/**
 * Why a queue that found nothing claims again: a NOTIFY of its name, the
 * poll, the probe finding tasks behind the claim bounds, limits that
 * changed, a resume. Each makes the queue claimable (`wake`) and starts a
 * round trip; the bump of `wakes` keeps a claim already on its way from
 * marking the queue exhausted again.
 */
export class Wakes {
  constructor(
    private readonly queues: ReadonlyMap<string, QueueState>,
    private readonly host: WakesHost,
  ) {}

  /** Every queue, also those waiting for a slot of a limit (the poll, limits changed). */
  all(): void {
    for (const q of this.queues.values()) wake(q, true);
    this.host.kick();
  }

  /**
   * A notification for `queue`: claim now, and twice more shortly after,
   * for transactions whose own notification was debounced into this one.
   */
  notified(queue: string): void {
    const q = this.queues.get(queue);
    if (!q || !this.host.claiming) return;
    wake(q, true);
    this.host.launch();
    if (q.followUps.length > 0) return;
    q.followUps = FOLLOW_UPS_MS.map((ms, i) =>
      setTimeout(() => {
        if (i === FOLLOW_UPS_MS.length - 1) q.followUps = [];
        wake(q, false);
        this.host.kick();
      }, ms),
    );
  }

  /** The probe moved claim bounds back: tasks wait behind where claims started. */
  behindBounds(queues: readonly string[]): void {
    for (const name of queues) {
      const q = this.queues.get(name);
      if (q) wake(q, false);
    }
    this.host.kick();
  }

  /** A queue paused: give back what was claimed ahead; resumed: claim again. */
  paused(queue: string, paused: boolean): void {
    const q = this.queues.get(queue);
    if (!q || q.paused === paused) return;
    q.paused = paused;
    if (paused) this.host.release(q);
    else wake(q, false);
    this.host.kick();
  }

  /** Shutdown: no follow-ups fire any more. */
  stop(): void {
    for (const q of this.queues.values()) {
      for (const t of q.followUps) clearTimeout(t);
      q.followUps = [];
    }
  }
}

/** Makes a queue claimable again; `flow` also its limited tasks (flow.ts). */
function wake(q: QueueState, flow: boolean): void {
  q.exhausted = false;
  if (flow) q.flowWaiting = false;
  q.wakes++;
}
