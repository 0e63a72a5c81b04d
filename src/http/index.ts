/**
 * `tandem-queue/http`: the operator API (tasks, queues, workers,
 * schedules, stats, operator log), the web dashboard at `/`, /metrics,
 * /healthz and the OpenAPI document. Only this entry point loads Hono and
 * prom-client.
 */
export { type AppOptions, createApp } from './app.js';
export type { MetricsOptions } from './routes/metrics.js';
export { type ServerOptions, startServer, type TandemServer } from './server.js';
