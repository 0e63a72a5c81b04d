/**
 * The relay's guarantees, run against each broker by test/relay-<broker>.test.ts:
 *
 * - exactly the committed messages arrive (10,000 transactions, half rolled back);
 * - a relay process killed with SIGKILL mid-stream: a standby relay takes
 *   over, every committed message arrives at least once, deduping by id
 *   leaves exactly one each, per-key order holds;
 * - a broker restart mid-stream: the same;
 * - a message published again is stored once where the broker dedupes;
 * - a message the broker refuses waits at its destination's head with its
 *   error and goes out once the broker takes it, while another destination
 *   keeps flowing.
 *
 * Producers serialise on the aggregate (`update aggregates … where key = $1`
 * before publishing), so each key's messages carry versions 1, 2, 3 … in
 * commit order: the first arrival of each message id, per key, must show
 * exactly that sequence.
 */
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTandem, type Tandem } from '../../src/index.js';
import { loadAdapter } from '../../src/relay/broker.js';
import { type BrokerFixture, type BrokerKind, FIXTURES, requireBroker, uniq } from './brokers.js';
import { freshDatabase } from './db.js';
import { quietLogger } from './quiet-logger.js';
import {
  type Committed,
  KEYS,
  produce,
  recordingLogger,
  spawnRelay,
  verify,
} from './relay-helpers.js';
import { waitFor } from './wait.js';

