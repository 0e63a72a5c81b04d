import { type ClientOptions, TandemClient } from './client/client.js';

export interface TandemOptions extends ClientOptions {}

/**
 * Tandem: enqueue in your transactions, run workers, audit everything.
 */
export class Tandem extends TandemClient {}

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
