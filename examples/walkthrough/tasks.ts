// tasks.ts: the task definitions, and nothing else. Your app imports them
// to enqueue; `tandem worker --tasks ./tasks.ts` imports them to run them.
import { defineTask, PermanentError } from 'tandem-queue';
import { z } from 'zod';

// PostgreSQL bigint ids arrive from pg as strings ('42'): a JavaScript number
// cannot hold every int8 exactly. So the payload keeps them as strings too.
const orderId = z.string().regex(/^[1-9][0-9]*$/, 'an order id (a bigint, as a string)');

export const chargeOrder = defineTask({
  name: 'charge-order',
  queue: 'payments',
  payload: z.object({ orderId, cents: z.number().int().positive() }),
  maxAttempts: 4, // first run + 3 retries (the default)
  backoff: { base: '1s', factor: 2, max: '1h' }, // 1 s, 2 s, 4 s … with jitter
  timeout: '30s', // aborts ctx.signal, and the attempt fails
  transactional: true, // ctx.trx commits together with the task's completion
  async handler({ orderId, cents }, ctx) {
    if (cents > 1_000_000) throw new PermanentError('over the limit'); // fails at once, no retry
    // payments.order_id is the primary key: an order can never be charged twice.
    await ctx.trx.insertInto('payments').values({ order_id: orderId, cents }).execute();
    return { charged: cents }; // kept as the task's result
  },
});

export const sendReceipt = defineTask({
  name: 'send-receipt',
  payload: z.object({ orderId, email: z.string().email() }),
  async handler({ orderId, email }, ctx) {
    // Call your mail API here, passing ctx.signal so a timeout or cancel stops it.
    ctx.logger.info({ orderId, email }, 'receipt sent');
    return { sentTo: email };
  },
});
