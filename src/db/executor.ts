import { CompiledQuery, type Kysely } from 'kysely';
import { TandemError } from '../errors.js';

/** Anything that can run a parameterised statement: Tandem's one way to talk SQL. */
export interface Queryable {
  /**
   * `name` makes it a prepared statement on pg connections (planned once per
   * connection); Kysely executors run it unnamed.
   */
  query<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    name?: string,
  ): Promise<Row[]>;
}

/** What a caller may hand to `enqueue`: a Kysely instance or transaction, a pg Pool, Client or PoolClient. */
export type Executor =
  | Kysely<any>
  | { query: (text: string, params?: any[]) => Promise<{ rows: any[] }> };

function isKysely(e: unknown): e is Kysely<any> {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as Kysely<any>).executeQuery === 'function' &&
    typeof (e as Kysely<any>).getExecutor === 'function'
  );
}

/**
 * Wraps a caller's executor. Statements run on exactly that connection or
 * transaction, so what Tandem writes commits or rolls back with the caller.
 */
export function toQueryable(executor: unknown): Queryable {
  if (isKysely(executor)) {
    return {
      async query<Row>(text: string, params: readonly unknown[] = []) {
        const res = await executor.executeQuery<Row>(CompiledQuery.raw(text, [...params]));
        return res.rows as Row[];
      },
    };
  }
  if (
    typeof executor === 'object' &&
    executor !== null &&
    typeof (executor as { query?: unknown }).query === 'function'
  ) {
    const pg = executor as {
      query: (
        q: string | { name: string; text: string; values: unknown[] },
        p?: unknown[],
      ) => Promise<{ rows: unknown[] }>;
    };
    return {
      async query<Row>(text: string, params: readonly unknown[] = [], name?: string) {
        const res = name
          ? await pg.query({ name, text, values: [...params] })
          : await pg.query(text, [...params]);
        return res.rows as Row[];
      },
    };
  }
  throw new TandemError(
    'INVALID_EXECUTOR',
    'enqueue needs a Kysely instance or transaction, a pg Pool, or a pg Client/PoolClient as its first argument; got ' +
      (executor === null ? 'null' : typeof executor),
  );
}
