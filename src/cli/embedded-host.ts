/**
 * Runs embedded PostgreSQL for the CLI, in a process of its own.
 *
 * The server already runs in its own process group, so a Ctrl-C in the
 * terminal never reaches it and the worker can finish or release its tasks
 * first. This host adds one thing: it outlives the CLI. If the CLI is killed
 * outright (SIGKILL, a crashed terminal), the IPC channel closes and the host
 * stops the server, instead of leaving it running until the next start
 * reuses it. The CLI starts the host detached (its own session) and stops it
 * last, over IPC.
 *
 * Protocol: the host sends `{ type: 'ready', connectionString, dataDir, owned }`
 * or `{ type: 'error', message }`, and stops on `{ type: 'stop' }` or disconnect.
 */
import { startEmbeddedPostgres } from '../embedded.js';

export type HostMessage =
  | { type: 'ready'; connectionString: string; dataDir: string; owned: boolean }
  | { type: 'error'; message: string };

const send = (m: HostMessage) => {
  if (process.connected) process.send?.(m);
};

if (!process.send) {
  process.stderr.write('embedded-host is started by the tandem CLI, not run directly\n');
  process.exit(2);
}

// Listen before the (slow) start: a CLI that dies meanwhile must not leave a server behind.
let stop: () => void = () => {};
let stopRequested = false;
const requestStop = () => {
  stopRequested = true;
  stop();
};
process.on('disconnect', requestStop);
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stop') requestStop();
});

try {
  const server = await startEmbeddedPostgres({
    dataDir: process.env.TANDEM_EMBEDDED_DIR || '.tandem/pg',
  });
  let stopping = false;
  stop = () => {
    if (stopping) return;
    stopping = true;
    server.stop().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`could not stop embedded PostgreSQL: ${err?.message ?? err}\n`);
        process.exit(1);
      },
    );
  };
  // The channel may have closed before the listeners above existed (while modules loaded).
  if (stopRequested || !process.connected) stop();
  else {
    send({
      type: 'ready',
      connectionString: server.connectionString,
      dataDir: server.dataDir,
      owned: server.owned,
    });
  }
} catch (err) {
  const message: HostMessage = { type: 'error', message: (err as Error)?.message ?? String(err) };
  if (process.connected) process.send!(message, () => process.exit(1));
  else process.exit(1);
}
