import pg from 'pg';
import type { Logger } from '../types.js';

export interface ListenerHandlers {
  wake(queue: string): void;
  cancel(id: string): void;
  /** Called after every (re)connection, once LISTEN is in place. */
  connected(client: pg.Client): Promise<void> | void;
  /** Called when the connection is lost. */
  disconnected(): void;
}

/**
 * One dedicated connection that LISTENs for wake-ups and cancellations, and
 * reconnects with capped exponential backoff when PostgreSQL goes away. The
 * outage is logged once, and its end once.
 */
export class Listener {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;

  constructor(
    private readonly connectionString: string,
    private readonly handlers: ListenerHandlers,
    private readonly logger: Logger,
  ) {}

  get connection(): pg.Client | null {
    return this.client;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, keepAlive: true });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => {
      if (n.channel === 'tandem_wake') this.handlers.wake(n.payload ?? 'default');
      else if (n.channel === 'tandem_cancel' && n.payload) this.handlers.cancel(n.payload);
    });
    try {
      await client.connect();
      await client.query('listen tandem_wake; listen tandem_cancel');
      this.client = client;
      await this.handlers.connected(client);
      if (this.failures > 0)
        this.logger.info({ attempts: this.failures }, 'PostgreSQL connection restored');
      this.failures = 0;
    } catch (err) {
      client.removeAllListeners('end');
      client.end().catch(() => {});
      if (this.client === client) this.client = null;
      if (this.stopped) return;
      if (this.failures === 0)
        this.logger.error({ err }, 'cannot reach PostgreSQL; retrying with backoff');
      this.failures++;
      this.schedule();
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client || this.stopped) return;
    this.client = null;
    client.end().catch(() => {});
    this.handlers.disconnected();
    if (this.failures === 0) this.logger.error('lost the PostgreSQL connection; reconnecting');
    this.failures++;
    this.schedule();
  }

  private schedule(): void {
    if (this.retryTimer || this.stopped) return;
    const delay =
      Math.min(5_000, 100 * 2 ** Math.min(this.failures, 6)) * (0.5 + Math.random() / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => {});
    }
  }
}
