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
import type { AnyTask } from '../task.js';
import type { EnqueueOptions, Logger } from '../types.js';
import { checkInboxOptions, type InboxBatch, type InboxOptions } from './define.js';
import {
  type Delivery,
  type InboxAdapter,
  type InboxMessage,
  type InboxSession,
  loadInboxAdapter,
} from './source.js';

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

/**
 * Reads a broker and turns each message into one task. Created by `tandem.inbox()`.
 *
 * @example
 * const inbox = tandem.inbox({ broker: rabbit, queue: 'billing.order-events', task: recordOrderEvent });
 * await inbox.start();
 * inbox.counts; // { inserted, duplicates, rejected } since start
 * await inbox.stop();
 */
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
