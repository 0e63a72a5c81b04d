/**
 * Places orders the way an application would: the order row and its tasks
 * are written in ONE transaction, so the tasks exist if and only if the order
 * does (the transactional outbox).
 */
import type { Kysely } from 'kysely';
import type { Tandem } from '../../src/index.js';
import type { ShopDatabase } from './schema.js';
import { chargeOrder, sendReceipt } from './tasks.js';

const CUSTOMERS = ['ada', 'grace', 'alan', 'edsger', 'barbara', 'ken', 'margaret', 'linus'];

/** Creates one order with its charge and receipt tasks. Returns the order id. */
export async function placeOrder(
  db: Kysely<ShopDatabase>,
  tandem: Tandem,
  customer: string,
  cents: number,
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const order = await trx
      .insertInto('shop_orders')
      .values({ customer, cents })
      .returning('id')
      .executeTakeFirstOrThrow();
    const orderId = Number(order.id);
    await tandem.enqueue(
      trx,
      chargeOrder,
      { orderId, customer, cents },
      { key: `order:${orderId}` },
    );
    await tandem.enqueue(trx, sendReceipt, { orderId, customer }, { key: `receipt:${orderId}` });
    return orderId;
  });
}

export interface Producer {
  /** Orders placed so far. */
  readonly placed: number;
  /** Stops placing orders; resolves once the one in flight has committed. */
  stop(): Promise<void>;
}

/**
 * Places about `perSecond` orders a second until stopped. About 1 in 20
 * orders is from mallory, whose card is always declined.
 */
export function startProducer(
  db: Kysely<ShopDatabase>,
  tandem: Tandem,
  options: { perSecond?: number; onError?: (err: unknown) => void } = {},
): Producer {
  const perSecond = options.perSecond ?? 4;
  let stopped = false;
  let placed = 0;
  let wake: (() => void) | null = null;
  const loop = (async () => {
    while (!stopped) {
      const customer =
        Math.random() < 0.05 ? 'mallory' : CUSTOMERS[Math.floor(Math.random() * CUSTOMERS.length)]!;
      const cents = 500 + Math.floor(Math.random() * 9_500);
      try {
        await placeOrder(db, tandem, customer, cents);
        placed++;
      } catch (err) {
        options.onError?.(err);
      }
      // Jittered pacing: a few orders a second, not in lockstep.
      const pause = (1000 / perSecond) * (0.5 + Math.random());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  })();
  return {
    get placed() {
      return placed;
    },
    async stop() {
      stopped = true;
      (wake as (() => void) | null)?.();
      await loop;
    },
  };
}
