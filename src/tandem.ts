import { type ClientOptions, TandemClient } from './client/client.js';
import type { Broker } from './destination.js';
import type { ServerOptions, TandemServer } from './http/options.js';
import type { InboxOptions } from './inbox/define.js';
import { Inbox } from './inbox/inbox.js';
import { Relay, type RelayOptions } from './relay/relay.js';
import type { AnyTask } from './task.js';
import type { Schedule } from './worker/cron.js';
import type { RetentionOptions } from './worker/pruner.js';
import { Worker, type WorkerOptions } from './worker/worker.js';

export interface TandemOptions extends ClientOptions {
  /** Cron schedules, run by whichever worker leads. */
  schedules?: readonly Schedule[];
  /** How long finished tasks are kept (the leader prunes). Default: succeeded 7 days, failed and cancelled 30 days. */
  retention?: RetentionOptions;
}

/**
 * Tandem: enqueue in your transactions, run workers, audit everything.
 */
export class Tandem extends TandemClient {
  private readonly schedules: readonly Schedule[];
  private readonly retention: RetentionOptions | undefined;

  constructor(options: TandemOptions) {
    super(options);
    this.schedules = options.schedules ?? [];
    this.retention = options.retention;
  }

  /**
   * Creates a worker for this instance's tasks.
   *
   * @example
   * const worker = tandem.worker({ queues: { default: 10, payments: 5 } });
   * await worker.start();
   * process.on('SIGTERM', () => worker.stop());
   */
  worker(options?: WorkerOptions): Worker {
    return new Worker(this, {
      ...options,
      schedules: [...this.schedules, ...(options?.schedules ?? [])],
      retention: options?.retention ?? this.retention,
    });
  }

  /**
   * Creates a relay that delivers the committed messages of `destinations`
   * to their brokers. Run one or more (one relays each destination at a
   * time; the others take over when it stops or dies).
   *
   * @example
   * const relay = tandem.relay({ destinations: [orderEvents] });
   * await relay.start();
   * process.on('SIGTERM', () => relay.stop());
   */
  relay(options: RelayOptions): Relay {
    return new Relay(this, options);
  }

  /**
   * Creates an inbox: it consumes a broker queue, stream or consumer group
   * and turns each message into one task of `task`, keyed by the message's
   * id, committed before the message is acknowledged; a message delivered
   * again becomes the same task. Takes the options of `defineInbox`, or what
   * it returned.
   *
   * @example
   * const inbox = tandem.inbox({ broker: rabbit, queue: 'billing.order-events', task: recordOrderEvent });
   * await inbox.start();
   * process.on('SIGTERM', () => inbox.stop());
   */
  inbox<T extends AnyTask, B extends Broker>(options: InboxOptions<T, B>): Inbox {
    this.addTask(options.task);
    return new Inbox(this, options as unknown as InboxOptions<AnyTask, Broker>);
  }

  /**
   * Starts the HTTP API (and /metrics, /healthz) on 127.0.0.1:8080 by
   * default. The HTTP stack is loaded only now, so users of the core never
   * load it. A non-loopback host needs a token (or `insecure: true`).
   *
   * @example
   * const server = await tandem.server({ port: 8080, token: process.env.TANDEM_API_TOKEN });
   * // curl -H "Authorization: Bearer $TANDEM_API_TOKEN" http://127.0.0.1:8080/api/tasks/42
   * await server.close();
   */
  async server(options?: ServerOptions): Promise<TandemServer> {
    const { startServer } = await import('./http/server.js');
    return startServer(this, options);
  }
}

/**
 * Creates a Tandem instance.
 *
 * @example
 * const tandem = createTandem({ connectionString: process.env.DATABASE_URL, tasks: [chargeOrder] });
 * await tandem.migrate();
 */
export function createTandem(options: TandemOptions): Tandem {
  return new Tandem(options);
}
