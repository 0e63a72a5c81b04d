/** PgBouncer in transaction mode in front of a test database, for pooler tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export interface Bouncer {
  /** The same database, through PgBouncer in transaction mode. */
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export async function startPgBouncer(binary: string, databaseUrl: string): Promise<Bouncer> {
  const target = new URL(databaseUrl);
  const dir = mkdtempSync(join(tmpdir(), 'tandem-pgbouncer-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  const db = target.pathname.slice(1);
  const password = decodeURIComponent(target.password);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    `[databases]
${db} = host=${target.hostname} port=${target.port || 5432} dbname=${db} user=${decodeURIComponent(target.username) || 'postgres'}${password ? ` password=${password}` : ''}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,options
logfile = ${join(dir, 'pgbouncer.log')}
pidfile = ${join(dir, 'pgbouncer.pid')}
`,
  );
  chmodSync(join(dir, 'pgbouncer.ini'), 0o644);
  // PgBouncer refuses to run as root.
  const args =
    userInfo().uid === 0
      ? ['-u', 'postgres', join(dir, 'pgbouncer.ini')]
      : [join(dir, 'pgbouncer.ini')];
  const child: ChildProcess = spawn(binary, args, { stdio: 'ignore' });
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const pg = (await import('pg')).default;
  await waitFor(
    async () => {
      const c = new pg.Client(url.toString());
      c.on('error', () => {});
      try {
        await c.connect();
        await c.query('select 1');
        await c.end();
        return true;
      } catch {
        return false;
      }
    },
    10_000,
    'PgBouncer to accept connections',
  );
  return {
    url: url.toString(),
    async stop() {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
