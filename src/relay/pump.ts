/**
 * One destination's relay loop. It holds the destination's advisory lock on
 * a connection of its own (so any number of relay processes can run: one
 * relays, the others wait for the lock), and repeats one cycle:
 *
 *   take   delete what the broker confirmed last time, read the next batch
 *          of messages in id order (one statement, outboxTake);
 *   send   publish the batch in that order and wait for every confirmation;
 *   keep   the confirmed prefix: up to the first message that failed.
 *
 * On a failure the confirmed messages before it are deleted, the attempt is
 * recorded on the failed message, and after a backoff the next take starts
 * from it again: nothing after a failed message is marked published before
 * it is, so the batch never overtakes its head. Every statement runs on the
 * lock's connection, so a relay that lost its connection (and with it the
 * lock) cannot mark anything published.
 */
import type pg from 'pg';
import type { TandemClient } from '../client/client.js';
import {
  outboxFail,
  outboxSettle,
  outboxTake,
  relayLock,
  relayRegister,
  relayUnlock,
} from '../db/queries/outbox.js';
import type { AnyDestination } from '../destination.js';
import type { Logger } from '../types.js';
import {
  type BrokerAdapter,
  type BrokerSession,
  messageOf,
  type OutgoingMessage,
  type PublishOutcome,
} from './broker.js';

export interface PumpSettings {
  batchSize: number;
  pollMs: number;
  lockRetryMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  confirmTimeoutMs: number;
  listen: boolean;
}

/** What one destination's loop is doing, for `relay.status()`. */
export interface PumpStatus {
  destination: string;
  /** `active`: holds the lock and relays; `standby`: another process holds it; `down`: reconnecting. */
  state: 'starting' | 'active' | 'standby' | 'down' | 'stopped';
  /** Messages this process has had confirmed. */
  published: number;
  /** Failed publish attempts since the last success (0 while all is well). */
  failing: number;
  lastError: string | null;
}

interface Row {
  id: string;
  key: string | null;
  route: string | null;
  payload: string;
  headers: string | null;
}

/** Follow-up takes after a wake-up, for commits whose notification the producer debounced away. */
const FOLLOW_UPS_MS = [5, 50];

const idsLiteral = (ids: readonly string[]) => `{${ids.join(',')}}`;

export class DestinationPump {
  private stopping = false;
  private running: Promise<void> | null = null;
  private session: BrokerSession | null = null;
  private conn: { client: pg.ClientBase; close(): Promise<void> } | null = null;
  private wakeUp: (() => void) | null = null;
  private stopWait: (() => void) | null = null;
  private woken = false;
  private followUp: NodeJS.Timeout | null = null;
  private readonly status: PumpStatus;

  constructor(
    private readonly client: TandemClient,
    private readonly destination: AnyDestination,
    private readonly adapter: BrokerAdapter,
    private readonly prefix: string,
    private readonly holder: string,
    private readonly settings: PumpSettings,
    private readonly logger: Logger,
  ) {
    this.status = {
      destination: destination.name,
      state: 'starting',
      published: 0,
      failing: 0,
      lastError: null,
    };
  }

  get snapshot(): PumpStatus {
    return { ...this.status };
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Finishes the batch in flight, marks what was confirmed, releases the lock. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopWait?.();
    await this.running;
  }

  /** A wake-up for this destination (or a stop): take now instead of at the next poll. */
  kick(): void {
    const w = this.wakeUp;
    if (w) {
      this.wakeUp = null;
      w();
    } else this.woken = true;
  }

  private onNotification(): void {
    this.kick();
    if (this.followUp) return;
    let i = 0;
    const next = () => {
      const prev = i === 0 ? 0 : FOLLOW_UPS_MS[i - 1]!;
      const delay = FOLLOW_UPS_MS[i++]! - prev;
      this.followUp = setTimeout(() => {
        this.kick();
        if (i < FOLLOW_UPS_MS.length) next();
        else this.followUp = null;
      }, delay);
    };
    next();
  }

