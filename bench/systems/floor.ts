/**
 * The floor: what PostgreSQL itself can do on Tandem's table, with no queue
 * library in the way. The table is `tandem.tasks` exactly as Tandem's
 * migrations create it (same columns, fillfactor and indexes).
 *
 * - Drain: two connections, each looping over one prepared statement that
 *   settles the previous batch (`succeeded`) and claims the next 500 rows
 *   (`running`, FOR UPDATE SKIP LOCKED, in claim-index order), returning id
 *   and payload. No handler, no heartbeat, no wake-ups.
 * - Bulk enqueue: one server-side `INSERT … SELECT FROM generate_series`,
 *   so nothing is sent, parsed or validated.
 * - Transactional enqueue: one plain `INSERT INTO tandem.tasks` of the same
 *   row (no function, no NOTIFY) in the business transaction.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sleep } from '../log.js';
import { installTandem, TandemProducer } from './tandem.js';
import type {
  Payload,
  PayloadShape,
  PreparedWorker,
  Producer,
  System,
  WorkerParams,
} from './types.js';

/** Rows each floor statement claims. */
export const FLOOR_BATCH = 500;
/** Connections of the floor drain. */
export const FLOOR_CONNECTIONS = 2;

const SETTLE_AND_CLAIM = `
with settled as (
  update tandem.tasks set state = 'succeeded', finished_at = now(), owner = null
   where id = any($1::bigint[])
),
claimed as (
  update tandem.tasks t
     set state = 'running', attempt = t.attempt + 1, started_at = now(), owner = $2
   where t.id in (select c.id from tandem.tasks c
                   where c.state in ('queued', 'retrying') and c.queue = 'default'
                     and c.run_at <= now()
                   order by c.priority, c.run_at, c.id
                   limit $3
                   for update skip locked)
  returning t.id, t.payload
)
select id, payload from claimed`;

const PLAIN_INSERT = `insert into tandem.tasks (name, queue, payload) values ('noop', 'default', $1::jsonb)`;

interface FloorBulk {
  from: number;
  n: number;
  pad: string | null;
  stamp: boolean;
}

class FloorProducer implements Producer {
  private readonly tandem: TandemProducer;

  constructor(url: string) {
    this.tandem = new TandemProducer(url);
  }

  bulkInput(from: number, n: number, shape?: PayloadShape): FloorBulk {
    return { from, n, pad: shape?.pad ?? null, stamp: !!shape?.stamp };
  }

  async enqueueBulk(input: unknown): Promise<void> {
    const { from, n, pad, stamp } = input as FloorBulk;
    await this.tandem.tandem.pool!.query(
      `insert into tandem.tasks (name, queue, payload)
       select 'noop', 'default',
              jsonb_strip_nulls(jsonb_build_object(
                'i', g, 'pad', $3::text,
                't', case when $4 then extract(epoch from clock_timestamp()) * 1000 end))
         from generate_series($1::bigint, $2::bigint) g`,
      [from, from + n - 1, pad, stamp],
    );
  }

  async enqueueInTx(client: pg.PoolClient, i: number): Promise<void> {
    await client.query(PLAIN_INSERT, [JSON.stringify({ i })]);
  }

  async enqueueOne(i: number): Promise<void> {
    await this.tandem.tandem.pool!.query(PLAIN_INSERT, [JSON.stringify({ i })]);
  }

  unfinished(): Promise<number> {
    return this.tandem.unfinished();
  }

  close(): Promise<void> {
    return this.tandem.close();
  }
}

async function loop(
  client: pg.Client,
  owner: string,
  onJobs: (p: Payload[]) => void,
  stopping: () => boolean,
): Promise<void> {
  let ids: string[] = [];
  while (!stopping()) {
    const { rows } = await client.query({
      name: 'floor_settle_and_claim',
      text: SETTLE_AND_CLAIM,
      values: [ids, owner, FLOOR_BATCH],
    });
    ids = rows.map((r) => r.id);
    if (rows.length > 0) onJobs(rows.map((r) => r.payload));
    else await sleep(2);
  }
  if (ids.length > 0) {
    await client.query({
      name: 'floor_settle_and_claim',
      text: SETTLE_AND_CLAIM,
      values: [ids, owner, 0],
    });
  }
}

export const floorSystem: System = {
  name: 'floor',
  label: 'SQL floor',
  packageName: null,
  minNodeMajor: 20,
  schema: 'tandem',
  tables: ['tandem.tasks'],
  install: installTandem,

  async producer(url) {
    return new FloorProducer(url);
  },

  async prepareWorker({ url, onJobs }: WorkerParams): Promise<PreparedWorker> {
    const clients = Array.from(
      { length: FLOOR_CONNECTIONS },
      () => new pg.Client({ connectionString: url }),
    );
    await Promise.all(clients.map((c) => c.connect()));
    const owner = `floor-${randomUUID()}`;
    let stop = false;
    let loops: Promise<void>[] = [];
    return {
      async start() {
        loops = clients.map((c) => loop(c, owner, onJobs, () => stop));
        for (const l of loops) l.catch((err) => process.stderr.write(`[floor] ${err.stack}\n`));
      },
      async stop() {
        stop = true;
        await Promise.allSettled(loops);
        await Promise.all(clients.map((c) => c.end().catch(() => {})));
      },
    };
  },
};
