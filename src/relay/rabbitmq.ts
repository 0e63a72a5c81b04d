/**
 * RabbitMQ through amqplib: a confirm channel, persistent messages, and
 * `mandatory` so that a message no queue is bound to take comes back
 * (basic.return, which the broker sends before its ack) and counts as a
 * failure instead of a silent drop. The AMQP messageId is the stable message
 * id; the ordering key rides in the `tandem-key` header.
 */
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import type { AnyDestination, RabbitMqBroker } from '../destination.js';
import type { Logger } from '../types.js';
import {
  type BrokerAdapter,
  type BrokerSession,
  importBrokerClient,
  messageOf,
  type OutgoingMessage,
  type PublishOutcome,
  redactUrl,
} from './broker.js';

type Amqp = typeof import('amqplib');

/** Connects to the broker of `broker` (shared by the relay and the inbox). */
export async function connectRabbitMq(broker: RabbitMqBroker, neededFor: string) {
  const amqp = await importBrokerClient<Amqp>('amqplib', neededFor);
  try {
    return await amqp.connect(broker.url, { timeout: 10_000 });
  } catch (err) {
    throw new Error(`cannot connect to RabbitMQ at ${redactUrl(broker.url)}: ${messageOf(err)}`);
  }
}

class RabbitMqSession implements BrokerSession {
  private broken: string | null = null;
  /** Messages the broker returned as unroutable, by messageId, with its reason. */
  private readonly returned = new Map<string, string>();

  constructor(
    private readonly conn: ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly exchange: string,
  ) {
    const lost = (what: string) => (err?: Error) => {
      this.broken ??= `${what}${err ? `: ${err.message}` : ''}`;
    };
    conn.on('error', lost('the RabbitMQ connection failed'));
    conn.on('close', lost('the RabbitMQ connection closed'));
    channel.on('error', lost('the RabbitMQ channel failed'));
    channel.on('close', lost('the RabbitMQ channel closed'));
    channel.on('return', (msg: Message) => {
      const id = msg.properties.messageId;
      if (typeof id === 'string') {
        const f = msg.fields as { replyCode?: number; replyText?: string; routingKey?: string };
        this.returned.set(
          id,
          `unroutable: exchange ${JSON.stringify(this.exchange)} has no queue bound for routing key ${JSON.stringify(f.routingKey ?? '')} (${f.replyCode ?? 312} ${f.replyText ?? 'NO_ROUTE'}); bind a queue or fix the destination`,
        );
      }
    });
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<PublishOutcome[]> {
    const confirms: Promise<PublishOutcome>[] = [];
    for (const m of messages) {
      if (this.broken) {
        confirms.push(Promise.resolve({ ok: false, error: this.broken, broken: true }));
        continue;
      }
      let sent: boolean;
      let settle!: (o: PublishOutcome) => void;
      confirms.push(
        new Promise<PublishOutcome>((res) => {
          settle = res;
        }),
      );
      const headers: Record<string, string> = { ...m.headers };
      if (m.key !== null) headers['tandem-key'] = m.key;
      try {
        sent = this.channel.publish(
          this.exchange,
          m.route,
          Buffer.from(m.body),
          {
            persistent: true,
            mandatory: true,
            messageId: m.messageId,
            contentType: 'application/json',
            headers,
          },
          (err) => {
            if (err) {
              const text = messageOf(err);
              settle({
                ok: false,
                error: this.broken ?? `the broker did not confirm the message: ${text}`,
                broken: !!this.broken || /closed/i.test(text),
              });
              return;
            }
            const why = this.returned.get(m.messageId);
            if (why !== undefined) {
              this.returned.delete(m.messageId);
              settle({ ok: false, error: why });
            } else settle({ ok: true });
          },
        );
      } catch (err) {
        this.broken ??= messageOf(err);
        settle({ ok: false, error: this.broken, broken: true });
        continue;
      }
      // The socket's buffer is full: let it drain before writing more.
      if (!sent) await this.drained();
    }
    return Promise.all(confirms);
  }

  private drained(): Promise<void> {
    return new Promise((res) => {
      const done = () => {
        this.channel.off('drain', done);
        this.channel.off('close', done);
        res();
      };
      this.channel.once('drain', done);
      this.channel.once('close', done);
    });
  }

  async close(): Promise<void> {
    this.broken ??= 'closed';
    await this.channel.close().catch(() => {});
    await this.conn.close().catch(() => {});
  }
}

export const rabbitMqAdapter: BrokerAdapter = {
  async openSession(destination: AnyDestination, _logger: Logger): Promise<BrokerSession> {
    const broker = destination.broker as RabbitMqBroker;
    const conn = await connectRabbitMq(broker, `the relay to RabbitMQ (${destination.name})`);
    try {
      conn.on('error', () => {});
      const channel = await conn.createConfirmChannel();
      channel.on('error', () => {});
      return new RabbitMqSession(conn, channel, destination.target.exchange ?? '');
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
  },
};
