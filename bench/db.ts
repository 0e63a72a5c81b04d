/** The benchmark's databases: one fresh database per scenario per system, dropped afterwards. */
import pg from 'pg';
import { progress, sleep } from './log.js';

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Whether a PostgreSQL server answers at `url` within a few seconds. */
export async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs `fn` on one short-lived connection. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Creates and drops the bench databases on one server. Names carry the pid
 * (bench_<pid>_<n>_<label>) so leftovers of a killed run are recognisable.
 */
export class BenchDatabases {
  private readonly live = new Set<string>();
  private n = 0;

  /**
   * @param onDrop runs after a database is dropped, with its name (the bench
   *   removes BullMQ's Redis keys of that database there).
   */
  constructor(
    private readonly adminUrl: string,
    private readonly onDrop: (name: string) => Promise<void> = async () => {},
  ) {}

  get serverUrl(): string {
    return this.adminUrl;
  }

  /** A fresh empty database; returns its URL. */
  async create(label: string): Promise<{ name: string; url: string }> {
    const safe = label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .slice(0, 30);
    const name = `bench_${process.pid}_${++this.n}_${safe}`;
    await withClient(this.adminUrl, async (c) => {
      // template1 may be briefly in use by someone else's CREATE DATABASE.
      for (let i = 0; ; i++) {
        try {
          await c.query(`create database ${name}`);
          break;
        } catch (err) {
          if (i > 40 || (err as { code?: string }).code !== '55006') throw err;
          await sleep(100 + Math.random() * 200);
        }
      }
    });
    this.live.add(name);
    return { name, url: withDatabase(this.adminUrl, name) };
  }

  async drop(name: string): Promise<void> {
    await withClient(this.adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
    this.live.delete(name);
    await this.onDrop(name).catch((err) =>
      progress(`could not clean up after ${name}: ${err.message}`),
    );
  }

  /** Drops every database this run created and has not dropped yet. */
  async dropAll(): Promise<void> {
    for (const name of [...this.live]) {
      await this.drop(name).catch((err) => progress(`could not drop ${name}: ${err.message}`));
    }
  }
}

/** Creates a database, runs `fn` with its URL, then drops it whatever happens. */
export async function inFreshDatabase<T>(
  dbs: BenchDatabases,
  label: string,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  const { name, url } = await dbs.create(label);
  try {
    return await fn(url);
  } finally {
    await dbs.drop(name).catch((err) => progress(`could not drop ${name}: ${err.message}`));
  }
}
