/**
 * Decides which queues an enqueue should wake at commit.
 *
 * A NOTIFY makes its transaction take PostgreSQL's global notification lock
 * at commit, which serialises every notifying commit in the cluster. So this
 * process names a queue at most once per `windowMs`; workers cover the
 * transactions in between with a follow-up claim shortly after each wake-up
 * and with their poll fallback (see docs/design.md, "Wake-up on commit").
 */
export class WakeDebouncer {
  private readonly last = new Map<string, number>();
  constructor(private readonly windowMs: number) {}

  /** The queues among `queues` to notify now; records them as notified. */
  pick(queues: Iterable<string>): string[] {
    const now = performance.now();
    const out: string[] = [];
    for (const q of queues) {
      const prev = this.last.get(q);
      if (prev === undefined || now - prev >= this.windowMs) {
        this.last.set(q, now);
        out.push(q);
      }
    }
    return out;
  }
}
