/**
 * What holds PostgreSQL's xmin horizon back in the pressure scenario, and
 * the table statistics read at the end of each phase. Every connection here
 * is the bench's own (application_name tandem-bench-pin), on the bench
 * database, and is closed when the pin ends.
 */
import pg from 'pg';
import { sleep } from './log.js';

/** A running pin; `end()` releases the horizon, closes its connections and says what it did. */
export interface Pin {
  end(): Promise<{ scans?: number }>;
}

const connect = async (url: string) => {
  const c = new pg.Client({ connectionString: url, application_name: 'tandem-bench-pin' });
  // A cancelled or dropped reader must not crash the run.
  c.on('error', () => {});
  await c.connect();
  return c;
};

/** `BEGIN; SELECT txid_current();` on a connection of its own, left open. */
export async function idleInTransaction(url: string): Promise<Pin> {
  const c = await connect(url);
  await c.query('begin');
  await c.query('select txid_current()');
  return {
    async end() {
      await c.query('rollback').catch(() => {});
      await c.end().catch(() => {});
      return {};
    },
  };
}

/**
 * `readers` connections, each in one REPEATABLE READ transaction for the
 * whole pin, scanning `table` (count(*)) back to back: its snapshot holds
 * the horizon at the pin's start while it keeps both the CPU and the heap
 * busy.
 */
export async function activeReaders(url: string, table: string, readers: number): Promise<Pin> {
  const clients = await Promise.all(Array.from({ length: readers }, () => connect(url)));
  let stop = false;
  let scans = 0;
  const loops = clients.map(async (c) => {
    await c.query('begin isolation level repeatable read');
    while (!stop) {
      await c.query(`select count(*) from ${table}`).catch(() => {});
      scans++;
    }
  });
  return {
    async end() {
      stop = true;
      // A scan of a big table can take seconds: cancel the ones running.
      const admin = await connect(url);
      try {
        for (const c of clients) {
          const pid = (c as unknown as { processID?: number }).processID;
          if (pid) await admin.query('select pg_cancel_backend($1)', [pid]).catch(() => {});
        }
      } finally {
        await admin.end().catch(() => {});
      }
      await Promise.race([Promise.allSettled(loops), sleep(10_000)]);
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      return { scans };
    },
  };
}

export interface TableStats {
  deadTuples: number | null;
  liveTuples: number | null;
  tableBytes: number | null;
  indexBytes: number | null;
}

/** Dead and live tuples (pg_stat_user_tables) and sizes of every table in `schema`. */
export async function tableStats(client: pg.Client, schema: string | null): Promise<TableStats> {
  if (!schema) return { deadTuples: null, liveTuples: null, tableBytes: null, indexBytes: null };
  const { rows } = await client.query(
    `select sum(n_dead_tup)::float8 as dead, sum(n_live_tup)::float8 as live,
            sum(pg_table_size(relid))::float8 as tbl, sum(pg_indexes_size(relid))::float8 as idx
       from pg_stat_user_tables where schemaname = $1`,
    [schema],
  );
  const r = rows[0];
  return {
    deadTuples: r.dead,
    liveTuples: r.live,
    tableBytes: r.tbl,
    indexBytes: r.idx,
  };
}
