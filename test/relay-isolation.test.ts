/** Users of the core never load a broker client: only a relay or inbox that uses a broker loads its client. */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const BROKER_CLIENTS = /node_modules\/(amqplib|@nats-io|ioredis)\//;

function loadedBrokerClients(script: string): string[] {
  const log = join(
    tmpdir(),
    `tandem-imports-${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      './test/support/record-imports.mjs',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      script,
    ],
    { cwd: root, env: { ...process.env, TANDEM_IMPORT_LOG: log }, encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  const urls = readFileSync(log, 'utf8').split('\n');
  rmSync(log, { force: true });
  return [
    ...new Set(urls.filter((u) => BROKER_CLIENTS.test(u)).map((u) => u.match(BROKER_CLIENTS)![1]!)),
  ];
}

it('defining destinations of every broker and making a relay load no broker client', () => {
  const core = loadedBrokerClients(`
    const t = await import('./src/index.ts');
    const schema = { '~standard': { version: 1, vendor: 'x', validate: (value) => ({ value }) } };
    const d = [
      t.defineDestination({ name: 'a', broker: t.rabbitmq({ url: 'amqp://h' }), exchange: 'x', payload: schema }),
      t.defineDestination({ name: 'b', broker: t.jetstream({ servers: 'nats://h:4222' }), subject: 's', payload: schema }),
      t.defineDestination({ name: 'c', broker: t.redisStreams({ url: 'redis://h' }), stream: 's', payload: schema }),
    ];
    const tandem = t.createTandem({ connectionString: 'postgres://x@127.0.0.1:1/x' });
    tandem.relay({ destinations: d });
    await tandem.close();`);
  expect(core).toEqual([]);
});

it('a relay to RabbitMQ loads amqplib and no other broker client', () => {
  const relay = loadedBrokerClients(`
    const { loadBrokerClient } = await import('./src/relay/broker.ts');
    await loadBrokerClient('rabbitmq', 'test');`);
  expect(relay).toEqual(['amqplib']);
});
