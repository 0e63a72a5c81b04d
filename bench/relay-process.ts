/**
 * The relay process of the relay scenario: one `tandem.relay` for one
 * destination, described by argv[2] as JSON { url, destination: { kind,
 * name, brokerUrl, target } }. Says `ready` once started; on `stop` it stops
 * the relay (the batch in flight finishes) and says `stopped` { handled }
 * with the messages it had confirmed.
 */
import {
  createTandem,
  defineDestination,
  jetstream,
  rabbitmq,
  redisStreams,
} from '../src/index.js';

interface Config {
  url: string;
  destination: {
    kind: 'rabbitmq' | 'jetstream' | 'redis';
    name: string;
    brokerUrl: string;
    target: string;
  };
  batchSize?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const send = (m: object) => {
  if (process.connected) process.send?.(m);
};
process.on('disconnect', () => process.exit(1));
// Warnings only: a broker that refuses the relay shows up in the parent's output.
process.env.TANDEM_LOG_LEVEL ??= 'warn';

const any = {
  '~standard': { version: 1 as const, vendor: 'bench', validate: (value: unknown) => ({ value }) },
};
const d = config.destination;
const destination =
  d.kind === 'rabbitmq'
    ? defineDestination({
        name: d.name,
        broker: rabbitmq({ url: d.brokerUrl }),
        exchange: d.target,
        routingKey: 'bench',
        payload: any,
      })
    : d.kind === 'jetstream'
      ? defineDestination({
          name: d.name,
          broker: jetstream({ servers: d.brokerUrl }),
          subject: d.target,
          payload: any,
        })
      : defineDestination({
          name: d.name,
          broker: redisStreams({ url: d.brokerUrl }),
          stream: d.target,
          payload: any,
        });

try {
  const tandem = createTandem({ connectionString: config.url });
  const relay = tandem.relay({
    destinations: [destination],
    ...(config.batchSize && { batchSize: config.batchSize }),
  });
  await relay.start();
  process.on('message', async (m: { type: string }) => {
    if (m.type !== 'stop') return;
    await relay.stop();
    const handled = relay.status().destinations[0]?.published ?? 0;
    await tandem.close();
    send({ type: 'stopped', handled });
    process.exit(0);
  });
  send({ type: 'ready' });
} catch (err) {
  send({ type: 'failed', error: String((err as Error)?.stack ?? err) });
}
