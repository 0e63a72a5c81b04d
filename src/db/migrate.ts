import { readdir, readFile } from 'node:fs/promises';
import type { Queryable } from './executor.js';

const SQL_DIR = new URL('../../sql/', import.meta.url);

/** Fixed key of the advisory lock that serialises concurrent migrators. */
const MIGRATION_LOCK = 7_361_002_117;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(): Promise<Migration[]> {
  const files = (await readdir(SQL_DIR)).filter((f) => /^\d{6}_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 6)),
      name: file.slice(7, -4),
      sql: await readFile(new URL(file, SQL_DIR), 'utf8'),
    })),
  );
}

/**
 * Applies the pending migrations in one transaction. A transaction-level
 * advisory lock makes concurrent callers (several workers booting at once)
 * queue up: the first applies, the rest find nothing left to do.
 * `connect` must yield a dedicated connection (the transaction spans statements).
 */
export async function migrate(conn: Queryable): Promise<{ applied: number[] }> {
  const migrations = await loadMigrations();
  await conn.query('begin');
  try {
    await conn.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await conn.query('create schema if not exists tandem');
    await conn.query(
      `create table if not exists tandem.migrations (
         version integer primary key,
         name text not null,
         applied_at timestamptz not null default now())`,
    );
    const rows = await conn.query<{ version: number }>('select version from tandem.migrations');
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await conn.query(m.sql);
      await conn.query('insert into tandem.migrations (version, name) values ($1, $2)', [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    await conn.query('commit');
    return { applied };
  } catch (err) {
    await conn.query('rollback').catch(() => {});
    throw err;
  }
}
