import type { Command } from 'commander';
import type { InboxDefinition } from '../../inbox/define.js';
import { openDatabase } from '../database.js';
import { UsageError } from '../errors.js';
import { importModule } from '../load-tasks.js';
import { type DatabaseOptions, databaseUrlOption } from '../options.js';
import { trapShutdown, untilAborted } from '../signals.js';

interface InboxCliOptions extends DatabaseOptions {
  inboxes: string;
}

export function register(program: Command): void {
  program
    .command('inbox')
    .description(
      'turn the messages of a module’s inboxes (RabbitMQ, NATS JetStream, Redis Streams) into tasks until SIGINT/SIGTERM',
    )
    .requiredOption(
      '--inboxes <module>',
      'module exporting your defineInbox(...) values (.js, or .ts with tsx installed)',
    )
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Each message becomes one task of the inbox's task, keyed by the message's id and
committed before the message is acknowledged: a message delivered again becomes
the same task. Run workers for those tasks as usual (tandem worker).

Example:
  $ tandem inbox --inboxes ./inboxes.ts`,
    )
    .action(runInbox);
}

async function runInbox(opts: InboxCliOptions): Promise<void> {
  const { resolve } = await import('node:path');
  const { existsSync } = await import('node:fs');
  const { isInboxDefinition } = await import('../../inbox/define.js');
  const path = resolve(process.cwd(), opts.inboxes);
  if (!existsSync(path))
    throw new UsageError(
      `--inboxes ${opts.inboxes}: no such file (looked for ${path}); give the path of a module that exports your defineInbox(...) values`,
    );
  const mod = await importModule(path, opts.inboxes, '--inboxes');
  const inboxes = Object.values(mod).filter(isInboxDefinition) as InboxDefinition[];
  if (inboxes.length === 0)
    throw new UsageError(
      `--inboxes ${opts.inboxes}: the module exports no inboxes (values made by defineInbox); its exports: ${Object.keys(mod).join(', ') || 'none'}`,
    );
  const shutdown = trapShutdown(
    'stopping the inboxes: what was delivered is committed and acknowledged',
  );
  const { createTandem } = await import('../../tandem.js');
  const db = await openDatabase(opts.databaseUrl);
  try {
    const tandem = createTandem({
      connectionString: db.connectionString,
      tasks: [...new Set(inboxes.map((i) => i.task))],
    });
    try {
      await tandem.migrate();
      const running = inboxes.map((i) => tandem.inbox(i));
      for (const inbox of running) await inbox.start();
      process.stderr.write(
        `tandem: inbox for ${inboxes.map((i) => `${i.inboxName} (${i.broker.kind} → ${i.task.name})`).join(', ')}; Ctrl-C to stop\n`,
      );
      await untilAborted(shutdown);
      await Promise.all(running.map((i) => i.stop()));
      process.stderr.write('tandem: inbox stopped\n');
    } finally {
      await tandem.close();
    }
  } finally {
    await db.close();
  }
}
