/**
 * The machine's brokers for the relay and inbox tests: RabbitMQ, NATS with
 * JetStream and Redis, as every development and CI machine runs them
 * (.ci/run starts one that is down). Each test gets targets of its own
 * (fresh exchange and queue, stream, or stream key) and removes them.
 *
 * A broker that does not answer skips its tests with a message on a
 * developer's machine and fails them in CI (test/support/services.ts).
 */
import { execFileSync, execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect as amqpConnect } from 'amqplib';
import { Redis } from 'ioredis';
import type { AnyDestination } from '../../src/index.js';
import { type DestinationSpec, destinationFromSpec } from './destination-spec.js';
import type { InboxSpec } from './inbox-module.js';
import { available } from './services.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { waitFor } from './wait.js';

export const RABBIT_URL = process.env.TANDEM_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const NATS_URL = process.env.TANDEM_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
export const REDIS_URL = process.env.TANDEM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export type BrokerKind = 'rabbitmq' | 'jetstream' | 'redis';

const START_COMMANDS: Record<BrokerKind, string> = {
  rabbitmq: 'rabbitmq-server -detached',
  jetstream:
    'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log',
  redis:
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
};

const portOf = (url: string, fallback: number) => Number(new URL(url).port || fallback);
const PORTS: Record<BrokerKind, [string, number]> = {
  rabbitmq: [new URL(RABBIT_URL).hostname, portOf(RABBIT_URL, 5672)],
  jetstream: [new URL(NATS_URL).hostname, portOf(NATS_URL, 4222)],
  redis: [new URL(REDIS_URL).hostname, portOf(REDIS_URL, 6379)],
};

