/**
 * The shop's tasks. Run them with:
 *
 *   tandem worker --tasks examples/shop/tasks.ts --queues default=5,payments=5
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineTask, PermanentError } from '../../src/index.js';

/**
 * Charges an order. Transactional: the payment row is written with `ctx.trx`
 * and commits together with the task's completion, so a charge is recorded
 * exactly once however often the attempt fails, times out or crashes. The
 * unique `order_id` makes a double charge impossible even so.
 */
export const chargeOrder = defineTask({
  name: 'charge-order',
  queue: 'payments',
  payload: z.object({
    orderId: z.number().int().positive(),
    customer: z.string().min(1),
    cents: z.number().int().positive(),
  }),
  maxAttempts: 3,
  backoff: { base: '500ms', factor: 2 },
  timeout: '10s',
  transactional: true,
  async handler({ orderId, customer, cents }, ctx) {
    const payment = await ctx.trx
      .insertInto('shop_payments')
      .values({ order_id: orderId, cents })
      .returning('id')
      .executeTakeFirstOrThrow();
    // The payment gateway of this demo is flaky. Both failures below happen
    // after the insert above: it rolls back with the failed attempt. Their
    // messages name no order, so the dashboard's Failures page groups them.
    if (customer === 'mallory') {
      throw new PermanentError('card declined (no retry)');
    }
    if (Math.random() < 0.25) {
      throw new Error('payment gateway timed out (simulated)');
    }
    return { paymentId: String(payment.id), cents };
  },
});

/** Emails a receipt: keyed by order at enqueue (`receipt:<id>`), so at most one per order. */
export const sendReceipt = defineTask({
  name: 'send-receipt',
  payload: z.object({ orderId: z.number().int().positive(), customer: z.string().min(1) }),
  timeout: '5s',
  async handler({ orderId, customer }, ctx) {
    // Stands in for the mail API call; aborts on timeout, cancel and shutdown.
    await sleep(20 + Math.random() * 80, undefined, { signal: ctx.signal });
    return { sentTo: `${customer}@example.com`, orderId };
  },
});

/**
 * Reports the last hour's sales. Run by the `hourly-totals` cron schedule
 * (see `schedules` below): one task per hour however many workers run.
 */
export const reportTotals = defineTask({
  name: 'report-totals',
  payload: z.object({}),
  async handler(_payload, ctx) {
    const row = await ctx.db
      .selectFrom('shop_payments')
      .select((eb) => [
        eb.fn.countAll<string>().as('payments'),
        eb.fn.sum<string>('cents').as('cents'),
      ])
      .where('charged_at', '>', new Date(Date.now() - 3_600_000))
      .executeTakeFirstOrThrow();
    const totals = { payments: Number(row.payments), cents: Number(row.cents ?? 0) };
    ctx.logger.info(totals, 'hourly totals');
    return totals;
  },
});

/** The shop's cron schedules: hourly totals at the top of each hour. */
export const schedules = [{ name: 'hourly-totals', cron: '0 * * * *', task: reportTotals }];
