import { type ClientOptions, TandemClient } from './client/client.js';
import { Worker, type WorkerOptions } from './worker/worker.js';

export interface TandemOptions extends ClientOptions {}

/**
 * Tandem: enqueue in your transactions, run workers, audit everything.
 */
export class Tandem extends TandemClient {
  /**
   * Creates a worker for this instance's tasks.
   *
   * @example
   * const worker = tandem.worker({ queues: { default: 10, payments: 5 } });
   * await worker.start();
   * process.on('SIGTERM', () => worker.stop());
   */
  worker(options?: WorkerOptions): Worker {
    return new Worker(this, options);
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
