/**
 * The inbox, the idempotent consumer: it reads messages from a broker and
 * turns each into one Tandem task keyed by the message's id, then
 * acknowledges it. A batch of messages is inserted in one statement (one
 * transaction) before any of them is acknowledged; a message delivered again
 * (its consumer died after the commit, or the producer sent it twice) finds
 * its key taken and becomes the same task, so its handler runs once.
 */
import type { TandemClient } from '../client/client.js';
import type { Broker } from '../destination.js';
import { TandemError } from '../errors.js';
import { loadBrokerClient, messageOf } from '../relay/broker.js';
import { isPayloadSchema } from '../schema.js';
import type { AnyTask, PayloadOf } from '../task.js';
import type { EnqueueOptions, Logger } from '../types.js';
import {
  type Delivery,
  type InboxAdapter,
  type InboxMessage,
  type InboxSession,
  type InboxSourceOptions,
  loadInboxAdapter,
} from './source.js';

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

const VALIDATION_CODES = new Set([
  'INVALID_PAYLOAD',
  'PAYLOAD_NOT_JSON',
  'PAYLOAD_TOO_LARGE',
  'INVALID_OPTIONS',
]);

/** Why a message cannot become a task, or its enqueue item. */
type Prepared =
  | { ok: true; payload: unknown; options: EnqueueOptions }
  | { ok: false; reason: string };

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
function checkInboxOptions(o: InboxOptions<AnyTask, Broker> & Record<string, unknown>): number {
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

/** Reads a broker and turns each message into one task. Created by `tandem.inbox()`. */
export class Inbox {
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly sourceOptions: Record<string, unknown>;
  private adapter: InboxAdapter | null = null;
  private session: InboxSession | null = null;
  private buffer: Delivery[] = [];
  private flushing: Promise<void> | null = null;
  private running: Promise<void> | null = null;
  private stopping = false;
  private stopWait: (() => void) | null = null;
  private warnedNoId = false;
  /** Counts since start. */
  readonly counts = { inserted: 0, duplicates: 0, rejected: 0 };

  constructor(
    private readonly client: TandemClient,
    private readonly options: InboxOptions<AnyTask, Broker>,
  ) {
    const o = options as InboxOptions<AnyTask, Broker> & Record<string, unknown>;
    this.batchSize = checkInboxOptions(o);
    const {
      broker: _b,
      task: _t,
      payload: _p,
      key: _k,
      batchSize: _s,
      onInserted: _o,
      logger: _l,
      inboxName: _n,
      ...rest
    } = o;
    this.sourceOptions = rest;
    this.logger = (o.logger ?? client.logger).child({
      component: 'inbox',
      task: o.task.name,
      broker: o.broker.kind,
    });
  }

  /** Connects and starts consuming; a broker that goes away is reconnected with backoff. */
  async start(): Promise<void> {
    if (this.running) throw new TandemError('INVALID_STATE', 'this inbox is already started');
    await loadBrokerClient(
      this.options.broker.kind,
      `the inbox of task ${JSON.stringify(this.options.task.name)}`,
    );
    this.adapter = await loadInboxAdapter(this.options.broker.kind);
    this.session = await this.open();
    this.running = this.supervise(this.session);
  }

  /** Stops consuming, commits and acknowledges what was delivered, closes the connection. */
  async stop(): Promise<void> {
    if (this.stopping) return this.running ?? undefined;
    this.stopping = true;
    this.stopWait?.();
    await this.flushing;
    if (this.buffer.length > 0) await this.flush();
    await this.session?.close();
    await this.running;
  }

  private open(): Promise<InboxSession> {
    return this.adapter!.openInboxSession(
      this.options.broker,
      this.sourceOptions,
      this.batchSize,
      (d) => this.deliver(d),
      this.logger,
    );
  }

  private async supervise(first: InboxSession): Promise<void> {
    let session: InboxSession | null = first;
    let failures = 0;
    while (!this.stopping) {
      if (session) {
        const why = await session.lost;
        if (this.stopping) return;
        this.logger.warn({ reason: why }, 'inbox lost its broker connection; reconnecting');
        // What it delivered and did not acknowledge comes again on the new session.
        this.buffer = [];
        this.session = null;
        session = null;
      }
      await this.sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      if (this.stopping) return;
      try {
        session = await this.open();
        this.session = session;
        failures = 0;
        this.logger.info('inbox reconnected');
      } catch (err) {
        failures++;
        if (failures === 1)
          this.logger.error({ err: messageOf(err) }, 'inbox cannot reach its broker');
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        self.stopWait = null;
        res();
      }
      this.stopWait = done;
    });
  }

  private deliver(d: Delivery): void {
    this.buffer.push(d);
    if (!this.flushing) this.schedule();
  }

  private schedule(): void {
    // A burst that arrives in one read of the socket becomes one batch.
    this.flushing = new Promise<void>((res) => setImmediate(res)).then(async () => {
      try {
        while (this.buffer.length > 0) await this.flush();
      } catch (err) {
        // Not acknowledged: the broker delivers these again on the next session.
        this.logger.error({ err: messageOf(err) }, 'inbox batch failed');
      } finally {
        this.flushing = null;
      }
    });
  }

  private prepare(m: InboxMessage): Prepared {
    let payload: unknown;
    try {
      payload = this.options.payload
        ? this.options.payload(m)
        : JSON.parse(m.body.toString('utf8'));
    } catch (err) {
      return {
        ok: false,
        reason: this.options.payload
          ? `the payload function threw: ${messageOf(err)}`
          : `the body is not JSON: ${messageOf(err)}`,
      };
    }
    let key: string | null;
    try {
      key = this.options.key ? this.options.key(m) : m.id;
    } catch (err) {
      return { ok: false, reason: `the key function threw: ${messageOf(err)}` };
    }
    if (key === null && !this.warnedNoId) {
      this.warnedNoId = true;
      this.logger.warn(
        'a message has no id (an AMQP message without messageId): its task has no key, so a redelivery of it makes a second task; give such producers a messageId, or the inbox a key function',
      );
    }
    const metadata: Record<string, unknown> = {
      inbox: { broker: this.options.broker.kind, messageId: m.id, route: m.route },
    };
    if (m.headers.traceparent) metadata.traceparent = m.headers.traceparent;
    if (m.headers.tracestate) metadata.tracestate = m.headers.tracestate;
    return { ok: true, payload, options: { ...(key !== null && { key }), metadata } };
  }

  /** Inserts up to batchSize buffered deliveries as tasks in one statement, then acknowledges them. */
  private async flush(): Promise<void> {
    const session = this.session;
    const batch = this.buffer.splice(0, this.batchSize);
    if (!session || batch.length === 0) return;
    const good: Delivery[] = [];
    const items: { task: AnyTask; payload: unknown; options: EnqueueOptions }[] = [];
    for (const d of batch) {
      const p = this.prepare(d.message);
      if (!p.ok) {
        await this.reject(session, d, p.reason);
        continue;
      }
      good.push(d);
      items.push({ task: this.options.task, payload: p.payload, options: p.options });
    }
    if (items.length === 0) return;
    const results = await this.insert(session, good, items);
    if (!results) return;
    const report: InboxBatch = { inserted: 0, duplicates: 0, tasks: [] };
    const acked: Delivery[] = [];
    for (const [i, r] of results.entries()) {
      if (!r) continue;
      acked.push(good[i]!);
      if (r.inserted) report.inserted++;
      else report.duplicates++;
      report.tasks.push({ messageId: good[i]!.message.id, taskId: r.id, inserted: r.inserted });
    }
    this.counts.inserted += report.inserted;
    this.counts.duplicates += report.duplicates;
    try {
      await this.options.onInserted?.(report);
    } catch (err) {
      // The tasks are committed: a failing hook does not keep the messages.
      this.logger.error({ err: messageOf(err) }, 'inbox onInserted threw');
    }
    await session.ack(acked);
  }

  /**
   * The batch in one enqueueMany. A message that fails the task's schema
   * fails the whole call before any SQL runs; then each goes on its own, so
   * only the bad ones are rejected. A database failure is retried with
   * backoff (nothing is acknowledged meanwhile); if the session is lost
   * meanwhile, the broker delivers the batch again anyway.
   */
  private async insert(
    session: InboxSession,
    good: Delivery[],
    items: { task: AnyTask; payload: unknown; options: EnqueueOptions }[],
  ): Promise<({ id: string; inserted: boolean } | null)[] | null> {
    const executor = this.client.pool ?? this.client.db;
    for (let failures = 0; ; failures++) {
      try {
        return await this.client.enqueueMany(executor, items);
      } catch (err) {
        if (err instanceof TandemError && VALIDATION_CODES.has(err.code)) break;
        if (this.session !== session) return null;
        if (failures === 0)
          this.logger.error(
            { err: messageOf(err) },
            'inbox cannot insert into PostgreSQL; retrying',
          );
        await this.sleep(Math.min(5_000, 50 * 2 ** Math.min(failures, 7)));
        if (this.session !== session) return null;
      }
    }
    const out: ({ id: string; inserted: boolean } | null)[] = [];
    for (const [i, item] of items.entries()) {
      try {
        const [r] = await this.client.enqueueMany(executor, [item]);
        out.push(r!);
      } catch (err) {
        if (!(err instanceof TandemError && VALIDATION_CODES.has(err.code))) throw err;
        await this.reject(session, good[i]!, err.message);
        out.push(null);
      }
    }
    return out;
  }

  private async reject(session: InboxSession, d: Delivery, reason: string): Promise<void> {
    this.counts.rejected++;
    this.logger.error(
      { messageId: d.message.id, route: d.message.route, reason },
      'inbox rejected a message that cannot become a task',
    );
    await session.reject(d, reason);
  }
}