/** The suite against `kind`; `run` is false when the broker is not there (see brokerAvailable). */
export function relaySuite(kind: BrokerKind, run: boolean): void {
  describe.runIf(run)(`relay to ${kind}`, () => {
    let dbUrl: string;
    let pool: pg.Pool;
    let fixture: BrokerFixture;
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      await requireBroker(kind);
      dbUrl = await freshDatabase();
      pool = new pg.Pool({ connectionString: dbUrl, max: 12 });
      await pool.query('create table aggregates (key text primary key, version integer not null)');
    });
    afterAll(async () => {
      for (const c of children) c.kill('SIGKILL');
      await pool?.end();
    });

    async function withFixture(fn: (f: BrokerFixture, tandem: Tandem) => Promise<void>) {
      await pool.query('truncate aggregates');
      await pool.query(
        `insert into aggregates select 'agg:' || g, 0 from generate_series(0, ${KEYS - 1}) g`,
      );
      fixture = await FIXTURES[kind]();
      const tandem = createTandem({ connectionString: dbUrl, logger: quietLogger });
      try {
        await fn(fixture, tandem);
      } finally {
        await tandem.close();
        await fixture.teardown();
      }
    }

    async function backlogOf(tandem: Tandem, name: string): Promise<number> {
      const d = (await tandem.relayStatus()).destinations.find((x) => x.destination === name);
      return d?.backlog ?? 0;
    }

    it('10,000 transactions, half rolled back: exactly the committed messages arrive', async () => {
      await withFixture(async (f, tandem) => {
        const dest = f.destination(`${kind}-exact`);
        const relay = tandem.relay({ destinations: [dest], logger: quietLogger });
        await relay.start();
        try {
          const { committed, rolledBack } = await produce(pool, tandem, dest, {
            transactions: 10_000,
            connections: 8,
            rollbackOdd: true,
          });
          expect(committed).toHaveLength(5_000);
          expect(rolledBack).toHaveLength(5_000);
          const received = await f.read(5_000);
          verify(received as never, committed);
          const odd = received.filter((r) => (r.body as Committed).n % 2 === 1);
          expect(odd).toEqual([]);
          await waitFor(
            async () => (await backlogOf(tandem, dest.name)) === 0,
            10_000,
            'empty outbox',
          );
          expect(relay.status().destinations[0]!.published).toBeGreaterThanOrEqual(5_000);
        } finally {
          await relay.stop();
        }
      });
    }, 90_000);

    it('SIGKILL of the relay process mid-stream: a standby takes over, nothing is lost, per-key order holds', async () => {
      await withFixture(async (f, tandem) => {
        const opts = kind === 'redis' ? { dedupeWindow: '1m' } : {};
        const spec = f.spec(`${kind}-kill`, opts);
        const dest = f.destination(spec.name, opts);
        const a = await spawnRelay(dbUrl, spec);
        const b = await spawnRelay(dbUrl, spec);
        children.push(a.child, b.child);
        const producing = produce(pool, tandem, dest, {
          transactions: 3_000,
          connections: 4,
        });
        // Kill whichever holds the destination once a share has gone out.
        const holder = await waitFor(
          async () => {
            const d = (await tandem.relayStatus()).destinations.find(
              (x) => x.destination === spec.name,
            );
            return d && d.published >= 600 && d.holder ? d.holder : '';
          },
          30_000,
          '600 messages published',
        );
        const victim = holder.includes(`:${a.pid}:`) ? a : b;
        const survivor = victim === a ? b : a;
        victim.child.kill('SIGKILL');
        await victim.exited;
        const { committed } = await producing;
        await waitFor(
          async () => (await backlogOf(tandem, spec.name)) === 0,
          30_000,
          'empty outbox',
        );
        const status = (await tandem.relayStatus()).destinations.find(
          (x) => x.destination === spec.name,
        )!;
        expect(status.holder).toContain(`:${survivor.pid}:`);
        const received = await f.read(committed.length);
        const duplicates = verify(received as never, committed);
        // JetStream's duplicate window and the Redis dedupe window keep one copy at the broker.
        if (kind !== 'rabbitmq') expect(duplicates).toBe(0);
        survivor.child.kill('SIGTERM');
        expect(await survivor.exited).toBe(0);
      });
    }, 90_000);

    it('a message published again after a lost confirmation: JetStream and Redis (dedupeWindow) store it once, RabbitMQ twice', async () => {
      await withFixture(async (f) => {
        const dest = f.destination(`${kind}-twice`, kind === 'redis' ? { dedupeWindow: '1m' } : {});
        const session = await (await loadAdapter(dest.broker.kind)).openSession(dest, quietLogger);
        try {
          const id = uniq();
          const messages = [1, 2, 3].map((version) => ({
            messageId: `test${id}-${version}`,
            key: 'k',
            route: dest.target.route!,
            body: JSON.stringify({ n: version, key: 'k', version }),
            headers: null,
          }));
          // [confirmed, reported as a duplicate] per message
          const verdicts = (outcomes: Awaited<ReturnType<typeof session.publish>>) =>
            outcomes.map((o) => [o.ok, o.ok && o.duplicate === true]);
          const first = await session.publish(messages);
          expect(verdicts(first)).toEqual(messages.map(() => [true, false]));
          const again = await session.publish(messages);
          if (kind === 'rabbitmq') {
            expect(verdicts(again)).toEqual(messages.map(() => [true, false]));
            const received = await f.read(6);
            expect(received.map((r) => r.messageId)).toEqual([
              ...messages.map((m) => m.messageId),
              ...messages.map((m) => m.messageId),
            ]);
          } else {
            expect(verdicts(again)).toEqual(messages.map(() => [true, true]));
            const received = await f.read(3);
            expect(received.map((r) => r.messageId)).toEqual(messages.map((m) => m.messageId));
          }
        } finally {
          await session.close();
        }
      });
    });

    it('a message the broker refuses waits at the head with its error, then goes out; another destination keeps flowing', async () => {
      await withFixture(async (f, tandem) => {
        const ok = f.destination(`${kind}-flowing`);
        const blocked = await f.blocked(`${kind}-refused`);
        const relay = tandem.relay({
          destinations: [ok, blocked.destination],
          backoffBase: '20ms',
          backoffMax: '200ms',
          logger: quietLogger,
        });
        await relay.start();
        try {
          for (let n = 0; n < 5; n++)
            await tandem.publish(pool, blocked.destination, { n, to: 'refused' }, { key: 'k' });
          for (let n = 0; n < 20; n++)
            await tandem.publish(pool, ok, { n, to: 'flowing' }, { key: 'k' });
          const flowed = await f.read(20);
          expect(flowed.map((r) => r.body)).toEqual(
            Array.from({ length: 20 }, (_v, n) => ({ n, to: 'flowing' })),
          );
          const head = await waitFor(async () => {
            const d = (await tandem.relayStatus()).destinations.find(
              (x) => x.destination === blocked.destination.name,
            );
            return d?.head && d.head.attempts >= 2 ? d : undefined;
          });
          expect(head!.backlog).toBe(5);
          expect(head!.head!.lastError).toMatch(
            kind === 'rabbitmq'
              ? /unroutable: exchange .* has no queue bound for routing key "blocked"/
              : kind === 'jetstream'
                ? /no JetStream stream captures subject/
                : /WRONGTYPE/,
          );
          await blocked.unblock();
          await waitFor(
            async () => (await backlogOf(tandem, blocked.destination.name)) === 0,
            10_000,
            'the refused messages published',
          );
          const arrived = (await blocked.read(5)).filter((r) => r.body.to === 'refused');
          expect(arrived.map((r) => r.body.n)).toEqual([0, 1, 2, 3, 4]);
        } finally {
          await relay.stop();
        }
      });
    });

    it('a broker restart mid-stream: messages wait and go out, nothing is lost, per-key order holds', async () => {
      await withFixture(async (f, tandem) => {
        const via = kind === 'redis' ? (await f.proxy()).url : undefined;
        const dest = f.destination(`${kind}-restart`, via ? { via } : {});
        const logger = recordingLogger();
        const relay = tandem.relay({
          destinations: [dest],
          backoffBase: '50ms',
          backoffMax: '500ms',
          confirmTimeout: '3s',
          logger,
        });
        await relay.start();
        try {
          // Messages are flowing when the broker goes away, and more are
          // committed while it is away.
          const before = produce(pool, tandem, dest, { transactions: 1_500, connections: 4 });
          await waitFor(
            () => relay.status().destinations[0]!.published >= 600,
            30_000,
            '600 messages published',
          );
          const restarting = f.restart(1_500);
          const during = await produce(pool, tandem, dest, {
            transactions: 1_500,
            connections: 4,
            firstN: 1_500,
          });
          await restarting;
          const committed = [...(await before).committed, ...during.committed];
          expect(committed).toHaveLength(3_000);
          await waitFor(
            async () => (await backlogOf(tandem, dest.name)) === 0,
            60_000,
            'empty outbox',
          );
          expect(logger.warnings.some((w) => w.includes('could not publish'))).toBe(true);
          const received = await f.read(committed.length);
          verify(received as never, committed);
        } finally {
          await relay.stop();
        }
      });
    }, 90_000);
  });
}
