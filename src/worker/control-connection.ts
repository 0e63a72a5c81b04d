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
  /** After every (re)connection, before anything else uses it: take the liveness lock, resume. */
  connected(client: pg.ClientBase): Promise<void>;
}

/**
 * The worker's own connection. It holds the worker's liveness lock, LISTENs
 * for wake-ups and cancellations (unless `listen` is false, behind poolers),
 * and reconnects with capped exponential backoff when PostgreSQL goes away.
 * An outage is logged once when it starts and once when it ends.
 */
export class ControlConnection {
  private client: pg.ClientBase | null = null;
  private handle: DedicatedConnection | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;

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
      });
      if (this.listen) await client.query('listen tandem_wake; listen tandem_cancel');
      this.client = client;
      this.handle = handle;
      await this.handlers.connected(client);
      if (this.failures > 0)
        this.logger.info({ attempts: this.failures }, 'PostgreSQL connection restored');
      this.failures = 0;
    } catch (err) {
      if (handle) {
        if (this.client === handle.client) this.client = null;
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
    const delay = Math.min(2_000, 50 * 2 ** Math.min(this.failures, 6)) * (0.5 + Math.random() / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  /** Runs `fn` with the live connection (it holds the session's locks). */
  async withClient<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    if (!this.client) throw new Error('control connection is down');
    return fn(this.client);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const h = this.handle;
    this.client = null;
    this.handle = null;
    if (h) {
      h.client.removeAllListeners('end');
      await h.close().catch(() => {});
    }
  }
}