  /**
   * Waits `ms`; a kick (wake-up) ends the wait early when `wakeable`, a
   * stop always does. A backoff is not wakeable: new messages behind a
   * failing head must not hurry its retry.
   */
  private wait(ms: number, wakeable = true): Promise<void> {
    if (this.stopping) return Promise.resolve();
    if (wakeable && this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((res) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = null;
        if (this.stopWait === done) this.stopWait = null;
        res();
      };
      const timer = setTimeout(done, ms);
      this.stopWait = done;
      if (wakeable) this.wakeUp = done;
    });
  }

  private backoff(failures: number): number {
    const raw = Math.min(
      this.settings.backoffMaxMs,
      this.settings.backoffBaseMs * 2 ** Math.min(failures - 1, 30),
    );
    return Math.round(raw * (0.5 + Math.random() / 2));
  }

  private async run(): Promise<void> {
    let failures = 0;
    const name = this.destination.name;
    while (!this.stopping) {
      try {
        this.conn = await this.client.openConnection();
        const c = this.conn.client;
        c.on('error', () => {}); // the statement in progress fails and the loop reconnects
        await c.query(
          "select set_config('synchronous_commit', 'off', false), set_config('application_name', $1, false)",
          [`tandem relay ${name}`.slice(0, 63)],
        );
        const [reg] = (await c.query(relayRegister, [name])).rows as { lock_id: number }[];
        if (this.settings.listen) {
          c.on('notification', (n) => {
            if (n.channel === 'tandem_relay' && n.payload === name) this.onNotification();
          });
          await c.query('listen tandem_relay');
        }
        failures = 0;
        while (!this.stopping) {
          const got = await c.query(relayLock, [reg!.lock_id, name, this.holder]);
          if (got.rows.length > 0) break;
          this.status.state = 'standby';
          await this.wait(this.settings.lockRetryMs, false);
        }
        if (this.stopping) break;
        this.status.state = 'active';
        this.logger.info({ destination: name, holder: this.holder }, 'relaying destination');
        await this.relay(c);
        await c.query(relayUnlock, [reg!.lock_id, name, this.holder]).catch(() => {});
      } catch (err) {
        if (this.stopping) break;
        failures++;
        this.status.state = 'down';
        if (failures === 1)
          this.logger.error(
            { destination: name, err: messageOf(err) },
            'relay lost PostgreSQL; reconnecting with backoff (another relay may take over)',
          );
        await this.closeSession();
        await this.conn?.close().catch(() => {});
        this.conn = null;
        await this.wait(Math.min(5_000, this.backoff(failures)), false);
        continue;
      }
      break;
    }
    if (this.followUp) clearTimeout(this.followUp);
    await this.closeSession();
    await this.conn?.close().catch(() => {});
    this.conn = null;
    this.status.state = 'stopped';
  }

  /** The loop while holding the lock; returns when stopping, throws when PostgreSQL fails. */
  private async relay(c: pg.ClientBase): Promise<void> {
    const name = this.destination.name;
    const fixedRoute = this.destination.target.route ?? '';
    let done: string[] = [];
    while (!this.stopping) {
      const { rows } = await c.query<Row>({
        name: 'tandem-relay-take',
        text: outboxTake,
        values: [name, idsLiteral(done), this.settings.batchSize],
      });
      done = [];
      if (rows.length === 0) {
        await this.wait(this.settings.pollMs);
        continue;
      }
      const messages = rows.map(
        (r): OutgoingMessage => ({
          messageId: `${this.prefix}-${r.id}`,
          key: r.key,
          route: r.route ?? fixedRoute,
          body: r.payload,
          headers: r.headers ? (JSON.parse(r.headers) as Record<string, string>) : null,
        }),
      );
      const outcomes = await this.send(messages);
      // The confirmed prefix; a message without a verdict counts as failed.
      let k = 0;
      while (k < rows.length && outcomes[k]?.ok) k++;
      const confirmed = rows.slice(0, k).map((r) => r.id);
      this.status.published += k;
      if (k === rows.length) {
        if (this.status.failing > 0)
          this.logger.info(
            { destination: name, failedAttempts: this.status.failing },
            'relay publishing again',
          );
        this.status.failing = 0;
        done = confirmed;
        continue;
      }
      const failure = (outcomes[k] ?? {
        ok: false,
        error: 'the broker adapter reported no outcome for this message',
      }) as Extract<PublishOutcome, { ok: false }>;
      await c.query(outboxFail, [
        name,
        idsLiteral(confirmed),
        rows[k]!.id,
        failure.error.slice(0, 2_000),
      ]);
      this.status.failing++;
      if (this.status.failing === 1 || failure.error !== this.status.lastError)
        this.logger.warn(
          { destination: name, messageId: messages[k]!.messageId, error: failure.error },
          'relay could not publish; retrying from this message with backoff',
        );
      this.status.lastError = failure.error;
      if (failure.broken) await this.closeSession();
      await this.wait(this.backoff(this.status.failing), false);
    }
    if (done.length > 0) await c.query(outboxSettle, [name, idsLiteral(done)]);
  }

  /** Publishes a batch; a broker that cannot be reached or does not answer in time fails it at its head. */
  private async send(messages: OutgoingMessage[]): Promise<PublishOutcome[]> {
    let timer: NodeJS.Timeout | undefined;
    try {
      this.session ??= await this.adapter.openSession(this.destination, this.logger);
      const session = this.session;
      const timeout = new Promise<PublishOutcome[]>((res) => {
        timer = setTimeout(
          () =>
            res([
              {
                ok: false,
                broken: true,
                error: `no confirmation from the broker within ${this.settings.confirmTimeoutMs} ms`,
              },
            ]),
          this.settings.confirmTimeoutMs,
        );
      });
      return await Promise.race([session.publish(messages), timeout]);
    } catch (err) {
      return [{ ok: false, broken: true, error: messageOf(err) }];
    } finally {
      clearTimeout(timer);
    }
  }

  private async closeSession(): Promise<void> {
    const s = this.session;
    this.session = null;
    await s?.close().catch(() => {});
  }
}
