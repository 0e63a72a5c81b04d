/** The relay as the database sees it: backlog and age per destination, and who relays it. */
import type { Queryable } from '../db/executor.js';
import { relayStatusRead } from '../db/queries/outbox.js';

/** One destination's backlog and relay. */
export interface DestinationStatus {
  destination: string;
  /** Messages committed and not yet confirmed by the broker. */
  backlog: number;
  /** When the oldest of them was published (its transaction's start); null when none waits. */
  oldestAt: Date | null;
  /** How long the oldest has waited, in seconds (0 when none waits). */
  oldestAgeSeconds: number;
  /** The message at the head (the next to go out), and its failed attempts so far. */
  head: {
    id: string;
    attempts: number;
    lastError: string | null;
    lastAttemptAt: Date | null;
  } | null;
  /** The relay process that holds the destination's lock now (`host:pid:…`), or null. */
  holder: string | null;
  heldSince: Date | null;
  /** Messages confirmed by the broker since the destination was first relayed. */
  published: number;
  /** When the last batch was confirmed. */
  publishedAt: Date | null;
}

export interface RelayStatus {
  /** Message ids on the wire are `<prefix>-<id>`. */
  prefix: string | null;
  destinations: DestinationStatus[];
}

export async function relayStatus(sql: Queryable): Promise<RelayStatus> {
  const rows = await sql.query<any>(relayStatusRead);
  const destinations = rows.map((r): DestinationStatus => {
    const now = (r.now as Date).getTime();
    return {
      destination: r.destination,
      backlog: Number(r.backlog),
      oldestAt: r.oldest_at ?? null,
      oldestAgeSeconds: r.oldest_at ? Math.max(0, (now - r.oldest_at.getTime()) / 1000) : 0,
      head: r.head_id
        ? {
            id: r.head_id,
            attempts: r.attempts,
            lastError: r.last_error ?? null,
            lastAttemptAt: r.last_attempt_at ?? null,
          }
        : null,
      holder: r.holder ?? null,
      heldSince: r.held_since ?? null,
      published: Number(r.published ?? 0),
      publishedAt: r.published_at ?? null,
    };
  });
  let prefix: string | null = rows[0]?.prefix ?? null;
  if (prefix === null) {
    const [p] = await sql.query<{ prefix: string }>('select prefix from tandem.outbox_source');
    prefix = p?.prefix ?? null;
  }
  return { prefix, destinations };
}
