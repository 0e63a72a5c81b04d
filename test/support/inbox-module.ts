/**
 * The inboxes module of the inbox tests (`tandem inbox --inboxes
 * test/support/inbox-module.ts`): one inbox described by TANDEM_TEST_INBOX
 * (an InboxSpec as JSON). With TANDEM_TEST_DIE_AFTER_COMMIT=1 the process
 * SIGKILLs itself right after its first batch committed, before it is
 * acknowledged: the broker then delivers that batch again to whoever reads next.
 */
import { z } from 'zod';
import {
  defineInbox,
  defineTask,
  type InboxDefinition,
  jetstream,
  rabbitmq,
  redisStreams,
} from '../../src/index.js';

export interface InboxSpec {
  kind: 'rabbitmq' | 'jetstream' | 'redis';
  url: string;
  queue?: string;
  stream?: string;
  consumer?: string;
  group?: string;
}

export const inboxEvent = defineTask({
  name: 'inbox-event',
  payload: z.object({ n: z.number().int() }).passthrough(),
  handler: async () => {},
});

export function inboxFromSpec(
  s: InboxSpec,
  onInserted?: InboxDefinition['onInserted'],
): InboxDefinition {
  const common = { name: `test-${s.kind}`, task: inboxEvent, batchSize: 50, onInserted };
  if (s.kind === 'rabbitmq')
    return defineInbox({ ...common, broker: rabbitmq({ url: s.url }), queue: s.queue! });
  if (s.kind === 'jetstream')
    return defineInbox({
      ...common,
      broker: jetstream({ servers: s.url }),
      stream: s.stream!,
      consumer: s.consumer!,
      ackWait: '1s',
    });
  return defineInbox({
    ...common,
    broker: redisStreams({ url: s.url }),
    stream: s.stream!,
    group: s.group!,
    claimIdle: '500ms',
  });
}

const spec = process.env.TANDEM_TEST_INBOX;
export const inbox = spec
  ? inboxFromSpec(JSON.parse(spec), () => {
      if (process.env.TANDEM_TEST_DIE_AFTER_COMMIT === '1') process.kill(process.pid, 'SIGKILL');
    })
  : undefined;
