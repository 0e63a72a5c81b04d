/**
 * A worker process of the drain scenario. The parent forks it early with
 * the system and configuration; it imports only that system's library and
 * says `loaded`. The parent then creates and fills the database and sends
 * `prepare` { url }: the worker is constructed (connections, schema checks)
 * and says `ready`. On `start` it starts claiming; the parent's clock runs
 * from that message. It reports its handler count every 10 ms and, with
 * `lags` set, the pickup latency of every task since the last report
 * (handler start minus the enqueue time stamped in the payload, in ms).
 *
 * Parent → child: `prepare` | `start` | `stop`.
 * Child → parent: `loaded` | `ready` | `progress` { handled, lags? } |
 * `stopped` { handled } | `failed` { error }.
 */
import { nowMs } from './payload.js';
import { loadSystem } from './systems/index.js';
import type { PreparedWorker, SystemName } from './systems/types.js';

interface ChildConfig {
  system: SystemName;
  variant: string;
  concurrency: number;
  handlerMs?: number;
  lags?: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const send = (m: object) => {
  if (process.connected) process.send?.(m);
};
let handled = 0;
let reported = -1;
let lags: number[] = [];
let worker: PreparedWorker | null = null;
let ticker: NodeJS.Timeout | null = null;

// The parent went away: nothing left to report to.
process.on('disconnect', () => process.exit(1));
process.on('error', () => process.exit(1));

function fail(err: unknown) {
  send({ type: 'failed', error: String((err as Error)?.stack ?? err) });
}

async function main() {
  const system = await loadSystem(config.system);
  process.on('message', async (m: { type: string; url?: string }) => {
    try {
      if (m.type === 'prepare') {
        worker = await system.prepareWorker({
          url: m.url!,
          variant: config.variant,
          concurrency: config.concurrency,
          handlerMs: config.handlerMs ?? 0,
          onJobs: config.lags
            ? (payloads) => {
                handled += payloads.length;
                const now = nowMs();
                for (const p of payloads) if (p.t !== undefined) lags.push(now - p.t);
              }
            : (payloads) => {
                handled += payloads.length;
              },
        });
        send({ type: 'ready' });
      } else if (m.type === 'start') {
        ticker = setInterval(() => {
          if (handled !== reported) {
            reported = handled;
            if (config.lags) {
              send({ type: 'progress', handled, lags });
              lags = [];
            } else send({ type: 'progress', handled });
          }
        }, 10);
        await worker!.start();
      } else if (m.type === 'stop') {
        if (ticker) clearInterval(ticker);
        await worker?.stop();
        send({ type: 'stopped', handled });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 50).unref();
      }
    } catch (err) {
      fail(err);
    }
  });
  send({ type: 'loaded' });
}

main().catch((err) => {
  fail(err);
  setTimeout(() => process.exit(1), 50);
});
