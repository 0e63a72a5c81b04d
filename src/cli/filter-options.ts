/** The task filter flags shared by `tandem tasks` and `tandem retry`. */
import { type Command, InvalidArgumentError } from 'commander';
import type { TaskFilter } from '../client/task-filter.js';
import type { TaskState } from '../types.js';

const STATES = ['queued', 'running', 'succeeded', 'retrying', 'failed', 'cancelled'];

export interface FilterFlags {
  status?: TaskState[];
  name?: string;
  queue?: string;
  key?: string;
  keyPrefix?: string;
  payload?: Record<string, unknown>;
  error?: string;
}

function parseStates(value: string): TaskState[] {
  const states = value.split(',').map((s) => s.trim());
  for (const s of states) {
    if (!STATES.includes(s))
      throw new InvalidArgumentError(
        `unknown state ${JSON.stringify(s)}; states: ${STATES.join(', ')}`,
      );
  }
  return states as TaskState[];
}

function parsePayload(value: string): Record<string, unknown> {
  try {
    const v = JSON.parse(value);
    if (typeof v === 'object' && v !== null) return v;
  } catch {}
  throw new InvalidArgumentError(
    `expected JSON the payloads contain, e.g. '{"orderId":42}', got ${JSON.stringify(value)}`,
  );
}

export function addFilterOptions(cmd: Command): Command {
  return cmd
    .option('--status <states>', `comma-separated: ${STATES.join(', ')}`, parseStates)
    .option('--name <task>', 'task name')
    .option('--queue <queue>', 'queue name')
    .option('--key <key>', 'business key, exactly')
    .option('--key-prefix <prefix>', 'keys starting with this')
    .option(
      '--payload <json>',
      'payloads containing this JSON, e.g. \'{"orderId":42}\'',
      parsePayload,
    )
    .option('--error <text>', 'text in any attempt’s error message');
}

export function toFilter(f: FilterFlags): TaskFilter {
  return {
    ...(f.status && { states: f.status }),
    ...(f.name !== undefined && { name: f.name }),
    ...(f.queue !== undefined && { queue: f.queue }),
    ...(f.key !== undefined && { key: f.key }),
    ...(f.keyPrefix !== undefined && { keyPrefix: f.keyPrefix }),
    ...(f.payload !== undefined && { payloadContains: f.payload }),
    ...(f.error !== undefined && { error: f.error }),
  };
}

/** Who the operator log records for CLI actions. */
export async function cliActor(): Promise<string> {
  const { userInfo } = await import('node:os');
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}
