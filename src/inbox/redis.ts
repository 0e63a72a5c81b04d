/**
 * The inbox on Redis Streams: a consumer group (created from the start of
 * the stream when it does not exist), read with XREADGROUP. A message's id
 * is the entry's `id` field (a Tandem relay sets it), else
 * `<stream>:<entry id>`. On start the consumer first reads its own pending
 * entries again; entries left pending by a consumer that went away are
 * claimed with XAUTOCLAIM once idle for `claimIdle`, and delivered again.
 * A message that cannot become a task is acknowledged (it stays in the
 * stream, but leaves the group's pending list) and logged.
 */
import { hostname } from 'node:os';
import type { Broker, RedisStreamsBroker } from '../destination.js';
import { toMs } from '../duration.js';
import { messageOf } from '../relay/broker.js';
import { connectRedis } from '../relay/redis.js';
import type { Logger } from '../types.js';
import type { Delivery, InboxAdapter, InboxSession } from './source.js';

type Entry = [id: string, fields: string[]];

export const redisInbox: InboxAdapter = {
  async openInboxSession(broker: Broker, options, batchSize, deliver, logger: Logger) {
    const stream = options.stream as string;
    const group = options.group as string;
    const consumer = (options.consumer as string | undefined) ?? `${hostname()}:${process.pid}`;
    const claimIdleMs = toMs(
      (options.claimIdle as string | number | undefined) ?? '30s',
      'inbox claimIdle',
    );
    const what = `the inbox from Redis Streams (${stream})`;
    // The blocking read gets a connection of its own, so acks never wait behind it.
    const reader = await connectRedis(broker as RedisStreamsBroker, what);
    const writer = await connectRedis(broker as RedisStreamsBroker, what).catch((err) => {
      reader.disconnect();
      throw err;
    });
    try {
      await writer.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test(messageOf(err))) {
        reader.disconnect();
        writer.disconnect();
        throw err;
      }
    }
    let closed = false;
    let unacked = 0;
    let resume: (() => void) | null = null;
    const emit = (entries: Entry[], redelivered: boolean) => {
      for (const [entryId, list] of entries) {
        if (!list) continue; // deleted from the stream while pending
        const f: Record<string, string> = {};
        for (let i = 0; i < list.length; i += 2) f[list[i]!] = list[i + 1]!;
        let headers: Record<string, string> = {};
        try {
          headers = f.headers ? JSON.parse(f.headers) : {};
        } catch {}
        unacked++;
        deliver({
          message: {
            id: f.id || `${stream}:${entryId}`,
            body: Buffer.from(f.payload ?? JSON.stringify(f)),
            headers,
            route: stream,
            redelivered,
          },
          handle: entryId,
        });
      }
    };
    const read = async (): Promise<string> => {
      let failures = 0;
      let lastClaim = 0;
      let cursor = '0-0';
      let ownPending = true;
      while (!closed) {
        try {
          if (unacked >= batchSize * 2) {
            await new Promise<void>((r) => {
              resume = r;
              setTimeout(r, 1_000);
            });
            continue;
          }
          if (ownPending) {
            // What this consumer was handed before it restarted, and did not acknowledge.
            const r = (await reader.xreadgroup(
              'GROUP',
              group,
              consumer,
              'COUNT',
              batchSize,
              'STREAMS',
              stream,
              '0',
            )) as [string, Entry[]][] | null;
            const entries = r?.[0]?.[1] ?? [];
            emit(entries, true);
            if (entries.length === 0) ownPending = false;
            continue;
          }
          if (Date.now() - lastClaim > claimIdleMs / 2) {
            const [next, entries] = (await writer.xautoclaim(
              stream,
              group,
              consumer,
              claimIdleMs,
              cursor,
              'COUNT',
              batchSize,
            )) as [string, Entry[]];
            emit(entries, true);
            cursor = next;
            if (next === '0-0') lastClaim = Date.now();
          }
          const r = (await reader.xreadgroup(
            'GROUP',
            group,
            consumer,
            'COUNT',
            batchSize,
            'BLOCK',
            500,
            'STREAMS',
            stream,
            '>',
          )) as [string, Entry[]][] | null;
          emit(r?.[0]?.[1] ?? [], false);
          failures = 0;
        } catch (err) {
          if (closed) break;
          failures++;
          if (failures === 1)
            logger.warn({ err: messageOf(err) }, 'inbox cannot read from Redis; retrying');
          await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** Math.min(failures, 6))));
        }
      }
      return 'closed';
    };
    const lost = read();
    const settle = async (ids: string[]) => {
      unacked -= ids.length;
      const r = resume;
      resume = null;
      r?.();
      if (ids.length > 0 && !closed) await writer.xack(stream, group, ...ids).catch(() => {}); // pending: claimed again later
    };
    const session: InboxSession = {
      lost,
      ack: (deliveries: readonly Delivery[]) => settle(deliveries.map((d) => d.handle as string)),
      reject: (d: Delivery) => settle([d.handle as string]),
      async close() {
        closed = true;
        reader.disconnect();
        await lost;
        await writer.quit().catch(() => writer.disconnect());
      },
    };
    return session;
  },
};
