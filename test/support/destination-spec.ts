/** A destination described as plain JSON, so a relay process of a test can rebuild it from its environment. */
import {
  type AnyDestination,
  defineDestination,
  jetstream,
  type PayloadSchema,
  rabbitmq,
  redisStreams,
} from '../../src/index.js';

export interface DestinationSpec {
  kind: 'rabbitmq' | 'jetstream' | 'redis';
  name: string;
  url: string;
  exchange?: string;
  routingKey?: string;
  subject?: string;
  stream?: string;
  dedupeWindow?: string;
}

/** Accepts any message: the tests check what arrives, not schemas. */
const anyMessage: PayloadSchema = {
  '~standard': { version: 1, vendor: 'test', validate: (value: unknown) => ({ value }) },
};

export function destinationFromSpec(d: DestinationSpec): AnyDestination {
  if (d.kind === 'rabbitmq')
    return defineDestination({
      name: d.name,
      broker: rabbitmq({ url: d.url }),
      exchange: d.exchange!,
      routingKey: d.routingKey ?? '',
      payload: anyMessage,
    });
  if (d.kind === 'jetstream')
    return defineDestination({
      name: d.name,
      broker: jetstream({ servers: d.url }),
      subject: d.subject!,
      payload: anyMessage,
    });
  return defineDestination({
    name: d.name,
    broker: redisStreams({ url: d.url }),
    stream: d.stream!,
    payload: anyMessage,
    ...(d.dedupeWindow && { dedupeWindow: d.dedupeWindow }),
  });
}
