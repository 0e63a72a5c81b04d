/**
 * The moving parts of the chaos scenario: the worker processes, a producer
 * that keeps a backlog queued ahead of them, and a meter of completed
 * transactional tasks over time.
 */
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { z } from 'zod';
import { createTandem, defineTask, type Tandem } from '../src/index.js';
import { forkBenchScript, stopChild, waitFor } from './children.js';
import { sleep } from './log.js';

/** The chaos workers, `count` processes of concurrency `concurrency`. */
export class ChaosWorkers {
  readonly live: ChildProcess[] = [];
  started = 0;

  constructor(
    private readonly url: string,
    private readonly concurrency: number,
  ) {}

  /** Forks one worker and waits until it runs. */
  async add(): Promise<ChildProcess> {
    const child = forkBenchScript('chaos-worker.ts', [
      JSON.stringify({ url: this.url, concurrency: this.concurrency }),
    ]);
    this.live.push(child);
    this.started++;
    await waitFor(child, 'ready', 120_000);
    return child;
  }

  /** SIGKILLs the worker at `index` (default: one at random); resolves once it is gone. */
  async kill(index = Math.floor(Math.random() * this.live.length)): Promise<void> {
    const [child] = this.live.splice(index, 1);
    if (!child) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await gone;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.live.splice(0).map((c) => stopChild(c, 20_000)));
  }
}

/** One reconnecting connection for the bench's own reads, which must survive restarts. */
export class Observer {
  private client: pg.Client | null = null;

  constructor(private readonly url: string) {}

  /** Runs a query; null when the server cannot be reached right now. */
  async query<T = Record<string, unknown>>(
    text: string,
    values: unknown[] = [],
  ): Promise<T[] | null> {
    try {
      if (!this.client) {
        const c = new pg.Client({
          connectionString: this.url,
          application_name: 'tandem-bench-observer',
          connectionTimeoutMillis: 2_000,
        });
        c.on('error', () => {
          if (this.client === c) this.client = null;
        });
        await c.connect();
        this.client = c;
      }
      return (await this.client.query(text, values)).rows as T[];
    } catch {
      const c = this.client;
      this.client = null;
      await c?.end().catch(() => {});
      return null;
    }
  }

  async close(): Promise<void> {
    await this.client?.end().catch(() => {});
    this.client = null;
  }
}

/**
 * Samples the highest committed effect id every 100 ms (an index probe;
 * ids come from a sequence, so it counts committed transactional tasks plus
 * the ids of rolled-back attempts before it, which only add a step at a
 * disruption). The rate of that count is the completion rate.
 */
export class Meter {
  readonly samples: { t: number; n: number }[] = [];
  private stop = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly observer: Observer,
    readonly t0: number,
  ) {
    this.done = this.loop();
  }

  private async loop() {
    while (!this.stop) {
      const rows = await this.observer.query<{ n: string }>(
        'select coalesce(max(id), 0) as n from bench_effects',
      );
      if (rows)
        this.samples.push({ t: (performance.now() - this.t0) / 1000, n: Number(rows[0]!.n) });
      await sleep(100);
    }
  }

  get latest(): number {
    return this.samples.at(-1)?.n ?? 0;
  }

  /** Tasks per second between two times (seconds since t0). */
  rate(from: number, to: number): number | null {
    const a = this.samples.find((s) => s.t >= from);
    const b = [...this.samples].reverse().find((s) => s.t <= to);
    if (!a || !b || b.t - a.t < 0.5) return null;
    return (b.n - a.n) / (b.t - a.t);
  }

  /**
   * Seconds from `at` until the first one-second window, entirely after
   * `at`, in which the rate reaches `threshold`; null if it never does.
   */
  recovery(at: number, threshold: number): number | null {
    for (const s of this.samples) {
      if (s.t < at) continue;
      const r = this.rate(s.t, s.t + 1);
      if (r !== null && r >= threshold) return s.t - at;
    }
    return null;
  }

  async close() {
    this.stop = true;
    await this.done;
  }
}

const effect = defineTask({
  name: 'effect',
  payload: z.object({ i: z.number().int() }),
  transactional: true,
  handler: async () => {},
});

/**
 * Keeps at least `ahead` tasks queued beyond what the meter has seen done,
 * in keyed batches (`chaos:<i>`): a batch whose commit was cut off by a
 * restart is sent again and its key makes the retry idempotent, so every
 * number below `enqueued` is in the table exactly once.
 */
export class Feeder {
  enqueued = 0;
  failures = 0;
  private stop = false;
  private readonly done: Promise<void>;
  readonly tandem: Tandem;

  constructor(
    url: string,
    private readonly meter: Meter,
    private readonly ahead: number,
  ) {
    const u = new URL(url);
    u.searchParams.set('application_name', 'tandem-bench-producer');
    this.tandem = createTandem({ connectionString: u.toString(), tasks: [effect] });
    this.done = this.loop();
    this.done.catch(() => {});
  }

  private async loop() {
    const batch = Math.max(100, Math.min(5_000, Math.floor(this.ahead / 2)));
    while (!this.stop) {
      if (this.enqueued - this.meter.latest >= this.ahead) {
        await sleep(50);
        continue;
      }
      const items = Array.from({ length: batch }, (_, k) => ({
        task: effect,
        payload: { i: this.enqueued + k },
        options: { key: `chaos:${this.enqueued + k}` },
      }));
      for (;;) {
        try {
          await this.tandem.enqueueMany(this.tandem.pool, items);
          break;
        } catch {
          this.failures++;
          if (this.stop) return;
          await sleep(200);
        }
      }
      this.enqueued += batch;
    }
  }

  async close() {
    this.stop = true;
    await this.done;
    await this.tandem.close().catch(() => {});
  }
}
