/**
 * The relay when PostgreSQL goes away: its session (and with it the
 * destination's lock) is cut mid-stream through a TCP proxy; the relay
 * reconnects with backoff, takes the lock again and carries on, and every
 * committed message arrives, in order per key. Against Redis, the fastest of
 * the machine's brokers; the path is the same for every broker.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTandem } from '../src/index.js';
import { brokerAvailable, redisFixture } from './support/brokers.js';
import { freshDatabase } from './support/db.js';
import { quietLogger } from './support/quiet-logger.js';
import { KEYS, produce, verify } from './support/relay-helpers.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { waitFor } from './support/wait.js';

describe.runIf(await brokerAvailable('redis'))('relay and PostgreSQL outages', () => {
  let url: string;
  let pool: pg.Pool;
  beforeAll(async () => {
    url = await freshDatabase();
    pool = new pg.Pool({ connectionString: url, max: 6 });
    await pool.query('create table aggregates (key text primary key, version integer not null)');
    await pool.query(
      `insert into aggregates select 'agg:' || g, 0 from generate_series(0, ${KEYS - 1}) g`,
    );
  });
  afterAll(async () => {
    await pool?.end();
  });

  it('reconnects after its PostgreSQL session is cut, takes the lock again, and loses nothing', async () => {
    const fixture = await redisFixture();
    const proxy = await startTcpProxy(url);
    const producer = createTandem({ pool, logger: quietLogger });
    const relaying = createTandem({ connectionString: proxy.url, logger: quietLogger });
    const dest = fixture.destination('reconnect');
    const relay = relaying.relay({ destinations: [dest], lockRetryInterval: '50ms' });
    try {
      await relay.start();
      const producing = produce(pool, producer, dest, { transactions: 2_000, connections: 4 });
      await waitFor(
        () => relay.status().destinations[0]!.published >= 300,
        20_000,
        '300 published',
      );
      proxy.refuse();
      proxy.cut();
      await waitFor(
        () => relay.status().destinations[0]!.state === 'down',
        10_000,
        'the relay down',
      );
      proxy.accept();
      const { committed } = await producing;
      await waitFor(
        async () =>
          (await producer.relayStatus()).destinations.find((d) => d.destination === 'reconnect')
            ?.backlog === 0,
        30_000,
        'empty outbox',
      );
      expect(relay.status().destinations[0]!.state).toBe('active');
      verify((await fixture.read(committed.length)) as never, committed);
    } finally {
      await relay.stop();
      await relaying.close();
      await producer.close();
      await proxy.close();
      await fixture.teardown();
    }
  }, 60_000);
});
