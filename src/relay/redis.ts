/**
 * Redis Streams through ioredis: each message is one XADD, a batch one
 * pipeline. Entries carry the fields `id` (the stable message id),
 * `payload` (JSON text), `key` (the ordering key, when set) and `headers`
 * (a JSON object, when set). Redis itself has no duplicate detection on
 * XADD: by default the stream holds a message twice if its confirmation was
 * lost and it went out again, and consumers dedupe by `id` (the inbox does).
 * With `dedupeWindow`, a Lua script adds the entry only if it can first
 * `SET tandem:dedupe:<stream>:<id> NX PX <window>`, atomically, so the
 * stream holds each message once as long as the window lasts (one small
 * key per message for the window).
 *
 * Explicit entry ids (the outbox id as the stream id) were considered and
 * rejected: Redis requires them to grow, and a message whose transaction
 * commits after a later one was published would be refused forever.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { AnyDestination, RedisStreamsBroker } from '../destination.js';
import type { Logger } from '../types.js';
import {
  type BrokerAdapter,
  type BrokerSession,
  importBrokerClient,
  messageOf,
  type OutgoingMessage,
  type PublishOutcome,
  redactUrl,
} from './broker.js';

/** Adds ARGV[3..] to stream KEYS[1] unless KEYS[2] was set within ARGV[1] ms; ARGV[2] is MAXLEN or ''. */
const DEDUPE_XADD = `
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return false end
local res
if ARGV[2] ~= '' then
  res = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
else
  res = redis.pcall('XADD', KEYS[1], '*', unpack(ARGV, 3))
end
if type(res) == 'table' and res.err then
  redis.call('DEL', KEYS[2])
end
return res`;

type RedisModule = { Redis: new (url: string, options: RedisOptions) => Redis };

/**
 * Connects to `broker` (shared by the relay and the inbox). Commands fail at
 * once while the connection is down (no offline queue, nothing resent by the
 * client), so the caller's own retry decides what goes out again.
 */
export async function connectRedis(
  broker: RedisStreamsBroker,
  neededFor: string,
  extra: RedisOptions = {},
): Promise<Redis> {
  const mod = await importBrokerClient<RedisModule & { default?: RedisModule }>(
    'ioredis',
    neededFor,
  );
  const RedisClass = mod.Redis ?? mod.default?.Redis;
  const redis = new RedisClass(broker.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 10_000,
    retryStrategy: (n: number) => Math.min(1_000, 25 * 2 ** n),
    ...extra,
  });
  redis.on('error', () => {}); // reported through the commands that fail
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot connect to Redis at ${redactUrl(broker.url)}: ${messageOf(err)}`);
  }
  return redis;
}

class RedisSession implements BrokerSession {
  constructor(
    private readonly redis: Redis,
    private readonly maxLen: number | undefined,
    private readonly dedupeWindowMs: number | undefined,
  ) {
    if (dedupeWindowMs !== undefined)
      redis.defineCommand('tandemDedupeXadd', { numberOfKeys: 2, lua: DEDUPE_XADD });
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<PublishOutcome[]> {
    const p = this.redis.pipeline();
    for (const m of messages) {
      const fields = ['id', m.messageId, 'payload', m.body];
      if (m.key !== null) fields.push('key', m.key);
      if (m.headers) fields.push('headers', JSON.stringify(m.headers));
      if (this.dedupeWindowMs !== undefined) {
        (p as unknown as Record<string, (...a: unknown[]) => unknown>).tandemDedupeXadd!(
          m.route,
          `tandem:dedupe:${m.route}:${m.messageId}`,
          this.dedupeWindowMs,
          this.maxLen ?? '',
          ...fields,
        );
      } else if (this.maxLen !== undefined) {
        p.xadd(m.route, 'MAXLEN', '~', this.maxLen, '*', ...fields);
      } else {
        p.xadd(m.route, '*', ...fields);
      }
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await p.exec();
    } catch (err) {
      const error = `Redis did not take the batch: ${messageOf(err)}`;
      return messages.map(() => ({ ok: false, error }));
    }
    return messages.map((_m, i): PublishOutcome => {
      const [err, res] = results?.[i] ?? [new Error('no reply'), null];
      if (err) return { ok: false, error: `XADD failed: ${messageOf(err)}` };
      return { ok: true, duplicate: res === null };
    });
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export const redisAdapter: BrokerAdapter = {
  async openSession(destination: AnyDestination, _logger: Logger): Promise<BrokerSession> {
    const redis = await connectRedis(
      destination.broker as RedisStreamsBroker,
      `the relay to Redis Streams (${destination.name})`,
    );
    return new RedisSession(redis, destination.target.maxLen, destination.target.dedupeWindowMs);
  },
};
