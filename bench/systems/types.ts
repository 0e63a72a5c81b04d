/** What every measured queue (Tandem, its peers and the SQL floor) provides to the scenarios. */
import type pg from 'pg';

export const SYSTEM_NAMES = [
  'tandem',
  'graphile',
  'pgboss',
  'bullmq',
  'bullmqpg',
  'floor',
  'graphile017',
  'pgboss10',
] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/**
 * The payload of every bench task: a sequence number, optionally the time it
 * was enqueued (epoch ms, for pickup latency) and a padding string that
 * brings the JSON to a chosen size.
 */
export interface Payload {
  i: number;
  t?: number;
  pad?: string;
}

/** What the tasks of one bulk call carry besides their number. */
export interface PayloadShape {
  /** Padding string, the same for every task of the run (see bench/payload.ts). */
  pad?: string;
  /** Stamp every payload with the time the input was built (epoch ms). */
  stamp?: boolean;
}

/** The producer side of one system on one database. */
export interface Producer {
  /** Builds the argument of one bulk call (outside the timed part). */
  bulkInput(from: number, n: number, shape?: PayloadShape): unknown;
  /** One call of the system's bulk enqueue API with what `bulkInput` built. */
  enqueueBulk(input: unknown): Promise<void>;
  /**
   * Enqueues one task inside the caller's open transaction on `client`;
   * absent when the system cannot enqueue in a PostgreSQL transaction.
   */
  enqueueInTx?: (client: pg.PoolClient, i: number) => Promise<void>;
  /** Enqueues one task in its own (autocommit) transaction. */
  enqueueOne(i: number): Promise<void>;
  /** Tasks not finished yet (queued, running, or completed but not yet recorded). */
  unfinished(): Promise<number>;
  close(): Promise<void>;
}

export interface WorkerParams {
  url: string;
  /** A configuration of the system, e.g. `default`, `tuned`, `b500`. */
  variant: string;
  concurrency: number;
  /** Milliseconds each handler waits (setTimeout) before it returns; 0: returns at once. */
  handlerMs?: number;
  /** Called by the handler with every payload it runs, when it starts. */
  onJobs(payloads: Payload[]): void;
}

/** A worker that is fully constructed but claims nothing until `start()`. */
export interface PreparedWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface System {
  name: SystemName;
  /** The column heading in the results table, with the version. */
  label: string;
  /** The npm package measured (under its alias, if any), for the version in the JSON. */
  packageName: string | null;
  /** The lowest Node.js major this release runs on. */
  minNodeMajor: number;
  /** The PostgreSQL schema holding its jobs (null: not on PostgreSQL). */
  schema: string | null;
  /** The tables holding its jobs, vacuumed and analysed after filling the queue. */
  tables: string[];
  /** Installs the system's schema in the database at `url`. */
  install(url: string): Promise<void>;
  /** Opens a producer on an installed database. */
  producer(url: string): Promise<Producer>;
  prepareWorker(params: WorkerParams): Promise<PreparedWorker>;
}

/** Which row of the drain table a configuration belongs to. */
export type Tier = 'default' | 'tuned' | 'floor';

/** One worker configuration of one system, as shown in the results. */
export interface WorkerConfig {
  system: SystemName;
  variant: string;
  label: string;
  tier: Tier;
  /** What the variant means, for the docs and the JSON. */
  settings: string;
}
