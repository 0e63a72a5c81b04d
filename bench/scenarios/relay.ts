/**
 * Relay: per broker (the machine's RabbitMQ, NATS JetStream and Redis),
 * with one relay process (bench/relay-process.ts, default settings):
 *
 * - throughput: `relayMessages` committed messages already in the outbox
 *   (one INSERT … SELECT), then the relay starts; messages/s from its first
 *   confirmed batch to its last, read from tandem.relays.published every
 *   10 ms — each message committed, published with the broker's
 *   confirmation (RabbitMQ publisher confirms, JetStream acks, XADD replies)
 *   and deleted from the outbox;
 * - latency: a producer in this process publishes at `relayRate` messages/s
 *   for `relaySeconds` (each message its own transaction, on four
 *   connections), and a consumer in this process subscribed to the broker
 *   notes each message's arrival: commit acknowledged → message delivered
 *   to a consumer, both on this process's clock. That is commit → publish
 *   plus the broker's delivery to its consumer, so it bounds commit →
 *   publish from above. The first 500 ms are warm-up.
 *
 * Tandem only; every target (exchange and queue, stream, stream key) is
 * fresh and removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect as amqpConnect } from 'amqplib';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  type AnyDestination,
  createTandem,
  defineDestination,
  jetstream as jetstreamBroker,
  rabbitmq,
  redisStreams,
} from '../../src/index.js';
import { forkBenchScript, stopChild, waitFor } from '../children.js';
import { type BenchDatabases, inFreshDatabase, withClient } from '../db.js';
import { progress, sleep } from '../log.js';
import type { BenchOptions, RelayBroker } from '../options.js';
import { fmt, quantile } from '../stats.js';

export interface RelayResult {
  broker: RelayBroker;
  messages: number;
  messagesPerSecond: number | null;
  rate: number;
  achievedRate: number | null;
  samples: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  error?: string;
}

const RABBIT_URL = process.env.TANDEM_BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const NATS_URL = process.env.TANDEM_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.TANDEM_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const WARMUP_MS = 500;
const CONNECTIONS = 4;

/** A fresh target on a broker, a consumer of it, and its removal. */
interface Target {
  /** What bench/relay-process.ts needs to rebuild the destination. */
  config: { kind: RelayBroker; name: string; brokerUrl: string; target: string };
  destination: AnyDestination;
  /** Calls `onMessage(messageId)` for every message from now on. */
  consume(onMessage: (messageId: string) => void): Promise<void>;
  remove(): Promise<void>;
}

const any = {
  '~standard': { version: 1 as const, vendor: 'bench', validate: (value: unknown) => ({ value }) },
};

async function rabbitTarget(name: string): Promise<Target> {
  const id = randomBytes(4).toString('hex');
  const exchange = `tandem-bench-${id}`;
  const conn = await amqpConnect(RABBIT_URL);
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, 'direct', { durable: true });
  await ch.assertQueue(exchange, { durable: true });
  await ch.bindQueue(exchange, exchange, 'bench');
  return {
    config: { kind: 'rabbitmq', name, brokerUrl: RABBIT_URL, target: exchange },
    destination: defineDestination({
      name,
      broker: rabbitmq({ url: RABBIT_URL }),
      exchange,
      routingKey: 'bench',
      payload: any,
    }),
    async consume(onMessage) {
      await ch.purgeQueue(exchange);
      await ch.consume(exchange, (m) => m && onMessage(m.properties.messageId), { noAck: true });
    },
    async remove() {
      await ch.deleteQueue(exchange).catch(() => {});
      await ch.deleteExchange(exchange).catch(() => {});
      await conn.close().catch(() => {});
    },
  };
}

async function natsTarget(name: string): Promise<Target> {
  const id = randomBytes(4).toString('hex');
  const stream = `TANDEM_BENCH_${id}`;
  const subject = `tandembench.${id}`;
  const nc = await natsConnect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [subject] });
  let stop: (() => void) | null = null;
  return {
    config: { kind: 'jetstream', name, brokerUrl: NATS_URL, target: subject },
    destination: defineDestination({
      name,
      broker: jetstreamBroker({ servers: NATS_URL }),
      subject,
      payload: any,
    }),
    async consume(onMessage) {
      await jsm.streams.purge(stream);
      const consumer = await jetstream(nc).consumers.get(stream);
      const messages = await consumer.consume();
      stop = () => void messages.close();
      void (async () => {
        for await (const m of messages) onMessage(m.headers?.get('Nats-Msg-Id') ?? '');
      })();
    },
    async remove() {
      stop?.();
      await jsm.streams.delete(stream).catch(() => {});
      await nc.close();
    },
  };
}

async function redisTarget(name: string): Promise<Target> {
  const key = `tandem-bench:${randomBytes(4).toString('hex')}`;
  const reader = new Redis(REDIS_URL);
  let stopped = false;
  return {
    config: { kind: 'redis', name, brokerUrl: REDIS_URL, target: key },
    destination: defineDestination({
      name,
      broker: redisStreams({ url: REDIS_URL }),
      stream: key,
      payload: any,
    }),
    async consume(onMessage) {
      await reader.del(key);
      void (async () => {
        let last = '$';
        while (!stopped) {
          const r = await reader.xread('BLOCK', 500, 'STREAMS', key, last).catch(() => null);
          for (const [, entries] of r ?? []) {
            for (const [entryId, fields] of entries) {
              last = entryId;
              const i = fields.indexOf('id');
              onMessage(i >= 0 ? fields[i + 1]! : '');
            }
          }
        }
      })();
    },
    async remove() {
      stopped = true;
      await sleep(600);
      await reader.del(key);
      reader.disconnect();
    },
  };
}

