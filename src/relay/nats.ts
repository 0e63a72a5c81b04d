/**
 * NATS JetStream through `@nats-io/transport-node` and `@nats-io/jetstream`:
 * each message is published with an acknowledgement from the stream and a
 * `Nats-Msg-Id` header carrying the stable message id, so a message sent
 * again within the stream's duplicate window (`duplicate_window`, 2 minutes
 * by default) is stored once (the ack says `duplicate`). The ordering key
 * rides in the `Tandem-Key` header. A publish that gets no ack within
 * `ackTimeout` fails and is retried.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AnyDestination, JetStreamBroker } from '../destination.js';
import type { Logger } from '../types.js';
import {
  type BrokerAdapter,
  type BrokerSession,
  importBrokerClient,
  messageOf,
  type OutgoingMessage,
  type PublishOutcome,
} from './broker.js';

type Transport = typeof import('@nats-io/transport-node');
type JetStreamModule = typeof import('@nats-io/jetstream');

/**
 * Connects to `broker` (shared by the relay and the inbox). With `reconnect`
 * the client reconnects forever by itself; without, the connection closes
 * on its first loss.
 */
export async function connectNats(
  broker: JetStreamBroker,
  neededFor: string,
  reconnect = true,
): Promise<{ nc: NatsConnection; transport: Transport; js: JetStreamModule }> {
  const transport = await importBrokerClient<Transport>('@nats-io/transport-node', neededFor);
  const js = await importBrokerClient<JetStreamModule>('@nats-io/jetstream', neededFor);
  try {
    const nc = await transport.connect({
      name: 'tandem',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...broker.options,
      ...(!reconnect && { reconnect: false }),
      servers: [...broker.servers],
    });
    return { nc, transport, js };
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${broker.servers.join(', ')}: ${messageOf(err)}`);
  }
}

class JetStreamSession implements BrokerSession {
  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly transport: Transport,
    private readonly ackTimeoutMs: number,
  ) {}

  async publish(messages: readonly OutgoingMessage[]): Promise<PublishOutcome[]> {
    const acks = messages.map(async (m): Promise<PublishOutcome> => {
      const h = this.transport.headers();
      if (m.headers) for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
      if (m.key !== null) h.set('Tandem-Key', m.key);
      try {
        const ack = await this.js.publish(m.route, m.body, {
          msgID: m.messageId,
          headers: h,
          timeout: this.ackTimeoutMs,
        });
        return { ok: true, duplicate: ack.duplicate };
      } catch (err) {
        return { ok: false, error: describe(err, m.route), broken: this.nc.isClosed() };
      }
    });
    return Promise.all(acks);
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}

function describe(err: unknown, subject: string): string {
  const name = (err as Error)?.name ?? '';
  const text = messageOf(err);
  if (name === 'JetStreamNotEnabled' || /no responders|not enabled/i.test(text))
    return `no JetStream stream captures subject ${JSON.stringify(subject)} (no responders): add the subject to a stream, or fix the destination`;
  if (/timeout/i.test(name) || /timeout/i.test(text))
    return `no acknowledgement from JetStream for subject ${JSON.stringify(subject)} in time (${text})`;
  return `JetStream refused the message: ${text}`;
}

export const jetStreamAdapter: BrokerAdapter = {
  async openSession(destination: AnyDestination, _logger: Logger): Promise<BrokerSession> {
    const broker = destination.broker as JetStreamBroker;
    // No reconnection by the client: it would send what it buffered during
    // the outage after the reconnect, behind a message lost with the old
    // socket, and reorder them. A lost connection fails the rest of the
    // batch instead, and the relay opens a new session.
    const { nc, transport, js } = await connectNats(
      broker,
      `the relay to NATS JetStream (${destination.name})`,
      false,
    );
    return new JetStreamSession(
      nc,
      js.jetstream(nc),
      transport,
      destination.target.ackTimeoutMs ?? 5000,
    );
  },
};
