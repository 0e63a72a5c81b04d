import type pg from 'pg';
import type { Logger } from '../types.js';

/** A connection of the worker's own, and how to let go of it. */
export interface DedicatedConnection {
  client: pg.ClientBase;
  close(): Promise<void>;
}

export interface ControlHandlers {
  wake(queue: string): void;
  cancel(id: string): void;
  /** A queue was paused (true) or resumed (false) fleet-wide. */
  paused(queue: string, paused: boolean): void;
  /** Some queue's or task name's limits changed. */
  limits(): void;
  /** After every (re)connection, before anything else uses it: take the liveness lock, resume. */
  connected(client: pg.ClientBase): Promise<void>;
}

/** LISTEN channels: wake-ups, cancels of running tasks, pause and resume, limit changes. */
const CHANNELS =
  'listen tandem_wake; listen tandem_cancel; listen tandem_pause; listen tandem_resume; listen tandem_limits';

/**
 * The worker's own connection. It holds the worker's liveness lock, LISTENs
 * for wake-ups, cancellations and pauses (unless `listen` is false, behind
 * poolers), and reconnects with capped exponential backoff when PostgreSQL
 * goes away. A new connection is published to the worker only once it is
 * ready (lock taken, state reconciled), so nothing runs on a half-set-up
 * session. An outage is logged once when it starts and once when it ends.
 */
export class ControlConnection {
  private client: pg.ClientBase | null = null;
  /** A connection being set up (between connect and publication). */
  private pending: pg.ClientBase | null = null;
  private handle: DedicatedConnection | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  /** The last statement sequence queued by withClient. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly open: () => Promise<DedicatedConnection>,
    private readonly listen: boolean,
    private readonly handlers: ControlHandlers,
    private readonly logger: Logger,
  ) {}

  get connected(): boolean {
    return this.client !== null;
  }

  /** Connects; rejects if the first attempt fails (later outages are retried). */
  async start(): Promise<void> {
    await this.connect(true);
  }

  private async connect(first = false): Promise<void> {
    let handle: DedicatedConnection | null = null;
    try {
      handle = await this.open();
      const client = handle.client;
      client.on('error', () => this.lost(client));
      client.on('end', () => this.lost(client));
      client.on('notification', (n) => {
        if (n.channel === 'tandem_wake') this.handlers.wake(n.payload ?? 'default');
        else if (n.channel === 'tandem_cancel' && n.payload) this.handlers.cancel(n.payload);
        else if (n.channel === 'tandem_pause' && n.payload) this.handlers.paused(n.payload, true);
        else if (n.channel === 'tandem_resume' && n.payload) this.handlers.paused(n.payload, false);
        else if (n.channel === 'tandem_limits') this.handlers.limits();
      });
      if (this.listen) await client.query(CHANNELS);
      this.handle = handle;
      this.pending = client;
      await this.handlers.connected(client);
      if (this.stopped || this.pending !== client)
        throw new Error('connection lost while it was set up');
      this.pending = null;
      this.client = client;
      if (this.failures > 0)
        this.logger.info({ attempts: this.failures }, 'PostgreSQL connection restored');
      this.failures = 0;
    } catch (err) {
      if (handle) {
        if (this.client === handle.client) this.client = null;
        if (this.pending === handle.client) this.pending = null;
        if (this.handle === handle) this.handle = null;
        handle.client.removeAllListeners('end');
        await handle.close().catch(() => {});
      }
      if (first) throw err;
      if (this.stopped) return;
      if (this.failures === 0)
        this.logger.error({ err }, 'cannot reach PostgreSQL; retrying with backoff');
      this.failures++;
      this.schedule();
    }
  }

  private lost(client: pg.ClientBase): void {
    if (this.pending === client) {
      // The set-up in progress fails on its next statement and retries.
      this.pending = null;
      return;
    }
    if (this.client !== client || this.stopped) return;
    this.client = null;
    void this.handle?.close().catch(() => {});
    this.handle = null;
    if (this.failures === 0) this.logger.error('lost the PostgreSQL connection; reconnecting');
    this.failures++;
    this.schedule();
  }

  private schedule(): void {
    if (this.retryTimer || this.stopped) return;
    // Capped at 1 s: a survivor must be back well within the grace that a
    // free liveness lock gets before its worker counts as dead.
    const delay = Math.min(1_000, 25 * 2 ** Math.min(this.failures, 6)) * (0.5 + Math.random() / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  /**
   * Runs `fn` with the live connection (it holds the session's locks), after
   * whatever else is running on it: one user at a time, so statements never
   * queue up inside the driver.
   */
  withClient<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      if (!this.client) throw new Error('control connection is down');
      return fn(this.client);
    });
    this.tail = run.catch(() => {});
    return run;
  }

  /** Closes the connection; gives up waiting for a clean close after `waitMs`. */
  async stop(waitMs = 1_000): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const h = this.handle;
    this.client = null;
    this.pending = null;
    this.handle = null;
    if (h) {
      h.client.removeAllListeners('end');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        h.close().catch(() => {}),
        new Promise<void>((r) => {
          timer = setTimeout(r, waitMs);
        }),
      ]);
      clearTimeout(timer);
    }
  }
}
