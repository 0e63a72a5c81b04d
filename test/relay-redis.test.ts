/** The relay's guarantees against the machine's redis (see test/support/relay-suite.ts). */
import { brokerAvailable } from './support/brokers.js';
import { relaySuite } from './support/relay-suite.js';

relaySuite('redis', await brokerAvailable('redis'));
