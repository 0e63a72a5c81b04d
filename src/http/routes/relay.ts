/** The outbox relay: GET /api/relay (backlog, oldest message and holder per destination). */
import { createRoute } from '@hono/zod-openapi';
import { RelayStatusJson } from '../schemas.js';
import { relayStatusJson } from '../serialize.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const status = createRoute({
  method: 'get',
  path: '/api/relay',
  summary:
    'Outbox relay: backlog, age of the oldest message, head attempts and holder per destination',
  description:
    'From tandem.outbox and tandem.relays. A destination whose backlog and age grow while its head shows attempts and an error is stuck on that message (see docs/relay.md, operations).',
  responses: { 200: jsonContent(RelayStatusJson, 'Every destination published to or relayed') },
});

export function relayRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(status, async (c) => c.json(relayStatusJson(await tandem.relayStatus()), 200));
}
