/**
 * The destinations module of the relay processes in the relay tests
 * (`tandem relay --destinations test/support/relay-destinations.ts`): one
 * destination, described by TANDEM_TEST_DESTINATION (a DestinationSpec as JSON).
 */
import { destinationFromSpec } from './destination-spec.js';

export const destination = destinationFromSpec(JSON.parse(process.env.TANDEM_TEST_DESTINATION!));
