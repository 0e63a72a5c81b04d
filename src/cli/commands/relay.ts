import type { Command } from 'commander';
import { openDatabase } from '../database.js';
import { loadDestinationModule } from '../load-destinations.js';
import {
  type DatabaseOptions,
  databaseUrlOption,
  parseDuration,
  parsePositiveInteger,
} from '../options.js';
import { formatTable, printJson } from '../output.js';
import { trapShutdown, untilAborted } from '../signals.js';

interface RelayCliOptions extends DatabaseOptions {
  destinations: string;
  batchSize?: number;
  pollInterval?: number;
  lockRetryInterval?: number;
  listen: boolean;
}

export function register(program: Command): void {
  const relay = program
    .command('relay')
    .description(
      'deliver committed outbox messages of a module’s destinations to their brokers until SIGINT/SIGTERM',
    )
    .option(
      '--destinations <module>',
      'module exporting your defineDestination(...) values (.js, or .ts with tsx installed)',
    )
    .option('--batch-size <n>', 'messages per confirm round (default 500)', parsePositiveInteger)
    .option(
      '--poll-interval <duration>',
      'look for messages this often when no wake-up arrives (default 1s)',
      parseDuration,
    )
    .option(
      '--lock-retry-interval <duration>',
      'how often a standby relay tries to take over a destination (default 1s)',
      parseDuration,
    )
    .option('--no-listen', 'poll only, no LISTEN (for poolers in transaction mode)')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Run as many relay processes as you like: each destination is relayed by one of
them at a time (an advisory lock per destination); the others stand by and take
over within --lock-retry-interval. Broker clients are optional packages: install
amqplib (RabbitMQ), @nats-io/transport-node and @nats-io/jetstream (NATS), or
ioredis (Redis) where the relay runs.

Examples:
  $ tandem relay --destinations ./destinations.ts
  $ tandem relay status`,
    )
    .action(runRelay);
  relay
    .command('status')
    .description('backlog, age of the oldest message and holder of every destination')
    .option('--json', 'print JSON instead of a table')
    .addOption(databaseUrlOption())
    .action(async (opts: DatabaseOptions & { json?: boolean }) => {
      const { withTandem } = await import('../context.js');
      await withTandem(opts, async (tandem) => {
        const status = await tandem.relayStatus();
        if (opts.json) return printJson(status);
        if (status.destinations.length === 0) {
          process.stdout.write('no destinations yet: nothing was published or relayed\n');
          return;
        }
        process.stdout.write(
          formatTable(
            ['DESTINATION', 'BACKLOG', 'OLDEST', 'HEAD ATTEMPTS', 'RELAYED BY', 'PUBLISHED'],
            status.destinations.map((d) => [
              d.destination,
              String(d.backlog),
              d.oldestAt ? `${d.oldestAgeSeconds.toFixed(1)}s` : '-',
              d.head ? String(d.head.attempts) : '-',
              d.holder ?? '(none)',
              String(d.published),
            ]),
            [false, true, true, true, false, true],
          ),
        );
        for (const d of status.destinations)
          if (d.head?.lastError)
            process.stdout.write(`${d.destination}: last error: ${d.head.lastError}\n`);
      });
    });
}

async function runRelay(opts: RelayCliOptions, cmd: Command): Promise<void> {
  if (!opts.destinations) {
    cmd.error("error: required option '--destinations <module>' not specified", { exitCode: 2 });
  }
  const destinations = await loadDestinationModule(opts.destinations);
  const shutdown = trapShutdown('stopping the relay: the batch in flight finishes');
  const { createTandem } = await import('../../tandem.js');
  const db = await openDatabase(opts.databaseUrl);
  try {
    const tandem = createTandem({ connectionString: db.connectionString });
    try {
      await tandem.migrate();
      const relay = tandem.relay({
        destinations,
        ...(opts.batchSize !== undefined && { batchSize: opts.batchSize }),
        ...(opts.pollInterval !== undefined && { pollInterval: opts.pollInterval }),
        ...(opts.lockRetryInterval !== undefined && {
          lockRetryInterval: opts.lockRetryInterval,
        }),
        listen: opts.listen,
      });
      await relay.start();
      process.stderr.write(
        `tandem: relay for ${destinations.map((d) => `${d.name} (${d.broker.kind})`).join(', ')}; Ctrl-C to stop\n`,
      );
      await untilAborted(shutdown);
      await relay.stop();
      process.stderr.write('tandem: relay stopped\n');
    } finally {
      await tandem.close();
    }
  } finally {
    await db.close();
  }
}
