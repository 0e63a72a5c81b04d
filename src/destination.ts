/**
 * Destinations: where published messages go, declared once and shared by
 * the code that publishes (inside its transactions) and the relay that
 * delivers. A destination names a broker (plain connection settings: this
 * file loads no broker client), the exchange, subject or stream on it, and
 * the schema of its messages.
 */
import { toMs } from './duration.js';
import { TandemError } from './errors.js';
import { NAME_RE } from './limits.js';
import { type InferOutput, isPayloadSchema, type PayloadSchema } from './schema.js';
import type { Duration } from './types.js';

/** A RabbitMQ server, for `defineDestination` and the inbox. */
export interface RabbitMqBroker {
  readonly kind: 'rabbitmq';
  /** `amqp://user:pass@host:5672/vhost` */
  readonly url: string;
}

/** A NATS server (or cluster) with JetStream enabled. */
export interface JetStreamBroker {
  readonly kind: 'jetstream';
  readonly servers: readonly string[];
  /** Passed to `connect()` of `@nats-io/transport-node` as they are (user, pass, token, tls…). */
  readonly options: Readonly<Record<string, unknown>>;
}

/** A Redis server, for Streams. */
export interface RedisStreamsBroker {
  readonly kind: 'redis';
  /** `redis://[:password@]host:6379[/db]` */
  readonly url: string;
}

export type Broker = RabbitMqBroker | JetStreamBroker | RedisStreamsBroker;

function checkUrl(url: unknown, schemes: string[], what: string): string {
  let ok = false;
  try {
    ok = typeof url === 'string' && schemes.includes(new URL(url).protocol);
  } catch {}
  if (!ok) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `${what}: url must be a ${schemes.map((s) => `${s}//`).join(' or ')} URL, got ${JSON.stringify(url)}`,
    );
  }
  return url as string;
}

/**
 * A RabbitMQ server. Needs the `amqplib` package where a relay or inbox runs.
 *
 * @example
 * const rabbit = rabbitmq({ url: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' });
 */
export function rabbitmq(options: { url: string }): RabbitMqBroker {
  const url = checkUrl(options?.url, ['amqp:', 'amqps:'], 'rabbitmq()');
  return Object.freeze({ kind: 'rabbitmq', url });
}

/**
 * A NATS server with JetStream. Needs `@nats-io/transport-node` and
 * `@nats-io/jetstream` where a relay or inbox runs.
 *
 * @example
 * const js = jetstream({ servers: 'nats://127.0.0.1:4222' });
 */
export function jetstream(options: {
  servers: string | readonly string[];
  [option: string]: unknown;
}): JetStreamBroker {
  const { servers, ...rest } = options ?? ({} as never);
  const list = typeof servers === 'string' ? [servers] : servers;
  if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== 'string' || !s)) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `jetstream(): servers must be a server address such as nats://127.0.0.1:4222, or a list of them; got ${JSON.stringify(servers)}`,
    );
  }
  return Object.freeze({ kind: 'jetstream', servers: Object.freeze([...list]), options: rest });
}

/**
 * A Redis server, for Streams. Needs the `ioredis` package where a relay or inbox runs.
 *
 * @example
 * const redis = redisStreams({ url: 'redis://127.0.0.1:6379' });
 */
export function redisStreams(options: { url: string }): RedisStreamsBroker {
  const url = checkUrl(options?.url, ['redis:', 'rediss:'], 'redisStreams()');
  return Object.freeze({ kind: 'redis', url });
}

/** A fixed routing key, subject or stream, or one computed from each message when it is published. */
export type Route<P> = string | ((payload: P, key: string | null) => string);

/** Where a destination's messages go on each kind of broker. */
export type TargetOptions<B extends Broker, P> = B extends RabbitMqBroker
  ? {
      /** The exchange (`''` is the default exchange: the routing key names the queue). */
      exchange: string;
      /** Default `''`. */
      routingKey?: Route<P>;
    }
  : B extends JetStreamBroker
    ? {
        /** A subject that a JetStream stream captures. */
        subject: Route<P>;
        /** How long to wait for the stream's acknowledgement. Default `'5s'`. */
        ackTimeout?: Duration;
      }
    : {
        /** The stream's key. */
        stream: Route<P>;
        /** Trim the stream to about this many entries on each add (`MAXLEN ~`). Default: no trimming. */
        maxLen?: number;
        /**
         * Refuse a message id seen on this stream within this window (one
         * Redis key per message for the window), so a message published again
         * after a lost confirmation is added once. Default: off (consumers
         * dedupe by the entry's `id` field).
         */
        dedupeWindow?: Duration;
      };

export type DestinationOptions<S extends PayloadSchema, B extends Broker> = {
  /** Unique destination name (1-200 letters, digits and _ . : - /). */
  name: string;
  broker: B;
  /** Schema of the messages (any Standard Schema validator); `publish` validates against it. */
  payload: S;
} & TargetOptions<B, InferOutput<S>>;

/** Broker-specific settings of a destination, validated. */
export interface ResolvedTarget {
  /** RabbitMQ exchange. */
  exchange?: string;
  /** The routing key, subject or stream used when a message has no route of its own. */
  route: string | null;
  /** Computes a message's route at publish time. */
  routeOf: ((payload: unknown, key: string | null) => string) | null;
  ackTimeoutMs?: number;
  maxLen?: number;
  dedupeWindowMs?: number;
}

