/**
 * The outbox relay for the server's /metrics: per destination, the backlog,
 * the age of the oldest message, the head's failed attempts, whether a relay
 * holds it, and how many messages were confirmed. One query per scrape
 * (relayStatus), shared by the gauges of that scrape.
 */
import { Gauge, type Registry } from 'prom-client';
import type { TandemClient } from '../../client/client.js';
import type { RelayStatus } from '../../client/relay-status.js';

export function registerRelayMetrics(registry: Registry, tandem: TandemClient): void {
  let pending: Promise<RelayStatus> | null = null;
  const snapshot = () => {
    if (pending) return pending;
    const p = tandem.relayStatus();
    pending = p;
    const release = () => {
      if (pending === p) pending = null;
    };
    p.then(release, release);
    return p;
  };
  const gauge = (
    name: string,
    help: string,
    value: (d: RelayStatus['destinations'][number]) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['destination'],
      registers: [registry],
      async collect() {
        const s = await snapshot();
        this.reset();
        for (const d of s.destinations) this.set({ destination: d.destination }, value(d));
      },
    });
  gauge(
    'tandem_relay_backlog',
    'Outbox messages committed and not yet confirmed by their broker',
    (d) => d.backlog,
  );
  gauge(
    'tandem_relay_oldest_age_seconds',
    'How long the oldest unpublished message has waited (0 when none)',
    (d) => d.oldestAgeSeconds,
  );
  gauge(
    'tandem_relay_head_attempts',
    'Failed publish attempts of the message at the head of the destination (0 when it flows)',
    (d) => d.head?.attempts ?? 0,
  );
  gauge('tandem_relay_held', '1 while a relay process holds the destination', (d) =>
    d.holder ? 1 : 0,
  );
  gauge(
    'tandem_relay_published_messages',
    'Messages confirmed by the broker since the destination was first relayed (only grows)',
    (d) => d.published,
  );
}
