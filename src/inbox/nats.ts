/**
 * The inbox on NATS JetStream: a durable pull consumer with explicit acks
 * (created when it does not exist). A message's id is its `Nats-Msg-Id`
 * header (a Tandem relay sets it), else `<stream>:<stream sequence>`, which
 * stays the same when JetStream delivers the message again. A message that
 * cannot become a task is terminated (`term`), so it is not redelivered.
 */
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Broker, JetStreamBroker } from '../destination.js';
import { toMs } from '../duration.js';
import { connectNats } from '../relay/nats.js';
import type { Logger } from '../types.js';
import type { Delivery, InboxAdapter, InboxSession } from './source.js';

export const jetStreamInbox: InboxAdapter = {
  async openInboxSession(broker: Broker, options, batchSize, deliver, _logger: Logger) {
    const stream = options.stream as string;
    const durable = options.consumer as string;
    const { nc, js: mod } = await connectNats(
      broker as JetStreamBroker,
      `the inbox from NATS JetStream (${stream})`,
    );
    let messages: ConsumerMessages;
    try {
      const jsm = await mod.jetstreamManager(nc);
      const info = await jsm.consumers.info(stream, durable).catch(() => null);
      if (!info) {
        const ackWaitMs = toMs(
          (options.ackWait as string | number | undefined) ?? '30s',
          'inbox ackWait',
        );
        await jsm.consumers.add(stream, {
          durable_name: durable,
          ack_policy: mod.AckPolicy.Explicit,
          ack_wait: ackWaitMs * 1_000_000,
        });
      }
      const consumer = await mod.jetstream(nc).consumers.get(stream, durable);
      messages = await consumer.consume({ max_messages: batchSize * 2 });
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
    let closed = false;
    const lost = (async () => {
      try {
        for await (const m of messages) {
          const headers: Record<string, string> = {};
          for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
          deliver({
            message: {
              id: headers['Nats-Msg-Id'] || `${stream}:${m.seq}`,
              body: Buffer.from(m.data),
              headers,
              route: m.subject,
              redelivered: m.redelivered,
            },
            handle: m,
          });
        }
        return closed ? 'closed' : `the consumer ${durable} of stream ${stream} stopped`;
      } catch (err) {
        return `the consumer ${durable} of stream ${stream} failed: ${(err as Error).message}`;
      }
    })();
    const session: InboxSession = {
      lost,
      async ack(deliveries: readonly Delivery[]) {
        if (closed) return;
        for (const d of deliveries) (d.handle as JsMsg).ack();
        // The acks are on their way once the client has flushed them.
        await nc.flush().catch(() => {});
      },
      async reject(d: Delivery) {
        // No reason with it (the inbox logs it): a server before 2.10 does
        // not take `+TERM <reason>` and would deliver the message again.
        if (closed) return;
        (d.handle as JsMsg).term();
        await nc.flush().catch(() => {});
      },
      async close() {
        closed = true;
        await messages.close().catch(() => {});
        await nc.drain().catch(() => nc.close());
      },
    };
    return session;
  },
};
