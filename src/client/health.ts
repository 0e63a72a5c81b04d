import type { Queryable } from '../db/executor.js';
import { loadMigrations } from '../db/migrate.js';

/** Whether the database answers and carries the schema this Tandem expects. */
export interface SchemaStatus {
  ok: boolean;
  reachable: boolean;
  /** Highest migration applied, or null when none (or unreachable). */
  version: number | null;
  /** Highest migration this Tandem ships. */
  expected: number;
  error?: string;
}

let expected: Promise<number> | null = null;

export async function schemaStatus(sql: Queryable): Promise<SchemaStatus> {
  expected ??= loadMigrations().then((ms) => Math.max(0, ...ms.map((m) => m.version)));
  const want = await expected;
  try {
    const [row] = await sql.query<{ version: number | null }>(
      `select (select max(version) from tandem.migrations) as version`,
    );
    const version = row?.version ?? null;
    return {
      ok: version === want,
      reachable: true,
      version,
      expected: want,
      ...(version !== want && {
        error:
          version === null || version < want
            ? 'the schema is behind: run tandem migrate'
            : 'the schema is newer than this Tandem: upgrade it',
      }),
    };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const missing = code === '42P01' || code === '3F000';
    return {
      ok: false,
      reachable: missing,
      version: null,
      expected: want,
      error: missing ? 'no tandem schema: run tandem migrate' : (err as Error).message,
    };
  }
}
