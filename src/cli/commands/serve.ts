import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openDatabase } from '../database.js';
import { UsageError } from '../errors.js';
import { loadTaskModule } from '../load-tasks.js';
import { type DatabaseOptions, databaseUrlOption, parseInteger } from '../options.js';
import { trapShutdown, untilAborted } from '../signals.js';

interface ServeCliOptions extends DatabaseOptions {
  host: string;
  port: number;
  tokenFile?: string;
  insecure?: boolean;
  readOnly?: boolean;
  tasks?: string;
}

function parsePort(value: string): number {
  const n = parseInteger(value);
  if (n < 0 || n > 65_535) throw new UsageError(`--port must be from 0 to 65535, got ${n}`);
  return n;
}

/** The token: --token-file, else TANDEM_API_TOKEN, else none. */
function readToken(file: string | undefined): string | undefined {
  if (file === undefined) return process.env.TANDEM_API_TOKEN || undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--token-file ${file}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (token === '')
    throw new UsageError(`--token-file ${file} is empty; put the token on its first line`);
  return token;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the dashboard, the HTTP API, /metrics and /healthz until SIGINT/SIGTERM')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free one)', parsePort, 8080)
    .option('--token-file <file>', 'file holding the bearer token (default: $TANDEM_API_TOKEN)')
    .option('--insecure', 'allow a non-loopback --host without a token')
    .option('--read-only', 'refuse every mutation (403)')
    .option(
      '--tasks <module>',
      'task definitions, to validate POST /api/tasks payloads with their schemas',
    )
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Every route but /healthz needs "Authorization: Bearer <token>" once a token is set;
the dashboard (at /) asks for the token on its login page instead.
A --host other than loopback is refused without a token unless --insecure.

Examples:
  $ openssl rand -hex 32 > ~/.tandem-token && chmod 600 ~/.tandem-token
  $ tandem serve --token-file ~/.tandem-token
  $ curl -H "Authorization: Bearer $(cat ~/.tandem-token)" http://127.0.0.1:8080/api/tasks/42`,
    )
    .action(async (opts: ServeCliOptions) => {
      const token = readToken(opts.tokenFile);
      const tasks = opts.tasks ? (await loadTaskModule(opts.tasks)).tasks : [];
      const shutdown = trapShutdown('stopping the server');
      const { createTandem } = await import('../../tandem.js');
      const db = await openDatabase(opts.databaseUrl);
      try {
        const tandem = createTandem({ connectionString: db.connectionString, tasks });
        try {
          if (!opts.readOnly) await tandem.migrate();
          const server = await tandem.server({
            host: opts.host,
            port: opts.port,
            ...(token !== undefined && { token }),
            insecure: opts.insecure ?? false,
            readOnly: opts.readOnly ?? false,
          });
          process.stderr.write(
            `tandem: dashboard and API on ${server.url} (${token ? 'token required' : 'no token: loopback only'}${opts.readOnly ? ', read-only' : ''}); OpenAPI at ${server.url}/api/openapi.json; Ctrl-C to stop\n`,
          );
          await untilAborted(shutdown);
          await server.close();
          process.stderr.write('tandem: server stopped\n');
        } finally {
          await tandem.close();
        }
      } finally {
        await db.close();
      }
    });
}