/** A destination, as returned by `defineDestination`. */
export interface Destination<S extends PayloadSchema = PayloadSchema, B extends Broker = Broker> {
  readonly name: string;
  readonly schema: S;
  readonly broker: B;
  readonly target: ResolvedTarget;
}

/** Any destination, whatever its payload. */
export type AnyDestination = Destination<any, Broker>;

/** The message type a destination accepts at publish. */
export type MessageOf<D> = D extends Destination<infer S, any> ? InferOutput<S> : never;

const EXCHANGE_RE = /^[A-Za-z0-9_.:-]{0,255}$/;
/** A subject to publish on: dot-separated tokens, no wildcards or whitespace. */
const SUBJECT_RE = /^[^\s.*>]+(\.[^\s.*>]+)*$/;

/** Why `route` is not a usable routing key, subject or stream for `broker`, or null. */
export function badRoute(broker: Broker['kind'], route: unknown): string | null {
  if (typeof route !== 'string') return `must be a string, got ${typeof route}`;
  if (Buffer.byteLength(route) > 255) return 'must be at most 255 bytes';
  if (broker === 'jetstream' && !SUBJECT_RE.test(route))
    return 'must be a NATS subject of dot-separated tokens without spaces or the wildcards * and >';
  if (broker === 'redis' && route.length === 0) return 'must not be empty';
  if (route.includes('\u0000')) return 'must not contain U+0000';
  return null;
}

/**
 * Declares a destination: a broker, where on it, and the schema of its
 * messages. Publish to it inside your transactions with `tandem.publish`;
 * a relay (`tandem.relay` or `tandem relay`) delivers what committed.
 *
 * @example
 * const rabbit = rabbitmq({ url: 'amqp://guest:guest@127.0.0.1:5672' });
 * export const orderEvents = defineDestination({
 *   name: 'order-events',
 *   broker: rabbit,
 *   exchange: 'orders',
 *   routingKey: (event) => `order.${event.status}`,
 *   payload: z.object({ orderId: z.number(), status: z.enum(['created', 'paid']) }),
 * });
 */
export function defineDestination<S extends PayloadSchema, B extends Broker>(
  options: DestinationOptions<S, B>,
): Destination<S, B> {
  const o = options as DestinationOptions<S, B> & Record<string, unknown>;
  const bad = (msg: string) =>
    new TandemError('INVALID_OPTIONS', `defineDestination(${JSON.stringify(o?.name)}): ${msg}`);
  if (typeof o?.name !== 'string' || !NAME_RE.test(o.name))
    throw bad('name must be 1-200 characters of letters, digits and _ . : - /');
  if (!isPayloadSchema(o.payload))
    throw bad(
      'payload must be a schema: zod (3.24+ or 4), valibot, arktype or another Standard Schema validator',
    );
  const broker = o.broker as Broker | undefined;
  const kinds = ['rabbitmq', 'jetstream', 'redis'];
  if (!broker || !kinds.includes(broker.kind))
    throw bad('broker must be made by rabbitmq(), jetstream() or redisStreams()');
  const route = (field: string, value: unknown, required: boolean) => {
    if (value === undefined && !required) return { route: '', routeOf: null };
    if (typeof value === 'function')
      return { route: null, routeOf: value as ResolvedTarget['routeOf'] };
    const why = badRoute(broker.kind, value);
    if (why) throw bad(`${field} ${why}, or a function of the message that returns one`);
    return { route: value as string, routeOf: null };
  };
  const ms = (field: string, value: unknown, fallback: number | undefined) => {
    if (value === undefined) return fallback;
    try {
      const n = toMs(value as Duration, field, 86_400_000);
      if (n <= 0) throw new Error(`${field} must be greater than 0`);
      return n;
    } catch (err) {
      throw bad((err as Error).message);
    }
  };
  let target: ResolvedTarget;
  if (broker.kind === 'rabbitmq') {
    if (typeof o.exchange !== 'string' || !EXCHANGE_RE.test(o.exchange))
      throw bad(
        `exchange must be an exchange name of at most 255 letters, digits and _ . : - ('' for the default exchange), got ${JSON.stringify(o.exchange)}`,
      );
    target = { exchange: o.exchange, ...route('routingKey', o.routingKey, false) };
  } else if (broker.kind === 'jetstream') {
    target = {
      ...route('subject', o.subject, true),
      ackTimeoutMs: ms('ackTimeout', o.ackTimeout, 5000),
    };
  } else {
    if (o.maxLen !== undefined && (!Number.isInteger(o.maxLen) || (o.maxLen as number) < 1))
      throw bad(`maxLen must be a positive integer, got ${JSON.stringify(o.maxLen)}`);
    target = {
      ...route('stream', o.stream, true),
      ...(o.maxLen !== undefined && { maxLen: o.maxLen as number }),
      ...(o.dedupeWindow !== undefined && {
        dedupeWindowMs: ms('dedupeWindow', o.dedupeWindow, undefined),
      }),
    };
  }
  return Object.freeze({
    name: o.name,
    schema: o.payload,
    broker: broker as B,
    target: Object.freeze(target),
  });
}

/** Whether a value is a destination made by `defineDestination` (structural, across copies of Tandem). */
export function isDestination(value: unknown): value is AnyDestination {
  const d = value as Partial<AnyDestination> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.name === 'string' &&
    isPayloadSchema(d.schema) &&
    typeof d.broker?.kind === 'string' &&
    typeof d.target === 'object'
  );
}
