/**
 * Opens what a command needs (database, Tandem instance) and always closes it.
 * Commands import this module lazily, inside their actions, so that `--help`
 * and argument errors answer without loading pg and Kysely.
 */
import { createTandem, type Tandem } from '../tandem.js';
import type { AnyTask } from '../task.js';
import { type CliDatabase, openDatabase } from './database.js';
import type { DatabaseOptions } from './options.js';

/** Runs `fn` with a Tandem instance on the command's database, then closes both. */
export async function withTandem<T>(
  options: DatabaseOptions,
  fn: (tandem: Tandem, db: CliDatabase) => Promise<T>,
  tasks: readonly AnyTask[] = [],
): Promise<T> {
  const db = await openDatabase(options.databaseUrl);
  try {
    const tandem = createTandem({ connectionString: db.connectionString, tasks });
    try {
      return await fn(tandem, db);
    } finally {
      await tandem.close();
    }
  } finally {
    await db.close();
  }
}
