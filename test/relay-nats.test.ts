/** The relay's guarantees against the machine's nats (see test/support/relay-suite.ts). */
import { brokerAvailable } from './support/brokers.js';
import { relaySuite } from './support/relay-suite.js';

relaySuite('jetstream', await brokerAvailable('jetstream'));
