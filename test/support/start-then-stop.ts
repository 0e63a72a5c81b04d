/**
 * A process that starts a worker and stops it before start() resolved, then
 * closes Tandem. It must exit by itself: nothing the worker started may keep
 * it alive. DATABASE_URL names the database.
 */
import { pino } from 'pino';
import { z } from 'zod';
import { createTandem, defineTask, type Logger } from '../../src/index.js';

const t = defineTask({ name: 't', payload: z.object({}), handler: () => {} });
const tandem = createTandem({
  connectionString: process.env.DATABASE_URL!,
  tasks: [t],
  logger: pino({ level: 'silent' }) as unknown as Logger,
});
const worker = tandem.worker({ pollInterval: 100 });
const started = worker.start();
await worker.stop();
await started.catch(() => {});
await tandem.close();
process.stdout.write('stopped\n');
