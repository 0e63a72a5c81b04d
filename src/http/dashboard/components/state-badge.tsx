import type { TaskState } from '../../../types.js';

/** A task's state as a coloured label; the word is always there, colour only helps. */
export function StateBadge(props: { state: TaskState }) {
  return <span class={`badge badge-${props.state}`}>{props.state}</span>;
}

/** A small label: paused, leader, dead, read-only… */
export function Tag(props: { tone?: 'warn' | 'ok' | 'bad' | 'info'; children: string }) {
  return <span class={`tag tag-${props.tone ?? 'info'}`}>{props.children}</span>;
}
