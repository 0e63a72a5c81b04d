/**
 * The relay: delivers what committed in the outbox to its brokers, one loop
 * per destination (pump.ts). Start as many relay processes as you like for
 * failover: each destination is relayed by one of them at a time (the one
 * holding its advisory lock), the others wait and take over within
 * `lockRetryInterval` when it goes away.
 */
import { hostname } from 'node:os';
import type { TandemClient } from '../client/client.js';
import { outboxPrefix } from '../db/queries/outbox.js';
import { type AnyDestination, isDestination } from '../destination.js';
import { toMs } from '../duration.js';
import { TandemError } from '../errors.js';
import type { Duration, Logger } from '../types.js';
import { loadAdapter, loadBrokerClient } from './broker.js';
import { DestinationPump, type PumpSettings, type PumpStatus } from './pump.js';

export interface RelayOptions {
  /** The destinations this relay delivers. */
  destinations: readonly AnyDestination[];
  /** Messages per confirm round (published in order, confirmed together). Default 500. */
  batchSize?: number;
  /** Poll fallback when no wake-up arrives. Default `'1s'`. */
  pollInterval?: Duration;
  /** How often a waiting relay tries to take a destination another process holds. Default `'1s'`. */
  lockRetryInterval?: Duration;
  /** First retry delay after a failed publish; doubles up to `backoffMax`. Default `'100ms'`. */
  backoffBase?: Duration;
  /** Longest retry delay. Default `'30s'`. */
  backoffMax?: Duration;
  /** A batch with no verdict from the broker after this long fails, and the connection is renewed. Default `'30s'`. */
  confirmTimeout?: Duration;
  /** Set false behind poolers that cannot LISTEN: poll only. Default true. */
  listen?: boolean;
  logger?: Logger;
}

/** Which destinations this relay process serves, and how each is doing. */
export interface RelayProcessStatus {
  holder: string;
  destinations: PumpStatus[];
}

function settingsOf(o: RelayOptions): PumpSettings {
  const ms = (v: Duration | undefined, what: string, fallback: number, min = 1) => {
    if (v === undefined) return fallback;
    const n = toMs(v, `relay ${what}`, 86_400_000);
    if (n < min)
      throw new TandemError(
        'INVALID_OPTIONS',
        `relay ${what} must be at least ${min} ms, got ${JSON.stringify(v)}`,
      );
    return n;
  };
  const batchSize = o.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
    throw new TandemError(
      'INVALID_OPTIONS',
      `relay batchSize must be an integer from 1 to 10000, got ${JSON.stringify(o.batchSize)}`,
    );
  return {
    batchSize,
    pollMs: ms(o.pollInterval, 'pollInterval', 1_000, 10),
    lockRetryMs: ms(o.lockRetryInterval, 'lockRetryInterval', 1_000, 10),
    backoffBaseMs: ms(o.backoffBase, 'backoffBase', 100),
    backoffMaxMs: ms(o.backoffMax, 'backoffMax', 30_000),
    confirmTimeoutMs: ms(o.confirmTimeout, 'confirmTimeout', 30_000, 100),
    listen: o.listen ?? true,
  };
}

/**
 * Delivers committed messages of its destinations to their brokers.
 * Created by `tandem.relay()`.
 *
 * @example
 * const relay = tandem.relay({ destinations: [orderEvents] });
 * await relay.start();
 * relay.status(); // { holder, destinations: [{ destination: 'order-events', state: 'active', published, failing, lastError }] }
 * await relay.stop();
 */
export class Relay {
  /** This process's name in `tandem.relays.holder`. */
  readonly holder = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  private readonly destinations: readonly AnyDestination[];
  private readonly settings: PumpSettings;
  private readonly logger: Logger;
  private pumps: DestinationPump[] = [];
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(
    private readonly client: TandemClient,
    options: RelayOptions,
  ) {
    const list = options?.destinations;
    if (!Array.isArray(list) || list.length === 0)
      throw new TandemError(
        'INVALID_OPTIONS',
        'relay needs destinations: a non-empty array of defineDestination(...) values',
      );
    const names = new Set<string>();
    for (const d of list) {
      if (!isDestination(d))
        throw new TandemError(
          'INVALID_OPTIONS',
          `relay destinations must be made by defineDestination(), got ${typeof d === 'object' ? JSON.stringify(d)?.slice(0, 80) : typeof d}`,
        );
      if (names.has(d.name))
        throw new TandemError(
          'INVALID_OPTIONS',
          `relay destinations: ${JSON.stringify(d.name)} is given twice; destination names must be unique`,
        );
      names.add(d.name);
    }
    this.destinations = list;
    this.settings = settingsOf(options);
    this.logger = (options.logger ?? client.logger).child({ component: 'relay' });
  }

  /**
   * Loads each broker's client (a missing package fails here, naming it),
   * reads the message id prefix, and starts one loop per destination. Does
   * not wait for the brokers: a broker that is down is retried with backoff
   * while the other destinations flow.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new TandemError('INVALID_STATE', `this relay is ${this.state}`);
    if (!this.client.sessionConnectionString && !this.client.pool)
      throw new TandemError(
        'INVALID_OPTIONS',
        'a relay holds a session of its own per destination (its lock and LISTEN): create Tandem with connectionString, sessionConnectionString or pool, not db alone',
      );
    this.state = 'running';
    try {
      for (const d of this.destinations)
        await loadBrokerClient(d.broker.kind, `the relay of destination ${JSON.stringify(d.name)}`);
      const adapters = await Promise.all(this.destinations.map((d) => loadAdapter(d.broker.kind)));
      const [row] = await this.client.sql.query<{ prefix: string }>(outboxPrefix);
      if (!row)
        throw new TandemError('INVALID_STATE', 'tandem.outbox_source is empty: run tandem migrate');
      this.pumps = this.destinations.map(
        (d, i) =>
          new DestinationPump(
            this.client,
            d,
            adapters[i]!,
            row.prefix,
            this.holder,
            this.settings,
            this.logger,
          ),
      );
    } catch (err) {
      this.state = 'stopped';
      throw err;
    }
    for (const p of this.pumps) p.start();
  }

  /** Finishes each destination's batch in flight, records what was confirmed, and lets go of the locks. */
  async stop(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    await Promise.all(this.pumps.map((p) => p.stop()));
  }

  /** This process's view: which destinations it relays now and how each is doing. */
  status(): RelayProcessStatus {
    return { holder: this.holder, destinations: this.pumps.map((p) => p.snapshot) };
  }
}
