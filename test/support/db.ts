/** Per-file databases cloned from the migrated template. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/**
 * A fresh, migrated database of its own. The pid in the name lets the global
 * teardown find and drop it.
 */
export async function freshDatabase(): Promise<string> {
  const adminUrl = inject('adminUrl');
  const name = `tandem_t_${process.ppid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  try {
    // The template may be briefly in use by another file's clone; retry.
    for (let i = 0; ; i++) {
      try {
        await admin.query(`create database ${name} template ${inject('templateDb')}`);
        break;
      } catch (err) {
        if (i > 50 || (err as { code?: string }).code !== '55006') throw err;
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
      }
    }
  } finally {
    await admin.end();
  }
  return withDatabase(adminUrl, name);
}

/**
 * Rows breaking the two rules that tie task columns together: finished_at is
 * set exactly for terminal states, owner exactly for running tasks. Every
 * statement that writes tasks must keep them, whatever crashed meanwhile.
 */
export async function taskRuleViolations(db: pg.Pool): Promise<unknown[]> {
  const { rows } = await db.query(
    `select id, state, owner, finished_at from tandem.tasks
      where (finished_at is not null) <> (state in ('succeeded', 'failed', 'cancelled'))
         or (owner is not null) <> (state = 'running')
      limit 5`,
  );
  return rows;
}
