import type { OpenAPIHono } from '@hono/zod-openapi';
import type { TandemClient } from '../../client/client.js';
import type { ApiEnv } from '../security.js';

/** The app every route file adds its routes to. */
export type Api = OpenAPIHono<ApiEnv>;

/** What route files get besides the app. */
export interface RouteDeps {
  tandem: TandemClient;
}

export const jsonContent = <T>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});
