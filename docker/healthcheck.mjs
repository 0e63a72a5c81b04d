// HEALTHCHECK of a Tandem container. With TANDEM_HEALTH_URL (the serve
// container): that URL answers 2xx. Otherwise (a worker): a worker in this
// container (tandem.workers.host is the container's hostname) sent a
// heartbeat within the last minute. Exit 0 healthy, 1 not.
import { hostname } from 'node:os';
import pg from 'pg';

try {
  if (process.env.TANDEM_HEALTH_URL) {
    const res = await fetch(process.env.TANDEM_HEALTH_URL, { signal: AbortSignal.timeout(4000) });
    process.exit(res.ok ? 0 : 1);
  }
  const client = new pg.Client({
    connectionString: process.env.DATABASE_URL,
    connectionTimeoutMillis: 4000,
  });
  await client.connect();
  const { rows } = await client.query(
    `select 1 from tandem.workers where host = $1 and heartbeat_at > now() - interval '1 minute'`,
    [hostname()],
  );
  await client.end();
  process.exit(rows.length > 0 ? 0 : 1);
} catch (err) {
  process.stderr.write(`unhealthy: ${err?.message ?? err}\n`);
  process.exit(1);
}
