/** The relay's guarantees against the machine's rabbitmq (see test/support/relay-suite.ts). */
import { brokerAvailable } from './support/brokers.js';
import { relaySuite } from './support/relay-suite.js';

relaySuite('rabbitmq', await brokerAvailable('rabbitmq'));
