/**
 * A TCP proxy in front of PostgreSQL, for blips and outages without touching
 * the server: `cut()` drops every connection at once (both sides close),
 * `refuse()` turns new connections away until `accept()`, and `strand()`
 * drops the client side only while the server side stays open, as a dead
 * NAT or proxy leaves a half-open session holding its locks.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export interface TcpProxy {
  /** A connection string to the target database through the proxy. */
  url: string;
  port: number;
  /** Drops every open connection, both sides. */
  cut(): void;
  /** Drops the client sides; the server sides stay open (and keep their sessions). */
  strand(): void;
  /** New connections are closed at once until `accept()`. */
  refuse(): void;
  accept(): void;
  /** Connections currently open through the proxy. */
  readonly open: number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const pairs = new Set<{ client: Socket; server: Socket }>();
  const stranded: Socket[] = [];
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
    const pair = { client, server: upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    port,
    cut() {
      for (const p of [...pairs]) {
        p.client.destroy();
        p.server.destroy();
      }
    },
    strand() {
      for (const p of [...pairs]) {
        pairs.delete(p);
        // Stop forwarding and forget the server side without closing it.
        p.client.unpipe(p.server);
        p.server.unpipe(p.client);
        p.server.removeAllListeners('close');
        p.server.removeAllListeners('error');
        p.server.on('error', () => {});
        p.server.pause();
        stranded.push(p.server);
        p.client.removeAllListeners('close');
        p.client.destroy();
      }
    },
    refuse() {
      refusing = true;
    },
    accept() {
      refusing = false;
    },
    get open() {
      return pairs.size;
    },
    async close() {
      for (const p of [...pairs]) {
        p.client.destroy();
        p.server.destroy();
      }
      for (const s of stranded) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
