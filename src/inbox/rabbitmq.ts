/**
 * The inbox on RabbitMQ: consumes a queue with manual acks and a prefetch
 * window. A message's id is its AMQP messageId (a Tandem relay sets it). A
 * batch is acknowledged with one multiple-ack up to its last good delivery
 * tag; a message that cannot become a task is rejected without requeue (to
 * the queue's dead-letter exchange, if it has one).
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Broker, RabbitMqBroker } from '../destination.js';
import { connectRabbitMq } from '../relay/rabbitmq.js';
import type { Logger } from '../types.js';
import type { Delivery, InboxAdapter, InboxSession } from './source.js';

function stringHeaders(h: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {}))
    if (v !== undefined && v !== null) out[k] = Buffer.isBuffer(v) ? v.toString() : String(v);
  return out;
}

export const rabbitMqInbox: InboxAdapter = {
  async openInboxSession(broker: Broker, options, batchSize, deliver, _logger: Logger) {
    const queue = options.queue as string;
    const conn = await connectRabbitMq(
      broker as RabbitMqBroker,
      `the inbox from RabbitMQ (${queue})`,
    );
    let markLost!: (why: string) => void;
    let closed = false;
    const lost = new Promise<string>((res) => {
      markLost = (why) => {
        closed = true;
        res(why);
      };
    });
    conn.on('error', () => {});
    conn.on('close', (err?: Error) =>
      markLost(`the RabbitMQ connection closed${err ? `: ${err.message}` : ''}`),
    );
    let channel: Channel;
    try {
      channel = await conn.createChannel();
      channel.on('error', () => {});
      channel.on('close', () => markLost('the RabbitMQ channel closed'));
      await channel.prefetch((options.prefetch as number | undefined) ?? batchSize * 2);
      await channel.consume(
        queue,
        (m: ConsumeMessage | null) => {
          if (!m) return markLost(`the consumer of queue ${queue} was cancelled by the broker`);
          deliver({
            message: {
              id: typeof m.properties.messageId === 'string' ? m.properties.messageId : null,
              body: m.content,
              headers: stringHeaders(m.properties.headers),
              route: m.fields.routingKey,
              redelivered: m.fields.redelivered,
            },
            handle: m,
          });
        },
        { noAck: false },
      );
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
    const session: InboxSession = {
      lost,
      async ack(deliveries: readonly Delivery[]) {
        if (closed || deliveries.length === 0) return;
        // Deliveries come in tag order and are settled in that order: one
        // multiple-ack covers the batch (rejected ones were settled already).
        channel.ack(deliveries[deliveries.length - 1]!.handle as ConsumeMessage, true);
      },
      async reject(d: Delivery) {
        if (!closed) channel.nack(d.handle as ConsumeMessage, false, false);
      },
      async close() {
        closed = true;
        await channel.close().catch(() => {});
        await conn.close().catch(() => {});
      },
    };
    return session;
  },
};
