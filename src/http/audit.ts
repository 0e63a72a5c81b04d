import type { Context } from 'hono';
import type { TandemClient } from '../client/client.js';
import type { ApiEnv } from './security.js';

/** Records a mutation made through the API in `tandem.operator_actions`. */
export async function audit(
  tandem: TandemClient,
  c: Context<ApiEnv>,
  a: { action: string; target: Record<string, unknown>; taskIds?: string[]; affected: number },
): Promise<void> {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  const request: Record<string, unknown> = { method: c.req.method, path: c.req.path };
  const remote = env?.incoming?.socket?.remoteAddress;
  if (remote) request.remote_address = remote;
  const forwarded = c.req.header('x-forwarded-for');
  if (forwarded) request.forwarded_for = forwarded.slice(0, 200);
  const agent = c.req.header('user-agent');
  if (agent) request.user_agent = agent.slice(0, 200);
  await tandem.recordOperatorAction({
    actor: c.get('actor') ?? 'anonymous',
    action: a.action,
    target: a.target,
    taskIds: a.taskIds ?? [],
    affected: a.affected,
    request,
  });
}
