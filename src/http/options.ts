/**
 * The options of the HTTP app and server, apart from the HTTP stack itself:
 * the core imports these types without loading Hono or its types.
 */
import type { Worker } from '../worker/worker.js';

export interface AppOptions {
  /** Where the app is mounted, e.g. `'/admin/tandem'`. Every route lives under it. Default `''`. */
  basePath?: string;
  /**
   * Bearer token required on every route but /healthz. Default: the
   * `TANDEM_API_TOKEN` environment variable; without either, no token is needed.
   * Recorded in operator actions as the actor `token`.
   */
  token?: string;
  /** Several tokens, by the label that operator actions record as the actor. */
  tokens?: Record<string, string>;
  /** Refuse every mutation with 403. */
  readOnly?: boolean;
  /** Largest request body in bytes; larger is 413. Default 1 MiB. */
  bodyLimit?: number;
  /** Serve the fleet's metrics on /metrics (default true). */
  fleetMetrics?: boolean;
  /** This process's worker: its per-process counters and histograms join /metrics. */
  worker?: Worker;
  /** Refuse requests whose Host header is not one of these names (DNS rebinding guard). */
  allowedHosts?: readonly string[];
  /** Serve the web dashboard at the base path (default true); false: the API alone. */
  dashboard?: boolean;
}

export interface ServerOptions extends Omit<AppOptions, 'basePath'> {
  /** Address to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port. Default 8080; 0 picks a free one (see `url`). */
  port?: number;
  /** Listen on a non-loopback address without a token. Anyone who reaches it can read payloads and retry or delete tasks. */
  insecure?: boolean;
  /** Mount the API under this path. */
  basePath?: string;
}

/** A running API server. */
export interface TandemServer {
  /** e.g. `http://127.0.0.1:8080` */
  url: string;
  port: number;
  /** Stops accepting connections and waits for open requests. */
  close(): Promise<void>;
}
