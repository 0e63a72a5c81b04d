import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { TandemClient } from '../client/client.js';
import { TandemError } from '../errors.js';
import { createApp } from './app.js';
import type { ServerOptions, TandemServer } from './options.js';
import { isLoopback, LOOPBACK_NAMES } from './security.js';

export type { ServerOptions, TandemServer } from './options.js';

/**
 * Starts the HTTP API on Node. Listens on 127.0.0.1 unless told otherwise,
 * and refuses a non-loopback address without a token unless `insecure`.
 *
 * @example
 * const server = await startServer(tandem, { port: 8080, token: process.env.TANDEM_API_TOKEN });
 * console.log(`API on ${server.url}`);
 * await server.close();
 */
export async function startServer(
  tandem: TandemClient,
  options: ServerOptions = {},
): Promise<TandemServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new TandemError(
      'INVALID_OPTIONS',
      `port must be an integer from 0 to 65535, got ${port}`,
    );
  const envToken = process.env.TANDEM_API_TOKEN || undefined;
  const hasToken = !!(options.token ?? envToken) || Object.keys(options.tokens ?? {}).length > 0;
  if (!isLoopback(host) && !hasToken && !options.insecure) {
    throw new TandemError(
      'INVALID_OPTIONS',
      `refusing to listen on ${host} without a token: anyone who can reach it could read task payloads and retry, cancel or delete tasks. Set a token (TANDEM_API_TOKEN, --token-file or the token option), listen on 127.0.0.1, or pass insecure: true (--insecure) if something in front of it authenticates`,
    );
  }
  const app = createApp(tandem, {
    ...options,
    // Without a token on loopback, a web page could still reach the API
    // through a DNS name that resolves to 127.0.0.1: accept loopback names only.
    ...(!hasToken && isLoopback(host) && !options.allowedHosts && { allowedHosts: LOOPBACK_NAMES }),
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}${options.basePath ?? ''}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      }),
  };
}
