import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { toQueryable } from '../db/executor.js';
import { loadMigrations, migrate } from '../db/migrate.js';
import { TandemError } from '../errors.js';

export interface TestDatabaseOptions {
  /**
   * A connection string to a server where the role may create databases.
   * Default: `TANDEM_TEST_DATABASE_URL`, then `DATABASE_URL`.
   */
  url?: string;
  /**
   * Your own schema, applied once to the template after Tandem's
   * migrations (create your tables here), so every test database has it.
   */
  setup?: (connectionString: string) => Promise<void>;
  /**
   * Names the template. Default: a hash of Tandem's migrations and of
   * `setup`'s source, so a changed schema gets a new template by itself.
   */
  template?: string;
}

export interface TestDatabase {
  /** The new database's connection string. */
  connectionString: string;
  /** Its name. */
  name: string;
  /** Drops it (ending any connection still open to it). */
  drop(): Promise<void>;
}

/** Fixed key of the advisory lock under which a template is built. */
const TEMPLATE_LOCK = 7_361_002_118;

const withDatabase = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

async function templateName(options: TestDatabaseOptions): Promise<string> {
  if (options.template !== undefined) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.template)) {
      throw new TandemError(
        'INVALID_OPTIONS',
        `createTestDatabase: template must be a lower-case SQL identifier, got ${JSON.stringify(options.template)}`,
      );
    }
    return options.template;
  }
  const hash = createHash('sha256');
  for (const m of await loadMigrations()) hash.update(m.sql);
  hash.update(options.setup?.toString() ?? '');
  return `tandem_template_${hash.digest('hex').slice(0, 16)}`;
}

/** Builds the template once per server, whichever process gets there first. */
async function ensureTemplate(
  admin: pg.Client,
  url: string,
  options: TestDatabaseOptions,
  name: string,
) {
  const exists = async () =>
    (await admin.query('select 1 from pg_database where datname = $1', [name])).rows.length > 0;
  if (await exists()) return;
  await admin.query('select pg_advisory_lock($1)', [TEMPLATE_LOCK]);
  try {
    if (await exists()) return;
    const building = `${name.slice(0, 50)}_${randomBytes(3).toString('hex')}`;
    await admin.query(`create database ${building}`);
    try {
      const conn = new pg.Client(withDatabase(url, building));
      await conn.connect();
      try {
        await migrate(toQueryable(conn));
      } finally {
        await conn.end();
      }
      await options.setup?.(withDatabase(url, building));
      // No connection may stay open on a template, or cloning it fails.
      await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
        [building],
      );
      await admin.query(`alter database ${building} rename to ${name}`);
    } catch (err) {
      await admin.query(`drop database if exists ${building} with (force)`).catch(() => {});
      throw err;
    }
  } finally {
    await admin.query('select pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
  }
}

/**
 * A database of its own for one test file: a clone of a template that has
 * Tandem's schema (and yours, through `setup`), made once per server and
 * reused by later runs. A clone takes tens of milliseconds, so each test
 * file, or each test, can have one; tests in different files never see
 * each other's tasks, LISTEN/NOTIFY or locks.
 *
 * @example
 * // vitest
 * let testDb: TestDatabase;
 * let tandem: Tandem;
 * beforeAll(async () => {
 *   testDb = await createTestDatabase({ setup: createShopTables });
 *   tandem = createTandem({ connectionString: testDb.connectionString, tasks });
 * });
 * afterAll(async () => {
 *   await tandem.close();
 *   await testDb.drop();
 * });
 *
 * @example
 * // node:test
 * import { after, before } from 'node:test';
 * const testDb = await createTestDatabase();
 * after(() => testDb.drop());
 */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const url = options.url ?? process.env.TANDEM_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) {
    throw new TandemError(
      'INVALID_OPTIONS',
      "createTestDatabase needs a PostgreSQL server: set TANDEM_TEST_DATABASE_URL (a role that may create databases), or pass { url }; for a local one, start startEmbeddedPostgres() from tandem-queue/embedded in your test runner's global setup",
    );
  }
  const template = await templateName(options);
  const admin = new pg.Client(url);
  await admin.connect();
  const name = `tandem_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  try {
    await ensureTemplate(admin, url, options, template);
    // Another file may be cloning the template this very moment; that is brief.
    for (let i = 0; ; i++) {
      try {
        await admin.query(`create database ${name} template ${template}`);
        break;
      } catch (err) {
        if (i > 100 || (err as { code?: string }).code !== '55006') throw err;
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
      }
    }
  } finally {
    await admin.end();
  }
  return {
    connectionString: withDatabase(url, name),
    name,
    async drop() {
      const c = new pg.Client(url);
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
