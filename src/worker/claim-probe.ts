import type { Queryable } from '../db/executor.js';
import { claimProbe, type ProbeRow } from '../db/queries/settle-and-claim.js';
import type { Logger } from '../types.js';
import type { BoundRow, ClaimBounds } from './claim-bounds.js';

/** The probe runs this often at most... */
const PROBE_MS = 2_000;
/** ...and takes at most this share of the time (1/20: it reads the dead head of the index)... */
const PROBE_SHARE = 20;
/** ...but waits no longer than this (its time includes waiting for a pooled connection). */
const PROBE_MAX_MS = 10_000;

/**
 * Finds what lands behind the claim bounds (claim-bounds.ts) and moves the
 * bounds back before it: one read of the first runnable key of each
 * priority, on a pooled connection, every PROBE_MS (less often when it is
 * slow, up to PROBE_MAX_MS). Claims never wait for it: under a pinned horizon this is the read
 * that steps over every dead entry at the head of the claim index.
 */
export class ClaimProbe {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private failures = 0;

  constructor(
    private readonly sql: Queryable,
    private readonly bounds: ClaimBounds,
    /** The queues to probe now (claiming, not paused). */
    private readonly queues: () => string[],
    private readonly taskNames: readonly string[],
    /** Called with the queues whose bounds moved back: there is work to claim. */
    private readonly found: (queues: string[]) => void,
    private readonly logger: Logger,
  ) {}

  /**
   * Probes once (so the first claims start at every priority that has
   * runnable tasks, not only the ones the task definitions name), then
   * every PROBE_MS or more.
   */
  async start(): Promise<void> {
    this.stopped = false;
    await this.run();
  }

  /** Probes at once (limits changed: names left to other claims may be free again). */
  soon(): void {
    if (this.stopped || this.running) return;
    this.schedule(0);
  }

  /** Stops probing; resolves once a probe in flight is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, ms);
  }

  private run(): Promise<void> {
    this.running = this.probe().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async probe(): Promise<void> {
    const began = performance.now();
    const queues = this.queues();
    try {
      if (queues.length > 0)
        this.apply(await this.sql.query<ProbeRow>(claimProbe, [queues, this.taskNames]));
      this.failures = 0;
    } catch (err) {
      if (this.failures++ === 0)
        this.logger.warn({ err }, 'could not probe for tasks behind the claims; trying again');
    }
    if (this.stopped) return;
    const took = performance.now() - began;
    this.schedule(Math.min(PROBE_MAX_MS, Math.max(PROBE_MS, took * PROBE_SHARE)));
  }

  private apply(rows: ProbeRow[]): void {
    const byQueue = new Map<string, BoundRow[]>();
    for (const r of rows) {
      const list = byQueue.get(r.queue) ?? [];
      list.push({ priority: r.priority, runAt: r.run_key, id: r.id });
      byQueue.set(r.queue, list);
    }
    const moved = [...byQueue].filter(([q, found]) => this.bounds.lower(q, found)).map(([q]) => q);
    if (moved.length > 0) this.found(moved);
  }
}
