/**
 * The one interface between the relay and a broker. An adapter (one file per
 * broker: rabbitmq.ts, nats.ts, redis.ts) opens a session for one
 * destination and publishes batches in order, reporting each message's
 * fate. Adding a broker is one file that implements `openSession`.
 */
import type { AnyDestination, Broker } from '../destination.js';
import { missingDependency, TandemError } from '../errors.js';
import type { Logger } from '../types.js';

/** A message on its way out, as every adapter receives it. */
export interface OutgoingMessage {
  /** The stable message id (`<prefix>-<outbox id>`): AMQP messageId, Nats-Msg-Id, the entry's `id` field. */
  messageId: string;
  /** The ordering key, sent as the `tandem-key` header (`key` field in Redis); null when none. */
  key: string | null;
  /** Routing key, subject or stream: the message's own, else the destination's. */
  route: string;
  /** The message body: JSON text. */
  body: string;
  /** User headers, W3C trace context included (`traceparent`, `tracestate`). */
  headers: Record<string, string> | null;
}

/** What happened to one message of a batch. */
export type PublishOutcome =
  | { ok: true; duplicate?: boolean }
  | {
      ok: false;
      error: string;
      /** The session cannot be used any more (connection or channel gone): open a new one. */
      broken?: boolean;
    };

/** A destination's connection to its broker, owned by one relay loop. */
export interface BrokerSession {
  /**
   * Sends the messages in this order and waits for the broker's verdict on
   * each: one outcome per message, in the same order. Never rejects.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<PublishOutcome[]>;
  /** Closes the connection. */
  close(): Promise<void>;
}

export interface BrokerAdapter {
  openSession(destination: AnyDestination, logger: Logger): Promise<BrokerSession>;
}

/** The npm packages each broker needs, for the error when one is missing. */
export const BROKER_PACKAGES: Record<Broker['kind'], string> = {
  rabbitmq: 'amqplib',
  jetstream: '@nats-io/transport-node @nats-io/jetstream',
  redis: 'ioredis',
};

/**
 * Imports a broker client package, or throws MISSING_DEPENDENCY naming it:
 * broker clients are optional peer dependencies, loaded only by a relay or
 * an inbox that uses them.
 */
export async function importBrokerClient<T>(pkg: string, neededFor: string): Promise<T> {
  try {
    return (await import(pkg)) as T;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')
      throw missingDependency(pkg, neededFor);
    throw err;
  }
}

/**
 * Imports the client packages of a broker kind, so that a missing one fails
 * a relay's or inbox's start with MISSING_DEPENDENCY, before anything runs.
 */
export async function loadBrokerClient(kind: Broker['kind'], neededFor: string): Promise<void> {
  const missing: string[] = [];
  for (const pkg of BROKER_PACKAGES[kind].split(' ')) {
    try {
      await importBrokerClient(pkg, neededFor);
    } catch (err) {
      if ((err as TandemError).code !== 'MISSING_DEPENDENCY') throw err;
      missing.push(pkg);
    }
  }
  if (missing.length === 1) throw missingDependency(missing[0]!, neededFor);
  if (missing.length > 1)
    throw new TandemError(
      'MISSING_DEPENDENCY',
      `${neededFor} needs the packages ${missing.join(' and ')}, which are not installed: npm install ${missing.join(' ')}`,
    );
}

/** The adapter for a broker kind, loaded on first use. */
export async function loadAdapter(kind: Broker['kind']): Promise<BrokerAdapter> {
  switch (kind) {
    case 'rabbitmq':
      return (await import('./rabbitmq.js')).rabbitMqAdapter;
    case 'jetstream':
      return (await import('./nats.js')).jetStreamAdapter;
    case 'redis':
      return (await import('./redis.js')).redisAdapter;
    default:
      throw new TandemError('INVALID_OPTIONS', `unknown broker kind ${JSON.stringify(kind)}`);
  }
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

/** An error's message, for outcomes and logs. */
export function messageOf(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}
