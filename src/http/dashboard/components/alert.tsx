import type { Child } from 'hono/jsx';

/** A message box: `error` is announced at once (role=alert), `info` politely. */
export function Alert(props: { tone: 'error' | 'ok' | 'info'; title?: string; children: Child }) {
  return (
    <div class={`alert alert-${props.tone}`} role={props.tone === 'error' ? 'alert' : 'status'}>
      {props.title && <strong>{props.title} </strong>}
      {props.children}
    </div>
  );
}
