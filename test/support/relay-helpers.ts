/**
 * What the relay tests share: producers that serialise on an aggregate and
 * publish its version, the check of what arrived, and `tandem relay` in a
 * process of its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type pg from 'pg';
import { expect } from 'vitest';
import type { AnyDestination, Logger, Tandem } from '../../src/index.js';
import type { DestinationSpec } from './destination-spec.js';
import { quietLogger } from './quiet-logger.js';

/** Aggregates the producers spread their transactions over (`agg:0` … `agg:39`). */
export const KEYS = 40;

export interface Committed {
  n: number;
  key: string;
  version: number;
}

/** A logger that keeps the relay's warnings (and forwards to the quiet logger). */
export function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const make = (): Logger => ({
    debug: () => {},
    info: () => {},
    warn: (obj: object | string, msg?: string) => {
      warnings.push(`${msg ?? ''} ${typeof obj === 'string' ? obj : JSON.stringify(obj)}`);
    },
    error: (obj: object | string, msg?: string) => quietLogger.error(obj, msg),
    child: () => make(),
  });
  return Object.assign(make(), { warnings });
}

/**
 * Runs `transactions` transactions on `connections` connections; the odd
 * ones roll back when `rollbackOdd`. Each locks its aggregate, bumps its
 * version and publishes { n, key, version } with the aggregate as key.
 */
export async function produce(
  pool: pg.Pool,
  tandem: Tandem,
  destination: AnyDestination,
  options: {
    transactions: number;
    connections: number;
    rollbackOdd?: boolean;
    /** The first message's n (so that two runs into one destination do not share n). Default 0. */
    firstN?: number;
  },
): Promise<{ committed: Committed[]; rolledBack: number[] }> {
  const committed: Committed[] = [];
  const rolledBack: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      const c = await pool.connect();
      try {
        for (let i = next++; i < options.transactions; i = next++) {
          const n = (options.firstN ?? 0) + i;
          const key = `agg:${n % KEYS}`;
          await c.query('begin');
          const { rows } = await c.query<{ version: number }>(
            'update aggregates set version = version + 1 where key = $1 returning version',
            [key],
          );
          const version = rows[0]!.version;
          await tandem.publish(c, destination, { n, key, version }, { key });
          if (options.rollbackOdd && n % 2 === 1) {
            await c.query('rollback');
            rolledBack.push(n);
          } else {
            await c.query('commit');
            committed.push({ n, key, version });
          }
        }
      } catch (err) {
        await c.query('rollback').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
    }),
  );
  return { committed, rolledBack };
}

/**
 * Checks what arrived against what committed: after deduping by message id,
 * exactly the committed messages, and per key the versions 1…m in order.
 * Returns how many duplicates the broker held.
 */
export function verify(
  received: { messageId: string; key: string | null; body: Committed }[],
  committed: Committed[],
): number {
  const seen = new Set<string>();
  const first: Committed[] = [];
  const ids: string[] = [];
  for (const r of received) {
    expect(r.messageId).toMatch(/^[A-Za-z0-9_.:-]+-\d+$/);
    if (seen.has(r.messageId)) continue;
    seen.add(r.messageId);
    expect(r.key).toBe(r.body.key);
    first.push(r.body);
    ids.push(r.messageId);
  }
  expect(first.map((b) => b.n).sort((a, b) => a - b)).toEqual(
    committed.map((c) => c.n).sort((a, b) => a - b),
  );
  const byKey = new Map<string, { versions: number[]; ids: string[] }>();
  for (const [i, b] of first.entries()) {
    const k = byKey.get(b.key) ?? { versions: [], ids: [] };
    k.versions.push(b.version);
    k.ids.push(`${ids[i]} (version ${b.version})`);
    byKey.set(b.key, k);
  }
  for (const [key, k] of byKey)
    expect(k.versions, `${key} arrived as ${k.ids.slice(0, 6).join(', ')}…`).toEqual(
      k.versions.map((_v, i) => i + 1),
    );
  return received.length - first.length;
}

export interface RelayChild {
  child: ChildProcess;
  pid: number;
  exited: Promise<number | null>;
}

/** `tandem relay` in a process of its own, on the destination of `spec`; resolves once it runs. */
export async function spawnRelay(dbUrl: string, spec: DestinationSpec): Promise<RelayChild> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'relay',
      '--destinations',
      'test/support/relay-destinations.ts',
      '--lock-retry-interval',
      '100ms',
    ],
    {
      env: { ...process.env, DATABASE_URL: dbUrl, TANDEM_TEST_DESTINATION: JSON.stringify(spec) },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let err = '';
  await new Promise<void>((res, rej) => {
    child.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('tandem: relay for')) res();
    });
    child.on('exit', (code) => rej(new Error(`tandem relay exited with ${code}: ${err}`)));
  });
  return { child, pid: child.pid!, exited };
}
