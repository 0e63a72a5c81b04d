/**
 * The one interface between the inbox and a broker: a session delivers
 * messages, and settles them once the inbox has committed them as tasks
 * (ack) or found them unusable (reject). One file per broker implements
 * `openInboxSession` (rabbitmq.ts, nats.ts, redis.ts).
 */
import type { Broker } from '../destination.js';
import type { Duration, Logger } from '../types.js';

/** A message as the inbox's `key` and `payload` functions see it. */
export interface InboxMessage {
  /**
   * The message's id: the producer's (AMQP messageId, the `Nats-Msg-Id`
   * header, the entry's `id` field, which a Tandem relay sets to
   * `<prefix>-<id>`), else the broker's own (`<stream>:<sequence>` on
   * JetStream, `<stream>:<entry id>` on Redis); null for an AMQP message
   * without a messageId.
   */
  id: string | null;
  /** The body as received. */
  body: Buffer;
  /** String headers (AMQP headers, NATS headers, the `headers` field on Redis). */
  headers: Record<string, string>;
  /** Routing key, subject, or stream key. */
  route: string;
  /** The broker delivered it before (a consumer died or did not acknowledge in time). */
  redelivered: boolean;
}

/** Where the inbox reads, per broker. */
export type InboxSourceOptions<B extends Broker> = B extends { kind: 'rabbitmq' }
  ? {
      /** The queue to consume (declared by you, durable). */
      queue: string;
      /** Unacknowledged messages the broker hands over at once. Default: twice the batch size. */
      prefetch?: number;
    }
  : B extends { kind: 'jetstream' }
    ? {
        /** The stream. */
        stream: string;
        /** A durable pull consumer of it; created (explicit acks) when it does not exist. */
        consumer: string;
        /** Redelivery after this long without an ack, when Tandem creates the consumer. Default `'30s'`. */
        ackWait?: Duration;
      }
    : {
        /** The stream key. */
        stream: string;
        /** The consumer group; created (from the start of the stream) when it does not exist. */
        group: string;
        /** This consumer's name in the group. Default: `<host>:<pid>`. */
        consumer?: string;
        /** Entries pending this long on a consumer that went away are claimed and delivered again. Default `'30s'`. */
        claimIdle?: Duration;
      };

/** One delivery, with the session it came from. */
export interface Delivery {
  message: InboxMessage;
  /** The broker's handle (a delivery tag, a JetStream message, an entry id). */
  handle: unknown;
}

export interface InboxSession {
  /** Acknowledges deliveries whose tasks committed. A session that was lost ignores them (the broker delivers again). */
  ack(deliveries: readonly Delivery[]): Promise<void>;
  /** Settles a delivery that cannot become a task, so it is not delivered again. */
  reject(delivery: Delivery, reason: string): Promise<void>;
  /** Resolves when the session is lost (connection gone) or closed. */
  readonly lost: Promise<string>;
  close(): Promise<void>;
}

export interface InboxAdapter {
  openInboxSession(
    broker: Broker,
    options: Record<string, unknown>,
    batchSize: number,
    deliver: (d: Delivery) => void,
    logger: Logger,
  ): Promise<InboxSession>;
}

export async function loadInboxAdapter(kind: Broker['kind']): Promise<InboxAdapter> {
  switch (kind) {
    case 'rabbitmq':
      return (await import('./rabbitmq.js')).rabbitMqInbox;
    case 'jetstream':
      return (await import('./nats.js')).jetStreamInbox;
    default:
      return (await import('./redis.js')).redisInbox;
  }
}
