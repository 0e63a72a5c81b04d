/** GET /metrics: Prometheus text format, from a registry of this app's own (never prom-client's global one). */
import { createRoute, z } from '@hono/zod-openapi';
import { Registry } from 'prom-client';
import type { Worker } from '../../worker/worker.js';
import { registerFleetMetrics } from '../metrics/fleet.js';
import { registerRelayMetrics } from '../metrics/relay.js';
import { registerWorkerMetrics } from '../metrics/worker.js';
import type { Api, RouteDeps } from './types.js';

export interface MetricsOptions {
  /** The fleet (and the outbox relay) as the database sees it (default true). One scrape target is enough for it. */
  fleet?: boolean;
  /** This process's worker: adds its per-process counters and histograms. */
  worker?: Worker;
}

const route = createRoute({
  method: 'get',
  path: '/metrics',
  summary: 'Prometheus metrics (text exposition format)',
  responses: {
    200: {
      content: { 'text/plain': { schema: z.string() } },
      description: 'Metrics in the Prometheus text format',
    },
  },
});

export function metricsRoutes(app: Api, { tandem }: RouteDeps, options: MetricsOptions): void {
  const registry = new Registry();
  if (options.fleet !== false) {
    registerFleetMetrics(registry, tandem);
    registerRelayMetrics(registry, tandem);
  }
  if (options.worker) registerWorkerMetrics(registry, options.worker);
  app.openapi(route, async (c) => {
    const text = await registry.metrics();
    return c.text(text, 200, { 'content-type': registry.contentType });
  });
}
