import type { Child } from 'hono/jsx';

/**
 * The part of a page that refreshes itself: dashboard.js fires `tandem:tick`
 * on the body every 2 s while the tab is visible, and htmx then fetches the
 * same URL with `HX-Target: live` and swaps the answer in. One request at a
 * time (`drop`): a slow answer is never overtaken by the next tick.
 */
export function Live(props: { url: string; include?: string; children: Child }) {
  return (
    <div
      id="live"
      hx-get={props.url}
      hx-trigger="tandem:tick from:body"
      hx-swap="outerHTML"
      hx-sync="this:drop"
      {...(props.include && { 'hx-include': props.include })}
    >
      {props.children}
    </div>
  );
}