export function canReach(kind: BrokerKind, timeoutMs = 1_000): Promise<boolean> {
  const [host, port] = PORTS[kind];
  return new Promise((res) => {
    const s = tcpConnect(port, host);
    const t = setTimeout(() => {
      s.destroy();
      res(false);
    }, timeoutMs);
    s.on('connect', () => {
      clearTimeout(t);
      s.end();
      res(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      res(false);
    });
  });
}

const NAMES: Record<BrokerKind, string> = {
  rabbitmq: 'RabbitMQ',
  jetstream: 'NATS with JetStream',
  redis: 'Redis',
};

/**
 * Whether the tests that need the broker run: true when it answers; when it
 * does not, false with a message on a developer's machine, and a throw in CI.
 */
export async function brokerAvailable(kind: BrokerKind): Promise<boolean> {
  const [host, port] = PORTS[kind];
  return available(
    `${NAMES[kind]} at ${host}:${port}`,
    await canReach(kind),
    `start it with: ${START_COMMANDS[kind]}`,
  );
}

/** Throws, saying how to start it, when the broker does not answer (it went away since). */
export async function requireBroker(kind: BrokerKind): Promise<void> {
  if (await canReach(kind)) return;
  const [host, port] = PORTS[kind];
  throw new Error(
    `${NAMES[kind]} does not answer at ${host}:${port}; start it with: ${START_COMMANDS[kind]}`,
  );
}

export const uniq = () => randomBytes(4).toString('hex');

/** One message as a consumer of the target sees it. */
export interface Received {
  messageId: string;
  key: string | null;
  body: any;
  headers: Record<string, string>;
}

/** A fresh target on one broker, with a destination to it and a way to read what arrived. */
export interface BrokerFixture {
  kind: BrokerKind;
  /** A destination to this fixture's target, as JSON; `via` routes the relay through a URL of its own (a proxy). */
  spec(name: string, options?: { via?: string; dedupeWindow?: string }): DestinationSpec;
  /** The destination of `spec`. */
  destination(name: string, options?: { via?: string; dedupeWindow?: string }): AnyDestination;
  /**
   * A destination the broker refuses (RabbitMQ: no queue bound for its
   * routing key; JetStream: no stream captures its subject; Redis: its key
   * holds a string), `unblock()` to make the broker take it, and `read`
   * for what arrived there.
   */
  blocked(name: string): Promise<{
    destination: AnyDestination;
    unblock(): Promise<void>;
    read(expected: number): Promise<Received[]>;
  }>;
  /** Publishes `body` as it is to the target, with message id `id` (not through the relay). */
  publishRaw(body: string, id: string): Promise<void>;
  /** Where an inbox reads this fixture's target (a fresh consumer or group). */
  inboxSpec(): InboxSpec;
  /** Everything in the target now, in broker order. */
  read(expected: number, timeoutMs?: number): Promise<Received[]>;
  /** Simulates or performs a broker restart: the broker is gone for about `downMs`, then back. */
  restart(downMs: number): Promise<void>;
  /** A TCP proxy in front of the broker, for outages without touching it. */
  proxy(): Promise<TcpProxy>;
  teardown(): Promise<void>;
}

export async function rabbitFixture(): Promise<BrokerFixture> {
  const id = uniq();
  const exchange = `tandem-test-${id}`;
  const queue = `tandem-test-${id}`;
  const conn = await amqpConnect(RABBIT_URL);
  conn.on('error', () => {});
  const setup = async () => {
    const ch = await conn.createChannel();
    await ch.assertExchange(exchange, 'direct', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, 'test');
    await ch.close();
  };
  await setup();
  const proxies: TcpProxy[] = [];
  return {
    kind: 'rabbitmq',
    async publishRaw(body, id) {
      const ch = await conn.createConfirmChannel();
      ch.publish(exchange, 'test', Buffer.from(body), { messageId: id, persistent: true });
      await ch.waitForConfirms();
      await ch.close();
    },
    inboxSpec: () => ({ kind: 'rabbitmq', url: RABBIT_URL, queue }),
    spec: (name, o) => ({
      kind: 'rabbitmq',
      name,
      url: o?.via ?? RABBIT_URL,
      exchange,
      routingKey: 'test',
    }),
    destination(this: BrokerFixture, name, o) {
      return destinationFromSpec(this.spec(name, o));
    },
    async blocked(this: BrokerFixture, name) {
      return {
        destination: destinationFromSpec({ ...this.spec(name), routingKey: 'blocked' }),
        async unblock() {
          const ch = await conn.createChannel();
          await ch.bindQueue(queue, exchange, 'blocked');
          await ch.close();
        },
        read: (n: number) => this.read(n),
      };
    },
    async read(expected, timeoutMs = 20_000) {
      const c = await amqpConnect(RABBIT_URL);
      try {
        const ch = await c.createChannel();
        await waitFor(
          async () => (await ch.checkQueue(queue)).messageCount >= expected,
          timeoutMs,
          `${expected} messages in ${queue}`,
        );
        const out: Received[] = [];
        const total = (await ch.checkQueue(queue)).messageCount;
        await ch.prefetch(1000);
        await new Promise<void>((res) => {
          if (total === 0) return res();
          void ch.consume(
            queue,
            (m) => {
              if (!m) return;
              const headers = { ...(m.properties.headers ?? {}) } as Record<string, string>;
              out.push({
                messageId: m.properties.messageId,
                key: headers['tandem-key'] ?? null,
                body: JSON.parse(m.content.toString()),
                headers,
              });
              if (out.length === total) res();
            },
            { noAck: true },
          );
        });
        await ch.close();
        return out;
      } finally {
        await c.close().catch(() => {});
      }
    },
    async restart(downMs) {
      execFileSync('rabbitmqctl', ['stop_app'], { stdio: 'ignore' });
      try {
        await new Promise((r) => setTimeout(r, downMs));
      } finally {
        execFileSync('rabbitmqctl', ['start_app'], { stdio: 'ignore' });
      }
      await waitFor(() => canReach('rabbitmq'), 30_000, 'RabbitMQ back');
    },
    async proxy() {
      const p = await startTcpProxy(RABBIT_URL);
      proxies.push(p);
      return p;
    },
    async teardown() {
      for (const p of proxies) await p.close();
      const c = await amqpConnect(RABBIT_URL);
      const ch = await c.createChannel();
      await ch.deleteQueue(queue).catch(() => {});
      await ch.deleteExchange(exchange).catch(() => {});
      await c.close().catch(() => {});
      await conn.close().catch(() => {});
    },
  };
}

export async function natsFixture(): Promise<BrokerFixture> {
  const id = uniq();
  const stream = `TANDEM_TEST_${id}`;
  const subject = `tandemtest.${id}`;
  const nc = await natsConnect({
    servers: NATS_URL,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  const proxies: TcpProxy[] = [];
  return {
    kind: 'jetstream',
    async publishRaw(body, id) {
      await jetstream(nc).publish(`${subject}.events`, body, { msgID: id });
    },
    inboxSpec: () => ({ kind: 'jetstream', url: NATS_URL, stream, consumer: `inbox_${uniq()}` }),
    spec: (name, o) => ({
      kind: 'jetstream',
      name,
      url: o?.via ?? NATS_URL,
      subject: `${subject}.events`,
    }),
    destination(this: BrokerFixture, name, o) {
      return destinationFromSpec(this.spec(name, o));
    },
    async blocked(this: BrokerFixture, name) {
      const other = `tandemtest-blocked.${id}`;
      return {
        destination: destinationFromSpec({ ...this.spec(name), subject: other }),
        async unblock() {
          await jsm.streams.update(stream, { subjects: [`${subject}.>`, other] });
        },
        read: (n: number) => this.read(n),
      };
    },
    async read(expected, timeoutMs = 20_000) {
      const m = await jetstreamManager(nc);
      await waitFor(
        async () => (await m.streams.info(stream)).state.messages >= expected,
        timeoutMs,
        `${expected} messages in ${stream}`,
      );
      const total = (await m.streams.info(stream)).state.messages;
      const out: Received[] = [];
      if (total === 0) return out;
      const consumer = await jetstream(nc).consumers.get(stream);
      const iter = await consumer.consume({ max_messages: 1000 });
      for await (const msg of iter) {
        const headers: Record<string, string> = {};
        for (const k of msg.headers?.keys() ?? []) headers[k] = msg.headers!.get(k);
        out.push({
          messageId: headers['Nats-Msg-Id']!,
          key: headers['Tandem-Key'] ?? null,
          body: msg.json(),
          headers,
        });
        if (out.length === total) break;
      }
      return out;
    },
    async restart(downMs) {
      execSync('start-stop-daemon --stop --oknodo --retry 10 --exec /usr/sbin/nats-server', {
        stdio: 'ignore',
      });
      try {
        await new Promise((r) => setTimeout(r, downMs));
      } finally {
        execSync(START_COMMANDS.jetstream, { stdio: 'ignore' });
      }
      await waitFor(() => canReach('jetstream'), 30_000, 'NATS back');
    },
    async proxy() {
      const p = await startTcpProxy(NATS_URL);
      proxies.push(p);
      return p;
    },
    async teardown() {
      for (const p of proxies) await p.close();
      await jsm.streams.delete(stream).catch(() => {});
      await nc.close();
    },
  };
}

export async function redisFixture(): Promise<BrokerFixture> {
  const id = uniq();
  const stream = `tandem-test:${id}`;
  const redis = new Redis(REDIS_URL);
  const proxies: TcpProxy[] = [];
  let proxy: TcpProxy | null = null;
  const readStream = async (key: string, expected: number, timeoutMs: number) => {
    await waitFor(
      async () => (await redis.type(key)) === 'stream' && (await redis.xlen(key)) >= expected,
      timeoutMs,
      `${expected} entries in ${key}`,
    );
    const entries = await redis.xrange(key, '-', '+');
    return entries.map(([, fields]): Received => {
      const f: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      return {
        messageId: f.id!,
        key: f.key ?? null,
        body: JSON.parse(f.payload!),
        headers: f.headers ? JSON.parse(f.headers) : {},
      };
    });
  };
  return {
    kind: 'redis',
    async publishRaw(body, id) {
      await redis.xadd(stream, '*', 'id', id, 'payload', body);
    },
    inboxSpec: () => ({ kind: 'redis', url: REDIS_URL, stream, group: `inbox-${uniq()}` }),
    spec: (name, o) => ({
      kind: 'redis',
      name,
      url: o?.via ?? REDIS_URL,
      stream,
      ...(o?.dedupeWindow && { dedupeWindow: o.dedupeWindow }),
    }),
    destination(this: BrokerFixture, name, o) {
      return destinationFromSpec(this.spec(name, o));
    },
    async blocked(this: BrokerFixture, name) {
      const key = `${stream}:blocked`;
      await redis.set(key, 'not a stream');
      return {
        destination: destinationFromSpec({ ...this.spec(name), stream: key }),
        async unblock() {
          await redis.del(key);
        },
        read: (n: number) => readStream(key, n, 20_000),
      };
    },
    read: (expected, timeoutMs = 20_000) => readStream(stream, expected, timeoutMs),
    // Redis here keeps nothing on disk, so a real restart would lose the
    // stream: the outage is a proxy that drops every connection and turns
    // new ones away (the relay must reach Redis through `proxy()`).
    async restart(downMs) {
      if (!proxy) throw new Error('route the relay through fixture.proxy() to restart Redis');
      proxy.refuse();
      proxy.cut();
      await new Promise((r) => setTimeout(r, downMs));
      proxy.accept();
    },
    async proxy() {
      const p = await startTcpProxy(REDIS_URL);
      proxies.push(p);
      proxy = p;
      return p;
    },
    async teardown() {
      for (const p of proxies) await p.close();
      await redis.del(stream, `${stream}:blocked`);
      const keys = await redis.keys(`tandem:dedupe:${stream}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    },
  };
}

export const FIXTURES: Record<BrokerKind, () => Promise<BrokerFixture>> = {
  rabbitmq: rabbitFixture,
  jetstream: natsFixture,
  redis: redisFixture,
};
