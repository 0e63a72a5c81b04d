/**
 * Transactional enqueue: C connections each run, back to back,
 *   BEGIN; INSERT INTO orders …; <enqueue one task>; COMMIT
 * for a fixed time, against the same transactions without the enqueue
 * (the baseline), in the same database. The baseline runs right before and
 * right after each system's run and their mean is the reference, so slow
 * drift of a shared, noisy machine hits both sides alike.
 */
import pg from 'pg';
import { type BenchDatabases, inFreshDatabase, withClient } from '../db.js';
import { progress, sleep } from '../log.js';
import type { BenchOptions } from '../options.js';
import { fmt, fmtRatio } from '../stats.js';
import { loadSystem, SYSTEM_LABELS } from '../systems/index.js';
import type { Producer, SystemName } from '../systems/types.js';

export interface TxResult {
  system: SystemName;
  label: string;
  connections: number;
  txPerSecond: number | null;
  /** Baseline tx/s measured before and after the system's run. */
  baselines: number[];
  baselineTxPerSecond: number | null;
  ratioToBaseline: number | null;
  /** Why the system has no figure (it cannot enqueue in a PostgreSQL transaction). */
  notSupported?: string;
  error?: string;
}

const WARMUP_MS = 300;

/** Runs the transaction loop on `connections` connections; returns committed tx/s. */
async function txLoop(
  url: string,
  connections: number,
  seconds: number,
  enqueue: ((client: pg.PoolClient, i: number) => Promise<void>) | null,
): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: connections });
  // pool.end() resolves before every socket has closed; the database drop
  // that follows may terminate one, which must not crash the run.
  pool.on('error', () => {});
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  let counting = false;
  let stop = false;
  let committed = 0;
  let seq = 0;
  try {
    const loops = clients.map(async (client) => {
      while (!stop) {
        const i = seq++;
        await client.query('begin');
        try {
          await client.query('insert into orders (cents) values ($1)', [100 + (i % 1000)]);
          if (enqueue) await enqueue(client, i);
          await client.query('commit');
        } catch (err) {
          await client.query('rollback').catch(() => {});
          throw err;
        }
        if (counting) committed++;
      }
    });
    const all = Promise.all(loops);
    all.catch(() => {});
    const window = (async () => {
      await sleep(WARMUP_MS);
      counting = true;
      const t0 = performance.now();
      await sleep(seconds * 1000);
      counting = false;
      const elapsed = (performance.now() - t0) / 1000;
      stop = true;
      return committed / elapsed;
    })();
    const rate = await Promise.race([window, all.then(() => Number.NaN)]);
    stop = true;
    await all;
    return rate;
  } finally {
    stop = true;
    for (const c of clients) c.release();
    await pool.end();
  }
}

const noFigure = (system: SystemName, label: string, connections: number): TxResult => ({
  system,
  label,
  connections,
  txPerSecond: null,
  baselines: [],
  baselineTxPerSecond: null,
  ratioToBaseline: null,
});

export async function runTx(dbs: BenchDatabases, options: BenchOptions): Promise<TxResult[]> {
  const results: TxResult[] = [];
  for (const name of options.systems) {
    const label = SYSTEM_LABELS[name];
    try {
      const system = await loadSystem(name);
      await inFreshDatabase(dbs, `tx_${name}`, async (url) => {
        await system.install(url);
        await withClient(url, (c) =>
          c.query(
            'create table orders (id bigserial primary key, cents int, created_at timestamptz default now())',
          ),
        );
        const producer: Producer = await system.producer(url);
        try {
          const enqueueInTx = producer.enqueueInTx?.bind(producer);
          if (!enqueueInTx) {
            progress(`tx ${label}: cannot enqueue in a PostgreSQL transaction; skipped`);
            for (const connections of options.txConnections) {
              results.push({
                ...noFigure(name, label, connections),
                notSupported: 'no enqueue in a caller-owned PostgreSQL transaction',
              });
            }
            return;
          }
          for (const connections of options.txConnections) {
            const before = await txLoop(url, connections, options.txSeconds, null);
            const rate = await txLoop(url, connections, options.txSeconds, enqueueInTx);
            const after = await txLoop(url, connections, options.txSeconds, null);
            const baseline = (before + after) / 2;
            const ratio = rate / baseline;
            progress(
              `tx ${label} ${connections} conn: ${fmt(rate)} tx/s vs baseline ${fmt(before)} / ${fmt(after)} tx/s = ${fmtRatio(ratio)}`,
            );
            results.push({
              system: name,
              label,
              connections,
              txPerSecond: rate,
              baselines: [before, after],
              baselineTxPerSecond: baseline,
              ratioToBaseline: ratio,
            });
          }
        } finally {
          await producer.close();
        }
      });
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      progress(`tx ${label} FAILED: ${message}`);
      for (const connections of options.txConnections) {
        if (!results.some((r) => r.system === name && r.connections === connections)) {
          results.push({ ...noFigure(name, label, connections), error: message });
        }
      }
    }
  }
  return results;
}
