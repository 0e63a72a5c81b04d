/** What every measured queue (Tandem and its peers) provides to the scenarios. */
import type pg from 'pg';

export type SystemName = 'tandem' | 'graphile' | 'pgboss';

/** The payload of every bench task. */
export interface Payload {
  i: number;
}

/** The producer side of one system on one database. */
export interface Producer {
  /** Builds the argument of one bulk call (outside the timed part). */
  bulkInput(from: number, n: number): unknown;
  /** One call of the system's bulk enqueue API with what `bulkInput` built. */
  enqueueBulk(input: unknown): Promise<void>;
  /** Enqueues one task inside the caller's open transaction on `client`. */
  enqueueInTx(client: pg.PoolClient, i: number): Promise<void>;
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
  /** Called by the handler with every payload it runs. */
  onJobs(payloads: Payload[]): void;
}

/** A worker that is fully constructed but claims nothing until `start()`. */
export interface PreparedWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface System {
  name: SystemName;
  /** The tables holding its jobs, vacuumed and analysed after filling the queue. */
  tables: string[];
  /** Installs the system's schema in the database at `url`. */
  install(url: string): Promise<void>;
  /** Opens a producer on an installed database. */
  producer(url: string): Promise<Producer>;
  prepareWorker(params: WorkerParams): Promise<PreparedWorker>;
}

/** One worker configuration of one system, as shown in the results. */
export interface WorkerConfig {
  system: SystemName;
  variant: string;
  label: string;
  /** What the variant means, for the docs and the JSON. */
  settings: string;
}