const TARGETS: Record<RelayBroker, (name: string) => Promise<Target>> = {
  rabbitmq: rabbitTarget,
  jetstream: natsTarget,
  redis: redisTarget,
};

async function startRelay(url: string, target: Target) {
  const child = forkBenchScript('relay-process.ts', [
    JSON.stringify({ url, destination: target.config }),
  ]);
  await waitFor(child, 'ready', 30_000);
  return child;
}

/** Messages/s of one relay process draining `n` committed messages. */
async function throughput(url: string, target: Target, n: number): Promise<number> {
  await withClient(url, (c) =>
    c.query(
      `insert into tandem.outbox (destination, key, payload)
       select $1, 'order:' || (g % 1000), json_build_object('orderId', g, 'status', 'created', 'cents', 1234)
         from generate_series(1, $2::integer) g`,
      [target.destination.name, n],
    ),
  );
  await withClient(url, (c) => c.query('vacuum analyze tandem.outbox'));
  const child = await startRelay(url, target);
  try {
    return await withClient(url, async (c) => {
      const published = async () =>
        Number(
          (
            await c.query('select published from tandem.relays where destination = $1', [
              target.destination.name,
            ])
          ).rows[0]?.published ?? 0,
        );
      const deadline = performance.now() + 180_000;
      let first = 0;
      let t0 = 0;
      for (;;) {
        const p = await published();
        if (p > 0 && t0 === 0) {
          t0 = performance.now();
          first = p;
        }
        if (p >= n) return (p - first) / ((performance.now() - t0) / 1000);
        if (performance.now() > deadline) throw new Error(`only ${p} of ${n} published in 180 s`);
        await sleep(10);
      }
    });
  } finally {
    await stopChild(child);
  }
}

/** Commit → consumer latencies at `rate` messages/s for `seconds`. */
async function latency(
  url: string,
  target: Target,
  rate: number,
  seconds: number,
): Promise<{ samples: number[]; achievedRate: number }> {
  const committedAt = new Map<string, number>();
  const arrivedAt = new Map<string, number>();
  const tandem = createTandem({ connectionString: url });
  const prefix = (await tandem.relayStatus()).prefix;
  await target.consume((messageId) => arrivedAt.set(messageId, performance.now()));
  const child = await startRelay(url, target);
  const pool = new pg.Pool({ connectionString: url, max: CONNECTIONS });
  pool.on('error', () => {});
  try {
    await sleep(300);
    const total = Math.round(rate * seconds);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        for (let i = next++; i < total; i = next++) {
          const due = t0 + (i * 1000) / rate;
          const wait = due - performance.now();
          if (wait > 1) await sleep(wait);
          const { id } = await tandem.publish(pool, target.destination, {
            orderId: i,
            status: 'created',
            cents: 1234,
          });
          committedAt.set(`${prefix}-${id}`, performance.now());
        }
      }),
    );
    const achievedRate = total / ((performance.now() - t0) / 1000);
    const deadline = performance.now() + 10_000;
    while (arrivedAt.size < committedAt.size && performance.now() < deadline) await sleep(20);
    if (arrivedAt.size < committedAt.size)
      throw new Error(`${committedAt.size - arrivedAt.size} messages did not arrive within 10 s`);
    const samples: number[] = [];
    for (const [id, c] of committedAt) {
      if (c - t0 < WARMUP_MS) continue;
      samples.push(Math.max(0, arrivedAt.get(id)! - c));
    }
    return { samples, achievedRate };
  } finally {
    await stopChild(child);
    await pool.end();
    await tandem.close();
  }
}

export async function runRelay(dbs: BenchDatabases, options: BenchOptions): Promise<RelayResult[]> {
  const results: RelayResult[] = [];
  for (const broker of options.relayBrokers) {
    const base = {
      broker,
      messages: options.relayMessages,
      rate: options.relayRate,
    };
    try {
      const r = await inFreshDatabase(dbs, `relay_${broker}`, async (url) => {
        const t = createTandem({ connectionString: url });
        await t.migrate();
        await t.close();
        const first = await TARGETS[broker](`bench-${broker}`);
        let mps: number;
        try {
          mps = await throughput(url, first, options.relayMessages);
        } finally {
          await first.remove();
        }
        const second = await TARGETS[broker](`bench-${broker}-latency`);
        try {
          const lat = await latency(url, second, options.relayRate, options.relaySeconds);
          return { mps, ...lat };
        } finally {
          await second.remove();
        }
      });
      const result: RelayResult = {
        ...base,
        messagesPerSecond: r.mps,
        achievedRate: r.achievedRate,
        samples: r.samples.length,
        p50Ms: quantile(r.samples, 0.5),
        p99Ms: quantile(r.samples, 0.99),
        maxMs: Math.max(...r.samples),
      };
      progress(
        `relay ${broker}: ${fmt(result.messagesPerSecond)} msg/s (${fmt(result.messages)} messages); at ${fmt(result.achievedRate)} msg/s commit → consumer p50 ${fmt(result.p50Ms)} ms, p99 ${fmt(result.p99Ms)} ms, max ${fmt(result.maxMs)} ms (n=${result.samples})`,
      );
      results.push(result);
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      progress(`relay ${broker} FAILED: ${message}`);
      results.push({
        ...base,
        messagesPerSecond: null,
        achievedRate: null,
        samples: 0,
        p50Ms: null,
        p99Ms: null,
        maxMs: null,
        error: message,
      });
    }
  }
  return results;
}
