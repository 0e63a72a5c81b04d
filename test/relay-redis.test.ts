/** The relay's guarantees against the machine's redis (see test/support/relay-suite.ts). */
import { relaySuite } from './support/relay-suite.js';

relaySuite('redis');
