/**
 * The inbox (the idempotent consumer) on each broker: messages published in
 * transactions go out through the relay, and an inbox process turns them
 * into tasks. The first inbox process is killed after its first batch
 * committed and before it acknowledged it; the broker delivers that batch
 * again to the next inbox, which finds the keys taken: one task per
 * message, whatever was delivered twice. Two messages no task can be made
 * of (not JSON, failing the schema) are rejected and not delivered again.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTandem, type InboxBatch } from '../src/index.js';
import { type BrokerKind, brokerAvailable, FIXTURES, requireBroker } from './support/brokers.js';
import { freshDatabase } from './support/db.js';
import { inboxFromSpec } from './support/inbox-module.js';
import { quietLogger } from './support/quiet-logger.js';
import { sleep, waitFor } from './support/wait.js';

const MESSAGES = 300;

const kinds: BrokerKind[] = [];
for (const kind of ['rabbitmq', 'jetstream', 'redis'] as BrokerKind[])
  if (await brokerAvailable(kind)) kinds.push(kind);

describe.runIf(kinds.length > 0).each(kinds)('inbox from %s', (kind) => {
  let url: string;
  let pool: pg.Pool;
  beforeAll(async () => {
    await requireBroker(kind);
    url = await freshDatabase();
    pool = new pg.Pool({ connectionString: url, max: 4 });
  });
  afterAll(async () => {
    await pool?.end();
  });

  it('a message delivered again after its consumer was killed becomes the same task; one no task can be made of is rejected', async () => {
    const fixture = await FIXTURES[kind]();
    const tandem = createTandem({ connectionString: url, logger: quietLogger });
    try {
      const dest = fixture.destination(`inbox-${kind}`);
      const relay = tandem.relay({ destinations: [dest], logger: quietLogger });
      await relay.start();
      for (let n = 0; n < MESSAGES; n++)
        await tandem.publish(
          pool,
          dest,
          { n },
          {
            key: `agg:${n % 7}`,
            headers: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(15)}${n % 10}-01` },
          },
        );
      await waitFor(
        async () =>
          (await tandem.relayStatus()).destinations.find((d) => d.destination === dest.name)
            ?.backlog === 0,
        20_000,
        'the relay to publish everything',
      );
      await relay.stop();
      // Two messages no task can be made of: not JSON, and failing the task's schema.
      await fixture.publishRaw('{"n": 1, oops', 'poison-not-json');
      await fixture.publishRaw('{"n": "one"}', 'poison-schema');

      // The first consumer commits one batch and dies before acknowledging it.
      const spec = fixture.inboxSpec();
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'inbox',
          '--inboxes',
          'test/support/inbox-module.ts',
        ],
        {
          env: {
            ...process.env,
            DATABASE_URL: url,
            TANDEM_TEST_INBOX: JSON.stringify(spec),
            TANDEM_TEST_DIE_AFTER_COMMIT: '1',
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr!.on('data', (d) => {
        stderr += d;
      });
      const signal = await new Promise<NodeJS.Signals | null>((res) =>
        child.on('exit', (_code, sig) => res(sig)),
      );
      expect(signal, stderr).toBe('SIGKILL');
      const count = async () =>
        Number(
          (
            await pool.query(
              `select count(*) from tandem.tasks where name = 'inbox-event' and metadata->'inbox'->>'broker' = $1`,
              [kind],
            )
          ).rows[0].count,
        );
      const committedBeforeDeath = await count();
      expect(committedBeforeDeath).toBeGreaterThan(0);

      // The next consumer gets the unacknowledged batch again, and the rest.
      const batches: InboxBatch[] = [];
      const inbox = tandem.inbox({
        ...inboxFromSpec(spec, (b) => {
          batches.push(b);
        }),
        logger: quietLogger,
      });
      await inbox.start();
      try {
        await waitFor(async () => (await count()) >= MESSAGES, 20_000, `${MESSAGES} tasks`);
        await waitFor(
          () => batches.reduce((n, b) => n + b.duplicates, 0) >= committedBeforeDeath,
          10_000,
          'the redelivered batch',
        );
        // The poison messages (after everything else, beyond the first
        // consumer's batch) are rejected: settled, not delivered again.
        await waitFor(() => inbox.counts.rejected === 2, 10_000, 'the poison messages rejected');
        await sleep(kind === 'jetstream' ? 1_500 : 800); // past ackWait / claimIdle
        expect(inbox.counts.rejected).toBe(2);
      } finally {
        await inbox.stop();
      }
      const duplicates = batches.reduce((n, b) => n + b.duplicates, 0);
      expect(duplicates).toBeGreaterThanOrEqual(committedBeforeDeath);
      const { rows } = await pool.query(
        `select key, count(*)::int as tasks, min(payload->>'n') as n,
                  min(metadata->>'traceparent') as traceparent
             from tandem.tasks where name = 'inbox-event' group by key`,
      );
      expect(rows).toHaveLength(MESSAGES);
      expect(rows.every((r) => r.tasks === 1)).toBe(true);
      const prefix = (await tandem.relayStatus()).prefix;
      expect(rows.every((r) => r.key.startsWith(`${prefix}-`))).toBe(true);
      expect(new Set(rows.map((r) => Number(r.n))).size).toBe(MESSAGES);
      expect(rows.every((r) => /^00-a{32}-b{15}\d-01$/.test(r.traceparent))).toBe(true);
    } finally {
      await tandem.close();
      await fixture.teardown();
    }
  }, 60_000);
});
