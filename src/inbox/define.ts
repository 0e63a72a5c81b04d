/**
 * Inbox declarations: what an inbox reads (a broker source) and the task
 * each message becomes, checked once, for `tandem.inbox()` and `tandem inbox
 * --inboxes <module>`.
 */
import type { Broker } from '../destination.js';
import { TandemError } from '../errors.js';
import { isPayloadSchema } from '../schema.js';
import type { AnyTask, PayloadOf } from '../task.js';
import type { Logger } from '../types.js';
import type { InboxMessage, InboxSourceOptions } from './source.js';

/** What one committed batch did, for `onInserted`. */
export interface InboxBatch {
  /** Messages that became new tasks. */
  inserted: number;
  /** Messages whose key already had a task (delivered again): acknowledged, nothing inserted. */
  duplicates: number;
  /** The task of each message of the batch, in delivery order. */
  tasks: { messageId: string | null; taskId: string; inserted: boolean }[];
}

export type InboxOptions<T extends AnyTask, B extends Broker> = {
  broker: B;
  /** The task each message becomes. */
  task: T;
  /** The task's payload from a message. Default: the body parsed as JSON. */
  payload?: (message: InboxMessage) => PayloadOf<T>;
  /** The task's key. Default: the message's id (see `InboxMessage.id`). */
  key?: (message: InboxMessage) => string | null;
  /** Messages per insert (one transaction). Default 100. */
  batchSize?: number;
  /** Called after a batch committed and before it is acknowledged. */
  onInserted?: (batch: InboxBatch) => void | Promise<void>;
  logger?: Logger;
} & InboxSourceOptions<B>;

/** An inbox declared once, for `tandem inbox --inboxes <module>` and `tandem.inbox()`. */
export type InboxDefinition<T extends AnyTask = AnyTask, B extends Broker = Broker> = Readonly<
  InboxOptions<T, B>
> & { readonly inboxName: string };

/**
 * Declares an inbox: a broker source and the task each of its messages
 * becomes. Export it from a module and run it with `tandem inbox --inboxes
 * <module>`, or pass it to `tandem.inbox()`.
 *
 * @example
 * export const orderEventsInbox = defineInbox({
 *   name: 'order-events',
 *   broker: rabbitmq({ url: 'amqp://guest:guest@127.0.0.1:5672' }),
 *   queue: 'billing.order-events',
 *   task: recordOrderEvent, // defineTask({ name: 'record-order-event', payload: …, handler })
 * });
 */
export function defineInbox<T extends AnyTask, B extends Broker>(
  options: InboxOptions<T, B> & { name: string },
): InboxDefinition<T, B> {
  const { name, ...rest } = options as InboxOptions<T, B> & { name: string };
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:\-/]{1,200}$/.test(name))
    throw new TandemError(
      'INVALID_OPTIONS',
      `defineInbox: name must be 1-200 characters of letters, digits and _ . : - /, got ${JSON.stringify(name)}`,
    );
  checkInboxOptions(rest as unknown as InboxOptions<AnyTask, Broker>);
  return Object.freeze({ ...rest, inboxName: name }) as unknown as InboxDefinition<T, B>;
}

/** Whether a value was made by `defineInbox` (structural, across copies of Tandem). */
export function isInboxDefinition(value: unknown): value is InboxDefinition {
  const v = value as Partial<InboxDefinition> | null;
  return typeof v === 'object' && v !== null && typeof v.inboxName === 'string' && !!v.broker;
}

/** Throws INVALID_OPTIONS for options an inbox cannot run with; returns the batch size. */
export function checkInboxOptions(
  o: InboxOptions<AnyTask, Broker> & Record<string, unknown>,
): number {
  const bad = (msg: string) => new TandemError('INVALID_OPTIONS', `inbox: ${msg}`);
  if (!o?.broker || !['rabbitmq', 'jetstream', 'redis'].includes(o.broker.kind))
    throw bad('broker must be made by rabbitmq(), jetstream() or redisStreams()');
  if (typeof o.task?.name !== 'string' || !isPayloadSchema(o.task.schema))
    throw bad('task must be a task definition made by defineTask()');
  for (const f of ['payload', 'key', 'onInserted'] as const)
    if (o[f] !== undefined && typeof o[f] !== 'function') throw bad(`${f} must be a function`);
  const batchSize = o.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000)
    throw bad(`batchSize must be an integer from 1 to 1000, got ${JSON.stringify(o.batchSize)}`);
  const required =
    o.broker.kind === 'rabbitmq'
      ? ['queue']
      : o.broker.kind === 'jetstream'
        ? ['stream', 'consumer']
        : ['stream', 'group'];
  for (const r of required)
    if (typeof o[r] !== 'string' || o[r] === '')
      throw bad(`${o.broker.kind} needs ${r}: the name of the ${r} to read from`);
  return batchSize;
}
