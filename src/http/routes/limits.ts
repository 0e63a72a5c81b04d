/** Limits: GET /api/limits, PUT and DELETE /api/limits/{scope}/{name}. */
import { createRoute, z } from '@hono/zod-openapi';
import type { LimitInfo } from '../../client/limits.js';
import { audit } from '../audit.js';
import { ErrorJson } from '../schemas.js';
import { type Api, jsonContent, type RouteDeps } from './types.js';

const Rate = z
  .object({ limit: z.number().int(), per_ms: z.number().int() })
  .nullable()
  .openapi('Rate');

const LimitJson = z
  .object({
    scope: z.enum(['queue', 'task']),
    name: z.string(),
    concurrency: z.number().int().nullable(),
    rate: Rate,
    keyed: z.boolean(),
    key_concurrency: z.number().int().nullable(),
    key_rate: Rate,
    key_order: z.enum(['strict', 'skip']),
    running: z.number().int(),
    recent_starts: z.number().int().nullable(),
    keys: z.number().int(),
    keys_at_limit: z.number().int(),
    source: z.enum(['definition', 'operator']),
    updated_at: z.string(),
  })
  .openapi('Limit');

const Target = z.strictObject({
  scope: z.enum(['queue', 'task']).openapi({ param: { name: 'scope', in: 'path' } }),
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.:\-/]{1,200}$/, 'a name is 1-200 of letters, digits and _ . : - /')
    .openapi({ param: { name: 'name', in: 'path' }, example: 'payments' }),
});

const RateInput = z.union([
  z.string().openapi({ example: '100/1s' }),
  z.strictObject({ limit: z.number().int(), per: z.union([z.string(), z.number()]) }),
]);

const LimitsBody = z
  .strictObject({
    concurrency: z.number().int().nullable().optional(),
    rate_limit: RateInput.nullable().optional(),
    key_concurrency: z.number().int().nullable().optional(),
    key_rate_limit: RateInput.nullable().optional(),
    key_order: z.enum(['strict', 'skip']).optional(),
  })
  .openapi('LimitsUpdate', {
    description: 'A field left out keeps its value; null removes that limit.',
  });

const error = (description: string) => jsonContent(ErrorJson, description);

const list = createRoute({
  method: 'get',
  path: '/api/limits',
  summary: 'Every limited queue and task name, with what runs under its limits now',
  responses: { 200: jsonContent(z.object({ limits: z.array(LimitJson) }), 'The limits') },
});

const set = createRoute({
  method: 'put',
  path: '/api/limits/{scope}/{name}',
  summary: 'Set fleet-wide limits of a queue or task name, kept until reset',
  request: {
    params: Target,
    body: { content: { 'application/json': { schema: LimitsBody } }, required: true },
  },
  responses: {
    200: jsonContent(LimitJson, 'The limits now'),
    400: error('Invalid limits'),
    403: error('Read-only server, or a request from another origin'),
  },
});

const reset = createRoute({
  method: 'delete',
  path: '/api/limits/{scope}/{name}',
  summary: "Drop an operator's limits: the task definitions' limits apply again",
  request: { params: Target },
  responses: {
    200: jsonContent(z.object({ reset: z.boolean() }), 'Whether an operator had set limits'),
    400: error('Invalid scope or name'),
    403: error('Read-only server, or a request from another origin'),
  },
});

const rateJson = (r: { limit: number; perMs: number } | null) =>
  r && { limit: r.limit, per_ms: r.perMs };

export function limitJson(l: LimitInfo): z.infer<typeof LimitJson> {
  return {
    scope: l.scope,
    name: l.name,
    concurrency: l.concurrency,
    rate: rateJson(l.rate),
    keyed: l.keyed,
    key_concurrency: l.keyConcurrency,
    key_rate: rateJson(l.keyRate),
    key_order: l.keyOrder,
    running: l.running,
    recent_starts: l.recentStarts,
    keys: l.keys,
    keys_at_limit: l.keysAtLimit,
    source: l.source,
    updated_at: l.updatedAt.toISOString(),
  };
}

export function limitRoutes(app: Api, { tandem }: RouteDeps): void {
  app.openapi(list, async (c) => {
    const limits = await tandem.listLimits();
    return c.json({ limits: limits.map(limitJson) }, 200);
  });

  app.openapi(set, async (c) => {
    const { scope, name } = c.req.valid('param');
    const b = c.req.valid('json');
    const target = scope === 'queue' ? { queue: name } : { task: name };
    const l = await tandem.setLimits(target, {
      ...(b.concurrency !== undefined && { concurrency: b.concurrency }),
      ...(b.rate_limit !== undefined && { rateLimit: b.rate_limit }),
      ...(b.key_concurrency !== undefined && { keyConcurrency: b.key_concurrency }),
      ...(b.key_rate_limit !== undefined && { keyRateLimit: b.key_rate_limit }),
      ...(b.key_order !== undefined && { keyOrder: b.key_order }),
    });
    await audit(tandem, c, { action: 'set-limits', target: { [scope]: name, ...b }, affected: 1 });
    return c.json(limitJson(l), 200);
  });

  app.openapi(reset, async (c) => {
    const { scope, name } = c.req.valid('param');
    const target = scope === 'queue' ? { queue: name } : { task: name };
    const had = await tandem.resetLimits(target);
    await audit(tandem, c, {
      action: 'reset-limits',
      target: { [scope]: name },
      affected: had ? 1 : 0,
    });
    return c.json({ reset: had }, 200);
  });
}
